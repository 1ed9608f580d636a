"""The readable layers, once, for the GeoJSON routes, OGC API Features and exports: which table,
which policy resource guards it, which rows a role may see (object rules) and which fields."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.deps import Ctx
from api.geojson import check_limit, collection, geojson, links, parse_bbox
from geo_outreach.core import policy
from geo_outreach.core.errors import NotFound
from layers import features
from layers.features import Cond


def _facility_rows(ctx: Ctx) -> list[Cond]:
    if ctx.principal.role in policy.SEES_CONFIDENTIAL:
        return []
    return [Cond("NOT t.confidential")]


def _public_rows(ctx: Ctx) -> list[Cond]:
    return [Cond("t.public AND NOT t.confidential")]


def _patrol_rows(ctx: Ctx) -> list[Cond]:
    if ctx.principal.role in policy.STAFF:
        return []
    # A partner reads only a joint patrol it is assigned to, and only while it runs: the
    # planned route passes the sites, so it is shared exactly as the sites are (one rule).
    sql, params = policy.partner_patrols_sql(ctx.principal.user_id)
    return [Cond(sql, params)]


def _no_rows(ctx: Ctx) -> list[Cond]:
    return []


@dataclass(frozen=True)
class Collection:
    id: str
    table: str
    resource: str  # the policy resource that guards reading it
    title: str
    description: str
    rows: Callable[[Ctx], list[Cond]] = _no_rows
    fields_key: str | None = None  # policy.fields key when not the resource

    def fields(self, ctx: Ctx) -> tuple[str, ...]:
        return policy.fields(self.fields_key or self.resource, ctx.principal.role)


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "sleeping_sites",
            "sleeping_sites",
            "sleeping_sites",
            "Miejsca niemieszkalne / Sleeping sites",
            "Non-residential sleeping sites (GDPR Art. 9): outreach staff only, every read audited",
        ),
        Collection(
            "facilities",
            "facilities",
            "facilities",
            "Placówki / Facilities",
            "Help facilities with free beds; confidential ones only for outreach staff",
            rows=_facility_rows,
        ),
        Collection(
            "public_facilities",
            "facilities",
            "public",
            "Placówki publiczne / Public facilities",
            "Facilities published for everyone",
            rows=_public_rows,
            fields_key="public_facilities",
        ),
        Collection(
            "sos_bus_routes",
            "sos_bus_routes",
            "public",
            "Autobus SOS – trasa / SOS bus route",
            "The winter SOS bus route",
            fields_key="sos_bus_routes",
        ),
        Collection(
            "sos_bus_stops",
            "sos_bus_stops",
            "public",
            "Autobus SOS – przystanki / SOS bus stops",
            "Timed stops of the SOS bus",
            fields_key="sos_bus_stops",
        ),
        Collection(
            "areas",
            "areas",
            "areas",
            "Dzielnice i miasta / Districts and cities",
            "City boundaries and districts",
        ),
        Collection(
            "patrols",
            "patrols",
            "patrols",
            "Patrole / Patrols",
            "Patrols with their planned routes; partners see only their own",
            rows=_patrol_rows,
        ),
    )
}


def list_response(
    ctx: Ctx,
    coll: Collection,
    request: Request,
    *,
    bbox: str | None,
    limit: int,
    offset: int,
    conds: list[Cond] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    box = parse_bbox(bbox, settings=ctx.settings)
    check_limit(limit, settings=ctx.settings)
    where = [*coll.rows(ctx), *(conds or [])]
    if box:
        where.append(features.within(box, table=coll.table))
    with ctx.tx() as tx:
        page = features.page(
            tx.session, coll.table, fields=coll.fields(ctx), conds=where, limit=limit, offset=offset
        )
        tx.ids = page.ids
        tx.detail = {"returned": len(page.ids), "offset": offset, "bbox": box is not None}
    nav = links(request, offset=offset, limit=limit, returned=len(page.ids), matched=page.matched)
    return geojson(collection(page, extra={"links": nav, **(extra or {})}))


def item_response(ctx: Ctx, coll: Collection, object_id: uuid.UUID) -> Response:
    with ctx.tx(ids=[object_id]) as tx:
        found = features.one(
            tx.session, coll.table, object_id, fields=coll.fields(ctx), conds=coll.rows(ctx)
        )
        if found is None:
            msg = f"no {coll.id} feature {object_id}"
            raise NotFound(msg)
    body, version = found
    return geojson(body, etag=version)
