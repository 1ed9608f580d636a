"""Plans (issue 12): tonight's routes for a mode as GeoJSON with one GPX file per team, kept so
the office console can show them again, re-solve with changes, compare and publish them."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import Ctx, guard, outcome_of, street_tiles
from api.errors import Busy
from geo_outreach.accounts import users
from geo_outreach.accounts.users import PATROL_ROLES
from geo_outreach.core import db
from geo_outreach.core.i18n import Lang
from geo_outreach.mapping import render
from geo_outreach.routing import exports as plan_export
from geo_outreach.routing import planner
from geo_outreach.routing import plans as stored
from geo_outreach.routing.plans import PlanIn, ResolveIn
from layers.plans import StoredPlan
from maps.assets import Page

router = APIRouter(tags=["plans"])
PlanId = Annotated[uuid.UUID, Path(description="a stored plan's id")]
LangQ = Annotated[Lang, Query(description="the page's language")]
# The map names its files relative to its folder; served here, they are the ones under /maps/.
_RELATIVE = re.compile(r'(?<=src=")assets/|(?<=href=")assets/|(?<=")tiles/(?=\{z\})')
# Framed by the console's /app/ pages, same origin only (SecurityHeaders keeps this and sets
# the policy's frame-ancestors to match).
FRAMED = {"X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"}

__all__ = ["PlanIn", "ResolveIn"]  # the request bodies live with the domain (re-solve merges)
# One solve per core in this process: a plan request that finds them all busy is answered 503
# at once instead of waiting, a worker thread held, behind seconds of solver time (the CLI's
# longer runs are not counted here).
SOLVERS = os.cpu_count() or 1
SOLVES = threading.BoundedSemaphore(SOLVERS)
RETRY_AFTER_S = 10  # about one plan of the API's longest budget


class PlanOut(BaseModel):
    plan: dict[str, Any] = Field(description="GeoJSON FeatureCollection of routes and stops")
    gpx: dict[str, str] = Field(description="one GPX document per team, by team name")
    extra_teams_needed: int
    attribution: str
    id: uuid.UUID = Field(description="the stored plan")
    parent_id: uuid.UUID | None = Field(description="the plan this one was re-solved from")
    published: bool
    summary: dict[str, Any] = Field(description="per team, sites covered, km, left out, vulnerable")
    request: dict[str, Any] = Field(description="the request that made it (a re-solve's merged)")


class PlanListed(BaseModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    mode: str
    day: str
    created_at: datetime
    created_by: str
    published: bool
    # A published plan a later published version of it replaced (its planned patrols cancelled).
    replaced_by: uuid.UUID | None = None
    summary: dict[str, Any]


class PublishedPatrol(BaseModel):
    id: uuid.UUID
    code: str
    team: int
    name: str
    members: list[str]


class ReplacedPatrol(BaseModel):
    id: uuid.UUID
    code: str
    plan_id: uuid.UUID = Field(description="the earlier published version it belonged to")


class Published(BaseModel):
    plan_id: uuid.UUID
    patrols: list[PublishedPatrol]
    cancelled: list[uuid.UUID] = Field(
        description="patrols of an earlier published version of this plan, still planned, "
        "cancelled by this one (one night, one set of patrols)"
    )
    replaced: list[ReplacedPatrol] = Field(description="the cancelled patrols, with their codes")


class CrewAccount(BaseModel):
    name: str
    role: str
    joint_only: bool = Field(description="a partner account: on joint plans only")


def _out(row: StoredPlan) -> PlanOut:
    plan = stored.plan_of(row)
    return PlanOut(
        plan=plan_export.plan_geojson(plan),
        gpx={route.name: plan_export.team_gpx(plan, route) for route in plan.routes},
        extra_teams_needed=plan.extra_teams_needed,
        attribution=plan.attribution,
        id=row.id,
        parent_id=row.parent_id,
        published=row.published_at is not None,
        summary=row.summary,
        request=row.request,
    )


def _solved(ctx: Ctx, read: Callable[[Session], stored.Ready]) -> PlanOut:
    """Check and read the sites in one transaction (their audit row is committed whatever the
    solve says), solve with none open, keep the plan in another; one solve per core at most."""
    if not SOLVES.acquire(blocking=False):
        msg = f"the planner is busy ({SOLVERS} plan(s) being solved); try again shortly"
        raise Busy(msg, retry_after=RETRY_AFTER_S)
    try:
        with ctx.tx() as tx:
            tx.action = "read"
            ready = read(tx.session)
        try:
            plan = stored.solve(ready, pbf=ctx.settings.pbf, cache_dir=ctx.settings.cache_dir)
        except Exception as exc:  # recorded as ctx.tx records a failed request
            ctx.audit(outcome=outcome_of(exc), ids=[], detail={"error": type(exc).__name__})
            raise
        with ctx.tx() as tx:
            row = stored.keep(tx.session, ready, plan, actor=ctx.actor, role=ctx.principal.role)
            return _out(row)
    finally:
        SOLVES.release()


@router.post("/plans", responses={503: {"description": "every solver is busy: Retry-After"}})
def create_plan(body: PlanIn, ctx: Annotated[Ctx, guard("plans", "create")]) -> PlanOut:
    """Plan the routes and keep the plan (the sites read for it are recorded in the audit log).

    A field the planner cannot use (e.g. akcja-zima without a temperature at or below −10 °C,
    crews not one per team, a required site that does not fit) is answered 422, naming it."""
    actor, role = ctx.actor, ctx.principal.role
    return _solved(ctx, lambda s: stored.prepare(s, body, actor=actor, role=role))


@router.get("/plans")
def list_plans(ctx: Annotated[Ctx, guard("plans", "read")]) -> list[PlanListed]:
    """The most recent plans (at most 50), newest first, with their summaries."""
    with ctx.tx() as tx:
        rows = stored.recent(tx.session, actor=ctx.actor, role=ctx.principal.role)
    return [PlanListed.model_validate(r) for r in rows]


@router.get("/plans/compare")
def compare_plans(
    a: Annotated[uuid.UUID, Query(description="a stored plan")],
    b: Annotated[uuid.UUID, Query(description="another stored plan")],
    ctx: Annotated[Ctx, guard("plans", "read")],
) -> dict[str, dict[str, Any]]:
    """Two plans' summaries side by side: km, sites covered, the most vulnerable reached in the
    first half of the night."""
    with ctx.tx() as tx:
        return stored.compare(tx.session, a, b, actor=ctx.actor, role=ctx.principal.role)


@router.get("/plans/crew-accounts")
def crew_accounts(ctx: Annotated[Ctx, guard("plans", "create")]) -> list[CrewAccount]:
    """The active accounts a plan's crews may name: streetworkers and coordinators, and the
    partners (joint plans only). Names and roles only; no site is read."""
    with db.session_scope(ctx.engine) as session:
        found = [u for u in users.list_users(session) if u.active and u.role in PATROL_ROLES]
    return [CrewAccount(name=u.name, role=u.role, joint_only=u.role == "partner") for u in found]


@router.get("/plans/{plan_id}")
def get_plan(plan_id: PlanId, ctx: Annotated[Ctx, guard("plans", "read")]) -> PlanOut:
    """One stored plan, as it was answered when it was made."""
    with ctx.tx() as tx:
        row = stored.read(
            tx.session, plan_id, actor=ctx.actor, role=ctx.principal.role, purpose="plan"
        )
        return _out(row)


@router.post(
    "/plans/{plan_id}/resolve",
    responses={503: {"description": "every solver is busy: Retry-After"}},
)
def resolve_plan(
    plan_id: PlanId, body: ResolveIn, ctx: Annotated[Ctx, guard("plans", "create")]
) -> PlanOut:
    """Solve again with the sent fields changed and the rest of the stored request kept; the
    answer is a new stored plan whose parent is this one."""
    actor, role = ctx.actor, ctx.principal.role
    return _solved(ctx, lambda s: stored.prepare_resolve(s, plan_id, body, actor=actor, role=role))


@router.post(
    "/plans/{plan_id}/publish",
    responses={409: {"description": "already published, or an earlier version has started"}},
)
def publish_plan(plan_id: PlanId, ctx: Annotated[Ctx, guard("plans", "update")]) -> Published:
    """The plan's routes become planned patrols with their stops and ETAs, each team's members
    on theirs (their field app shows the route); once only. An earlier published version of
    the plan (re-solved from the same first plan) is replaced: its patrols still planned are
    cancelled (listed in `cancelled`); if any of them has started, 409."""
    with ctx.tx() as tx:
        done = stored.publish(tx.session, plan_id, actor=ctx.actor, role=ctx.principal.role)
    return Published.model_validate(done)


@router.get("/plans/{plan_id}/sheet.html", response_class=HTMLResponse)
def plan_sheet(
    plan_id: PlanId, ctx: Annotated[Ctx, guard("plans", "read")], lang: LangQ = "pl"
) -> HTMLResponse:
    """The printable route sheet of every team: stops, ETAs, hazards, people, members."""
    with ctx.tx() as tx:
        row = stored.read(
            tx.session, plan_id, actor=ctx.actor, role=ctx.principal.role, purpose="route sheet"
        )
    html = plan_export.route_sheet_html(stored.plan_of(row), lang=lang, members=stored.members(row))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get(
    "/plans/{plan_id}/teams/{team}.gpx",
    response_class=Response,
    responses={200: {"content": {"application/gpx+xml": {}}}},
)
def plan_team_gpx(
    plan_id: PlanId,
    team: Annotated[int, Path(ge=1, le=planner.TEAMS[1], description="the team's number")],
    ctx: Annotated[Ctx, guard("plans", "read")],
    lang: LangQ = "pl",
) -> Response:
    """One team's route as GPX (waypoints with ETAs and the street track), to download."""
    with ctx.tx() as tx:
        row = stored.read(
            tx.session, plan_id, actor=ctx.actor, role=ctx.principal.role, purpose="gpx"
        )
    plan = stored.plan_of(row)
    route = stored.team_route(plan, team)
    name = f'attachment; filename="plan-{str(plan_id)[:8]}-team-{team}.gpx"'
    body = plan_export.team_gpx(plan, route, lang=lang)
    return Response(body, media_type="application/gpx+xml", headers={"Content-Disposition": name})


def _framed(request: Request, page: Page) -> HTMLResponse:
    """The map page with its asset and tile links made absolute (/maps/…), served framable by
    the console only."""
    store: dict[str, str] = request.app.state.__dict__.setdefault("map_assets", {})
    store.update(page.assets)
    html = _RELATIVE.sub(lambda m: f"/maps/{m[0]}", page.html)
    return HTMLResponse(html, headers=FRAMED)


@router.get("/plans/{plan_id}/map.html", response_class=HTMLResponse)
def plan_map(
    request: Request,
    plan_id: PlanId,
    ctx: Annotated[Ctx, guard("plans", "read")],
    lang: LangQ = "pl",
) -> HTMLResponse:
    """The stored plan on the planner's map (routes, stops with ETAs, sites left out, heat)."""
    who = {"actor": ctx.actor, "role": ctx.principal.role}
    with ctx.tx() as tx:
        row = stored.read(tx.session, plan_id, purpose="plan map", **who)
        data = render.gather(tx.session, "planner", plan=stored.plan_of(row), **who)
    tiles = street_tiles(request, ctx.settings)
    page = render.render_page(data, now=datetime.now(planner.TZ), tiles=tiles, lang=lang)
    return _framed(request, page)
