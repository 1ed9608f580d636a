"""Patrol operations of the office console (issue 12).

No schema change: status, agencies, notes and actual_track (MULTILINESTRING) are patrol columns
since 0001, members are patrol_members and accounts users/api_tokens since 0002, and the app role
may already UPDATE patrols, users and api_tokens and INSERT/DELETE patrol_members.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
