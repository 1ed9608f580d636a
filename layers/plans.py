"""Stored plans of the office console (issue 12): every plan made through the API, kept with the
request that made it and the result needed to show, compare and publish it.

A plan holds site positions (its routes and stops): internal, like the patrols it becomes. It is
never deleted by the application; publishing stamps it once and names the patrols it made.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.vocab import sql_in
from layers.base import Base, uuid_pk

PLAN_MODES = ("streetwork", "joint", "akcja-zima", "inspection")


class StoredPlan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(sql_in("mode", PLAN_MODES), name="mode"),
        CheckConstraint(
            "(published_at IS NULL) = (published_by IS NULL)", name="published_together"
        ),
        Index("ix_plans_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # The plan this one was re-solved from (same request, some fields changed).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("plans.id", ondelete="SET NULL")
    )
    mode: Mapped[str] = mapped_column(Text, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)  # as the API took it
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)  # the Plan, as JSON
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(Text)
    patrol_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")
    )
