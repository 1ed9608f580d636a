"""Sane times and a server-managed district (issue 10).

Every stored time gets a CHECK: nothing before 2000-01-01, nothing that happened later than a day
ahead of the database's clock, nothing planned more than two years ahead. The API refuses much
earlier (a few minutes ahead, a year ahead: layers/rules.py); a CHECK compares with the database's
clock, which may differ from the API host's, so it is wider and stops only nonsense (a visit in
the year 1 broke every map). Rows already outside a bound keep the constraint NOT VALID, with a
warning, rather than being changed: visits are the record; only the derived last_visit_at is
recomputed.

A site's district is now always derived from `areas` (on insert and when the point moves); a
value written by hand is replaced.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EARLIEST = "'2000-01-01 00:00:00+00'"
HAPPENED = "interval '1 day'"
PLANNED = "interval '2 years'"


def _happened(column: str, *, nullable: bool = False) -> str:
    expr = f"{column} >= {EARLIEST} AND {column} <= now() + {HAPPENED}"
    return f"{column} IS NULL OR ({expr})" if nullable else expr


def _planned(column: str, *, nullable: bool = False) -> str:
    expr = f"{column} >= {EARLIEST} AND {column} <= now() + {PLANNED}"
    return f"{column} IS NULL OR ({expr})" if nullable else expr


# (table, constraint, expression); the names follow the models' naming convention.
CHECKS = [
    ("visits", "ck_visits_visited_at", _happened("visited_at")),
    ("site_status_history", "ck_site_status_history_changed_at", _happened("changed_at")),
    (
        "sleeping_sites",
        "ck_sleeping_sites_last_visit_at",
        _happened("last_visit_at", nullable=True),
    ),
    (
        "facilities",
        "ck_facilities_free_beds_updated_at",
        _happened("free_beds_updated_at", nullable=True),
    ),
    (
        "patrols",
        "ck_patrols_planned_times",
        _planned("planned_start") + " AND planned_end <= planned_start + interval '24 hours'",
    ),
    ("patrol_stops", "ck_patrol_stops_eta", _planned("eta", nullable=True)),
    (
        "sos_bus_duties",
        "ck_sos_bus_duties_duty_date",
        "duty_date >= DATE '2000-01-01' AND duty_date <= CURRENT_DATE + 2",
    ),
    (
        "sos_bus_routes",
        "ck_sos_bus_routes_season_dates",
        "season_start >= DATE '2000-01-01' AND season_end <= season_start + 366",
    ),
    (
        "sos_bus_stops",
        "ck_sos_bus_stops_season_dates",
        "(season_start IS NULL OR season_start >= DATE '2000-01-01') AND "
        "(season_start IS NULL OR season_end IS NULL OR season_end <= season_start + 366)",
    ),
]

# last_visit_at is derived from visits: where one out of bounds set it (a visit in the year 1
# broke every map), it is recomputed from the visits within them. The visits themselves stay.
REPAIR_LAST_VISIT = f"""
UPDATE sleeping_sites s SET last_visit_at = (
    SELECT max(v.visited_at) FROM visits v
    WHERE v.site_id = s.id AND {_happened("v.visited_at")}
)
WHERE NOT ({_happened("s.last_visit_at", nullable=True)});
"""

DISTRICT = """
-- The district (or else the city) a point lies in: one definition for the trigger and repairs.
CREATE FUNCTION geo_outreach_district_of(point geometry) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT a.name FROM areas a
    WHERE a.kind IN ('district', 'city') AND ST_Intersects(a.geom, point)
    ORDER BY a.kind = 'district' DESC, a.is_demo, a.name
    LIMIT 1
$$;

-- Server-managed: derived on insert and whenever the point moves; a hand-written value is
-- replaced (the API refuses one, an import ignores the column).
CREATE OR REPLACE FUNCTION geo_outreach_site_district() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND ST_Equals(NEW.geom, OLD.geom)
       AND NEW.district IS NOT DISTINCT FROM OLD.district THEN
        RETURN NEW;
    END IF;
    NEW.district := geo_outreach_district_of(NEW.geom);
    RETURN NEW;
END $$;

-- Districts set by hand before this revision are replaced by the derived ones.
UPDATE sleeping_sites SET district = geo_outreach_district_of(geom)
WHERE district IS DISTINCT FROM geo_outreach_district_of(geom);
"""

# 0001's version, for downgrades.
OLD_DISTRICT = """
CREATE OR REPLACE FUNCTION geo_outreach_site_district() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.district IS NOT NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.district IS DISTINCT FROM OLD.district
                             OR ST_Equals(NEW.geom, OLD.geom)) THEN
        RETURN NEW;
    END IF;
    SELECT a.name INTO NEW.district
    FROM areas a
    WHERE a.kind IN ('district', 'city') AND ST_Intersects(a.geom, NEW.geom)
    ORDER BY a.kind = 'district' DESC, a.is_demo, a.name
    LIMIT 1;
    RETURN NEW;
END $$;
DROP FUNCTION IF EXISTS geo_outreach_district_of(geometry);
"""


def upgrade() -> None:
    op.execute(REPAIR_LAST_VISIT)
    for table, name, expr in CHECKS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({expr}) NOT VALID")
        # Validated where the rows allow it; otherwise new rows are checked and an admin is told.
        op.execute(
            f"""
            DO $$ BEGIN
                ALTER TABLE {table} VALIDATE CONSTRAINT {name};
            EXCEPTION WHEN check_violation THEN
                RAISE WARNING '{table} has rows outside {name}: new rows are checked; correct '
                    'the old ones, then run ALTER TABLE {table} VALIDATE CONSTRAINT {name}';
            END $$;
            """
        )
    op.execute(DISTRICT)


def downgrade() -> None:
    op.execute(OLD_DISTRICT)
    for table, name, _ in reversed(CHECKS):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
