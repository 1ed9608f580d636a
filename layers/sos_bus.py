"""The SOS bus: its route, timed stops with a season, and the duty log."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from geoalchemy2 import WKBElement
from pydantic import BaseModel, ConfigDict, Field
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
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from layers.base import Base, Tracked, geometry, gist, uuid_pk
from layers.rules import HappenedOn


class SosBusRoute(Tracked, Base):
    __tablename__ = "sos_bus_routes"
    __table_args__ = (
        CheckConstraint("season_end > season_start", name="season"),
        CheckConstraint(
            "season_start >= DATE '2000-01-01' AND season_end <= season_start + 366",
            name="season_dates",
        ),
        gist("sos_bus_routes"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    season_start: Mapped[date] = mapped_column(Date, nullable=False)
    season_end: Mapped[date] = mapped_column(Date, nullable=False)
    geom: Mapped[WKBElement] = geometry("LINESTRING")


class SosBusStop(Base):
    __tablename__ = "sos_bus_stops"
    __table_args__ = (
        UniqueConstraint("route_id", "seq", name="uq_sos_bus_stops_route_seq"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint(
            "(season_start IS NULL OR season_start >= DATE '2000-01-01') AND "
            "(season_start IS NULL OR season_end IS NULL OR season_end <= season_start + 366)",
            name="season_dates",
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
    season_start: Mapped[date | None] = mapped_column(Date)
    season_end: Mapped[date | None] = mapped_column(Date)
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


class SosBusDutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duty_date: HappenedOn
    uses: int = Field(default=0, ge=0, le=1000)
    meals: int = Field(default=0, ge=0, le=1000)
    clothes: int = Field(default=0, ge=0, le=1000)
    rides_to_warming_centre: int = Field(default=0, ge=0, le=1000)
    notes: str | None = Field(default=None, max_length=2000)
