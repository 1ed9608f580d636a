"""Who may do what: roles, the role × resource × action table and the field rules, in one place.

Deny by default: a (resource, action) pair missing from RULES is allowed to nobody, and a field
missing from a role's field list is never sent to it. Object-level rules (a partner's joint
patrol, confidential facilities) are stated here as predicates and applied by the queries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.i18n import N_

# code -> Polish label (the translation catalogue's msgid, see geo_outreach.core.i18n)
ROLES: dict[str, str] = {
    "streetworker": N_("streetworker"),
    "coordinator": N_("koordynator / planista"),
    "partner": N_("partner (straż miejska / policja)"),
    "ngo": N_("organizacja pozarządowa"),
    "admin": N_("administrator"),
    "public": N_("publiczny (bez logowania)"),
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
    # File imports (the office console's upload, dry run first): areas, sites, facilities and
    # observations → sites and visits.
    ("imports", "create"): frozenset({"coordinator", "admin"}),
    # The public layer: public facilities and the SOS bus, for everyone.
    ("public", "read"): EVERYONE,
    ("public", "export"): EVERYONE,
    ("account", "read"): NAMED,
    ("audit", "read"): frozenset({"admin"}),
    ("plans", "create"): frozenset({"coordinator"}),
    # Issue 12, the office console: stored plans are re-solved, compared and published.
    ("plans", "read"): frozenset({"coordinator"}),
    ("plans", "update"): frozenset({"coordinator"}),
    ("patrols", "update"): frozenset({"coordinator"}),
    ("patrol_members", "update"): frozenset({"coordinator", "admin"}),
    ("patrol_members", "read"): frozenset({"coordinator", "admin"}),
    ("sos_bus", "read"): frozenset({"coordinator"}),
    ("sos_bus", "create"): frozenset({"coordinator"}),
    ("sos_bus", "update"): frozenset({"coordinator"}),
    ("reports", "read"): frozenset({"coordinator", "admin"}),
    # The coalition's version (districts × quarters, small counts suppressed).
    ("partner_reports", "read"): frozenset({"coordinator", "admin", "partner"}),
    ("accounts", "read"): frozenset({"admin"}),
    ("accounts", "create"): frozenset({"admin"}),
    ("console", "read"): frozenset({"coordinator", "admin"}),
    ("maps_live", "read"): STAFF,
    ("maps_planner", "read"): frozenset({"coordinator"}),
    ("maps_public", "read"): EVERYONE,
    # The field app (/app/): its data is cut to what each of these roles may see.
    ("field_app", "read"): STAFF | {"partner"},
    # Site changes made offline that found the site changed: kept for a coordinator's review.
    ("site_changes", "read"): STAFF,
    ("site_changes", "update"): frozenset({"coordinator"}),
    # The lost-phone button: end every session and token of an account.
    ("accounts", "update"): frozenset({"admin"}),
    # Issue 16: blank one visit's note or one site's free text now (with a reason, audited).
    ("redaction", "update"): frozenset({"admin"}),
    # Issue 14: anyone may alert the teams and read the status of an alert by its code; only
    # coordinators see and decide alerts (never partners, never the public layer or exports).
    ("public_alerts", "create"): EVERYONE,
    ("public_alert_status", "read"): EVERYONE,
    ("alerts", "read"): frozenset({"coordinator"}),
    ("alerts", "update"): frozenset({"coordinator"}),
    ("winter", "read"): frozenset({"coordinator"}),
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
    "season_from",
    "season_to",
)
SOS_ROUTE_FIELDS = ("name", "season_from", "season_to")

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


# -- a partner on a running joint patrol ------------------------------------------------------
# One rule, asked two ways: of one patrol in Python (with the reason, for a 403) by
# `partner_may_open`, and of a whole table in SQL (lists, OGC items, exports) by
# `partner_patrols_sql`. Each clause states both forms side by side, from the same constants.
PARTNER_PATROL_KIND = "joint"
PATROL_CANCELLED = "cancelled"


@dataclass(frozen=True)
class PatrolFacts:
    kind: str
    status: str
    start: datetime
    end: datetime
    now: datetime
    member: bool  # the partner is assigned to the patrol


@dataclass(frozen=True)
class _Clause:
    refusal: str  # why the partner may not, when the clause fails
    sql: str  # over `patrols t`, with the parameters of partner_patrols_sql
    holds: Callable[[PatrolFacts], bool]


PARTNER_PATROL_RULE: tuple[_Clause, ...] = (
    _Clause(
        "you are not assigned to this patrol",
        "t.id IN (SELECT patrol_id FROM patrol_members WHERE user_id = :partner_member)",
        lambda p: p.member,
    ),
    _Clause(
        "only joint patrols are shared with partners",
        "t.kind = :partner_kind",
        lambda p: p.kind == PARTNER_PATROL_KIND,
    ),
    _Clause(
        "the patrol was cancelled",
        "t.status <> :partner_cancelled",
        lambda p: p.status != PATROL_CANCELLED,
    ),
    _Clause(
        "the patrol's sites are shared only during the patrol",
        "now() BETWEEN t.planned_start - :partner_margin AND t.planned_end + :partner_margin",
        lambda p: p.start - PATROL_MARGIN <= p.now <= p.end + PATROL_MARGIN,
    ),
)


def partner_may_open(
    *, kind: str, status: str, start: datetime, end: datetime, now: datetime, member: bool
) -> str | None:
    """Why a partner may not see this patrol's sites now, or None when it may."""
    facts = PatrolFacts(kind, status, start, end, now, member)
    return next((c.refusal for c in PARTNER_PATROL_RULE if not c.holds(facts)), None)


def partner_patrols_sql(member: uuid.UUID | None) -> tuple[str, dict[str, object]]:
    """The same rule as a WHERE fragment over `patrols t` (at the database's now()) and its
    bound parameters: the patrols this partner may see now."""
    sql = " AND ".join(f"({c.sql})" for c in PARTNER_PATROL_RULE)
    params: dict[str, object] = {
        "partner_member": member or uuid.UUID(int=0),  # no account: matches no membership
        "partner_kind": PARTNER_PATROL_KIND,
        "partner_cancelled": PATROL_CANCELLED,
        "partner_margin": PATROL_MARGIN,
    }
    return sql, params
