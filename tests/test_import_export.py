"""Imports are all-or-nothing with named faults; exports round-trip and carry attribution."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyogrio
import pytest
from pyproj import Transformer
from sqlalchemy import URL, func, select, text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import ValidationFailed
from geo_outreach.core.settings import Settings
from geo_outreach.io import exports
from geo_outreach.io import files as io
from layers.models import Area, AuditEntry, SleepingSite
from tests.conftest import cli_env, run_cli

NEPTUNE = (18.65316, 54.34856)  # Fontanna Neptuna, Gdańsk Śródmieście


def _count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _sites_fc(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def _site(code: str, coords: list[float] | dict, **props: object) -> dict:
    geometry = coords if isinstance(coords, dict) else {"type": "Point", "coordinates": coords}
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"miejsce {code}", "category": "park_skwer", **props},
        "geometry": geometry,
    }


def test_districts_shapefile_lands_in_gdansk(
    session: Session, data_dir: Path, settings: Settings
) -> None:
    before = _count(session, Area)
    result = io.import_file(
        session,
        "areas",
        data_dir / "boundaries/gdansk-districts/Dzielnice.shp",
        actor="test",
        role="test",
        service_area=settings.service_area,
    )
    assert result.inserted == 36
    assert _count(session, Area) == before + 36
    minx, miny, maxx, maxy = session.execute(
        select(
            func.min(func.ST_XMin(Area.geom)),
            func.min(func.ST_YMin(Area.geom)),
            func.max(func.ST_XMax(Area.geom)),
            func.max(func.ST_YMax(Area.geom)),
        ).where(Area.is_demo.is_(False), Area.kind == "district")
    ).one()
    assert 18.4 <= minx < maxx <= 19.1
    assert 54.2 <= miny < maxy <= 54.6
    # An independent check of the reprojection: Neptune's fountain lies in Śródmieście.
    name = session.execute(
        select(Area.name).where(
            Area.is_demo.is_(False),
            func.ST_Contains(Area.geom, func.ST_SetSRID(func.ST_MakePoint(*NEPTUNE), 4326)),
        )
    ).scalar_one()
    assert name == "Śródmieście"


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[18.60, 54.35], [18.62, 54.37], [18.62, 54.35], [18.60, 54.37], [18.60, 54.35]]
    ],
}


@pytest.mark.parametrize(
    ("layer", "bad", "field", "fault"),
    [
        ("sleeping_sites", _site("B-2", [float("nan"), 54.35]), "geometry", "NaN or infinite"),
        ("sleeping_sites", _site("B-2", [54.35, 18.62]), "geometry", "appear swapped"),
        ("sleeping_sites", _site("B-2", [21.01, 52.23]), "geometry", "outside the service area"),
        ("sleeping_sites", _site("B-2", BOWTIE), "geometry", "expected Point"),
        ("sleeping_sites", _site("B-2", [18.62, 54.35], category="hotel"), "category", "hotel"),
        (
            "sleeping_sites",
            _site("B-2", [18.62, 54.35], estimated_people=-3),
            "estimated_people",
            "greater than or equal to 0",
        ),
        ("sleeping_sites", _site("B-1", [18.62, 54.35]), "code", "duplicate of row 1"),
        (
            "areas",
            {"type": "Feature", "properties": {"name": "Bow"}, "geometry": BOWTIE},
            "geometry",
            "Self-intersection",
        ),
    ],
)
def test_one_bad_feature_stores_nothing(
    session: Session,
    tmp_path: Path,
    settings: Settings,
    layer: str,
    bad: dict,
    field: str,
    fault: str,
) -> None:
    good = (
        _site("B-1", [18.61, 54.36])
        if layer == "sleeping_sites"
        else {
            "type": "Feature",
            "properties": {"name": "Good"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[18.6, 54.3], [18.61, 54.3], [18.61, 54.31], [18.6, 54.3]]],
            },
        }
    )
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(_sites_fc(good, bad)))  # json writes NaN as NaN, as real tools do
    model = SleepingSite if layer == "sleeping_sites" else Area
    before = _count(session, model)
    with pytest.raises(ValidationFailed) as info:
        io.import_file(
            session, layer, path, actor="test", role="test", service_area=settings.service_area
        )
    problems = info.value.problems
    assert [p.row for p in problems] == [2]
    assert problems[0].field == field
    assert fault in problems[0].fault
    assert "row 2" in str(info.value) and fault in str(info.value)
    assert _count(session, model) == before


def test_existing_code_is_refused_then_upserted(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps(_sites_fc(_site("DEMO-0001", [18.61, 54.36], status="closed"))))
    with pytest.raises(ValidationFailed, match="already exists"):
        io.import_file(
            session, "sites", path, actor="test", role="test", service_area=settings.service_area
        )
    result = io.import_file(
        session,
        "sites",
        path,
        actor="test",
        role="test",
        service_area=settings.service_area,
        upsert=True,
    )
    assert (result.inserted, result.updated) == (0, 1)
    site = session.execute(
        select(SleepingSite).where(SleepingSite.code == "DEMO-0001")
    ).scalar_one()
    assert site.status == "closed" and site.version == 2


def test_csv_in_puwg1992_is_reprojected(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    to_2180 = Transformer.from_crs(4326, 2180, always_xy=True)
    x, y = to_2180.transform(*NEPTUNE)
    path = tmp_path / "sites.csv"
    path.write_text(
        "code,nazwa,kategoria,osoby,zagrozenia,x,y\n"
        f'C-1,Przy fontannie,park / skwer,2,"fire, cold_exposure",{x},{y}\n'
    )
    result = io.import_file(
        session,
        "sites",
        path,
        actor="test",
        role="test",
        service_area=settings.service_area,
        crs="EPSG:2180",
    )
    assert result.inserted == 1
    site = session.execute(select(SleepingSite).where(SleepingSite.code == "C-1")).scalar_one()
    lon, lat = session.execute(
        select(func.ST_X(SleepingSite.geom), func.ST_Y(SleepingSite.geom)).where(
            SleepingSite.code == "C-1"
        )
    ).one()
    assert math.isclose(lon, NEPTUNE[0], abs_tol=1e-6) and math.isclose(
        lat, NEPTUNE[1], abs_tol=1e-6
    )
    assert site.category == "park_skwer" and site.hazards == ["cold_exposure", "fire"]
    assert site.district == "Śródmieście"
    audit = (
        session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "import", AuditEntry.layer == "sleeping_sites"
            )
        )
        .scalars()
        .all()
    )
    assert any(site.id in a.object_ids for a in audit)


def test_csv_bad_number_names_row_and_column(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("code,name,category,lon,lat\nC-1,a,inne,18.6,54.3\nC-2,b,inne,18.6,abc\n")
    with pytest.raises(ValidationFailed) as info:
        io.import_file(
            session, "sites", path, actor="test", role="test", service_area=settings.service_area
        )
    assert str(info.value.problems[0]) == "row 2 (code=C-2), field 'lat': 'abc' is not a number"


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "csv"])
def test_export_round_trip(session: Session, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"sites.{fmt}"
    n = exports.export_layer(session, "sleeping_sites", out, fmt=fmt, actor="test", role="test")
    assert n == _count(session, SleepingSite) > 0
    if fmt == "geojson":
        doc = json.loads(out.read_text())
        assert "© OpenStreetMap contributors" in doc["attribution"]
        assert len(doc["features"]) == n
        first = doc["features"][0]
        assert first["geometry"]["type"] == "Point" and "code" in first["properties"]
        assert "geom" not in first["properties"]
    elif fmt == "gpkg":
        frame = pyogrio.read_dataframe(out)
        assert len(frame) == n and frame.crs.to_epsg() == 4326
        assert "OpenStreetMap" in str(
            pyogrio.read_info(out)["layer_metadata"] or ""
        ) or "OpenStreetMap" in str(pyogrio.read_info(out)["dataset_metadata"])
    else:
        text_ = out.read_text()
        assert text_.splitlines()[0].endswith("lon,lat,attribution")
        assert len(text_.splitlines()) == n + 1
    logged = (
        session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "export", AuditEntry.layer == "sleeping_sites"
            )
        )
        .scalars()
        .all()
    )
    assert logged and len(logged[-1].object_ids) == n


def test_visit_notes_stay_out_of_exports_by_default(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "visits.csv"
    exports.export_layer(session, "visits", out, fmt="csv", actor="test", role="test")
    header = out.read_text().splitlines()[0].split(",")
    assert "note" not in header and "people_met" in header


def test_cli_bad_geojson_exits_nonzero_and_adds_nothing(
    scratch: tuple[URL, URL], tmp_path: Path
) -> None:
    env = cli_env(*scratch)
    assert run_cli("db", "migrate", env=env).returncode == 0
    path = tmp_path / "bad.geojson"
    path.write_text(
        json.dumps(_sites_fc(_site("A-1", [18.61, 54.36]), _site("A-2", [54.36, 18.61])))
    )
    proc = run_cli("import", "sleeping_sites", str(path), env=env)
    assert proc.returncode != 0
    assert "row 2 (code=A-2), field 'geometry'" in proc.stderr
    assert "swapped" in proc.stderr
    from sqlalchemy import create_engine

    eng = create_engine(scratch[0])
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sleeping_sites")).scalar_one() == 0
    eng.dispose()


def test_cli_imports_districts(scratch: tuple[URL, URL], data_dir: Path) -> None:
    env = cli_env(*scratch)
    assert run_cli("db", "migrate", env=env).returncode == 0
    proc = run_cli(
        "import", "areas", str(data_dir / "boundaries/gdansk-districts/Dzielnice.shp"), env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "areas: 36 added, 0 updated" in proc.stdout
    again = run_cli(
        "import", "areas", str(data_dir / "boundaries/gdansk-districts/Dzielnice.shp"), env=env
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_elevation_is_dropped_and_a_non_feature_is_named(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "z.geojson"
    path.write_text(json.dumps(_sites_fc(_site("Z-1", [18.61, 54.36, 12.5]))))
    assert (
        io.import_file(
            session, "sites", path, actor="test", role="test", service_area=settings.service_area
        ).inserted
        == 1
    )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [5]}))
    with pytest.raises(ValidationFailed) as info:
        io.import_file(
            session, "sites", path, actor="test", role="test", service_area=settings.service_area
        )
    assert str(info.value.problems[0]) == "row 1, field 'feature': not a GeoJSON Feature"
