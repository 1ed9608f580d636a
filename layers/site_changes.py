"""Site changes made offline in the field app (the table; layers/fieldsync.py writes them).

Each carries the site version it was based on: when the site is still at that version the change
applies at once, otherwise it waits as a proposed change until a coordinator accepts it (applied
onto the current version) or rejects it. Nothing sent is lost, and each change, keyed by the UUID
the phone made, is stored once however often it is sent again."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base

STATES = ("applied", "pending", "accepted", "rejected")


class SiteChange(Base):
    __tablename__ = "site_changes"
    __table_args__ = (
        CheckConstraint("state IN ('applied', 'pending', 'accepted', 'rejected')", name="state"),
        CheckConstraint("base_version >= 1", name="base_version"),
        Index("ix_site_changes_state", "state"),
        Index("ix_site_changes_site", "site_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    site_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sleeping_sites.id", ondelete="CASCADE"), nullable=False
    )
    base_version: Mapped[int] = mapped_column(Integer, nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(Text)
    # The site's version once this change was written into it.
    result_version: Mapped[int | None] = mapped_column(Integer)
