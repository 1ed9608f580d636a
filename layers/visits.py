"""Visits: append-only contact log (the app role may INSERT and SELECT only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.vocab import FACILITY_TYPES, HELP_KINDS, sql_in, sql_subset
from layers.base import Base, uuid_pk
from layers.rules import HappenedAt, OneOf, sql_happened

TABLE = "visits"


class Visit(Base):
    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint("people_met >= 0", name="people_met"),
        CheckConstraint("women_met >= 0 AND women_met <= people_met", name="women_met"),
        CheckConstraint("people_aided >= 0 AND people_aided <= people_met", name="people_aided"),
        CheckConstraint(
            "people_referred >= 0 AND people_referred <= people_met", name="people_referred"
        ),
        CheckConstraint(sql_subset("help_given", HELP_KINDS), name="help_given"),
        CheckConstraint(
            "referral_facility_type IS NULL OR " + sql_in("referral_facility_type", FACILITY_TYPES),
            name="referral_type",
        ),
        CheckConstraint("site_id IS NOT NULL OR patrol_id IS NOT NULL", name="site_or_patrol"),
        CheckConstraint(sql_happened("visited_at"), name="visited_at"),
        Index("ix_visits_site_time", "site_id", "visited_at"),
        Index("ix_visits_patrol", "patrol_id"),
        Index("ix_visits_time", "visited_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sleeping_sites.id", ondelete="RESTRICT")
    )
    patrol_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("patrols.id", ondelete="RESTRICT")
    )
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    people_met: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    women_met: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # How many of the people met received pre-medical aid / were referred.
    people_aided: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    people_referred: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    help_given: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    referral_facility_type: Mapped[str | None] = mapped_column(Text)
    on_request_of_services: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    note: Mapped[str | None] = mapped_column(Text)
    note_sensitive: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true")
    )
    is_demo: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


# Columns of an observations file (a count night, a tally sheet), mapped to the visit fields each
# observation becomes (geo_outreach.io.observations). Keys: lower case, Polish letters as ASCII.
IMPORT_ALIASES = {
    "visited_at": "visited_at",
    "date": "visited_at",
    "datetime": "visited_at",
    "time": "visited_at",
    "timestamp": "visited_at",
    "observed_at": "visited_at",
    "data": "visited_at",
    "czas": "visited_at",
    "data_obserwacji": "visited_at",
    "people_met": "people_met",
    "count": "people_met",
    "people": "people_met",
    "persons": "people_met",
    "osoby": "people_met",
    "liczba": "people_met",
    "liczba_osob": "people_met",
    "note": "note",
    "notes": "note",
    "uwagi": "note",
    "notatka": "note",
}


class VisitIn(BaseModel):
    """A visit as a client sends it (JSON): strict types, codes from the vocabularies."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    # Strict(False): JSON carries ids as text.
    site_id: Annotated[uuid.UUID, Strict(False)] | None = None
    patrol_id: Annotated[uuid.UUID, Strict(False)] | None = None
    visited_at: HappenedAt
    people_met: int = Field(default=0, ge=0, le=500)
    women_met: int = Field(default=0, ge=0, le=500)
    people_aided: int = Field(default=0, ge=0, le=500)
    people_referred: int = Field(default=0, ge=0, le=500)
    help_given: list[Annotated[str, OneOf(HELP_KINDS)]] = Field(default_factory=list)
    referral_facility_type: Annotated[str, OneOf(FACILITY_TYPES)] | None = None
    on_request_of_services: bool = False
    note: str | None = Field(default=None, max_length=4000)
    note_sensitive: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> VisitIn:
        if self.site_id is None and self.patrol_id is None:
            msg = "a visit belongs to a site or a patrol (site_id or patrol_id)"
            raise ValueError(msg)
        for name in ("women_met", "people_aided", "people_referred"):
            if getattr(self, name) > self.people_met:
                msg = f"{name} cannot exceed people_met"
                raise ValueError(msg)
        return self
