"""The hottest read, `GET /sites?bbox` (issue 15): one asyncpg statement reads the page, counts
the matches and writes the audit row; run alone it commits before the answer is sent. No worker
thread, no ORM, no second round trip. Same answer and same audit row as `list_response`."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.collections import Collection
from api.deps import AUDIT_LAYER, Ctx, outcome_of
from api.geojson import check_limit, collection, geojson, links, parse_bbox
from geo_outreach.core import adb
from layers import features
from layers.features import AuditRow, Cond, Page


async def audited_list(
    ctx: Ctx,
    coll: Collection,
    request: Request,
    *,
    bbox: str | None,
    limit: int,
    offset: int,
    conds: list[Cond],
) -> Response:
    box = parse_bbox(bbox, settings=ctx.settings)
    check_limit(limit, settings=ctx.settings)
    where = [*coll.rows(ctx), *conds]
    if box:
        where.append(features.within(box, table=coll.table))
    detail: dict[str, Any] = {"endpoint": ctx.endpoint, "offset": offset, "bbox": box is not None}
    who = AuditRow(
        actor=ctx.actor, role=ctx.principal.role, layer=AUDIT_LAYER[coll.resource], detail=detail
    )
    stmt, params = features.audited_page_query(
        coll.table, fields=coll.fields(ctx), conds=where, limit=limit, offset=offset, audit=who
    )
    pool: asyncpg.Pool = request.app.state.apool
    try:
        # Alone on its connection, outside a transaction: committed when the row arrives.
        body, ids, versions, matched, _logged = await adb.fetch_one(pool, stmt, params)
    except Exception as exc:  # the failure is recorded on its own, as Ctx.tx does
        await run_in_threadpool(
            ctx.audit,
            outcome=outcome_of(exc),
            ids=[],
            detail={**detail, "error": type(exc).__name__},
        )
        raise
    page = Page(features=body, ids=list(ids), matched=matched, versions=list(versions))
    nav = links(request, offset=offset, limit=limit, returned=len(page.ids), matched=page.matched)
    return geojson(collection(page, extra={"links": nav}))
