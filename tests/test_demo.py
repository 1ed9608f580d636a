"""The demo data set: idempotent, marked as demo, of the order of Sopot's 2024 figures."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL, text
from sqlalchemy.orm import Session

from geo_outreach.demo import load as demo
from geo_outreach.io import files as io
from tests.conftest import cli_env, run_cli

DEMO_TABLES = (
    "areas",
    "sleeping_sites",
    "facilities",
    "patrols",
    "patrol_stops",
    "visits",
    "sos_bus_routes",
    "sos_bus_stops",
    "sos_bus_duties",
)


def test_second_load_changes_no_counts(session: Session, data_dir: Path) -> None:
    before = io.count_rows(session)
    summary = demo.load(session, data_dir=data_dir, seed=2025, year=2025)
    assert set(summary.added.values()) == {0}
    assert io.count_rows(session) == before


def test_everything_is_marked_demo(session: Session) -> None:
    for table in DEMO_TABLES:
        if table in ("patrol_stops", "sos_bus_stops"):
            continue
        not_demo = session.execute(
            text(f"SELECT count(*) FROM {table} WHERE NOT is_demo")
        ).scalar_one()
        total = session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        assert total > 0 and not_demo == 0, table


def test_year_totals_like_sopot_2024(session: Session) -> None:
    # Independent SQL, not the loader's own summary.
    counts = dict(
        session.execute(
            text(
                "SELECT kind, count(*) FROM patrols WHERE is_demo "
                "AND planned_start >= '2025-01-01' AND planned_start < '2026-01-01' GROUP BY kind"
            )
        ).all()
    )
    assert counts["joint"] == 77 and counts["streetwork"] == 152
    contacts, aids, women = session.execute(
        text(
            "SELECT sum(people_met), sum(people_aided), sum(women_met) FROM visits "
            "WHERE is_demo AND visited_at >= '2025-01-01' AND visited_at < '2026-01-01'"
        )
    ).one()
    assert 1200 <= contacts <= 1600, contacts
    assert 400 <= aids <= 560, aids
    assert 0 < women < contacts
    sites = session.execute(text("SELECT count(*) FROM sleeping_sites WHERE is_demo")).scalar_one()
    assert 280 <= sites <= 320
    facilities = session.execute(text("SELECT count(*) FROM facilities WHERE is_demo")).scalar_one()
    assert 6 <= facilities <= 10
    confidential_public = session.execute(
        text("SELECT count(*) FROM facilities WHERE confidential AND public")
    ).scalar_one()
    assert confidential_public == 0


def test_sites_lie_in_districts_and_bus_reaches_sopot(session: Session) -> None:
    no_district = session.execute(
        text("SELECT count(*) FROM sleeping_sites WHERE district IS NULL")
    ).scalar_one()
    assert no_district == 0
    last_stop_in_sopot = session.execute(
        text(
            "SELECT ST_Intersects(a.geom, s.geom) FROM sos_bus_stops s, areas a "
            "WHERE a.kind = 'city' AND a.name = 'Sopot' ORDER BY s.seq DESC LIMIT 1"
        )
    ).scalar_one()
    assert last_stop_in_sopot
    gap = session.execute(
        text(
            "SELECT max(ST_Distance(s.geom::geography, r.geom::geography)) "
            "FROM sos_bus_stops s JOIN sos_bus_routes r ON r.id = s.route_id"
        )
    ).scalar_one()
    assert gap < 30


def test_last_visit_is_derived(session: Session) -> None:
    mismatches = session.execute(
        text(
            "SELECT count(*) FROM sleeping_sites s LEFT JOIN "
            "(SELECT site_id, max(visited_at) AS m FROM visits GROUP BY site_id) v "
            "ON v.site_id = s.id WHERE s.last_visit_at IS DISTINCT FROM v.m"
        )
    ).scalar_one()
    assert mismatches == 0


def test_cli_demo_twice_same_counts(scratch: tuple[URL, URL]) -> None:
    env = cli_env(*scratch)
    first = run_cli("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "joint patrols" in first.stdout and "demo" in first.stdout
    from sqlalchemy import create_engine

    eng = create_engine(scratch[0])

    def counts() -> dict[str, int]:
        with eng.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in DEMO_TABLES
            }

    before = counts()
    second = run_cli("demo", env=env)
    assert second.returncode == 0, second.stderr
    assert counts() == before
    eng.dispose()
