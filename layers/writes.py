"""Writes from the API: GeoJSON Features in, checked with the same rules as imports, stored with
optimistic concurrency (a row's `version` must be the one the client read)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo_outreach.core.errors import Conflict, NotFound, RowProblem, StaleVersion, ValidationFailed
from geo_outreach.core.geometry import check
from layers import patrols
from layers.facilities import MONTH_DAY, FacilityIn, FacilityType, ScheduleEntry
from layers.models import Facility, Patrol, SleepingSite, Visit
from layers.rules import District, writable
from layers.sites import Hazards, SiteCategory, SiteIn, SiteStatus
from layers.visits import VisitIn

SOURCE = "request body"


# The API's bodies are JSON: types are strict there (a number is never a string, nor a boolean
# a number). Imports read CSV text and use the layer schemas as they are (lax).
STRICT = ConfigDict(extra="forbid", strict=True)


class PointIn(BaseModel):
    """A GeoJSON Point in lon/lat (RFC 7946); an altitude, if sent, is dropped."""

    model_config = STRICT

    type: Literal["Point"]
    # NaN and infinities pass here so that point_ewkt names them (core.geometry.check).
    coordinates: list[float] = Field(min_length=2, max_length=3)


class SiteProps(SiteIn):
    """SiteIn as JSON sends it (strict types)."""

    model_config = STRICT


class FacilityProps(FacilityIn):
    """FacilityIn as JSON sends it (strict types)."""

    model_config = STRICT


class SitePropsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    code: str | None = Field(default=None, min_length=1, max_length=40)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    category: SiteCategory | None = None
    status: SiteStatus | None = None
    estimated_people: int | None = Field(default=None, ge=0, le=500)
    hazards: Hazards | None = None
    access_notes: str | None = Field(default=None, max_length=2000)
    district: District = Field(default=None, exclude=True)


class FacilityPropsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    code: str | None = Field(default=None, min_length=1, max_length=40)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: FacilityType | None = None
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=50)
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    free_beds: int | None = Field(default=None, ge=0, le=10_000)
    opening_hours: list[ScheduleEntry] | None = None
    season_from: str | None = Field(default=None, pattern=MONTH_DAY)
    season_to: str | None = Field(default=None, pattern=MONTH_DAY)
    public: bool | None = None
    confidential: bool | None = None


class SiteFeatureIn(BaseModel):
    """A new or replaced site. Server-managed fields (version, created_by …) are refused."""

    model_config = STRICT

    type: Literal["Feature"]
    id: str | int | None = Field(default=None, description="ignored; the server assigns ids")
    geometry: PointIn
    properties: SiteProps


class SitePatchIn(BaseModel):
    model_config = STRICT

    type: Literal["Feature"] | None = None
    id: str | int | None = Field(default=None, description="ignored")
    geometry: PointIn | None = None
    properties: SitePropsPatch | None = None


class FacilityFeatureIn(BaseModel):
    model_config = STRICT

    type: Literal["Feature"]
    id: str | int | None = Field(default=None, description="ignored; the server assigns ids")
    geometry: PointIn
    properties: FacilityProps


class FacilityPatchIn(BaseModel):
    model_config = STRICT

    type: Literal["Feature"] | None = None
    id: str | int | None = Field(default=None, description="ignored")
    geometry: PointIn | None = None
    properties: FacilityPropsPatch | None = None


class FreeBedsIn(BaseModel):
    model_config = STRICT

    free_beds: int = Field(ge=0, le=10_000)


def _refuse(field: str, fault: str) -> ValidationFailed:
    return ValidationFailed([RowProblem(1, field, fault)], source=SOURCE)


def point_ewkt(point: PointIn, *, service_area: tuple[float, float, float, float]) -> str:
    """The checked point as EWKT, or ValidationFailed naming 'geometry' and the fault."""
    lon, lat = point.coordinates[0], point.coordinates[1]
    geom = shapely.Point(lon, lat)
    fault = check(geom, expected="POINT", service_area=service_area)
    if fault:
        raise _refuse("geometry", fault)
    return f"SRID=4326;{geom.wkt}"


def _validated(schema: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.model_validate(values).model_dump()
    except ValidationError as exc:
        problems = [
            RowProblem(1, ".".join(["properties", *(str(p) for p in err["loc"])]), err["msg"])
            for err in exc.errors()
        ]
        raise ValidationFailed(problems, source=SOURCE) from None


def _unique_code(session: Session, model: Any, code: str, *, other_than: uuid.UUID | None) -> None:
    stmt = select(model.id).where(model.code == code)
    if other_than is not None:
        stmt = stmt.where(model.id != other_than)
    if session.scalars(stmt).first() is not None:
        msg = f"properties.code: '{code}' is already used by another record"
        raise Conflict(msg)


def _conflict(exc: IntegrityError, what: str) -> Conflict:
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    return Conflict(f"{what} breaks the rule '{constraint or 'integrity'}'; nothing was stored")


def _flush_insert(session: Session, obj: Any) -> uuid.UUID:
    session.add(obj)
    try:
        session.flush()
    except IntegrityError as exc:
        raise _conflict(exc, "the record") from None
    object_id: uuid.UUID = obj.id
    return object_id


def _stamp_free_beds(values: dict[str, Any], before: Any | None) -> None:
    """When free beds change, so does the time they were last reported."""
    old = None if before is None else before.free_beds
    if values.get("free_beds") != old:
        values["free_beds_updated_at"] = func.now()


@dataclass(frozen=True)
class Editable:
    """A layer written through the API: its table, its schema, and what a write also sets."""

    model: Any
    schema: type[BaseModel]
    touch: Callable[[dict[str, Any], Any | None], None] | None = None


SITES = Editable(SleepingSite, SiteIn)
FACILITIES = Editable(Facility, FacilityIn, _stamp_free_beds)


def create_feature(
    session: Session,
    kind: Editable,
    feature: SiteFeatureIn | FacilityFeatureIn,
    *,
    actor: str,
    service_area: tuple[float, float, float, float],
    object_id: uuid.UUID | None = None,
) -> uuid.UUID:
    geom = point_ewkt(feature.geometry, service_area=service_area)
    values = feature.properties.model_dump()
    _unique_code(session, kind.model, values["code"], other_than=None)
    if kind.touch:
        kind.touch(values, None)
    record = kind.model(**values, geom=geom, created_by=actor, updated_by=actor)
    if object_id is not None:  # made on a phone (the field app's outbox)
        record.id = object_id
    return _flush_insert(session, record)


def _save(
    session: Session,
    model: Any,
    object_id: uuid.UUID,
    *,
    expected: int,
    values: dict[str, Any],
    actor: str,
) -> int:
    """UPDATE … WHERE version = expected: a concurrent writer that got there first makes it miss."""
    stmt = (
        update(model)
        .where(model.id == object_id, model.version == expected)
        .values(**values, version=model.version + 1, updated_at=func.now(), updated_by=actor)
        .returning(model.version)
        .execution_options(synchronize_session=False)
    )
    try:
        new = session.execute(stmt).scalar_one_or_none()
    except IntegrityError as exc:
        raise _conflict(exc, "the change") from None
    if new is None:
        current = session.scalar(select(model.version).where(model.id == object_id))
        if current is None:
            msg = f"no {model.__tablename__} record {object_id}"
            raise NotFound(msg)
        raise StaleVersion(current=int(current))
    return int(new)


def update_feature(
    session: Session,
    kind: Editable,
    object_id: uuid.UUID,
    *,
    expected: int,
    geometry: PointIn | None,
    properties: dict[str, Any],
    partial: bool,
    actor: str,
    service_area: tuple[float, float, float, float],
) -> int:
    """Replace (PUT) or merge (PATCH) a record when `expected` is its version; the new version."""
    geom = point_ewkt(geometry, service_area=service_area) if geometry else None
    before = session.get(kind.model, object_id, populate_existing=True)
    if before is None:
        msg = f"no {kind.model.__tablename__} record {object_id}"
        raise NotFound(msg)
    if before.version != expected:
        raise StaleVersion(current=before.version)
    current = {name: getattr(before, name) for name in writable(kind.schema)}
    clean = _validated(kind.schema, {**current, **properties} if partial else properties)
    _unique_code(session, kind.model, clean["code"], other_than=object_id)
    if kind.touch:
        kind.touch(clean, before)
    if geom:
        clean["geom"] = geom
    return _save(session, kind.model, object_id, expected=expected, values=clean, actor=actor)


def set_free_beds(
    session: Session,
    facility_id: uuid.UUID,
    *,
    expected: int,
    free_beds: int,
    actor: str,
    include_confidential: bool,
) -> int:
    facility = session.get(Facility, facility_id, populate_existing=True)
    if facility is None or (facility.confidential and not include_confidential):
        msg = f"no facilities record {facility_id}"
        raise NotFound(msg)
    if facility.version != expected:
        raise StaleVersion(current=facility.version)
    if facility.capacity is not None and free_beds > facility.capacity:
        raise _refuse("free_beds", f"{free_beds} is more than the capacity {facility.capacity}")
    values = {"free_beds": free_beds, "free_beds_updated_at": func.now()}
    return _save(session, Facility, facility_id, expected=expected, values=values, actor=actor)


def create_visit(
    session: Session, visit: VisitIn, *, actor: str, visit_id: uuid.UUID | None = None
) -> uuid.UUID:
    """Append a visit (visits are never changed); its site or patrol must exist. `visit_id`:
    the id a phone made for it (the field app's outbox), else the database picks one."""
    if visit.site_id is not None and session.get(SleepingSite, visit.site_id) is None:
        raise _refuse("site_id", f"no sleeping site {visit.site_id}")
    if visit.patrol_id is not None and session.get(Patrol, visit.patrol_id) is None:
        raise _refuse("patrol_id", f"no patrol {visit.patrol_id}")
    row = Visit(**visit.model_dump(), created_by=actor)
    if visit_id is not None:
        row.id = visit_id
    new_id = _flush_insert(session, row)
    if visit.patrol_id is not None:  # the API and the field app's sync both come through here
        patrols.start_on_visit(session, visit.patrol_id, actor=actor)
    return new_id
