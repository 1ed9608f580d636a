"""Bringing a city's own files: column mapping and defaults, made codes, dry runs, refused rows,
and the formats people keep their maps in (XLSX, Google My Maps KML/KMZ, GPX waypoints)."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import gpxpy.gpx
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer
from sqlalchemy import URL, create_engine, func, select, text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import REQUEST, ValidationFailed
from geo_outreach.core.settings import Settings
from geo_outreach.io import files as io
from layers.models import AuditEntry, Facility, SleepingSite
from tests.conftest import cli_env, run_cli

# Real places in Gdańsk (lon, lat), far enough apart to be different facilities.
PLACES = {
    "Noclegownia Brata Alberta": (18.6226, 54.3598),
    "Ogrzewalnia Przeróbka": (18.6791, 54.3577),
    "Schronisko Oliwa": (18.5687, 54.4096),
    "Jadłodajnia Dolne Miasto": (18.6530, 54.3440),
}
FAC_CODE = re.compile(r"^FAC-\d{5}$")


def _count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _codes(session: Session, names: list[str]) -> dict[str, str]:
    rows = session.execute(select(Facility.name, Facility.code).where(Facility.name.in_(names)))
    return {name: code for name, code in rows}


def _shelter_csv(path: Path, names: list[str]) -> Path:
    """A city's 211 list: upper-case headers, no codes, no type, a phone and capacity."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["NAME", "ADDRESS", "PHONE", "CAPACITY", "LATITUDE", "LONGITUDE", "WARD"])
        for i, name in enumerate(names):
            lon, lat = PLACES[name]
            w.writerow([name, f"ul. Testowa {i + 1}", "58 123 45 67", 20 + i, lat, lon, "3"])
    return path


def test_upper_case_csv_without_codes_imports_with_a_default_and_again_idempotently(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    names = list(PLACES)[:3]
    path = _shelter_csv(tmp_path / "211.csv", names)
    before = _count(session, Facility)
    kwargs = {"actor": "test", "role": "test", "service_area": settings.service_area}
    result = io.import_file(session, "facilities", path, defaults={"type": "noclegownia"}, **kwargs)
    assert (result.inserted, result.updated, result.codes_made) == (3, 0, 3)
    assert result.mapped_columns == {
        "NAME": "name",
        "ADDRESS": "address",
        "PHONE": "phone",
        "CAPACITY": "capacity",
        "LATITUDE": "lat",
        "LONGITUDE": "lon",
    }
    assert result.ignored_columns == ["WARD"]
    codes = _codes(session, names)
    assert len(set(codes.values())) == 3 and all(FAC_CODE.match(c) for c in codes.values())
    stored = session.execute(
        select(Facility.type, Facility.capacity, Facility.address).where(Facility.name == names[1])
    ).one()
    assert tuple(stored) == ("noclegownia", 21, "ul. Testowa 2")

    # Without upsert a re-import is refused by the made codes; with it, nothing is duplicated.
    with pytest.raises(ValidationFailed, match="already exists"):
        io.import_file(session, "facilities", path, defaults={"type": "noclegownia"}, **kwargs)
    again = io.import_file(
        session, "facilities", path, defaults={"type": "noclegownia"}, upsert=True, **kwargs
    )
    assert (again.inserted, again.updated) == (0, 3)
    assert _codes(session, names) == codes

    # A row added at the top of the file changes no other row's code.
    longer = _shelter_csv(tmp_path / "211-longer.csv", [list(PLACES)[3], *names])
    grown = io.import_file(
        session, "facilities", longer, defaults={"type": "noclegownia"}, upsert=True, **kwargs
    )
    assert (grown.inserted, grown.updated) == (1, 3)
    assert {n: c for n, c in _codes(session, list(PLACES)).items() if n in names} == codes
    assert _count(session, Facility) == before + 4


def test_explicit_map_and_set_and_their_faults_name_the_field(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    to_2180 = Transformer.from_crs(4326, 2180, always_xy=True)
    x, y = to_2180.transform(*PLACES["Ogrzewalnia Przeróbka"])
    path = tmp_path / "punkty.csv"
    path.write_text(
        "Placówka;Jaki punkt;E;N;Kontakt\n"
        f"Punkt przy dworcu;ogrzewalnia;{x:.2f};{y:.2f};58 000 00 00\n".replace(".", ","),
        encoding="utf-8",
    )
    kwargs = {"actor": "test", "role": "test", "service_area": settings.service_area}
    mapping = {"Placówka": "name", "Jaki punkt": "type", "E": "lon", "N": "lat", "kontakt": "phone"}
    result = io.import_file(session, "facilities", path, crs="EPSG:2180", mapping=mapping, **kwargs)
    assert result.inserted == 1 and result.ignored_columns == []
    lon, lat, phone = session.execute(
        select(func.ST_X(Facility.geom), func.ST_Y(Facility.geom), Facility.phone).where(
            Facility.name == "Punkt przy dworcu"
        )
    ).one()
    assert (round(lon, 4), round(lat, 4)) == PLACES["Ogrzewalnia Przeróbka"]
    assert phone == "58 000 00 00"

    for bad, field, fault in [
        ({"mapping": {"Placówka": "title"}}, "map", "'title' is not a field"),
        ({"mapping": {"Nazwa": "name"}}, "map", "'Nazwa' is not a column"),
        ({"defaults": {"colour": "red"}}, "set", "'colour' is not a field"),
        ({"crs": "EPSG:99999"}, "crs", "not a coordinate reference system"),
    ]:
        with pytest.raises(ValidationFailed) as info:
            io.import_file(session, "facilities", path, **{**{"crs": "EPSG:2180"}, **bad}, **kwargs)
        assert info.value.source == REQUEST
        assert info.value.problems[0].field == field and fault in info.value.problems[0].fault


def test_a_table_without_positions_says_how_to_map_them(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "no-position.csv"
    path.write_text("nazwa,rodzaj,E1,N1\nA,noclegownia,18.6,54.3\n")
    with pytest.raises(ValidationFailed) as info:
        io.import_file(
            session, "facilities", path, actor="t", role="t", service_area=settings.service_area
        )
    problem = info.value.problems[0]
    assert problem.field == "map" and "E1, N1" in problem.fault and "COLUMN=lon" in problem.fault


def _sites_rows(tmp_path: Path) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Nazwa": ["Altana przy ogródkach", "Pustostan Dolne Miasto"],
            "Kategoria": ["altana / domek działkowy", "pustostan"],
            "Szerokość geograficzna": [54.3612, 54.3435],
            "Długość geograficzna": [18.6105, 18.6544],
            "Liczba osób": [2, 4],
            "Zagrożenia": ["cold_exposure", "fire; cold_exposure"],
        }
    )


def test_xlsx_with_polish_headers_imports_and_reimports_idempotently(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "mapa-miejsc.xlsx"
    pyogrio.write_dataframe(_sites_rows(tmp_path), path, driver="XLSX")
    kwargs = {"actor": "test", "role": "test", "service_area": settings.service_area}
    result = io.import_file(session, "sleeping_sites", path, **kwargs)
    assert (result.inserted, result.codes_made) == (2, 2)
    assert set(result.mapped_columns.values()) == {
        "name",
        "category",
        "lat",
        "lon",
        "estimated_people",
        "hazards",
    }
    site = session.execute(
        select(SleepingSite).where(SleepingSite.name == "Pustostan Dolne Miasto")
    ).scalar_one()
    assert re.fullmatch(r"SITE-\d{5}", site.code)
    assert (site.category, site.estimated_people, site.hazards) == (
        "pustostan",
        4,
        ["cold_exposure", "fire"],
    )
    assert result.report()["bounds"] is None  # never where people sleep
    again = io.import_file(session, "sleeping_sites", path, upsert=True, **kwargs)
    assert (again.inserted, again.updated) == (0, 2)
    audit = (
        session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "import", AuditEntry.layer == "sleeping_sites"
            )
        )
        .scalars()
        .all()
    )
    assert any(site.id in a.object_ids and a.detail["updated"] == 2 for a in audit)


MY_MAPS_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <Document>
    <name>Mapa miejsc – pomoc</name>
    <Style id="icon-1899-0288D1-normal"><IconStyle><scale>1</scale></IconStyle></Style>
    <Folder>
      <name>Noclegownie</name>
      {shelters}
    </Folder>
    <Folder>
      <name>Ogrzewalnie</name>
      {warming}
    </Folder>
  </Document>
</kml>
"""
PLACEMARK = """<Placemark>
        <name>{name}</name>
        <description><![CDATA[adres: {address}<br>rodzaj: {kind}]]></description>
        <styleUrl>#icon-1899-0288D1</styleUrl>
        <ExtendedData>
          <Data name="adres"><value>{address}</value></Data>
          <Data name="rodzaj"><value>{kind}</value></Data>
          <Data name="miejsca"><value>{beds}</value></Data>
        </ExtendedData>
        <Point><coordinates>{lon},{lat},0</coordinates></Point>
      </Placemark>"""


def _placemark(name: str, kind: str, beds: int) -> str:
    lon, lat = PLACES[name]
    return PLACEMARK.format(
        name=name, kind=kind, beds=beds, address="ul. Przykładowa 1", lon=lon, lat=lat
    )


@pytest.mark.parametrize("suffix", ["kml", "kmz"])
def test_google_my_maps_export_imports_every_folder(
    session: Session, tmp_path: Path, settings: Settings, suffix: str
) -> None:
    doc = MY_MAPS_KML.format(
        shelters=_placemark("Noclegownia Brata Alberta", "noclegownia", 40)
        + _placemark("Schronisko Oliwa", "Schronisko", 60),
        warming=_placemark("Ogrzewalnia Przeróbka", "ogrzewalnia", 25),
    )
    path = tmp_path / f"mapa.{suffix}"
    if suffix == "kml":
        path.write_text(doc, encoding="utf-8")
    else:  # a KMZ is the KML zipped as doc.kml
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("doc.kml", doc)
    kwargs = {"actor": "test", "role": "test", "service_area": settings.service_area}
    result = io.import_file(session, "facilities", path, **kwargs)
    assert (result.inserted, result.codes_made) == (3, 3)
    assert result.mapped_columns == {
        "Name": "name",
        "adres": "address",
        "rodzaj": "type",
        "miejsca": "capacity",
    }
    assert result.ignored_columns == ["folder", "description"]
    found = session.execute(
        select(Facility.name, Facility.type).where(Facility.name.in_(list(PLACES)))
    )
    types = {name: kind for name, kind in found}
    assert types == {
        "Noclegownia Brata Alberta": "noclegownia",
        "Schronisko Oliwa": "schronisko",
        "Ogrzewalnia Przeróbka": "ogrzewalnia",
    }
    again = io.import_file(session, "facilities", path, upsert=True, **kwargs)
    assert (again.inserted, again.updated) == (0, 3)


def test_gpx_waypoints_become_sites(session: Session, tmp_path: Path, settings: Settings) -> None:
    doc = gpxpy.gpx.GPX()
    for name, (lon, lat) in list(PLACES.items())[:2]:
        doc.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=lat,
                longitude=lon,
                name=f"{name} (ławka)",
                type="park / skwer",
                description="za wiatą",
            )
        )
    path = tmp_path / "teren.gpx"
    path.write_text(doc.to_xml(), encoding="utf-8")
    result = io.import_file(
        session,
        "sleeping_sites",
        path,
        actor="test",
        role="test",
        service_area=settings.service_area,
    )
    assert result.inserted == 2
    assert result.mapped_columns == {"name": "name", "desc": "access_notes", "type": "category"}
    notes = session.execute(
        select(SleepingSite.access_notes, SleepingSite.category).where(
            SleepingSite.name.like("% (ławka)")
        )
    ).all()
    assert sorted(map(tuple, notes)) == [("za wiatą", "park_skwer")] * 2


def _one_bad(tmp_path: Path) -> Path:
    path = tmp_path / "sites.geojson"
    feats = [
        {
            "type": "Feature",
            "properties": {"NAZWA": f"Miejsce {i}", "KATEGORIA": cat},
            "geometry": {"type": "Point", "coordinates": list(PLACES[name])},
        }
        for i, (name, cat) in enumerate(
            zip(PLACES, ["las", "hotel", "plaża", "inne"], strict=True), start=1
        )
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_one_bad_row_all_or_nothing_or_skipped_with_a_report(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    path = _one_bad(tmp_path)
    kwargs = {"actor": "test", "role": "test", "service_area": settings.service_area}
    before = _count(session, SleepingSite)
    with pytest.raises(ValidationFailed) as info:
        io.import_file(session, "sites", path, **kwargs)
    assert [(p.row, p.field) for p in info.value.problems] == [(2, "category")]
    assert _count(session, SleepingSite) == before

    # A dry run with skip_invalid says what would happen and writes nothing, not even a report.
    report = tmp_path / "refused.csv"
    dry = io.import_file(
        session, "sites", path, dry_run=True, skip_invalid=True, refused_to=report, **kwargs
    )
    assert (dry.dry_run, dry.inserted, dry.refused_rows) == (True, 3, 1)
    assert _count(session, SleepingSite) == before and not report.exists()

    done = io.import_file(session, "sites", path, skip_invalid=True, refused_to=report, **kwargs)
    assert (done.inserted, done.refused_rows, done.refused_file) == (3, 1, report)
    assert _count(session, SleepingSite) == before + 3
    with report.open(encoding="utf-8") as f:
        refused = list(csv.DictReader(f))
    assert len(refused) == 1
    assert refused[0]["row"] == "2" and refused[0]["NAZWA"] == "Miejsce 2"
    assert refused[0]["faults"].startswith("category: ")
    assert "'hotel' is not one of" in refused[0]["faults"]
    assert refused[0]["wkt"].startswith("POINT")


def test_cli_maps_sets_dry_runs_and_skips(scratch: tuple[URL, URL], tmp_path: Path) -> None:
    env = cli_env(*scratch)
    assert run_cli("db", "migrate", env=env).returncode == 0
    path = _shelter_csv(tmp_path / "211.csv", list(PLACES)[:2])
    dry = run_cli(
        "import", "facilities", str(path), "--set", "type=noclegownia", "--dry-run", env=env
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing written: would be facilities: 2 added" in dry.stdout
    assert "NAME → name" in dry.stderr and "columns not used: WARD" in dry.stderr
    bad_map = run_cli("import", "facilities", str(path), "--map", "NAME=title", env=env)
    assert bad_map.returncode != 0 and "--map: 'title' is not a field" in bad_map.stderr
    missing = run_cli("import", "facilities", str(path), env=env)
    assert missing.returncode == 1 and "field 'type': Field required" in missing.stderr
    done = run_cli(
        "import",
        "facilities",
        str(path),
        "--map",
        "WARD=type",
        "--set",
        "type=noclegownia",
        "--skip-invalid",
        env=env,
    )
    # WARD is '3', not a type: every row is refused, and the report says where they went.
    assert done.returncode == 0, done.stderr
    assert "facilities: 0 added" in done.stdout
    assert f"2 refused row(s) written to {tmp_path / '211.refused.csv'}" in done.stderr
    ok = run_cli("import", "facilities", str(path), "--set", "type=noclegownia", env=env)
    assert ok.returncode == 0 and "2 added" in ok.stdout and "(2 codes made)" in ok.stdout
    again = run_cli(
        "import", "facilities", str(path), "--set", "type=noclegownia", "--upsert", env=env
    )
    assert again.returncode == 0 and "0 added, 2 updated" in again.stdout
    eng = create_engine(scratch[0])
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM facilities")).scalar_one() == 2
    eng.dispose()
