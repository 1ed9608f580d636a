"""Visits: append-only contact log (POST and GET; there is no PUT, PATCH or DELETE)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import Ctx, guard
from api.geojson import check_limit, links, refuse
from api.idempotency import Created, create_once, fingerprint
from api.routes.sites import IdempotencyKey, Limit, Offset
from geo_outreach.core.errors import NotFound
from layers import features, writes
from layers.features import Cond, eq
from layers.visits import VisitIn

router = APIRouter(tags=["visits"])
TABLE = "visits"
RECORD_SCHEMA: dict[str, Any] = {"type": "object", "required": ["id"]}


@router.get(
    "/visits",
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
def list_visits(
    request: Request,
    ctx: Annotated[Ctx, guard("visits", "read")],
    site_id: uuid.UUID | None = None,
    patrol_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Visits, newest last, filtered by site, patrol and time (audited)."""
    check_limit(limit, settings=ctx.settings)
    conds: list[Cond] = []
    if site_id is not None:
        conds.append(eq("site_id", site_id, table=TABLE))
    if patrol_id is not None:
        conds.append(eq("patrol_id", patrol_id, table=TABLE))
    for name, value, op in (("since", since, ">="), ("until", until, "<")):
        if value is not None:
            if value.tzinfo is None:
                raise refuse(name, "needs a time zone offset, e.g. 2025-01-31T22:00:00+01:00")
            conds.append(Cond(f"t.visited_at {op} :{name}", {name: value}))
    with ctx.tx() as tx:
        page = features.page(
            tx.session,
            TABLE,
            fields=ctx.fields(),
            conds=conds,
            limit=limit,
            offset=offset,
            features=False,
        )
        tx.ids = page.ids
        tx.detail = {"returned": len(page.ids), "offset": offset}
    nav = links(
        request,
        offset=offset,
        limit=limit,
        returned=len(page.ids),
        matched=page.matched,
        media_type="application/json",
    )
    head = json.dumps(
        {"numberMatched": page.matched, "numberReturned": len(page.ids), "links": nav}
    )
    return Response(head[:-1] + ',"visits":' + page.features + "}", media_type="application/json")


@router.get(
    "/visits/{visit_id}",
    responses={200: {"content": {"application/json": {"schema": RECORD_SCHEMA}}}},
)
def get_visit(visit_id: uuid.UUID, ctx: Annotated[Ctx, guard("visits", "read")]) -> Response:
    """One visit (audited)."""
    with ctx.tx(ids=[visit_id]) as tx:
        found = features.one(tx.session, TABLE, visit_id, fields=ctx.fields(), features=False)
        if found is None:
            msg = f"no visit {visit_id}"
            raise NotFound(msg)
    return Response(found[0], media_type="application/json")


@router.post(
    "/visits",
    status_code=201,
    responses={201: {"content": {"application/json": {"schema": RECORD_SCHEMA}}}},
)
def create_visit(
    visit: VisitIn,
    ctx: Annotated[Ctx, guard("visits", "create")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Append a visit to the contact log; visits are never changed afterwards."""
    request_hash = fingerprint("POST", "/visits", visit.model_dump_json())
    with ctx.tx() as tx:

        def make() -> Created:
            new_id = writes.create_visit(tx.session, visit, actor=ctx.actor)
            found = features.one(tx.session, TABLE, new_id, fields=ctx.fields(), features=False)
            assert found is not None
            return Created(new_id, found[0], f"/visits/{new_id}")

        return create_once(
            ctx,
            tx,
            key=idempotency_key,
            request_hash=request_hash,
            media_type="application/json",
            create=make,
        )
