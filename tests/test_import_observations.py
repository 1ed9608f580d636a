"""Observations (date, count, position in any CRS) → sites within a radius and dated visits."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from httpx import Response
from pyproj import Geod, Transformer
from sqlalchemy import URL, create_engine, func, select, text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import REQUEST, ValidationFailed
from geo_outreach.core.settings import Settings
from geo_outreach.io import files as io
from geo_outreach.io import observations as obs
from layers.models import AuditEntry, SleepingSite, Visit
from tests.api_support import Api, api_for
from tests.conftest import cli_env, run_cli

UTM34 = "EPSG:32634"  # a projected CRS (metres) that covers Gdańsk
TO_UTM = Transformer.from_crs(4326, UTM34, always_xy=True)
GEOD = Geod(ellps="WGS84")
ORIGIN = (18.6405, 54.3490)  # Gdańsk, Dolne Miasto
DATES = ["2025-01-14", "2025-01-21", "2025-01-28", "2025-02-04"]


def _at(east_m: float) -> tuple[float, float]:
    """UTM x/y of a point `east_m` metres east of ORIGIN (geodesic)."""
    lon, lat, _ = GEOD.fwd(ORIGIN[0], ORIGIN[1], 90, east_m)
    return TO_UTM.transform(lon, lat)


def _write(
    path: Path, rows: list[tuple[str, int, float]], header=("DATE", "COUNT", "X", "Y")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for day, count, east in rows:
            x, y = _at(east)
            w.writerow([day, count, f"{x:.2f}", f"{y:.2f}"])
    return path


def _run(
    session: Session, path: Path, settings: Settings, **options: object
) -> obs.ObservationsResult:
    return obs.import_observations(
        session,
        path,
        actor="test",
        role="test",
        service_area=settings.service_area,
        crs=UTM34,
        **options,  # type: ignore[arg-type]
    )


def _real_sites(session: Session) -> list[tuple[str, float, float, int]]:
    return [
        tuple(r)
        for r in session.execute(
            select(
                SleepingSite.code,
                func.ST_X(SleepingSite.geom),
                func.ST_Y(SleepingSite.geom),
                SleepingSite.estimated_people,
            )
            .where(SleepingSite.is_demo.is_(False))
            .order_by(SleepingSite.code)
        )
    ]


def _visits_of(session: Session, code: str) -> list[tuple[str, int]]:
    rows = session.execute(
        select(
            func.to_char(func.timezone("Europe/Warsaw", Visit.visited_at), "YYYY-MM-DD"),
            Visit.people_met,
        )
        .join(SleepingSite, SleepingSite.id == Visit.site_id)
        .where(SleepingSite.code == code)
        .order_by(Visit.visited_at)
    )
    return [(d, n) for d, n in rows]


def test_ten_metres_apart_is_one_site_with_a_visit_per_date_and_a_rerun_adds_nothing(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    # Four count nights: people seen at the same bench, give or take 10 m, and once 200 m away.
    rows = [(DATES[0], 2, 0.0), (DATES[1], 3, 10.0), (DATES[2], 1, 5.0), (DATES[3], 2, 200.0)]
    path = _write(tmp_path / "count.csv", rows)
    sites_before = session.execute(select(func.count()).select_from(SleepingSite)).scalar_one()
    first = _run(session, path, settings)
    assert (first.observations, first.sites_created, first.sites_matched) == (4, 2, 0)
    assert (first.visits_written, first.visits_present) == (4, 0)
    assert first.mapped_columns == {
        "DATE": "visited_at",
        "COUNT": "people_met",
        "X": "lon",
        "Y": "lat",
    }
    sites = _real_sites(session)
    assert [s[0] for s in sites] == ["OBS-0001", "OBS-0002"]
    bench, far = sites
    assert _visits_of(session, bench[0]) == [(DATES[0], 2), (DATES[1], 3), (DATES[2], 1)]
    assert _visits_of(session, far[0]) == [(DATES[3], 2)]
    # The site's people are its latest count; the bench site is the densest observation's.
    assert bench[3] == 1 and far[3] == 2
    distance = GEOD.inv(bench[1], bench[2], far[1], far[2])[2]
    assert 190 < distance < 210

    again = _run(session, path, settings)
    assert (again.sites_created, again.sites_matched) == (0, 2)
    assert (again.visits_written, again.visits_present) == (0, 4)
    assert session.execute(select(func.count()).select_from(SleepingSite)).scalar_one() == (
        sites_before + 2
    )
    assert len(_visits_of(session, bench[0])) == 3

    # A longer file (a new night) adds only its own visit, to the site it belongs to.
    longer = _write(tmp_path / "count2.csv", [("2025-02-11", 4, 8.0), *reversed(rows)])
    grown = _run(session, longer, settings)
    assert (grown.sites_created, grown.sites_matched, grown.visits_written) == (0, 2, 1)
    assert _visits_of(session, bench[0])[-1] == ("2025-02-11", 4)

    audit = (
        session.execute(
            select(AuditEntry).where(AuditEntry.action == "import", AuditEntry.layer == "visits")
        )
        .scalars()
        .all()
    )
    assert audit and audit[-1].detail["visits_written"] == 1 and len(audit[-1].object_ids) == 1


def test_grouping_ignores_row_order_and_a_radius_merges(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    rows = [(DATES[i % 4], 1 + i % 3, east) for i, east in enumerate([0, 12, 30, 44, 95, 130, 400])]
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    layouts = []
    for name, order in (("a.csv", rows), ("b.csv", shuffled)):
        nested = session.begin_nested()
        _run(session, _write(tmp_path / name, order), settings)
        layouts.append([(round(x, 6), round(y, 6)) for _, x, y, _ in _real_sites(session)])
        nested.rollback()
    assert layouts[0] == layouts[1] and len(layouts[0]) >= 3

    wide = _run(
        session,
        _write(tmp_path / "c.csv", [(DATES[0], 1, 0.0), (DATES[1], 1, 200.0)]),
        settings,
        radius=250.0,
    )
    assert (wide.sites_created, wide.visits_written) == (1, 2)
    with pytest.raises(ValidationFailed) as info:
        _run(session, tmp_path / "c.csv", settings, radius=5000.0)
    assert info.value.source == REQUEST and info.value.problems[0].field == "radius"


def test_stored_site_within_the_radius_is_matched_first(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    lon, lat = GEOD.fwd(ORIGIN[0], ORIGIN[1], 90, 30.0)[:2]
    sites_csv = tmp_path / "site.csv"
    sites_csv.write_text(f"code,name,category,lon,lat\nK-7,Pod wiaduktem,inne,{lon},{lat}\n")
    io.import_file(
        session, "sites", sites_csv, actor="test", role="test", service_area=settings.service_area
    )
    result = _run(
        session, _write(tmp_path / "o.csv", [(DATES[0], 3, 0.0), (DATES[1], 2, 60.0)]), settings
    )
    assert (result.sites_created, result.sites_matched, result.visits_written) == (0, 1, 2)
    assert _visits_of(session, "K-7") == [(DATES[0], 3), (DATES[1], 2)]


def test_bad_rows_all_or_nothing_or_skipped_with_their_faults(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    rows = [(DATES[0], 2, 0.0), ("2099-01-01", 1, 300.0), (DATES[1], 2, 600.0)]
    path = _write(tmp_path / "night.csv", rows)
    visits_before = session.execute(select(func.count()).select_from(Visit)).scalar_one()
    with pytest.raises(ValidationFailed) as info:
        _run(session, path, settings)
    assert [(p.row, p.field) for p in info.value.problems] == [(2, "visited_at")]
    assert "in the future" in info.value.problems[0].fault
    assert session.execute(select(func.count()).select_from(Visit)).scalar_one() == visits_before

    report = tmp_path / "night.refused.csv"
    done = _run(session, path, settings, skip_invalid=True, refused_to=report)
    assert (done.sites_created, done.visits_written, done.refused_rows) == (2, 2, 1)
    with report.open(encoding="utf-8") as f:
        refused = list(csv.DictReader(f))
    assert [r["row"] for r in refused] == ["2"] and refused[0]["DATE"] == "2099-01-01"
    assert refused[0]["faults"].startswith("visited_at: ") and "future" in refused[0]["faults"]


def test_xlsx_with_polish_dates_and_a_category_default(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    lons, lats = zip(*(GEOD.fwd(ORIGIN[0], ORIGIN[1], 0, d)[:2] for d in (0, 8, 500)), strict=True)
    frame = pd.DataFrame(
        {
            "Data": ["14.01.2025", "21.01.2025", "1999-12-31"],
            "Liczba osób": [2, 3, 1],
            "Szerokość": lats,
            "Długość": lons,
        }
    )
    path = tmp_path / "arkusz.xlsx"
    pyogrio.write_dataframe(frame, path, driver="XLSX")
    result = obs.import_observations(
        session,
        path,
        actor="test",
        role="test",
        service_area=settings.service_area,
        defaults={"category": "park / skwer"},
        skip_invalid=True,
    )
    assert (result.sites_created, result.visits_written, result.refused_rows) == (1, 2, 1)
    assert "before 2000-01-01" in result.refused[0].fault
    category = session.execute(
        select(SleepingSite.category).where(SleepingSite.code == "OBS-0001")
    ).scalar_one()
    assert category == "park_skwer"
    assert _visits_of(session, "OBS-0001") == [("2025-01-14", 2), ("2025-01-21", 3)]
    with pytest.raises(ValidationFailed) as info:
        obs.import_observations(
            session,
            path,
            actor="t",
            role="t",
            service_area=settings.service_area,
            defaults={"category": "hotel"},
        )
    assert info.value.problems[0].field == "set"


def test_cli_observations_dry_run_then_import_then_nothing_new(
    scratch: tuple[URL, URL], tmp_path: Path
) -> None:
    env = cli_env(*scratch)
    assert run_cli("db", "migrate", env=env).returncode == 0
    path = _write(
        tmp_path / "count.csv", [(DATES[0], 2, 0.0), (DATES[1], 1, 10.0), (DATES[2], 2, 200.0)]
    )
    args = ("import", "observations", str(path), "--crs", UTM34)
    dry = run_cli(*args, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would be observations: 3" in dry.stdout and "2 sites created" in dry.stdout
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 sites created, 0 sites matched, 3 visits written" in done.stdout
    again = run_cli(*args, env=env)
    assert "0 sites created, 2 sites matched, 0 visits written (3 already there)" in again.stdout
    bad = run_cli(*args, "--radius", "0", env=env)
    assert bad.returncode != 0 and "--radius: must be between" in bad.stderr
    eng = create_engine(scratch[0])
    with eng.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM visits")).scalar_one() == 3
        assert conn.execute(text("SELECT count(*) FROM sleeping_sites")).scalar_one() == 2
    eng.dispose()


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def test_upload_dry_run_then_confirm_coordinators_only_and_audited(
    api: Api, tmp_path: Path
) -> None:
    path = _write(tmp_path / "count.csv", [(DATES[0], 2, 0.0), (DATES[1], 1, 10.0)])
    body = path.read_bytes()
    url = f"/imports/observations?crs={UTM34}"

    def send(role: str, query: str = "") -> Response:
        files = {"file": ("liczenie.csv", body, "text/csv")}
        return api.client.post(url + query, files=files, headers=api.headers(role))

    assert send("streetworker").status_code == 403
    assert send("public").status_code == 401
    dry = send("coordinator")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["sites_created"] == 1
    with api.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM visits WHERE created_by LIKE '%coordinator%'")
            ).scalar_one()
            == 0
        )
    done = send("coordinator", "&dry_run=false")
    assert done.status_code == 200, done.text
    assert (done.json()["sites_created"], done.json()["visits_written"]) == (1, 2)
    assert send("coordinator", "&dry_run=false").json()["visits_written"] == 0  # a re-run
    # An admin may import areas and facilities, not sites or visits: a dry run's matches would
    # tell it where people sleep.
    assert send("admin").status_code == 403

    bad = _write(tmp_path / "bad.csv", [(DATES[0], 2, 0.0), ("2099-01-01", 1, 10.0)])
    refused = api.client.post(
        url + "&dry_run=false",
        files={"file": ("bad.csv", bad.read_bytes(), "text/csv")},
        headers=api.headers("coordinator"),
    )
    assert refused.status_code == 422
    assert [(p["row"], p["field"]) for p in refused.json()["problems"]] == [(2, "visited_at")]
    option = api.client.post(
        url + "&map=nonsense",
        files={"file": ("a.csv", body, "text/csv")},
        headers=api.headers("coordinator"),
    )
    assert option.status_code == 422 and option.json()["problems"][0]["field"] == "map"
    with api.engine.connect() as conn:
        actions = conn.execute(
            text(
                "SELECT action, outcome FROM audit_log WHERE role = 'coordinator' "
                "AND detail->>'file' IN ('liczenie.csv', 'bad.csv') ORDER BY id"
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("import_check", "ok"),
        ("import", "ok"),
        ("import", "ok"),
        ("import", "ok"),  # the re-run: sites and visits read, nothing written
        ("import", "ok"),
        ("import", "refused"),
    ]
