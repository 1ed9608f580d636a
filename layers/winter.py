"""Cold nights (issue 14): the night a forecast reached a level, with its prepared list and plan
proposal, and the notice each coordinator got (in the app and by e-mail).

One row per night (unique), so the check is idempotent: a second run finds the night decided.
The list and the proposal hold site and patrol ids only, never positions or notes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from geo_outreach.core.vocab import sql_in
from layers.base import Base, uuid_pk

WINTER_LEVELS = ("akcja-zima", "cold")


class WinterNight(Base):
    __tablename__ = "winter_nights"
    __table_args__ = (
        CheckConstraint(sql_in("level", WINTER_LEVELS), name="level"),
        CheckConstraint("teams BETWEEN 1 AND 50", name="teams"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    night: Mapped[date] = mapped_column(Date, nullable=False, unique=True)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)  # "file NAME" / "url HOST"
    min_temperature: Mapped[float] = mapped_column(Float, nullable=False)
    min_apparent: Mapped[float | None] = mapped_column(Float)
    max_wind_kmh: Mapped[float | None] = mapped_column(Float)
    precipitation_mm: Mapped[float | None] = mapped_column(Float)
    # Tonight's list: every active site with people, the most vulnerable first.
    site_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")
    )
    vulnerable: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    people: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    teams: Mapped[int] = mapped_column(Integer, nullable=False)
    # The proposal: planned patrols (status 'planned'), stored once with the night.
    patrol_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")
    )
    extra_teams_needed: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    plan_note: Mapped[str | None] = mapped_column(Text)  # why there is no proposal, if none
    decided_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    decided_by: Mapped[str] = mapped_column(Text, nullable=False)


class WinterNotice(Base):
    """A coordinator told of a night: shown in the app, and e-mailed when the account has an
    address (emailed_at, or the error of the last try)."""

    __tablename__ = "winter_notices"
    __table_args__ = (UniqueConstraint("night_id", "user_id", name="uq_winter_notices_night"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    night_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("winter_nights.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_error: Mapped[str | None] = mapped_column(Text)
