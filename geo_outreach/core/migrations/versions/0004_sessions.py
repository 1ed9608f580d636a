"""Field app: browser sessions as api_tokens rows of kind 'session' (with the time last seen, for
the idle timeout), and site changes made offline (applied, or waiting for a coordinator).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "geo_outreach_app"


def upgrade() -> None:
    op.add_column(
        "api_tokens",
        sa.Column("kind", sa.Text(), server_default=sa.text("'bearer'"), nullable=False),
    )
    op.add_column("api_tokens", sa.Column("last_seen_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        op.f("ck_api_tokens_kind"), "api_tokens", "kind IN ('bearer', 'session')"
    )
    op.create_table(
        "site_changes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("site_id", sa.UUID(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("result_version", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('applied', 'pending', 'accepted', 'rejected')",
            name=op.f("ck_site_changes_state"),
        ),
        sa.CheckConstraint("base_version >= 1", name=op.f("ck_site_changes_base_version")),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sleeping_sites.id"],
            name=op.f("fk_site_changes_site_id_sleeping_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_changes")),
    )
    op.create_index("ix_site_changes_state", "site_changes", ["state"], unique=False)
    op.create_index("ix_site_changes_site", "site_changes", ["site_id"], unique=False)
    # Changes are decided, never deleted: the record of who proposed what stays.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON site_changes TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_index("ix_site_changes_site", table_name="site_changes")
    op.drop_index("ix_site_changes_state", table_name="site_changes")
    op.drop_table("site_changes")
    op.drop_constraint(op.f("ck_api_tokens_kind"), "api_tokens", type_="check")
    op.drop_column("api_tokens", "last_seen_at")
    op.drop_column("api_tokens", "kind")
