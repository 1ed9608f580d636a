"""Who may do what: roles, the role × resource × action table and the field rules, in one place.

Deny by default: a (resource, action) pair missing from RULES is allowed to nobody, and a field
missing from a role's field list is never sent to it. Object-level rules (a partner's joint
patrol, confidential facilities) are stated here as predicates and applied by the queries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from geo_outreach.core.errors import GeoOutreachError

Labels = dict[str, tuple[str, str, str]]  # code -> (pl, en, uk)

ROLES: Labels = {
    "streetworker": ("streetworker", "streetworker", "стрітворкер"),
    "coordinator": ("koordynator / planista", "coordinator (planner)", "координатор"),
    "partner": ("partner (straż miejska / policja)", "partner (city guard / police)", "партнер"),
    "ngo": ("organizacja pozarządowa", "NGO", "громадська організація"),
    "admin": ("administrator", "administrator", "адміністратор"),
    "public": ("publiczny (bez logowania)", "public (anonymous)", "публічний (анонімно)"),
}
# Named accounts; "public" is whoever sends no token.
ACCOUNT_ROLES: tuple[str, ...] = tuple(r for r in ROLES if r != "public")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"

Action = Literal["read", "create", "update", "export"]

STAFF = frozenset({"streetworker", "coordinator"})
NAMED = frozenset(ACCOUNT_ROLES)
EVERYONE = frozenset(ROLES)

RULES: dict[tuple[str, str], frozenset[str]] = {
    # Sleeping sites and visits: outreach staff only. Partners have no standing site layer.
    ("sleeping_sites", "read"): STAFF,
    ("sleeping_sites", "create"): STAFF,
    ("sleeping_sites", "update"): STAFF,
    ("sleeping_sites", "export"): frozenset({"coordinator"}),
    ("visits", "read"): STAFF,
    ("visits", "create"): STAFF,
    ("visits", "export"): frozenset({"coordinator"}),
    # Patrols: a partner reads only the patrols it is assigned to (object rule below).
    ("patrols", "read"): STAFF | {"partner"},
    ("patrols", "export"): frozenset({"coordinator"}),
    # The sites of one patrol: for a partner only a joint patrol it is on, during it.
    ("patrol_sites", "read"): STAFF | {"partner"},
    ("facilities", "read"): NAMED,
    ("facilities", "create"): frozenset({"coordinator", "admin"}),
    ("facilities", "update"): frozenset({"coordinator", "admin"}),
    ("facilities", "export"): frozenset({"coordinator", "admin"}),
    # Shelter staff (often an NGO) report free beds every evening.
    ("free_beds", "update"): frozenset({"coordinator", "admin", "ngo"}),
    ("areas", "read"): NAMED,
    ("areas", "export"): NAMED,
    # The public layer: public facilities and the SOS bus, for everyone.
    ("public", "read"): EVERYONE,
    ("public", "export"): EVERYONE,
    ("account", "read"): NAMED,
    ("audit", "read"): frozenset({"admin"}),
    ("plans", "create"): frozenset({"coordinator"}),
    ("maps_live", "read"): STAFF,
    ("maps_planner", "read"): frozenset({"coordinator"}),
    ("maps_public", "read"): EVERYONE,
}

# Reads and writes of these resources are written to audit_log, denied attempts included.
AUDITED = frozenset({"sleeping_sites", "visits", "patrols", "patrol_sites"})

SITE_FIELDS_ALL = (
    "code",
    "name",
    "category",
    "status",
    "estimated_people",
    "hazards",
    "access_notes",
    "district",
    "last_visit_at",
    "version",
    "is_demo",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)
# What a partner on a joint patrol needs to be safe there: no notes, no social fields.
SITE_FIELDS_SAFETY = ("code", "category", "estimated_people", "hazards")
VISIT_FIELDS_ALL = (
    "site_id",
    "patrol_id",
    "visited_at",
    "people_met",
    "women_met",
    "people_aided",
    "people_referred",
    "help_given",
    "referral_facility_type",
    "on_request_of_services",
    "note",
    "note_sensitive",
    "is_demo",
    "created_at",
    "created_by",
)
PATROL_FIELDS_ALL = (
    "code",
    "kind",
    "agencies",
    "planned_start",
    "planned_end",
    "team_size",
    "status",
    "notes",
    "is_demo",
    "created_by",
)
PATROL_FIELDS_PARTNER = ("code", "kind", "agencies", "planned_start", "planned_end", "status")
FACILITY_FIELDS_PUBLIC = (
    "code",
    "name",
    "type",
    "address",
    "phone",
    "capacity",
    "free_beds",
    "free_beds_updated_at",
    "opening_hours",
    "season_from",
    "season_to",
)
FACILITY_FIELDS_ALL = (
    *FACILITY_FIELDS_PUBLIC,
    "public",
    "confidential",
    "version",
    "is_demo",
    "updated_at",
    "updated_by",
)
AREA_FIELDS = ("kind", "name", "code", "population")
SOS_STOP_FIELDS = (
    "route_id",
    "seq",
    "name",
    "arrive_time",
    "depart_time",
    "season_start",
    "season_end",
)
SOS_ROUTE_FIELDS = ("name", "season_start", "season_end")

FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sleeping_sites", "streetworker"): SITE_FIELDS_ALL,
    ("sleeping_sites", "coordinator"): SITE_FIELDS_ALL,
    ("patrol_sites", "streetworker"): SITE_FIELDS_ALL,
    ("patrol_sites", "coordinator"): SITE_FIELDS_ALL,
    ("patrol_sites", "partner"): SITE_FIELDS_SAFETY,
    ("visits", "streetworker"): VISIT_FIELDS_ALL,
    ("visits", "coordinator"): VISIT_FIELDS_ALL,
    ("patrols", "streetworker"): PATROL_FIELDS_ALL,
    ("patrols", "coordinator"): PATROL_FIELDS_ALL,
    ("patrols", "partner"): PATROL_FIELDS_PARTNER,
    ("facilities", "streetworker"): FACILITY_FIELDS_ALL,
    ("facilities", "coordinator"): FACILITY_FIELDS_ALL,
    ("facilities", "admin"): FACILITY_FIELDS_ALL,
    ("facilities", "partner"): FACILITY_FIELDS_PUBLIC,
    ("facilities", "ngo"): FACILITY_FIELDS_PUBLIC,
}
# Confidential facilities (e.g. for violence survivors) are shown to these roles only.
SEES_CONFIDENTIAL = frozenset({"streetworker", "coordinator", "admin"})
# A partner may open a joint patrol's sites this long before it starts and after it ends.
PATROL_MARGIN = timedelta(minutes=30)


class Unauthorized(GeoOutreachError):
    """No valid token: log in first."""


class Forbidden(GeoOutreachError):
    """The role (or this object) is not allowed."""


class RateLimited(GeoOutreachError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a named account, or the anonymous public."""

    role: str
    name: str = "anonymous"
    user_id: uuid.UUID | None = None
    agency: str | None = None

    @property
    def actor(self) -> str:
        if self.user_id:
            return f"api:{self.name}"
        # A refused token is recorded as such, apart from plain anonymous reads.
        return "anonymous" if self.name == "anonymous" else f"unauthenticated:{self.name}"


PUBLIC = Principal(role="public")


def allowed(role: str, resource: str, action: str) -> bool:
    return role in RULES.get((resource, action), frozenset())


def require(principal: Principal, resource: str, action: str) -> None:
    if allowed(principal.role, resource, action):
        return
    if principal.user_id is None:
        msg = "authentication required: log in at POST /auth/token and send a Bearer token"
        raise Unauthorized(msg)
    msg = f"role '{principal.role}' may not {action} {resource}"
    raise Forbidden(msg)


def fields(resource: str, role: str) -> tuple[str, ...]:
    """The properties this role may see of this resource (none unless listed)."""
    if resource == "public_facilities":
        return FACILITY_FIELDS_PUBLIC
    if resource == "areas":
        return AREA_FIELDS
    if resource == "sos_bus_stops":
        return SOS_STOP_FIELDS
    if resource == "sos_bus_routes":
        return SOS_ROUTE_FIELDS
    return FIELDS.get((resource, role), ())


def partner_may_open(
    *, kind: str, status: str, start: datetime, end: datetime, now: datetime, member: bool
) -> str | None:
    """Why a partner may not see this patrol's sites now, or None when it may."""
    if not member:
        return "you are not assigned to this patrol"
    if kind != "joint":
        return "only joint patrols are shared with partners"
    if status == "cancelled":
        return "the patrol was cancelled"
    if not (start - PATROL_MARGIN <= now <= end + PATROL_MARGIN):
        return "the patrol's sites are shared only during the patrol"
    return None
