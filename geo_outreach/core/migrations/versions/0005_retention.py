"""Retention and redaction (issue 16): the one narrow path by which a visit's note is blanked.

The application role still may not UPDATE or DELETE visits. Redaction goes through
geo_outreach_redact_visit_notes(ids), a SECURITY DEFINER function owned by the schema owner that
can do exactly one thing: replace the note of the given visits by a fixed marker. It takes no
text, so it cannot write anything else into a note, and it touches no other column, so the
visit and its counts (and every yearly table built from them) stay as they were. Who redacted
what and why is written to audit_log by the caller in the same transaction.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APP_ROLE = "geo_outreach_app"
# The marker is fixed here, not a parameter (geo_outreach/ops/retention.py names the same text).
FUNCTION = """
CREATE FUNCTION geo_outreach_redact_visit_notes(ids uuid[]) RETURNS integer
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH changed AS (
        UPDATE public.visits SET note = '[redacted]'
        WHERE id = ANY(ids) AND note IS NOT NULL AND note <> '[redacted]'
        RETURNING 1
    )
    SELECT count(*)::integer FROM changed
$$;
COMMENT ON FUNCTION geo_outreach_redact_visit_notes(uuid[]) IS
    'Replaces the notes of the given visits by [redacted]; nothing else. Issue 16.';
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION geo_outreach_redact_visit_notes(uuid[]) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION geo_outreach_redact_visit_notes(uuid[]) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS geo_outreach_redact_visit_notes(uuid[])")
