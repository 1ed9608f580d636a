"""Cold nights and public alerts (issue 14): winter_nights (one per night, with tonight's list and
the proposal's patrol ids), winter_notices (one per coordinator and night), public_alerts, and
an optional e-mail address on users.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APP_ROLE = "geo_outreach_app"


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.Text(), nullable=True))
    op.create_table(
        "winter_nights",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("min_temperature", sa.Float(), nullable=False),
        sa.Column("min_apparent", sa.Float(), nullable=True),
        sa.Column("max_wind_kmh", sa.Float(), nullable=True),
        sa.Column("precipitation_mm", sa.Float(), nullable=True),
        sa.Column(
            "site_ids",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
        sa.Column("vulnerable", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("people", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("teams", sa.Integer(), nullable=False),
        sa.Column(
            "patrol_ids",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
        sa.Column("extra_teams_needed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("plan_note", sa.Text(), nullable=True),
        sa.Column(
            "decided_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.CheckConstraint("level IN ('akcja-zima', 'cold')", name=op.f("ck_winter_nights_level")),
        sa.CheckConstraint("teams BETWEEN 1 AND 50", name=op.f("ck_winter_nights_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winter_nights")),
        sa.UniqueConstraint("night", name=op.f("uq_winter_nights_night")),
    )
    op.create_table(
        "winter_notices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("night_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["night_id"],
            ["winter_nights.id"],
            name=op.f("fk_winter_notices_night_id_winter_nights"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_winter_notices_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winter_notices")),
        sa.UniqueConstraint("night_id", "user_id", name="uq_winter_notices_night"),
    )
    op.create_table(
        "public_alerts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False),
            nullable=True,
        ),
        sa.Column("position_source", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("lang", sa.Text(), server_default=sa.text("'pl'"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'received'"), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("site_id", sa.UUID(), nullable=True),
        sa.Column("patrol_id", sa.UUID(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'team_sent', 'person_found', 'not_found', 'no_action')",
            name=op.f("ck_public_alerts_status"),
        ),
        sa.CheckConstraint(
            "position_source IN ('pin', 'device', 'address')",
            name=op.f("ck_public_alerts_position_source"),
        ),
        sa.CheckConstraint("lang IN ('pl', 'en', 'uk')", name=op.f("ck_public_alerts_lang")),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('new_site', 'visit_request', 'closed')",
            name=op.f("ck_public_alerts_decision"),
        ),
        sa.CheckConstraint(
            "purged_at IS NOT NULL OR geom IS NOT NULL OR address IS NOT NULL",
            name=op.f("ck_public_alerts_where"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sleeping_sites.id"],
            name=op.f("fk_public_alerts_site_id_sleeping_sites"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patrol_id"],
            ["patrols.id"],
            name=op.f("fk_public_alerts_patrol_id_patrols"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_alerts")),
        sa.UniqueConstraint("ref", name=op.f("uq_public_alerts_ref")),
    )
    op.create_index(
        "ix_public_alerts_geom", "public_alerts", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index("ix_public_alerts_received", "public_alerts", ["received_at"], unique=False)
    op.create_index("ix_public_alerts_status", "public_alerts", ["status"], unique=False)
    # Decided and purged in place, never deleted by the application.
    for table in ("winter_nights", "winter_notices", "public_alerts"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_index("ix_public_alerts_status", table_name="public_alerts")
    op.drop_index("ix_public_alerts_received", table_name="public_alerts")
    op.drop_index("ix_public_alerts_geom", table_name="public_alerts", postgresql_using="gist")
    op.drop_table("public_alerts")
    op.drop_table("winter_notices")
    op.drop_table("winter_nights")
    op.drop_column("users", "email")
