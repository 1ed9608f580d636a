"""Audit log: every read and write of site, visit and patrol data. Append-only for the app role.

It holds ids and counts, never coordinates or notes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from layers.base import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_objects", "object_ids", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # read | create | update | export …
    layer: Mapped[str] = mapped_column(Text, nullable=False)
    object_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    outcome: Mapped[str] = mapped_column(Text, nullable=False)  # ok | denied | failed
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


def record(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    layer: str,
    object_ids: list[uuid.UUID] | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            role=role,
            action=action,
            layer=layer,
            object_ids=object_ids or [],
            outcome=outcome,
            detail=detail or {},
        )
    )
