"""The SOS bus: its route, timed stops with a yearly season, and the duty log."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from geoalchemy2 import WKBElement
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Text,
    Time,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from geo_outreach.core.errors import Conflict, NotFound, invalid
from layers.base import Base, Tracked, geometry, gist, uuid_pk
from layers.facilities import MONTH_DAY, MonthDay
from layers.rules import HappenedOn

# The season recurs every year, as MM-DD like the facilities'; from > to wraps the new year.
SEASON_CHECK = f"season_from ~ '{MONTH_DAY}' AND season_to ~ '{MONTH_DAY}'"
# The duty log is kept evening by evening: an entry older than this is a typo, not a late one.
DUTY_BACKFILL = timedelta(days=731)


class SosBusRoute(Tracked, Base):
    __tablename__ = "sos_bus_routes"
    __table_args__ = (
        CheckConstraint(SEASON_CHECK, name="season"),
        gist("sos_bus_routes"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    season_from: Mapped[str] = mapped_column(Text, nullable=False)
    season_to: Mapped[str] = mapped_column(Text, nullable=False)
    geom: Mapped[WKBElement] = geometry("LINESTRING")


class SosBusStop(Base):
    __tablename__ = "sos_bus_stops"
    __table_args__ = (
        UniqueConstraint("route_id", "seq", name="uq_sos_bus_stops_route_seq"),
        CheckConstraint("seq >= 1", name="seq"),
        # A stop's own season (both or neither) replaces the route's for that stop.
        CheckConstraint(
            f"(season_from IS NULL) = (season_to IS NULL) AND "
            f"(season_from IS NULL OR ({SEASON_CHECK}))",
            name="season",
        ),
        gist("sos_bus_stops"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    route_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sos_bus_routes.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    # Evening times; a departure after midnight is stored as such and read with the route's day.
    arrive_time: Mapped[time] = mapped_column(Time, nullable=False)
    depart_time: Mapped[time] = mapped_column(Time, nullable=False)
    season_from: Mapped[str | None] = mapped_column(Text)
    season_to: Mapped[str | None] = mapped_column(Text)
    transit_stop_ref: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = geometry("POINT")


class SosBusDuty(Base):
    """One evening of the bus: how many used it, meals, clothes, rides to the warming centre."""

    __tablename__ = "sos_bus_duties"
    __table_args__ = (
        UniqueConstraint("route_id", "duty_date", name="uq_sos_bus_duties_route_date"),
        CheckConstraint(
            "uses >= 0 AND meals >= 0 AND clothes >= 0 AND rides_to_warming_centre >= 0",
            name="counts",
        ),
        # The database's date may be a day behind the Warsaw evening's: +2 days of slack.
        CheckConstraint(
            "duty_date >= DATE '2000-01-01' AND duty_date <= CURRENT_DATE + 2", name="duty_date"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    route_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sos_bus_routes.id", ondelete="RESTRICT"), nullable=False
    )
    duty_date: Mapped[date] = mapped_column(Date, nullable=False)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    meals: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    clothes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    rides_to_warming_centre: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    notes: Mapped[str | None] = mapped_column(Text)
    is_demo: Mapped[bool] = mapped_column(nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


def _recent(value: date) -> date:
    first = datetime.now(UTC).date() - DUTY_BACKFILL
    if value < first:
        msg = f"is more than {DUTY_BACKFILL.days} days ago (before {first}): check the year"
        raise ValueError(msg)
    return value


class SosBusDutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    duty_date: Annotated[HappenedOn, AfterValidator(_recent)]
    uses: int = Field(default=0, ge=0, le=1000)
    meals: int = Field(default=0, ge=0, le=1000)
    clothes: int = Field(default=0, ge=0, le=1000)
    rides_to_warming_centre: int = Field(default=0, ge=0, le=1000)
    notes: str | None = Field(default=None, max_length=2000)
    # The route's name; without it, the first route by name (a city runs one bus).
    route: str | None = Field(default=None, min_length=1, max_length=200)


class SosBusStopPatch(BaseModel):
    """A timetable change: times as HH:MM, the season as MM-DD (both, or null for both: the
    route's season)."""

    model_config = ConfigDict(extra="forbid")

    arrive_time: time | None = None
    depart_time: time | None = None
    season_from: MonthDay | None = None
    season_to: MonthDay | None = None

    @model_validator(mode="after")
    def _together(self) -> SosBusStopPatch:
        sent = self.model_fields_set
        if ("season_from" in sent) != ("season_to" in sent):
            msg = "season_from and season_to go together"
            raise ValueError(msg)
        if (self.season_from is None) != (self.season_to is None):
            msg = "season_from and season_to are both set or both null"
            raise ValueError(msg)
        for name in ("arrive_time", "depart_time"):
            if name in sent and getattr(self, name) is None:
                msg = f"{name} cannot be null"
                raise ValueError(msg)
        return self


# -- the duty log and the timetable (domain: no HTTP here) ---------------------------------------


def _route(session: Session, name: str | None) -> SosBusRoute:
    query = select(SosBusRoute).order_by(SosBusRoute.name).limit(1)
    if name is not None:
        query = select(SosBusRoute).where(SosBusRoute.name == name)
    found = session.scalars(query).first()
    if found is None:
        msg = f"no SOS bus route named '{name}'" if name else "no SOS bus route is stored"
        raise invalid("route", msg)
    return found


def duty_dict(duty: SosBusDuty, route: str) -> dict[str, Any]:
    return {
        "id": str(duty.id),
        "route": route,
        "duty_date": duty.duty_date.isoformat(),
        "uses": duty.uses,
        "meals": duty.meals,
        "clothes": duty.clothes,
        "rides_to_warming_centre": duty.rides_to_warming_centre,
        "notes": duty.notes,
        "created_at": duty.created_at.isoformat(),
        "created_by": duty.created_by,
    }


def add_duty(session: Session, duty: SosBusDutyIn, *, actor: str) -> dict[str, Any]:
    """Log one evening of the bus; a second entry for the same route and date is a Conflict."""
    route = _route(session, duty.route)
    row = SosBusDuty(route_id=route.id, **duty.model_dump(exclude={"route"}), created_by=actor)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        if "uq_sos_bus_duties_route_date" not in str(exc.orig):
            raise
        msg = f"the duty of {duty.duty_date} on '{route.name}' is already logged"
        raise Conflict(msg) from None
    session.refresh(row)
    return duty_dict(row, route.name)


def duties(session: Session, *, year: int) -> list[dict[str, Any]]:
    """The duty log of one calendar year, newest evening first."""
    rows = session.execute(
        select(SosBusDuty, SosBusRoute.name)
        .join(SosBusRoute, SosBusRoute.id == SosBusDuty.route_id)
        .where(
            SosBusDuty.duty_date >= date(year, 1, 1), SosBusDuty.duty_date < date(year + 1, 1, 1)
        )
        .order_by(SosBusDuty.duty_date.desc(), SosBusRoute.name)
    ).all()
    return [duty_dict(d, name) for d, name in rows]


def stop_dict(stop: SosBusStop, route: SosBusRoute) -> dict[str, Any]:
    return {
        "id": str(stop.id),
        "route_id": str(route.id),
        "route": route.name,
        "seq": stop.seq,
        "name": stop.name,
        "arrive_time": stop.arrive_time.strftime("%H:%M"),
        "depart_time": stop.depart_time.strftime("%H:%M"),
        "season_from": stop.season_from,
        "season_to": stop.season_to,
        "route_season_from": route.season_from,
        "route_season_to": route.season_to,
    }


def timetable(session: Session) -> list[dict[str, Any]]:
    """Every stop of every route in order, with its own season and the route's."""
    rows = session.execute(
        select(SosBusStop, SosBusRoute)
        .join(SosBusRoute, SosBusRoute.id == SosBusStop.route_id)
        .order_by(SosBusRoute.name, SosBusStop.seq)
    ).all()
    return [stop_dict(s, r) for s, r in rows]


def change_stop(session: Session, stop_id: uuid.UUID, change: SosBusStopPatch) -> dict[str, Any]:
    stop = session.get(SosBusStop, stop_id)
    if stop is None:
        msg = f"no SOS bus stop {stop_id}"
        raise NotFound(msg)
    for name, value in change.model_dump(exclude_unset=True).items():
        setattr(stop, name, value)
    session.flush()
    route = session.get(SosBusRoute, stop.route_id)
    assert route is not None  # the foreign key
    return stop_dict(stop, route)
