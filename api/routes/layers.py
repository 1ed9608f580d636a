"""Read-only layers: areas, patrols (and a joint patrol's sites for partners), the public layer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.collections import COLLECTIONS, list_response
from api.deps import Ctx, guard
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
from geo_outreach.core.errors import NotFound
from geo_outreach.core.policy import Forbidden
from geo_outreach.core.vocab import AREA_KINDS, PATROL_KINDS, PATROL_STATUSES
from layers import features
from layers.features import Cond, eq
from layers.models import Patrol

router = APIRouter()
FC = geojson_responses(FEATURE_COLLECTION_SCHEMA)
ONE = geojson_responses(FEATURE_SCHEMA)


@router.get("/areas", tags=["areas"], responses=FC)
def list_areas(
    request: Request,
    ctx: Annotated[Ctx, guard("areas", "read")],
    bbox: Bbox = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """City boundaries and districts."""
    conds = []
    if kind is not None:
        if kind not in AREA_KINDS:
            raise refuse("kind", f"'{kind}' is not one of: {', '.join(AREA_KINDS)}")
        conds.append(eq("kind", kind, table="areas"))
    coll = COLLECTIONS["areas"]
    return list_response(ctx, coll, request, bbox=bbox, limit=limit, offset=offset, conds=conds)


@router.get("/patrols", tags=["patrols"], responses=FC)
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
    coll = COLLECTIONS["patrols"]
    return list_response(ctx, coll, request, bbox=bbox, limit=limit, offset=offset, conds=conds)


def _partner_member(ctx: Ctx, session: Session, patrol_id: uuid.UUID) -> bool:
    return auth.is_member(session, patrol_id=patrol_id, user_id=ctx.principal.user_id)


@router.get("/patrols/{patrol_id}", tags=["patrols"], responses=ONE)
def get_patrol(patrol_id: uuid.UUID, ctx: Annotated[Ctx, guard("patrols", "read")]) -> Response:
    """One patrol (a partner only when assigned to it; audited)."""
    coll = COLLECTIONS["patrols"]
    with ctx.tx(ids=[patrol_id]) as tx:
        if ctx.principal.role not in policy.STAFF and not _partner_member(
            ctx, tx.session, patrol_id
        ):
            msg = "you are not assigned to this patrol"
            raise Forbidden(msg)
        found = features.one(
            tx.session, coll.table, patrol_id, fields=coll.fields(ctx), conds=coll.rows(ctx)
        )
        if found is None:
            msg = f"no patrol {patrol_id}"
            raise NotFound(msg)
    return geojson(found[0], etag=found[1])


@router.get("/patrols/{patrol_id}/sites", tags=["patrols"], responses=FC)
def patrol_sites(
    patrol_id: uuid.UUID, ctx: Annotated[Ctx, guard("patrol_sites", "read")]
) -> Response:
    """The sites on a patrol's route. A partner gets them only for a joint patrol it is
    assigned to, only during it, and only the safety fields (audited)."""
    with ctx.tx(ids=[patrol_id]) as tx:
        if ctx.principal.role not in policy.STAFF:
            patrol = tx.session.get(Patrol, patrol_id)
            member = patrol is not None and _partner_member(ctx, tx.session, patrol_id)
            why = (
                policy.partner_may_open(
                    kind=patrol.kind,
                    status=patrol.status,
                    start=patrol.planned_start,
                    end=patrol.planned_end,
                    now=datetime.now(UTC),
                    member=member,
                )
                if patrol is not None
                else "you are not assigned to this patrol"
            )
            if why:
                raise Forbidden(why)
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


@router.get("/public/facilities", tags=["public"], responses=FC)
def public_facilities(
    request: Request,
    ctx: Annotated[Ctx, guard("public", "read")],
    bbox: Bbox = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Public facilities (for everyone)."""
    coll = COLLECTIONS["public_facilities"]
    return list_response(ctx, coll, request, bbox=bbox, limit=limit, offset=offset)


@router.get("/public/sos-bus/routes", tags=["public"], responses=FC)
def public_sos_bus_routes(
    request: Request,
    ctx: Annotated[Ctx, guard("public", "read")],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The SOS bus route (for everyone)."""
    coll = COLLECTIONS["sos_bus_routes"]
    return list_response(ctx, coll, request, bbox=None, limit=limit, offset=offset)


@router.get("/public/sos-bus/stops", tags=["public"], responses=FC)
def public_sos_bus_stops(
    request: Request,
    ctx: Annotated[Ctx, guard("public", "read")],
    bbox: Bbox = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The SOS bus stops with their times (for everyone)."""
    coll = COLLECTIONS["sos_bus_stops"]
    return list_response(ctx, coll, request, bbox=bbox, limit=limit, offset=offset)
