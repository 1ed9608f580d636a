"""Plain data the map builders take. geo_outreach.mapdata fills them from PostGIS."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any


@dataclass(frozen=True)
class VisitSummary:
    """One recent visit as a popup shows it: no notes, no names, counts only."""

    visited_at: datetime
    people_met: int
    help_given: tuple[str, ...] = ()


@dataclass(frozen=True)
class SitePoint:
    id: uuid.UUID
    code: str
    name: str
    category: str
    status: str
    lon: float
    lat: float
    estimated_people: int
    hazards: tuple[str, ...]
    last_visit_at: datetime | None
    district: str | None
    recent_visits: tuple[VisitSummary, ...] = ()


@dataclass(frozen=True)
class FacilityPoint:
    code: str
    name: str
    type: str
    lon: float
    lat: float
    address: str | None
    phone: str | None
    capacity: int | None
    free_beds: int | None
    free_beds_updated_at: datetime | None
    opening_hours: tuple[dict[str, str], ...]
    season_from: str | None  # MM-DD
    season_to: str | None
    public: bool
    confidential: bool


@dataclass(frozen=True)
class BusStop:
    seq: int
    name: str
    lon: float
    lat: float
    arrive: time
    depart: time
    # The stop's own season (MM-DD), replacing the route's; None: the route's.
    season_from: str | None = None
    season_to: str | None = None
    id: uuid.UUID | None = None


@dataclass(frozen=True)
class BusRoute:
    name: str
    season_from: str  # MM-DD, every year; from > to wraps the new year
    season_to: str
    coords: list[tuple[float, float]]  # lon/lat along the streets
    stops: list[BusStop]


@dataclass(frozen=True)
class District:
    name: str
    city: str | None
    geometry: dict[str, Any]  # GeoJSON geometry, lon/lat


@dataclass(frozen=True)
class LiveData:
    sites: list[SitePoint]
    facilities: list[FacilityPoint]
    routes: list[BusRoute]
    districts: list[District] = field(default_factory=list)


@dataclass(frozen=True)
class PublicData:
    facilities: list[FacilityPoint]
    routes: list[BusRoute]
