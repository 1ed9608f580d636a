"""Input rules every layer schema shares: vocabulary codes, sane times, server-managed fields.

Each rule is written once here and used by the pydantic schemas of the API and of imports. The
time bounds are also CHECK constraints in the database (migration 0003), a little wider there
because a CHECK runs on the database's clock (see DB_HAPPENED_SLACK).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from geo_outreach.core.i18n import LANGS
from geo_outreach.core.settings import get_settings
from geo_outreach.core.vocab import Labels, label

# -- vocabularies -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # hashed by identity: Annotated metadata must hash
class OneOf:
    """A text limited to a vocabulary's codes (its pl/en/uk labels are read as the code too,
    because people type those in import files); published as an enum of the codes."""

    vocab: Labels | tuple[str, ...]

    def check(self, value: str) -> str:
        if value in self.vocab:
            return value
        if isinstance(self.vocab, dict):
            folded = value.casefold()
            for code in self.vocab:
                if any(label(self.vocab, code, lang).casefold() == folded for lang in LANGS):
                    return code
        msg = f"'{value[:60]}' is not one of: {', '.join(self.vocab)}"
        raise ValueError(msg)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["enum"] = list(self.vocab)
        return out


# -- times --------------------------------------------------------------------------------------

# Nothing the programme records can be older than this.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Patrols and plans are made at most a year ahead.
PLAN_AHEAD = timedelta(days=366)
# A patrol is one shift: less than a day.
LONGEST_PATROL = timedelta(hours=24)
# The database's CHECKs compare with the database's clock, which may differ from the API host's
# (and the phones'): they allow more than the app, so they stop only nonsense, never a real
# visit the app let through. The app's own bound is `clock_skew_minutes` (settings).
DB_HAPPENED_SLACK = "1 day"
DB_PLAN_AHEAD = "2 years"
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_HINT = "ISO 8601 text like 2026-01-15T22:30:00+01:00"


def _as_text(value: object) -> object:
    """Times travel as ISO 8601 text: a bare number (an epoch?) is refused, not guessed."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO.match(value):
        return value
    msg = f"must be {_ISO_HINT}"
    raise ValueError(msg)


def latest_now() -> datetime:
    """The latest time a report of something that happened may carry (the clock skew allowed)."""
    return datetime.now(UTC) + timedelta(minutes=get_settings().clock_skew_minutes)


def _happened(value: datetime) -> datetime:
    if value < EARLIEST:
        msg = f"is before {EARLIEST:%Y-%m-%d}: no record of the programme can be that old"
        raise ValueError(msg)
    if value > latest_now():
        msg = f"is in the future (more than {get_settings().clock_skew_minutes} min ahead)"
        raise ValueError(msg)
    return value


def _planned(value: datetime) -> datetime:
    if value < EARLIEST:
        msg = f"is before {EARLIEST:%Y-%m-%d}"
        raise ValueError(msg)
    if value > datetime.now(UTC) + PLAN_AHEAD:
        msg = f"is more than {PLAN_AHEAD.days} days ahead"
        raise ValueError(msg)
    return value


def _day_happened(value: date) -> date:
    # +1 day: the local (Warsaw) date runs ahead of UTC in the evening.
    return _day_within(value, datetime.now(UTC).date() + timedelta(days=1), "in the future")


def _day_planned(value: date) -> date:
    return _day_within(value, datetime.now(UTC).date() + PLAN_AHEAD, "more than a year ahead")


def _day_within(value: date, last: date, why: str) -> date:
    if value < EARLIEST.date():
        msg = f"is before {EARLIEST:%Y-%m-%d}"
        raise ValueError(msg)
    if value > last:
        msg = f"is {why}"
        raise ValueError(msg)
    return value


# Strict(False): text is how JSON carries times, even in schemas that are strict otherwise.
HappenedAt = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_as_text), AfterValidator(_happened)
]
"""When something happened (a visit): 2000-01-01 … now + the allowed clock skew."""
PlannedAt = Annotated[
    AwareDatetime, Strict(False), BeforeValidator(_as_text), AfterValidator(_planned)
]
"""When something is planned (a patrol): 2000-01-01 … a year ahead."""
HappenedOn = Annotated[
    date, Strict(False), BeforeValidator(_as_text), AfterValidator(_day_happened)
]
"""The day something happened (a bus duty)."""
PlannedOn = Annotated[date, Strict(False), BeforeValidator(_as_text), AfterValidator(_day_planned)]
"""The day something is planned for (a plan)."""


def sql_happened(column: str, *, nullable: bool = False) -> str:
    """The CHECK for a HappenedAt column (also for times the server stamps itself)."""
    expr = (
        f"{column} >= '{EARLIEST:%Y-%m-%d} 00:00:00+00' AND "
        f"{column} <= now() + interval '{DB_HAPPENED_SLACK}'"
    )
    return f"{column} IS NULL OR ({expr})" if nullable else expr


def sql_planned(column: str, *, nullable: bool = False) -> str:
    expr = (
        f"{column} >= '{EARLIEST:%Y-%m-%d} 00:00:00+00' AND "
        f"{column} <= now() + interval '{DB_PLAN_AHEAD}'"
    )
    return f"{column} IS NULL OR ({expr})" if nullable else expr


# -- server-managed fields ----------------------------------------------------------------------


def _server_managed(why: str) -> Any:
    def refuse(value: object) -> None:
        raise PydanticCustomError(
            "server_managed", "server-managed field ({why}); do not send it", {"why": why}
        )

    return BeforeValidator(refuse)


# Declared only to refuse it by name (a default is never validated), hidden from the schema.
District = Annotated[SkipJsonSchema[None], _server_managed("derived from areas")]


def writable(schema: type[BaseModel]) -> list[str]:
    """The fields of a schema a client may send (server-managed ones are excluded)."""
    return [name for name, f in schema.model_fields.items() if not f.exclude]
