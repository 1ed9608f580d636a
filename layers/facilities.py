"""Help facilities on the ladder (ogrzewalnia … mieszkanie chronione), with free beds and hours."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from geoalchemy2 import WKBElement
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from geo_outreach.core.errors import NotFound
from geo_outreach.core.vocab import FACILITY_TYPES, WEEKDAYS, sql_in
from layers.base import Base, Tracked, geometry, gist, uuid_pk
from layers.rules import OneOf, sql_happened

TABLE = "facilities"
GEOMETRY_TYPE = "POINT"
MONTH_DAY = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


class Facility(Tracked, Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(sql_in("type", FACILITY_TYPES), name="type"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
        CheckConstraint(
            "free_beds IS NULL OR (free_beds >= 0 AND (capacity IS NULL OR free_beds <= capacity))",
            name="free_beds",
        ),
        # A confidential place (e.g. a shelter for violence survivors) can never be public.
        CheckConstraint("NOT (public AND confidential)", name="public_confidential"),
        CheckConstraint(
            f"(season_from IS NULL) = (season_to IS NULL) AND "
            f"(season_from IS NULL OR "
            f"(season_from ~ '{MONTH_DAY}' AND season_to ~ '{MONTH_DAY}'))",
            name="season",
        ),
        CheckConstraint(
            sql_happened("free_beds_updated_at", nullable=True), name="free_beds_updated_at"
        ),
        gist(TABLE),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    type: Mapped[str] = mapped_column(Text, nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    free_beds: Mapped[int | None] = mapped_column(Integer)
    free_beds_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # HSDS-style weekly schedule: [{"byday": "MO", "opens_at": "20:00", "closes_at": "08:00"}]
    opening_hours: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    # Season as MM-DD; season_from > season_to wraps the new year (e.g. 11-01 … 03-31).
    season_from: Mapped[str | None] = mapped_column(Text)
    season_to: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    confidential: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    geom: Mapped[WKBElement] = geometry(GEOMETRY_TYPE)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class FreeBedsEntry(Base):
    """One free-beds report (the evening's number, who gave it, when). Written by a trigger on
    facilities (migration 0009) whenever free_beds or its time stamp changes, so every way of
    writing the number leaves its trace; append-only for the application."""

    __tablename__ = "facility_free_beds"
    __table_args__ = (
        CheckConstraint("free_beds >= 0", name="free_beds"),
        Index("ix_facility_free_beds_facility_at", "facility_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("facilities.id", ondelete="CASCADE"), nullable=False
    )
    free_beds: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    by: Mapped[str] = mapped_column(Text, nullable=False)


def free_beds_history(
    session: Session, facility_id: uuid.UUID, *, include_confidential: bool, limit: int = 100
) -> list[dict[str, Any]]:
    """A facility's free-beds reports, newest first (a hidden confidential place: not found)."""
    facility = session.get(Facility, facility_id)
    if facility is None or (facility.confidential and not include_confidential):
        msg = f"no facilities record {facility_id}"
        raise NotFound(msg)
    rows = session.execute(
        select(FreeBedsEntry.free_beds, FreeBedsEntry.at, FreeBedsEntry.by)
        .where(FreeBedsEntry.facility_id == facility_id)
        .order_by(FreeBedsEntry.at.desc(), FreeBedsEntry.id.desc())
        .limit(limit)
    ).all()
    return [{"free_beds": n, "at": at.isoformat(), "by": by} for n, at, by in rows]


def _real_month_day(value: str) -> str:
    # The pattern lets 02-30 through; 2000 is a leap year, so 02-29 stays allowed.
    try:
        date.fromisoformat(f"2000-{value}")
    except ValueError:
        msg = f"'{value}' is not a day of the year (MM-DD)"
        raise ValueError(msg) from None
    return value


MonthDay = Annotated[str, Field(pattern=MONTH_DAY), AfterValidator(_real_month_day)]
"""A yearly date as MM-DD (a season's first or last day)."""

FacilityType = Annotated[str, OneOf(FACILITY_TYPES)]


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    byday: Annotated[str, OneOf(WEEKDAYS)]
    opens_at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # closes_at earlier than opens_at means the place closes the next morning.
    closes_at: str = Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")


class FacilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    type: FacilityType
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    free_beds: int | None = Field(default=None, ge=0, le=10_000)
    opening_hours: list[ScheduleEntry] = Field(default_factory=list)
    season_from: str | None = Field(default=None, pattern=MONTH_DAY)
    season_to: str | None = Field(default=None, pattern=MONTH_DAY)
    public: bool = False
    confidential: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> FacilityIn:
        if self.public and self.confidential:
            msg = "a confidential facility cannot be public"
            raise ValueError(msg)
        if (
            self.free_beds is not None
            and self.capacity is not None
            and self.free_beds > self.capacity
        ):
            msg = "free_beds cannot exceed capacity"
            raise ValueError(msg)
        if (self.season_from is None) != (self.season_to is None):
            msg = "season_from and season_to go together"
            raise ValueError(msg)
        return self


# Column names of import files, mapped to ours: the one alias table of this layer. Keys are as
# geo_outreach.io compares them: lower case, Polish letters folded to ASCII, '_' for spaces.
IMPORT_ALIASES = {
    "code": "code",
    "kod": "code",
    "id": "code",
    "identyfikator": "code",
    "name": "name",
    "nazwa": "name",
    "title": "name",
    "type": "type",
    "typ": "type",
    "rodzaj": "type",
    "category": "type",
    "kategoria": "type",
    "address": "address",
    "adres": "address",
    "ulica": "address",
    "phone": "phone",
    "telefon": "phone",
    "tel": "phone",
    "phone_number": "phone",
    "numer_telefonu": "phone",
    "capacity": "capacity",
    "miejsca": "capacity",
    "liczba_miejsc": "capacity",
    "beds": "capacity",
    "free_beds": "free_beds",
    "wolne_miejsca": "free_beds",
    "opening_hours": "opening_hours",
    "godziny": "opening_hours",
    "godziny_otwarcia": "opening_hours",
    "hours": "opening_hours",
    "season_from": "season_from",
    "sezon_od": "season_from",
    "season_to": "season_to",
    "sezon_do": "season_to",
    "public": "public",
    "publiczny": "public",
    "confidential": "confidential",
    "poufny": "confidential",
}


def parse_hours(value: str) -> list[dict[str, str]]:
    """'MO-FR 20:00-08:00; SA 10:00-14:00' → HSDS-style entries (for CSV imports)."""
    entries: list[dict[str, str]] = []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        m = re.fullmatch(r"([A-Z]{2})(?:-([A-Z]{2}))?\s+(\d\d:\d\d)-(\d\d:\d\d)", part)
        if not m or m.group(1) not in WEEKDAYS or (m.group(2) and m.group(2) not in WEEKDAYS):
            msg = f"'{part}' is not like 'MO-FR 20:00-08:00'"
            raise ValueError(msg)
        first = WEEKDAYS.index(m.group(1))
        last = WEEKDAYS.index(m.group(2) or m.group(1))
        for day in WEEKDAYS[first : last + 1]:
            entries.append({"byday": day, "opens_at": m.group(3), "closes_at": m.group(4)})
    return entries
