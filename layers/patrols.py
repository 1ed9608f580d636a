"""Patrols: planned route with ordered stops and the actual track (from GPX)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from geoalchemy2 import WKBElement
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.vocab import AGENCIES, PATROL_KINDS, PATROL_STATUSES, sql_in, sql_subset
from layers.base import Base, Tracked, geometry, gist, uuid_pk
from layers.rules import LONGEST_PATROL, OneOf, PlannedAt, sql_planned

TABLE = "patrols"


class Patrol(Tracked, Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(sql_in("kind", PATROL_KINDS), name="kind"),
        CheckConstraint(sql_in("status", PATROL_STATUSES), name="status"),
        CheckConstraint(sql_subset("agencies", AGENCIES), name="agencies"),
        CheckConstraint("planned_end > planned_start", name="planned_window"),
        CheckConstraint(
            f"{sql_planned('planned_start')} AND "
            "planned_end <= planned_start + interval '24 hours'",
            name="planned_times",
        ),
        CheckConstraint("team_size BETWEEN 1 AND 50", name="team_size"),
        gist(TABLE, "planned_route"),
        gist(TABLE, "actual_track"),
        Index("ix_patrols_start", "planned_start"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    agencies: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    planned_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    planned_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    team_size: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("2"))
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'planned'"))
    planned_route: Mapped[WKBElement | None] = geometry("LINESTRING", nullable=True)
    actual_track: Mapped[WKBElement | None] = geometry("MULTILINESTRING", nullable=True)
    notes: Mapped[str | None] = mapped_column(Text)


class PatrolStop(Base):
    """An ordered stop of a planned route: a site, a facility or just a point."""

    __tablename__ = "patrol_stops"
    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint("service_minutes >= 0", name="service"),
        CheckConstraint(sql_planned("eta", nullable=True), name="eta"),
        gist("patrol_stops"),
    )

    patrol_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sleeping_sites.id", ondelete="SET NULL")
    )
    facility_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("facilities.id", ondelete="SET NULL")
    )
    eta: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    service_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    geom: Mapped[WKBElement] = geometry("POINT")


class PatrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40)
    kind: Annotated[str, OneOf(PATROL_KINDS)]
    agencies: list[Annotated[str, OneOf(AGENCIES)]] = Field(default_factory=list)
    planned_start: PlannedAt
    planned_end: PlannedAt
    team_size: int = Field(default=2, ge=1, le=50)
    status: Annotated[str, OneOf(PATROL_STATUSES)] = "planned"
    notes: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _consistent(self) -> PatrolIn:
        if not timedelta(0) < self.planned_end - self.planned_start <= LONGEST_PATROL:
            msg = f"planned_end must be after planned_start, within {LONGEST_PATROL}"
            raise ValueError(msg)
        return self
