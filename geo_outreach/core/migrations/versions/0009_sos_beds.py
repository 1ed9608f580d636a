"""SOS bus seasons as month-days, free-beds history (issue 12).

The bus runs every winter: route and stop seasons become MM-DD like the facilities' (from > to
wraps the new year), converted from the stored dates. Every change of a facility's free beds is
kept in facility_free_beds by a trigger, whichever way it was written.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

APP_ROLE = "geo_outreach_app"
MONTH_DAY = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
SEASON = f"season_from ~ '{MONTH_DAY}' AND season_to ~ '{MONTH_DAY}'"

# A season of a whole year (or longer) has no first day: it becomes 01-01 … 12-31.
TO_MONTH_DAY = """
UPDATE {table} SET
  season_from = CASE WHEN season_end >= season_start + 364 THEN '01-01'
                     ELSE to_char(season_start, 'MM-DD') END,
  season_to = CASE WHEN season_end >= season_start + 364 THEN '12-31'
                   ELSE to_char(season_end, 'MM-DD') END
WHERE season_start IS NOT NULL AND season_end IS NOT NULL
"""
# Back to dates: this year's season (a wrapping one ends the next year); 02-29 → 02-28.
TO_DATES = """
UPDATE {table} SET
  season_start = make_date(y, f_m, least(f_d, CASE WHEN f_m = 2 THEN 28 ELSE 31 END)),
  season_end = make_date(y + CASE WHEN season_from > season_to THEN 1 ELSE 0 END,
                         t_m, least(t_d, CASE WHEN t_m = 2 THEN 28 ELSE 31 END))
FROM (SELECT id AS row_id,
             extract(year FROM now())::int AS y,
             split_part(season_from, '-', 1)::int AS f_m,
             split_part(season_from, '-', 2)::int AS f_d,
             split_part(season_to, '-', 1)::int AS t_m,
             split_part(season_to, '-', 2)::int AS t_d
      FROM {table} WHERE season_from IS NOT NULL) md
WHERE id = md.row_id
"""

TRIGGER = """
CREATE FUNCTION geo_outreach_free_beds_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.free_beds IS NOT NULL AND (TG_OP = 'INSERT'
        OR NEW.free_beds IS DISTINCT FROM OLD.free_beds
        OR NEW.free_beds_updated_at IS DISTINCT FROM OLD.free_beds_updated_at) THEN
        INSERT INTO facility_free_beds (facility_id, free_beds, at, by)
        VALUES (NEW.id, NEW.free_beds, coalesce(NEW.free_beds_updated_at, now()),
                NEW.updated_by);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER free_beds_history AFTER INSERT OR UPDATE OF free_beds, free_beds_updated_at
    ON facilities FOR EACH ROW EXECUTE FUNCTION geo_outreach_free_beds_history();
"""


def _add_check(table: str, name: str, expr: str) -> None:
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({expr})")


def _drop_check(table: str, name: str) -> None:
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def upgrade() -> None:
    for table in ("sos_bus_routes", "sos_bus_stops"):
        op.add_column(table, sa.Column("season_from", sa.Text(), nullable=True))
        op.add_column(table, sa.Column("season_to", sa.Text(), nullable=True))
        op.execute(TO_MONTH_DAY.format(table=table))
        _drop_check(table, f"ck_{table}_season_dates")
    _drop_check("sos_bus_routes", "ck_sos_bus_routes_season")
    op.drop_column("sos_bus_routes", "season_start")
    op.drop_column("sos_bus_routes", "season_end")
    op.drop_column("sos_bus_stops", "season_start")
    op.drop_column("sos_bus_stops", "season_end")
    op.alter_column("sos_bus_routes", "season_from", nullable=False)
    op.alter_column("sos_bus_routes", "season_to", nullable=False)
    _add_check("sos_bus_routes", "ck_sos_bus_routes_season", SEASON)
    _add_check(
        "sos_bus_stops",
        "ck_sos_bus_stops_season",
        f"(season_from IS NULL) = (season_to IS NULL) AND (season_from IS NULL OR ({SEASON}))",
    )

    op.create_table(
        "facility_free_beds",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("facility_id", sa.UUID(), nullable=False),
        sa.Column("free_beds", sa.Integer(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("by", sa.Text(), nullable=False),
        sa.CheckConstraint("free_beds >= 0", name=op.f("ck_facility_free_beds_free_beds")),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_facility_free_beds_facility_id_facilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_free_beds")),
    )
    op.create_index(
        "ix_facility_free_beds_facility_at", "facility_free_beds", ["facility_id", "at"]
    )
    # The numbers already stored start the history.
    op.execute(
        "INSERT INTO facility_free_beds (facility_id, free_beds, at, by) "
        "SELECT id, free_beds, coalesce(free_beds_updated_at, updated_at), updated_by "
        "FROM facilities WHERE free_beds IS NOT NULL"
    )
    op.execute(TRIGGER)
    # A record: appended, never rewritten by the application.
    op.execute(f"GRANT SELECT, INSERT ON facility_free_beds TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TRIGGER free_beds_history ON facilities")
    op.execute("DROP FUNCTION geo_outreach_free_beds_history()")
    op.drop_index("ix_facility_free_beds_facility_at", table_name="facility_free_beds")
    op.drop_table("facility_free_beds")

    _drop_check("sos_bus_stops", "ck_sos_bus_stops_season")
    _drop_check("sos_bus_routes", "ck_sos_bus_routes_season")
    for table in ("sos_bus_routes", "sos_bus_stops"):
        op.add_column(table, sa.Column("season_start", sa.Date(), nullable=True))
        op.add_column(table, sa.Column("season_end", sa.Date(), nullable=True))
        op.execute(TO_DATES.format(table=table))
        op.drop_column(table, "season_from")
        op.drop_column(table, "season_to")
    op.alter_column("sos_bus_routes", "season_start", nullable=False)
    op.alter_column("sos_bus_routes", "season_end", nullable=False)
    _add_check("sos_bus_routes", "ck_sos_bus_routes_season", "season_end > season_start")
    _add_check(
        "sos_bus_routes",
        "ck_sos_bus_routes_season_dates",
        "season_start >= DATE '2000-01-01' AND season_end <= season_start + 366",
    )
    _add_check(
        "sos_bus_stops",
        "ck_sos_bus_stops_season_dates",
        "(season_start IS NULL OR season_start >= DATE '2000-01-01') AND "
        "(season_start IS NULL OR season_end IS NULL OR season_end <= season_start + 366)",
    )
