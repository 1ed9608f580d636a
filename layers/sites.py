"""Sleeping sites (miejsca niemieszkalne): the most sensitive layer, with status history."""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import WKBElement
from pydantic import BaseModel, ConfigDict, Field, field_validator
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

TABLE = "sleeping_sites"
GEOMETRY_TYPE = "POINT"


class SleepingSite(Tracked, Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(sql_in("category", SITE_CATEGORIES), name="category"),
        CheckConstraint(sql_in("status", SITE_STATUSES), name="status"),
        CheckConstraint(sql_subset("hazards", HAZARDS), name="hazards"),
        CheckConstraint("estimated_people >= 0 AND estimated_people <= 500", name="people"),
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
    # Filled from areas by a trigger when not given.
    district: Mapped[str | None] = mapped_column(Text)
    # Maintained by a trigger on visits: never written by the application.
    last_visit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    geom: Mapped[WKBElement] = geometry(GEOMETRY_TYPE)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class SiteStatusChange(Base):
    """Append-only history of status changes, written by a trigger on sleeping_sites."""

    __tablename__ = "site_status_history"
    __table_args__ = (
        CheckConstraint(sql_in("status", SITE_STATUSES), name="status"),
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


class SiteIn(BaseModel):
    """A site as created by a person or an import; server-managed fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(json_schema_extra={"enum": list(SITE_CATEGORIES)})
    status: str = Field(default="active", json_schema_extra={"enum": list(SITE_STATUSES)})
    estimated_people: int = Field(default=0, ge=0, le=500)
    hazards: list[str] = Field(default_factory=list)
    access_notes: str | None = Field(default=None, max_length=2000)
    district: str | None = Field(default=None, max_length=200)

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        return _one_of(v, SITE_CATEGORIES)

    @field_validator("status")
    @classmethod
    def _status(cls, v: str) -> str:
        return _one_of(v, SITE_STATUSES)

    @field_validator("hazards", mode="before")
    @classmethod
    def _hazards(cls, v: object) -> list[str]:
        items = _split_list(v)
        for item in items:
            _one_of(item, HAZARDS)
        return sorted(set(items))


def _one_of(value: str, vocab: dict[str, tuple[str, str, str]]) -> str:
    if value in vocab:
        return value
    # Accept the Polish/English label too; people type those.
    for code, names in vocab.items():
        if value.casefold() in (n.casefold() for n in names):
            return code
    msg = f"'{value}' is not one of: {', '.join(vocab)}"
    raise ValueError(msg)


def _split_list(v: object) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
    if isinstance(v, list | tuple):
        return [str(p).strip() for p in v]
    msg = "must be a list or a comma-separated string"
    raise ValueError(msg)


IMPORT_ALIASES = {
    "code": "code",
    "kod": "code",
    "name": "name",
    "nazwa": "name",
    "category": "category",
    "kategoria": "category",
    "status": "status",
    "estimated_people": "estimated_people",
    "people": "estimated_people",
    "osoby": "estimated_people",
    "hazards": "hazards",
    "zagrozenia": "hazards",
    "access_notes": "access_notes",
    "uwagi": "access_notes",
    "district": "district",
    "dzielnica": "district",
}
