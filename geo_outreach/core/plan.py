"""What a route plan is: plain data shared by the planner, the maps, the API and the exports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from geo_outreach.core.i18n import N_
from geo_outreach.core.vocab import OSM_ATTRIBUTION

Mode = Literal["streetwork", "joint", "akcja-zima", "inspection", "sos-bus"]
LeftOutReason = Literal["unreachable", "no_time", "lower_priority", "excluded"]

# Why a site is not on any route: the Polish label, translated through the catalogue.
LEFT_OUT_LABELS: dict[str, str] = {
    "unreachable": N_("nieosiągalne siecią ulic"),
    "no_time": N_("brak czasu w zmianie"),
    "lower_priority": N_("niższy priorytet"),
    "excluded": N_("wyłączone z planu"),
}


@dataclass(frozen=True)
class PlannedStop:
    seq: int  # 1-based order within the team's route
    site_id: uuid.UUID | None
    code: str  # site code, e.g. DEMO-0042
    name: str
    lon: float
    lat: float
    arrive: datetime  # ETA (timezone-aware)
    depart: datetime  # arrive + waiting + service
    service_minutes: int
    estimated_people: int = 0
    hazards: tuple[str, ...] = ()


@dataclass(frozen=True)
class TeamRoute:
    team: int  # 1-based
    name: str  # e.g. "Zespół 1"
    start: tuple[float, float]  # lon, lat of the depot (MOPS office, guard station)
    end: tuple[float, float]
    depart: datetime
    back: datetime
    stops: list[PlannedStop]
    distance_m: float
    duration_s: float
    # The route along the streets, depot to depot, lon/lat.
    geometry: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class LeftOut:
    site_id: uuid.UUID | None
    code: str
    name: str
    lon: float
    lat: float
    reason: LeftOutReason
    vulnerable: bool = False  # counted in a plan's summary (who was not reached)


@dataclass(frozen=True)
class Plan:
    mode: Mode
    window_start: datetime
    window_end: datetime
    routes: list[TeamRoute]
    left_out: list[LeftOut]
    # Akcja Zima: how many more teams would cover every mandatory site (0 when covered).
    extra_teams_needed: int = 0
    notes: list[str] = field(default_factory=list)
    attribution: str = OSM_ATTRIBUTION
