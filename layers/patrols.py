"""Patrols: planned route with ordered stops and the actual track (from GPX); the status a
patrol may move to, and the rule that its first visit shows it has begun."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from geoalchemy2 import WKBElement
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from geo_outreach.core.errors import NotFound, invalid
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


# -- operations (issue 12) ------------------------------------------------------------------

# Where a patrol's status may go: forward only; cancelling is possible until it is done.
TRANSITIONS: dict[str, frozenset[str]] = {
    "planned": frozenset({"in_progress", "cancelled"}),
    "in_progress": frozenset({"done", "cancelled"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}
STARTED = "in_progress"


class PatrolPatchIn(BaseModel):
    """What the office changes on a patrol; the planned window and route come from the plan."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    status: Annotated[str, OneOf(PATROL_STATUSES)] | None = None
    agencies: list[Annotated[str, OneOf(AGENCIES)]] | None = Field(default=None, max_length=10)
    notes: str | None = Field(default=None, max_length=4000)


def transition_fault(current: str, wanted: str) -> str | None:
    """Why a patrol cannot go from `current` to `wanted`, or None (staying put is no change)."""
    if wanted == current or wanted in TRANSITIONS[current]:
        return None
    nexts = sorted(TRANSITIONS[current])
    allowed = f"it can go to: {', '.join(nexts)}" if nexts else "its status is final"
    return f"a {current} patrol cannot become {wanted}; {allowed}"


def locked(session: Session, patrol_id: uuid.UUID) -> Patrol:
    """The patrol, locked for this transaction (a visit may start it meanwhile)."""
    patrol = session.scalars(
        select(Patrol)
        .where(Patrol.id == patrol_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if patrol is None:
        msg = f"no patrol {patrol_id}"
        raise NotFound(msg)
    return patrol


def change(
    session: Session, patrol_id: uuid.UUID, patch: PatrolPatchIn, *, actor: str
) -> dict[str, Any]:
    """Apply the sent fields (status only along TRANSITIONS); returns what changed."""
    sent = patch.model_dump(exclude_unset=True)
    for name in ("status", "agencies"):
        if name in sent and sent[name] is None:
            raise invalid(name, "may not be null")
    patrol = locked(session, patrol_id)
    if "status" in sent:
        fault = transition_fault(patrol.status, sent["status"])
        if fault:
            raise invalid("status", fault)
    if "agencies" in sent:
        sent["agencies"] = list(dict.fromkeys(sent["agencies"]))  # each agency once
    changed = {k: v for k, v in sent.items() if getattr(patrol, k) != v}
    if changed:
        session.execute(
            update(Patrol)
            .where(Patrol.id == patrol_id)
            .values(**changed, updated_at=func.now(), updated_by=actor)
            .execution_options(synchronize_session=False)
        )
    return changed


def start_on_visit(session: Session, patrol_id: uuid.UUID, *, actor: str) -> bool:
    """A visit logged on a planned patrol shows that it has begun: planned → in_progress, once
    (a done or cancelled patrol keeps its status). True when this visit started it."""
    started = session.execute(
        update(Patrol)
        .where(Patrol.id == patrol_id, Patrol.status == "planned")
        .values(status=STARTED, updated_at=func.now(), updated_by=actor)
        .returning(Patrol.id)
        .execution_options(synchronize_session=False)
    ).first()
    return started is not None
