"""Public alerts (issue 14): someone who may be freezing, reported by a passer-by.

An alert holds where (a point, or an address as typed), when, what was seen and an optional
contact, never a name or a photo. It is staff data: the reporter sees only its status by its
reference code; the public layer, partners and exports never see it. After `alert_keep_days`
the position, the address, the description and the contact are removed (`purged_at`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import WKBElement
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.i18n import LANGS
from geo_outreach.core.vocab import sql_in
from layers.base import Base, geometry, gist, uuid_pk

TABLE = "public_alerts"
# What the reporter sees by code, in this order of a case's life.
ALERT_STATUSES = ("received", "team_sent", "person_found", "not_found", "no_action")
POSITION_SOURCES = ("pin", "device", "address")
# What a coordinator made of it.
DECISIONS = ("new_site", "visit_request", "closed")


class PublicAlert(Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(sql_in("status", ALERT_STATUSES), name="status"),
        CheckConstraint(sql_in("position_source", POSITION_SOURCES), name="position_source"),
        CheckConstraint(sql_in("lang", LANGS), name="lang"),
        CheckConstraint("decision IS NULL OR " + sql_in("decision", DECISIONS), name="decision"),
        CheckConstraint(
            "purged_at IS NOT NULL OR geom IS NOT NULL OR address IS NOT NULL", name="where"
        ),
        gist(TABLE),
        Index("ix_public_alerts_received", "received_at"),
        Index("ix_public_alerts_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    ref: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    geom: Mapped[WKBElement | None] = geometry("POINT", nullable=True)
    position_source: Mapped[str] = mapped_column(Text, nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'pl'"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'received'"))
    decision: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sleeping_sites.id", ondelete="SET NULL")
    )
    patrol_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("patrols.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(Text)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
