"""Tell the API processes when a bearer token or an account changes (issue 15): they keep checked
tokens in memory for a few seconds and drop them all on this notification, so a revocation, an
expiry change, a deactivation or a new role holds at once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHANNEL = "geo_outreach_auth"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION geo_outreach_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END $$
        """
    )
    # Browser sessions move their idle deadline on every request: only changes that can end or
    # alter a bearer token's rights are announced.
    op.execute(
        """
        CREATE TRIGGER auth_changed_token AFTER UPDATE ON api_tokens FOR EACH ROW
        WHEN (OLD.kind = 'bearer' AND (
            OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
            OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
            OR OLD.user_id IS DISTINCT FROM NEW.user_id
            OR NEW.kind <> 'bearer'))
        EXECUTE FUNCTION geo_outreach_auth_changed()
        """
    )
    op.execute(
        "CREATE TRIGGER auth_changed_token_gone AFTER DELETE ON api_tokens "
        "FOR EACH STATEMENT EXECUTE FUNCTION geo_outreach_auth_changed()"
    )
    op.execute(
        "CREATE TRIGGER auth_changed_user AFTER UPDATE OR DELETE ON users "
        "FOR EACH STATEMENT EXECUTE FUNCTION geo_outreach_auth_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER auth_changed_user ON users")
    op.execute("DROP TRIGGER auth_changed_token_gone ON api_tokens")
    op.execute("DROP TRIGGER auth_changed_token ON api_tokens")
    op.execute("DROP FUNCTION geo_outreach_auth_changed()")
