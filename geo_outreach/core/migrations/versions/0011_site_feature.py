"""Each sleeping site keeps its GeoJSON Feature as staff read it (issue 15): the busiest read,
`GET /sites?bbox`, joins stored text instead of building a JSON object of fifteen properties per
row per request. A trigger writes it on every insert and update, after every other BEFORE
trigger, so it always shows the row as stored; a redaction rewrites it with the row.

The property list is frozen here, as migrations are: staff's (policy.SITE_FIELDS_ALL). The
read path (layers.features.STORED_FEATURE) uses the stored text only for exactly that list, and
a test compares the stored text and the trigger's list with the code's.

The backfill rewrites the table under ALTER TABLE's exclusive lock: reads of sites wait for it
(seconds for 10⁵ sites; a city has hundreds). Every later change of a site rewrites its text.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:25:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FIELDS = (
    "code",
    "name",
    "category",
    "status",
    "estimated_people",
    "hazards",
    "access_notes",
    "district",
    "last_visit_at",
    "version",
    "is_demo",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)


def upgrade() -> None:
    props = ", ".join(f"'{f}', NEW.{f}" for f in FIELDS)
    # SET timezone: times are written in UTC whatever the writing session's setting, as the
    # API's sessions (UTC) write them when they build a Feature live.
    op.execute(
        f"""
        CREATE FUNCTION geo_outreach_site_feature() RETURNS trigger
        LANGUAGE plpgsql SET timezone = 'UTC' AS $$
        BEGIN
            NEW.feature_json := json_build_object(
                'type', 'Feature', 'id', NEW.id,
                'geometry', ST_AsGeoJSON(NEW.geom, 7)::json,
                'properties', json_build_object({props}))::text;
            RETURN NEW;
        END $$
        """
    )
    op.execute("ALTER TABLE sleeping_sites ADD COLUMN feature_json text")
    # BEFORE triggers fire in name order: "zz_" puts this one after site_district and any other.
    op.execute(
        "CREATE TRIGGER zz_site_feature BEFORE INSERT OR UPDATE ON sleeping_sites "
        "FOR EACH ROW EXECUTE FUNCTION geo_outreach_site_feature()"
    )
    op.execute("UPDATE sleeping_sites SET feature_json = NULL")  # the trigger fills it
    op.execute("ALTER TABLE sleeping_sites ALTER COLUMN feature_json SET NOT NULL")


def downgrade() -> None:
    op.execute("DROP TRIGGER zz_site_feature ON sleeping_sites")
    op.execute("ALTER TABLE sleeping_sites DROP COLUMN feature_json")
    op.execute("DROP FUNCTION geo_outreach_site_feature()")
