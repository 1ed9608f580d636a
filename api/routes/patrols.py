"""Patrols: the list and one patrol (a partner only its own), the sites on a route, and in the
office console their status, actual track, progress and members (issue 12). Every read and
write of a patrol is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.collections import COLLECTIONS, list_response
from api.deps import Ctx, guard, outcome_of
from api.geojson import (
    FEATURE_COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    collection,
    geojson,
    geojson_responses,
    refuse,
)
from api.routes.sites import Bbox, Limit, Offset
from geo_outreach.accounts import users as auth
from geo_outreach.core import policy
from geo_outreach.core.errors import NotFound, ValidationFailed, invalid
from geo_outreach.core.policy import Forbidden
from geo_outreach.core.vocab import PATROL_KINDS, PATROL_STATUSES
from geo_outreach.routing import patrols as patrol_ops
from layers import features
from layers import patrols as patrol_rules
from layers.features import Cond, eq
from layers.models import Patrol

router = APIRouter(tags=["patrols"])
PATROLS = COLLECTIONS["patrols"]
FC = geojson_responses(FEATURE_COLLECTION_SCHEMA)
ONE = geojson_responses(FEATURE_SCHEMA)
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "refused; `problems` name the field and the fault, nothing was stored"}
}
GPX_TYPES = ("application/gpx+xml", "application/xml", "text/xml")
TRACK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a GPX 1.0/1.1 document with the patrol's track (<trk><trkseg><trkpt>)",
        "content": {t: {"schema": {"type": "string"}} for t in GPX_TYPES},
    }
}


@router.get("/patrols", responses=FC)
def list_patrols(
    request: Request,
    ctx: Annotated[Ctx, guard("patrols", "read")],
    bbox: Bbox = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Patrols with their planned routes (a partner sees only its own; audited)."""
    conds: list[Cond] = []
    if kind is not None:
        if kind not in PATROL_KINDS:
            raise refuse("kind", f"'{kind}' is not one of: {', '.join(PATROL_KINDS)}")
        conds.append(eq("kind", kind, table="patrols"))
    if status is not None:
        if status not in PATROL_STATUSES:
            raise refuse("status", f"'{status}' is not one of: {', '.join(PATROL_STATUSES)}")
        conds.append(eq("status", status, table="patrols"))
    for name, value, op in (("since", since, ">="), ("until", until, "<")):
        if value is not None:
            if value.tzinfo is None:
                raise refuse(name, "needs a time zone offset, e.g. 2025-01-31T22:00:00+01:00")
            conds.append(Cond(f"t.planned_start {op} :{name}", {name: value}))
    return list_response(ctx, PATROLS, request, bbox=bbox, limit=limit, offset=offset, conds=conds)


def _partner_member(ctx: Ctx, session: Session, patrol_id: uuid.UUID) -> bool:
    return auth.is_member(session, patrol_id=patrol_id, user_id=ctx.principal.user_id)


def _partner_refusal(ctx: Ctx, session: Session, patrol_id: uuid.UUID) -> str | None:
    """Why a partner may not open this patrol's details now (PARTNER_PATROL_RULE), or None."""
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        return "you are not assigned to this patrol"
    return policy.partner_may_open(
        kind=patrol.kind,
        status=patrol.status,
        start=patrol.planned_start,
        end=patrol.planned_end,
        now=datetime.now(UTC),
        member=_partner_member(ctx, session, patrol_id),
    )


def _only_staff_or_partner_on_it(ctx: Ctx, session: Session, patrol_id: uuid.UUID) -> None:
    if ctx.principal.role in policy.STAFF:
        return
    why = _partner_refusal(ctx, session, patrol_id)
    if why:
        raise Forbidden(why)


def _feature(ctx: Ctx, session: Session, patrol_id: uuid.UUID) -> Response:
    found = features.one(
        session, PATROLS.table, patrol_id, fields=PATROLS.fields(ctx), conds=PATROLS.rows(ctx)
    )
    if found is None:
        msg = f"no patrol {patrol_id}"
        raise NotFound(msg)
    return geojson(found[0], etag=found[1])


@router.get("/patrols/{patrol_id}", responses=ONE)
def get_patrol(patrol_id: uuid.UUID, ctx: Annotated[Ctx, guard("patrols", "read")]) -> Response:
    """One patrol (a partner only when assigned to it; audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        if ctx.principal.role not in policy.STAFF and not _partner_member(
            ctx, tx.session, patrol_id
        ):
            msg = "you are not assigned to this patrol"
            raise Forbidden(msg)
        return _feature(ctx, tx.session, patrol_id)


@router.get("/patrols/{patrol_id}/sites", responses=FC)
def patrol_sites(
    patrol_id: uuid.UUID, ctx: Annotated[Ctx, guard("patrol_sites", "read")]
) -> Response:
    """The sites on a patrol's route. A partner gets them only for a joint patrol it is
    assigned to, only during it, and only the safety fields (audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        _only_staff_or_partner_on_it(ctx, tx.session, patrol_id)
        page = features.page(
            tx.session,
            "sleeping_sites",
            fields=ctx.fields(),
            conds=[
                Cond(
                    "t.id IN (SELECT site_id FROM patrol_stops WHERE patrol_id = :patrol)",
                    {"patrol": patrol_id},
                )
            ],
            limit=ctx.settings.api_page_max,
        )
        tx.ids = [patrol_id, *page.ids]
        tx.detail = {"returned": len(page.ids), "patrol_id": str(patrol_id)}
    return geojson(collection(page))


# -- the office console (issue 12) ----------------------------------------------------------


@router.patch("/patrols/{patrol_id}", responses=ONE | REFUSED)
def update_patrol(
    patrol_id: uuid.UUID,
    change: patrol_rules.PatrolPatchIn,
    ctx: Annotated[Ctx, guard("patrols", "update")],
) -> Response:
    """Change a patrol's status (planned → in_progress → done; cancelled before it is done),
    agencies or notes; answers the patrol (audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        changed = patrol_rules.change(tx.session, patrol_id, change, actor=ctx.actor)
        tx.detail = {"changed": sorted(changed), "status": changed.get("status")}
        return _feature(ctx, tx.session, patrol_id)


async def _gpx(request: Request) -> tuple[str, bytes]:
    """The raw body and its media type (the app-wide size limit applies while it is read)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind, await request.body()


@router.put("/patrols/{patrol_id}/track", responses=ONE | REFUSED, openapi_extra=TRACK_BODY)
def put_patrol_track(
    patrol_id: uuid.UUID,
    ctx: Annotated[Ctx, guard("patrols", "update")],
    sent: Annotated[tuple[str, bytes], Depends(_gpx)],
) -> Response:
    """The track the patrol actually walked, as GPX: it must parse, have 2+ points with times
    in order near the planned window, all inside the service area, on a patrol that was not
    cancelled; stored as the actual track (audited)."""
    track = _parsed_track(ctx, patrol_id, sent)
    with ctx.tx(ids=[patrol_id]) as tx:
        tx.detail = {"track_points": len(track.points), "segments": len(track.segments)}
        patrol_ops.store_track(
            tx.session, patrol_id, track, actor=ctx.actor, fallback_area=ctx.settings.service_area
        )
        return _feature(ctx, tx.session, patrol_id)


def _parsed_track(ctx: Ctx, patrol_id: uuid.UUID, sent: tuple[str, bytes]) -> patrol_ops.Track:
    """The GPX parsed before any transaction is open (no connection held while it is read);
    a refusal is audited on its own."""
    try:
        if sent[0] not in GPX_TYPES:
            raise invalid("track", f"send the GPX document as {' or '.join(GPX_TYPES)}")
        return patrol_ops.parse_track(sent[1])
    except ValidationFailed as exc:
        ctx.audit(outcome=outcome_of(exc), ids=[patrol_id], detail={"error": type(exc).__name__})
        raise


class StopOut(BaseModel):
    seq: int
    site_id: uuid.UUID | None
    code: str | None
    name: str | None = Field(description="null for a partner (safety fields only)")
    eta: datetime | None
    visited: bool
    visited_at: datetime | None = Field(description="null too for a partner (no visit data)")


class ProgressOut(BaseModel):
    patrol_id: uuid.UUID
    code: str
    status: str
    stops: list[StopOut]
    visited: int
    total: int
    contacts: int | None = Field(
        description="people met, summed over the patrol's visits; null for a partner"
    )
    has_track: bool


def _progress_out(found: patrol_ops.Progress, *, names: bool) -> ProgressOut:
    stops = [
        StopOut(
            seq=s.seq,
            site_id=s.site_id,
            code=s.code,
            name=s.name if names else None,
            eta=s.eta,
            visited=s.visited,
            visited_at=s.visited_at,
        )
        for s in found.stops
    ]
    return ProgressOut(
        patrol_id=found.patrol_id,
        code=found.code,
        status=found.status,
        stops=stops,
        visited=found.visited,
        total=found.total,
        contacts=found.contacts,
        has_track=found.has_track,
    )


def _reads_visits(ctx: Ctx) -> bool:
    """Visit times and people met are visit data: only for a role that may read visits."""
    role = ctx.principal.role
    return policy.allowed(role, "visits", "read") and bool(policy.fields("visits", role))


@router.get("/patrols/{patrol_id}/progress")
def patrol_progress(
    patrol_id: uuid.UUID, ctx: Annotated[Ctx, guard("patrols", "read")]
) -> ProgressOut:
    """Planned stops against the visits logged on the patrol. A partner: only a joint patrol
    it is on, during it, without site names (audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        _only_staff_or_partner_on_it(ctx, tx.session, patrol_id)
        found = patrol_ops.progress(tx.session, patrol_id, visit_details=_reads_visits(ctx))
        tx.ids = [patrol_id, *(s.site_id for s in found.stops if s.site_id)]
        tx.detail = {"visited": found.visited, "total": found.total}
    names = "name" in policy.fields("patrol_sites", ctx.principal.role)
    return _progress_out(found, names=names)


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    members: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        max_length=auth.MAX_MEMBERS, description="account names: the patrol's whole team"
    )


class MemberOut(BaseModel):
    name: str
    role: str
    agency: str | None
    assigned_at: datetime
    assigned_by: str


class MembersOut(BaseModel):
    patrol_id: uuid.UUID
    members: list[MemberOut]


def _members_out(session: Session, patrol_id: uuid.UUID) -> MembersOut:
    found = auth.patrol_members(session, patrol_id)
    return MembersOut(
        patrol_id=patrol_id, members=[MemberOut.model_validate(vars(m)) for m in found]
    )


@router.get("/patrols/{patrol_id}/members")
def patrol_members(
    patrol_id: uuid.UUID, ctx: Annotated[Ctx, guard("patrol_members", "read")]
) -> MembersOut:
    """Who is on the patrol (audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        if tx.session.get(Patrol, patrol_id) is None:
            msg = f"no patrol {patrol_id}"
            raise NotFound(msg)
        return _members_out(tx.session, patrol_id)


@router.put("/patrols/{patrol_id}/members", responses=REFUSED)
def set_patrol_members(
    patrol_id: uuid.UUID, body: MembersIn, ctx: Annotated[Ctx, guard("patrol_members", "update")]
) -> MembersOut:
    """Make these accounts the patrol's team: streetworkers, coordinators and, on a joint
    patrol, partner accounts (audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        added, removed = auth.set_patrol_members(
            tx.session, patrol_id, body.members, actor=ctx.actor
        )
        tx.detail = {"added": added, "removed": removed}
        return _members_out(tx.session, patrol_id)
