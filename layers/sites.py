"""Sleeping sites (miejsca niemieszkalne): the most sensitive layer, with status history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from geoalchemy2 import WKBElement
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.vocab import HAZARDS, SITE_CATEGORIES, SITE_STATUSES, sql_in, sql_subset
from layers.base import Base, Tracked, geometry, gist, uuid_pk
from layers.rules import District, OneOf, sql_happened

TABLE = "sleeping_sites"
GEOMETRY_TYPE = "POINT"


class SleepingSite(Tracked, Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(sql_in("category", SITE_CATEGORIES), name="category"),
        CheckConstraint(sql_in("status", SITE_STATUSES), name="status"),
        CheckConstraint(sql_subset("hazards", HAZARDS), name="hazards"),
        CheckConstraint("estimated_people >= 0 AND estimated_people <= 500", name="people"),
        CheckConstraint(sql_happened("last_visit_at", nullable=True), name="last_visit_at"),
        gist(TABLE),
        Index("ix_sleeping_sites_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'active'"))
    estimated_people: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    hazards: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    access_notes: Mapped[str | None] = mapped_column(Text)
    # Server-managed: derived from areas by a trigger (migration 0003), never taken from input.
    district: Mapped[str | None] = mapped_column(Text)
    # Maintained by a trigger on visits: never written by the application.
    last_visit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    geom: Mapped[WKBElement] = geometry(GEOMETRY_TYPE)
    # Server-managed (migration 0011's trigger): the row as a GeoJSON Feature with staff's
    # properties, for the busiest read. Never written by the application; not loaded by it.
    # info["derived"]: never a property, a field or an export column of its own (layers.features).
    feature_json: Mapped[str] = mapped_column(
        Text, nullable=False, deferred=True, info={"derived": True}
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class SiteStatusChange(Base):
    """Append-only history of status changes, written by a trigger on sleeping_sites."""

    __tablename__ = "site_status_history"
    __table_args__ = (
        CheckConstraint(sql_in("status", SITE_STATUSES), name="status"),
        CheckConstraint(sql_happened("changed_at"), name="changed_at"),
        Index("ix_site_status_history_site", "site_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    site_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sleeping_sites.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(Text, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    changed_by: Mapped[str] = mapped_column(Text, nullable=False)


def _split_list(v: object, info: ValidationInfo) -> object:
    """Import files hold a list as 'fire, cold_exposure' (or with ';'); a strict (JSON) schema
    takes only a list."""
    if (info.config or {}).get("strict") or not (v is None or isinstance(v, str)):
        return v
    return [p.strip() for p in (v or "").replace(";", ",").split(",") if p.strip()]


def _distinct(items: list[str]) -> list[str]:
    return sorted(set(items))


SiteCategory = Annotated[str, OneOf(SITE_CATEGORIES)]
SiteStatus = Annotated[str, OneOf(SITE_STATUSES)]
Hazards = Annotated[
    list[Annotated[str, OneOf(HAZARDS)]], BeforeValidator(_split_list), AfterValidator(_distinct)
]


class SiteIn(BaseModel):
    """A site as created by a person or an import; server-managed fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    category: SiteCategory
    status: SiteStatus = "active"
    estimated_people: int = Field(default=0, ge=0, le=500)
    hazards: Hazards = Field(default_factory=list)
    access_notes: str | None = Field(default=None, max_length=2000)
    district: District = Field(default=None, exclude=True)


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
    "nazwa_miejsca": "name",
    "category": "category",
    "kategoria": "category",
    "type": "category",
    "typ": "category",
    "rodzaj": "category",
    "status": "status",
    "stan": "status",
    "estimated_people": "estimated_people",
    "people": "estimated_people",
    "persons": "estimated_people",
    "osoby": "estimated_people",
    "liczba_osob": "estimated_people",
    "hazards": "hazards",
    "zagrozenia": "hazards",
    "zagrozenie": "hazards",
    "access_notes": "access_notes",
    "uwagi": "access_notes",
    "notes": "access_notes",
    "description": "access_notes",  # Google My Maps puts a placemark's text here
    "opis": "access_notes",
    "desc": "access_notes",  # a GPX waypoint's description
    "dojscie": "access_notes",
}
