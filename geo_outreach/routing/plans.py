"""Stored plans of the office console (issue 12): plan, adjust and re-solve, compare, publish.

Every plan made through the API is kept (`layers.plans.StoredPlan`) with the request that made it
and its result, so it can be shown again, re-solved with some fields changed (a new plan whose
parent is the old one), compared with another, and published once: its routes become planned
patrols with their stops and ETAs, and each team's members are put on their patrol, so the route
shows as "my route tonight" in the field app. Plans hold site positions: every read is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from geo_outreach.accounts.users import _member_fault as member_fault
from geo_outreach.core.errors import Conflict, NotFound, invalid
from geo_outreach.core.plan import LeftOut, Plan, PlannedStop, TeamRoute
from geo_outreach.routing import planner
from geo_outreach.routing.exports import MODE_KIND
from layers import audit
from layers.accounts import PatrolMember, User
from layers.models import Patrol, StoredPlan
from layers.rules import PlannedOn

LIST_LIMIT = 50
MAX_SITES = 1000  # require / exclude / lock: more than any city's site list
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class CrewIn(BaseModel):
    """One team: its name and the accounts on it."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    members: list[Name] = Field(default_factory=list, max_length=50)


def _crews_fit(crews: list[CrewIn] | None, teams: int | None) -> list[CrewIn] | None:
    if crews is None:
        return crews
    if teams is not None and len(crews) != teams:
        msg = f"{len(crews)} crew(s) for {teams} team(s): give one crew per team"
        raise ValueError(msg)
    names = [c.name for c in crews]
    members = [m for c in crews for m in c.members]
    if len(set(names)) != len(names):
        msg = "two crews have the same name"
        raise ValueError(msg)
    if len(set(members)) != len(members):
        msg = "an account is on two crews (or twice on one)"
        raise ValueError(msg)
    return crews


Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Team = Annotated[int, Field(ge=1, le=planner.TEAMS[1])]
Sites = Annotated[list[uuid.UUID], Field(max_length=MAX_SITES)]


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["streetwork", "joint", "akcja-zima", "inspection"]
    day: PlannedOn
    start: time = Field(description="shift start, local time (Europe/Warsaw)")
    end: time = Field(description="shift end; earlier than start means the next morning")
    teams: int = Field(default=1, ge=planner.TEAMS[0], le=planner.TEAMS[1])
    temperature: float | None = Field(default=None, ge=-60, le=50, description="°C")
    district: str | None = Field(default=None, max_length=200)
    # The API keeps solver time short; longer runs belong to the CLI.
    seconds: float = Field(default=2.0, ge=0.1, le=30)
    seed: int = Field(default=1, ge=0, le=2**31 - 1)
    crews: list[CrewIn] | None = Field(
        default=None, description="one per team, in team order: name and member account names"
    )
    depot: tuple[Lon, Lat] | None = Field(
        default=None, description="[lon, lat] where the teams start and end; default: MOPS"
    )
    require: Sites = Field(default_factory=list, description="sites every plan must visit")
    exclude: Sites = Field(default_factory=list, description="sites left out of the plan")
    lock: dict[uuid.UUID, Team] = Field(
        default_factory=dict, description="site id → the team (1-based) that must visit it"
    )

    @field_validator("crews")
    @classmethod
    def _crews(cls, crews: list[CrewIn] | None, info: ValidationInfo) -> list[CrewIn] | None:
        return _crews_fit(crews, info.data.get("teams"))

    @field_validator("lock")
    @classmethod
    def _lock(cls, lock: dict[uuid.UUID, int]) -> dict[uuid.UUID, int]:
        if len(lock) > MAX_SITES:
            msg = f"at most {MAX_SITES} sites"
            raise ValueError(msg)
        return lock


class ResolveIn(BaseModel):
    """What changes for a re-solve; everything else is kept from the stored plan's request."""

    model_config = ConfigDict(extra="forbid")

    teams: int | None = Field(default=None, ge=planner.TEAMS[0], le=planner.TEAMS[1])
    crews: list[CrewIn] | None = None
    require: Sites | None = None
    exclude: Sites | None = None
    lock: dict[uuid.UUID, Team] | None = Field(default=None, max_length=MAX_SITES)
    seconds: float | None = Field(default=None, ge=0.1, le=30)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)

    @field_validator("crews")
    @classmethod
    def _crews(cls, crews: list[CrewIn] | None, info: ValidationInfo) -> list[CrewIn] | None:
        return _crews_fit(crews, info.data.get("teams"))


def request_of(body: PlanIn) -> planner.PlanRequest:
    """The planner's request: the same field names, plus the office's adjustments."""
    fields = body.model_dump(exclude={"crews", "require", "exclude", "lock", "depot"})
    return planner.PlanRequest(
        **fields,
        depot=body.depot,
        names=tuple(c.name for c in body.crews or ()),
        require=frozenset(body.require),
        exclude=frozenset(body.exclude),
        lock=tuple(sorted(body.lock.items(), key=lambda kv: str(kv[0]))),
    )


# -- the result as JSON, and back -----------------------------------------------------------


def _stop_json(s: PlannedStop) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "site_id": None if s.site_id is None else str(s.site_id),
        "code": s.code,
        "name": s.name,
        "lon": s.lon,
        "lat": s.lat,
        "arrive": s.arrive.isoformat(),
        "depart": s.depart.isoformat(),
        "service_minutes": s.service_minutes,
        "estimated_people": s.estimated_people,
        "hazards": list(s.hazards),
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    """Everything a stored plan needs to be shown, exported and published again."""
    return {
        "mode": plan.mode,
        "window": [plan.window_start.isoformat(), plan.window_end.isoformat()],
        "routes": [
            {
                "team": r.team,
                "name": r.name,
                "start": list(r.start),
                "end": list(r.end),
                "depart": r.depart.isoformat(),
                "back": r.back.isoformat(),
                "stops": [_stop_json(s) for s in r.stops],
                "distance_m": r.distance_m,
                "duration_s": r.duration_s,
                "geometry": [list(p) for p in r.geometry],
            }
            for r in plan.routes
        ],
        "left_out": [
            {
                "site_id": None if lo.site_id is None else str(lo.site_id),
                "code": lo.code,
                "name": lo.name,
                "lon": lo.lon,
                "lat": lo.lat,
                "reason": lo.reason,
                "vulnerable": lo.vulnerable,
            }
            for lo in plan.left_out
        ],
        "extra_teams_needed": plan.extra_teams_needed,
        "notes": list(plan.notes),
        "attribution": plan.attribution,
    }


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _at(value: str) -> datetime:
    # Stored with its offset; shown in Warsaw time like a fresh plan.
    return datetime.fromisoformat(value).astimezone(planner.TZ)


def plan_from_json(data: dict[str, Any]) -> Plan:
    routes = [
        TeamRoute(
            team=r["team"],
            name=r["name"],
            start=(r["start"][0], r["start"][1]),
            end=(r["end"][0], r["end"][1]),
            depart=_at(r["depart"]),
            back=_at(r["back"]),
            stops=[
                PlannedStop(
                    seq=s["seq"],
                    site_id=_uuid(s["site_id"]),
                    code=s["code"],
                    name=s["name"],
                    lon=s["lon"],
                    lat=s["lat"],
                    arrive=_at(s["arrive"]),
                    depart=_at(s["depart"]),
                    service_minutes=s["service_minutes"],
                    estimated_people=s["estimated_people"],
                    hazards=tuple(s["hazards"]),
                )
                for s in r["stops"]
            ],
            distance_m=r["distance_m"],
            duration_s=r["duration_s"],
            geometry=[(p[0], p[1]) for p in r["geometry"]],
        )
        for r in data["routes"]
    ]
    left = [
        LeftOut(
            _uuid(lo["site_id"]), lo["code"], lo["name"], lo["lon"], lo["lat"], lo["reason"],
            lo.get("vulnerable", False),
        )
        for lo in data["left_out"]
    ]  # fmt: skip
    return Plan(
        mode=data["mode"],
        window_start=_at(data["window"][0]),
        window_end=_at(data["window"][1]),
        routes=routes,
        left_out=left,
        extra_teams_needed=data["extra_teams_needed"],
        notes=list(data["notes"]),
        attribution=data["attribution"],
    )


# -- summary --------------------------------------------------------------------------------


def summarise(plan: Plan, *, teams: int, crews: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Per team: sites, km, minutes; the sites left out and why; how many of the most
    vulnerable are on a route, and how many of them are reached in the first half of the night."""
    start, end = plan.window_start.astimezone(UTC), plan.window_end.astimezone(UTC)
    half = start + (end - start) / 2
    by_team = {r.team: r for r in plan.routes}
    rows = []
    for n in range(1, teams + 1):
        r = by_team.get(n)
        crew = crews[n - 1] if crews else None
        default = f"Zespół {n}"  # the planner's own (Polish) default name
        rows.append(
            {
                "team": n,
                "name": crew["name"] if crew else (r.name if r else default),
                "members": list(crew["members"]) if crew else [],
                "sites": len(r.stops) if r else 0,
                "km": round(r.distance_m / 1000, 2) if r else 0.0,
                "minutes": round(r.duration_s / 60) if r else 0,
                "depart": r.depart.isoformat() if r else None,
                "back": r.back.isoformat() if r else None,
            }
        )
    stops = [s for r in plan.routes for s in r.stops]
    reached = [s for s in stops if planner.vulnerable(s.estimated_people, s.hazards)]
    return {
        "teams": rows,
        "sites_covered": len(stops),
        "km": round(sum(r.distance_m for r in plan.routes) / 1000, 2),
        "left_out": [
            {
                "site_id": None if lo.site_id is None else str(lo.site_id),
                "code": lo.code,
                "name": lo.name,
                "reason": lo.reason,
            }
            for lo in plan.left_out
        ],
        "vulnerable_total": len(reached) + sum(lo.vulnerable for lo in plan.left_out),
        "vulnerable_first_half": sum(s.arrive.astimezone(UTC) <= half for s in reached),
    }


# -- make, keep, read -----------------------------------------------------------------------


Crews = Iterable[tuple[str, Sequence[str]]]  # (crew name, member account names)


def _check_members(session: Session, crews: Crews, *, mode: str) -> dict[str, User]:
    """Every member may go on this mode's patrols (the rule of accounts.users, the same for
    patrol members): checked when a plan is made and again when it is published, since an
    account may be changed or switched off in between. The accounts, by name."""
    listed = [(crew, name) for crew, names in crews for name in names]
    wanted = {name for _, name in listed}
    users = {u.name: u for u in session.scalars(select(User).where(User.name.in_(wanted)))}
    for crew, name in listed:
        fault = member_fault(users.get(name), name, MODE_KIND[mode])
        if fault:
            msg = f"{fault} (crew '{crew}')"
            raise invalid("crews", msg)
    return users


@dataclass(frozen=True)
class Ready:
    """A plan request read and checked in one transaction, to be solved outside any."""

    body: PlanIn
    prepared: planner.Prepared
    parent_id: uuid.UUID | None = None


def prepare(
    session: Session,
    body: PlanIn,
    *,
    actor: str,
    role: str,
    parent_id: uuid.UUID | None = None,
) -> Ready:
    """The crews checked and the sites read (audited by the planner)."""
    _check_members(session, ((c.name, c.members) for c in body.crews or ()), mode=body.mode)
    ready = planner.prepare(session, request_of(body), actor=actor, role=role)
    return Ready(body, ready, parent_id)


def solve(ready: Ready, *, pbf: Path, cache_dir: Path | None) -> Plan:
    """The solve: no database (so no transaction held for its seconds)."""
    return planner.solve(ready.prepared, pbf=pbf, cache_dir=cache_dir)


def keep(session: Session, ready: Ready, plan: Plan, *, actor: str, role: str) -> StoredPlan:
    """Store the solved plan with the request that made it."""
    body, parent_id = ready.body, ready.parent_id
    request = body.model_dump(mode="json")
    row = StoredPlan(
        parent_id=parent_id,
        mode=body.mode,
        day=body.day,
        request=request,
        result=plan_json(plan),
        summary=summarise(plan, teams=body.teams, crews=request["crews"]),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        role=role,
        action="create",
        layer="plans",
        object_ids=[row.id],
        detail={"mode": body.mode, "parent": None if parent_id is None else str(parent_id)},
    )
    return row


def get(session: Session, plan_id: uuid.UUID, *, lock: bool = False) -> StoredPlan:
    stmt = select(StoredPlan).where(StoredPlan.id == plan_id)
    row = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        msg = f"no plan {plan_id}"
        raise NotFound(msg)
    return row


def plan_of(row: StoredPlan) -> Plan:
    return plan_from_json(row.result)


def members(row: StoredPlan) -> dict[int, list[str]]:
    """Team number → the member accounts named for it (empty without crews)."""
    crews: list[dict[str, Any]] = row.request.get("crews") or []
    return {n: list(c["members"]) for n, c in enumerate(crews, start=1)}


def team_route(plan: Plan, team: int) -> TeamRoute:
    for route in plan.routes:
        if route.team == team:
            return route
    msg = f"team {team} has no route in this plan"
    raise NotFound(msg)


def site_ids(rows: list[StoredPlan]) -> list[uuid.UUID]:
    """The sites a stored plan names (on routes and left out)."""
    found: dict[uuid.UUID, None] = {}
    for row in rows:
        for r in row.result["routes"]:
            found.update((uuid.UUID(s["site_id"]), None) for s in r["stops"] if s["site_id"])
        left = row.result["left_out"]
        found.update((uuid.UUID(lo["site_id"]), None) for lo in left if lo["site_id"])
    return list(found)


def audit_read(
    session: Session,
    rows: list[StoredPlan],
    *,
    actor: str,
    role: str,
    purpose: str,
    ids: list[uuid.UUID] | None = None,
) -> None:
    """A stored plan shows sites (codes, names, positions): its reading is recorded (`ids`: the
    sites shown, when only some are; default every site the plans name)."""
    audit.record(
        session,
        actor=actor,
        role=role,
        action="read",
        layer="sleeping_sites",
        object_ids=site_ids(rows) if ids is None else ids,
        detail={"purpose": purpose, "plans": [str(r.id) for r in rows]},
    )


def read(
    session: Session, plan_id: uuid.UUID, *, actor: str, role: str, purpose: str
) -> StoredPlan:
    row = get(session, plan_id)
    audit_read(session, [row], actor=actor, role=role, purpose=purpose)
    return row


def recent(
    session: Session, *, actor: str, role: str, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    # The routes (with their street geometry) stay in the database: a list shows summaries.
    rows = list(
        session.scalars(
            select(StoredPlan)
            .options(defer(StoredPlan.result, raiseload=True))
            .order_by(StoredPlan.created_at.desc(), StoredPlan.id)
            .limit(limit)
        )
    )
    # What a listing shows of sites: the summaries' left-out codes and names.
    shown = {
        uuid.UUID(lo["site_id"]): None
        for r in rows
        for lo in r.summary["left_out"]
        if lo["site_id"]
    }
    audit_read(session, rows, actor=actor, role=role, purpose="list plans", ids=list(shown))
    replaced = _replaced_by(session, rows)
    return [
        {
            "id": str(r.id),
            "parent_id": None if r.parent_id is None else str(r.parent_id),
            "mode": r.mode,
            "day": r.day.isoformat(),
            "created_at": r.created_at.isoformat(),
            "created_by": r.created_by,
            "published": r.published_at is not None,
            "replaced_by": replaced.get(r.id),
            "summary": r.summary,
        }
        for r in rows
    ]


def _replaced_by(session: Session, rows: list[StoredPlan]) -> dict[uuid.UUID, str]:
    """Published plans a later published version of the same plan replaced (publish cancels
    the earlier version's planned patrols): plan id → the id of the version that replaced it.
    One lineage lookup and one query per lineage shown, not per plan."""
    out: dict[uuid.UUID, str] = {}
    seen: set[uuid.UUID] = set()
    for r in rows:
        if r.published_at is None or r.id in seen:
            continue
        _, lineage = _lineage(session, r.id)
        seen.update(lineage)
        published = session.execute(
            select(StoredPlan.id, StoredPlan.published_at)
            .where(StoredPlan.id.in_(lineage), StoredPlan.published_at.is_not(None))
            .order_by(StoredPlan.published_at)
        ).all()
        latest = published[-1].id  # every version published before the latest is replaced
        out.update({p.id: str(latest) for p in published[:-1]})
    return out


def _fault(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return where, first["msg"]


def merged(row: StoredPlan, change: ResolveIn) -> PlanIn:
    """The stored request with the sent fields changed, validated as a whole (422 names the
    field: e.g. teams changed without crews for the new number)."""
    sent = change.model_dump(mode="json", exclude_unset=True)
    kept = row.request.get("crews") or []
    if "teams" in sent and "crews" not in sent and kept and len(kept) != sent["teams"]:
        msg = f"the plan has {len(kept)} crew(s): send crews for {sent['teams']} team(s)"
        raise invalid("crews", msg)
    try:
        return PlanIn.model_validate({**row.request, **sent})
    except ValidationError as error:
        field_name, fault = _fault(error)
        raise invalid(field_name, fault) from None


def prepare_resolve(
    session: Session, plan_id: uuid.UUID, change: ResolveIn, *, actor: str, role: str
) -> Ready:
    """A new plan from a stored one's request with some fields changed; its parent is the old
    (read and checked here; solved and kept as `solve` and `keep` say)."""
    row = get(session, plan_id)
    body = merged(row, change)
    return prepare(session, body, actor=actor, role=role, parent_id=row.id)


def compare(
    session: Session, a: uuid.UUID, b: uuid.UUID, *, actor: str, role: str
) -> dict[str, Any]:
    rows = [get(session, a), get(session, b)]
    audit_read(session, rows, actor=actor, role=role, purpose="compare plans")
    return {"a": rows[0].summary, "b": rows[1].summary}


# -- publish --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replaced:
    """A patrol of an earlier version of the plan, cancelled by publishing this one."""

    id: uuid.UUID
    code: str
    plan_id: uuid.UUID


# A started patrol is past replacing: the new version of its plan must wait or be given up.
STARTED_STATUSES = ("in_progress", "done")


def _lineage(session: Session, plan_id: uuid.UUID) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The first plan of this one's re-solves (its root) and every plan re-solved from it."""
    up = select(StoredPlan.id, StoredPlan.parent_id).where(StoredPlan.id == plan_id)
    ups = up.cte("up", recursive=True)
    ups = ups.union(
        select(StoredPlan.id, StoredPlan.parent_id).join(ups, StoredPlan.id == ups.c.parent_id)
    )
    root = session.scalar(select(ups.c.id).where(ups.c.parent_id.is_(None))) or plan_id
    downs = select(StoredPlan.id).where(StoredPlan.id == root).cte("down", recursive=True)
    downs = downs.union(select(StoredPlan.id).join(downs, StoredPlan.parent_id == downs.c.id))
    return root, list(session.scalars(select(downs.c.id)))


def _supersede(
    session: Session, row: StoredPlan, lineage: list[uuid.UUID], *, actor: str, role: str
) -> list[Replaced]:
    """Cancel the still planned patrols of the lineage's plans published before this one (one
    night, one set of patrols); 409 naming the plan when any of them has started."""
    earlier = list(
        session.scalars(
            select(StoredPlan)
            .where(
                StoredPlan.id.in_(lineage),
                StoredPlan.id != row.id,
                StoredPlan.published_at.is_not(None),
            )
            .order_by(StoredPlan.published_at)
            .with_for_update()
        )
    )
    ids = [p for plan in earlier for p in plan.patrol_ids]
    # Locked: a visit logged meanwhile would start one of them (layers.patrols.start_on_visit).
    patrols = list(
        session.scalars(
            select(Patrol)
            .where(Patrol.id.in_(ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    for plan in earlier:
        started = sorted(
            p.code for p in patrols if p.id in plan.patrol_ids and p.status in STARTED_STATUSES
        )
        if started:
            msg = (
                f"plan {plan.id} is already under way: its patrols have started "
                f"({', '.join(started)}); finish or cancel them on the patrols page before "
                f"publishing plan {row.id}, another version of it"
            )
            raise Conflict(msg)
    owner = {p: plan.id for plan in earlier for p in plan.patrol_ids}
    cancelled = [Replaced(p.id, p.code, owner[p.id]) for p in patrols if p.status == "planned"]
    if not cancelled:
        return []
    note = f"replaced by plan {row.id}"
    session.execute(
        update(Patrol)
        .where(Patrol.id.in_([p.id for p in cancelled]))
        .values(
            status="cancelled",
            notes=func.concat_ws("\n", Patrol.notes, note),
            updated_at=func.now(),
            updated_by=actor,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="update",
        layer="patrols",
        object_ids=[p.id for p in cancelled],
        detail={
            "status": "cancelled",
            "notes": note,
            "plans": [str(p.id) for p in earlier],
            "replaced_by": str(row.id),
        },
    )
    return cancelled


def publish(session: Session, plan_id: uuid.UUID, *, actor: str, role: str) -> dict[str, Any]:
    """The plan's routes become planned patrols, each team's members on theirs; once only.
    It replaces a plan of the same lineage (re-solved from the same first plan) published
    before: that one's patrols still planned are cancelled, in this transaction; if any has
    started, 409. The lineage's first plan is locked first, so two versions published at once
    wait for each other instead of both passing the checks."""
    root, lineage = _lineage(session, plan_id)
    get(session, root, lock=True)
    row = get(session, plan_id, lock=True)
    if row.published_at is not None:
        msg = (
            f"plan {plan_id} was published at {row.published_at.isoformat()} by {row.published_by}"
        )
        raise Conflict(msg)
    plan = plan_of(row)
    if not plan.routes:
        msg = "the plan has no route to publish"
        raise invalid("plan_id", msg)
    crews: list[dict[str, Any]] = row.request.get("crews") or []
    users = _check_members(session, ((c["name"], c["members"]) for c in crews), mode=plan.mode)
    cancelled = _supersede(session, row, lineage, actor=actor, role=role)
    named = members(row)
    sizes = {n: len(names) for n, names in named.items() if names}
    ids = planner.store_plan(
        session, plan, actor=actor, role=role, label=f"plan {row.id}", team_size=sizes
    )
    codes = dict(session.execute(select(Patrol.id, Patrol.code).where(Patrol.id.in_(ids))).all())
    out = []
    for route, patrol_id in zip(plan.routes, ids, strict=True):
        names = named.get(route.team, [])
        session.add_all(
            PatrolMember(patrol_id=patrol_id, user_id=users[name].id, assigned_by=actor)
            for name in names
        )
        out.append(
            {
                "id": str(patrol_id),
                "code": codes[patrol_id],
                "team": route.team,
                "name": route.name,
                "members": names,
            }
        )
    session.execute(
        update(StoredPlan)
        .where(StoredPlan.id == row.id)
        .values(published_at=func.now(), published_by=actor, patrol_ids=ids)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="update",
        layer="plans",
        object_ids=[row.id],
        detail={
            "published": True,
            "patrols": [p["id"] for p in out],
            "members": {p["code"]: p["members"] for p in out},
            "cancelled": [str(p.id) for p in cancelled],
        },
    )
    return {
        "plan_id": str(row.id),
        "patrols": out,
        "cancelled": [str(p.id) for p in cancelled],
        "replaced": [
            {"id": str(p.id), "code": p.code, "plan_id": str(p.plan_id)} for p in cancelled
        ],
    }
