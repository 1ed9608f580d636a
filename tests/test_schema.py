"""The schema in the real PostGIS: typed geometry columns, GiST indexes, SRID lock, grants,
triggers, and migrations that go down and up and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import URL, Engine, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.orm import Session

from geo_outreach.core import db, migrate
from layers.models import Base, SleepingSite

GEOMETRY_COLUMNS = {
    ("areas", "geom"): ("MULTIPOLYGON", 4326),
    ("sleeping_sites", "geom"): ("POINT", 4326),
    ("facilities", "geom"): ("POINT", 4326),
    ("patrols", "planned_route"): ("LINESTRING", 4326),
    ("patrols", "actual_track"): ("MULTILINESTRING", 4326),
    ("patrol_stops", "geom"): ("POINT", 4326),
    ("sos_bus_routes", "geom"): ("LINESTRING", 4326),
    ("sos_bus_stops", "geom"): ("POINT", 4326),
}


def test_versions_reported(engine: Engine) -> None:
    info = db.versions(engine)
    assert info["postgresql"].split(".")[0].isdigit()
    assert info["postgis"].startswith("3.")
    assert info["pgrouting"][0].isdigit()


def test_geometry_columns_are_typed_and_indexed(session: Session) -> None:
    rows = session.execute(
        text("SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns")
    ).all()
    registered = {(r[0], r[1]): (r[2], r[3]) for r in rows}
    for key, expected in GEOMETRY_COLUMNS.items():
        assert registered.get(key) == expected, key
    indexes = session.execute(
        text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    ).all()
    for table, column in GEOMETRY_COLUMNS:
        assert any(t == table and "USING gist" in d and f"({column})" in d for t, d in indexes), (
            f"no GiST index on {table}.{column}"
        )


@pytest.mark.parametrize("srid", [3857, 2180])
def test_other_srid_is_refused(session: Session, srid: int) -> None:
    with pytest.raises(DBAPIError, match=r"SRID \(\d+\) does not match column SRID \(4326\)"):
        session.execute(
            text(
                "INSERT INTO sleeping_sites (code, name, category, created_by, updated_by, geom) "
                "VALUES ('X-1', 'x', 'inne', 't', 't', ST_SetSRID(ST_MakePoint(2070000, 7240000), :srid))"
            ),
            {"srid": srid},
        )


def test_wrong_geometry_type_is_refused(session: Session) -> None:
    with pytest.raises(DBAPIError, match="Geometry type"):
        session.execute(
            text(
                "INSERT INTO sleeping_sites (code, name, category, created_by, updated_by, geom) "
                "VALUES ('X-2', 'x', 'inne', 't', 't', "
                "ST_GeomFromText('LINESTRING(18.6 54.3, 18.7 54.4)', 4326))"
            )
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE visits SET people_met = people_met + 1",
        "DELETE FROM visits",
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM site_status_history",
    ],
)
def test_app_role_cannot_rewrite_the_record(session: Session, statement: str) -> None:
    assert session.execute(text("SELECT current_user")).scalar_one() == "geo_outreach"
    with pytest.raises(ProgrammingError, match="permission denied"):
        session.execute(text(statement))


def test_app_role_can_append_visits(session: Session) -> None:
    site_id = session.execute(text("SELECT id FROM sleeping_sites LIMIT 1")).scalar_one()
    session.execute(
        text(
            "INSERT INTO visits (site_id, visited_at, people_met, created_by) "
            "VALUES (:s, '2026-01-01T22:00:00+01', 2, 'test')"
        ),
        {"s": site_id},
    )
    last = session.execute(
        text("SELECT last_visit_at FROM sleeping_sites WHERE id = :s"), {"s": site_id}
    ).scalar_one()
    assert last.isoformat() == "2026-01-01T21:00:00+00:00"


def test_status_changes_are_kept(session: Session) -> None:
    site = session.query(SleepingSite).filter_by(status="active").first()
    assert site is not None
    before = session.execute(
        text("SELECT count(*) FROM site_status_history WHERE site_id = :s"), {"s": site.id}
    ).scalar_one()
    site.status = "closed"
    site.updated_by = "test"
    session.flush()
    rows = session.execute(
        text(
            "SELECT status, changed_by FROM site_status_history WHERE site_id = :s "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"s": site.id},
    ).one()
    assert tuple(rows) == ("closed", "test")
    after = session.execute(
        text("SELECT count(*) FROM site_status_history WHERE site_id = :s"), {"s": site.id}
    ).scalar_one()
    assert after == before + 1
    assert site.version == 2  # optimistic concurrency counter moved


def test_district_is_derived_from_areas(session: Session) -> None:
    # The Neptune Fountain, Długi Targ: Śródmieście.
    session.execute(
        text(
            "INSERT INTO sleeping_sites (code, name, category, created_by, updated_by, geom) "
            "VALUES ('X-3', 'x', 'inne', 't', 't', ST_SetSRID(ST_MakePoint(18.65316, 54.34856), 4326))"
        )
    )
    district = session.execute(
        text("SELECT district FROM sleeping_sites WHERE code = 'X-3'")
    ).scalar_one()
    assert district == "Śródmieście"


def test_migrations_down_and_up(scratch: tuple[URL, URL]) -> None:
    admin, _ = scratch
    migrate.upgrade(admin)
    assert migrate.current(admin) == migrate.head()
    eng = create_engine(admin)
    try:
        assert set(GEOMETRY_COLUMNS_TABLES) <= set(inspect(eng).get_table_names())
        migrate.downgrade(admin, "base")
        assert migrate.current(admin) is None
        assert not set(GEOMETRY_COLUMNS_TABLES) & set(inspect(eng).get_table_names())
        migrate.upgrade(admin)
        assert migrate.current(admin) == migrate.head()
        with eng.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(
                    conn,
                    opts={
                        "include_object": alembic_helpers.include_object,
                        "compare_type": True,
                    },
                ),
                Base.metadata,
            )
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        eng.dispose()


GEOMETRY_COLUMNS_TABLES = sorted({t for t, _ in GEOMETRY_COLUMNS} | {"visits", "audit_log"})
