"""Read-only layers: areas and the public layer (patrols: api/routes/patrols.py)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.collections import COLLECTIONS, list_response
from api.deps import Ctx, ReadCtx, guard, read_guard
from api.geojson import (
    FEATURE_COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    geojson,
    geojson_responses,
    refuse,
)
from api.routes.sites import Bbox, Limit, Offset
from geo_outreach.core.vocab import AREA_KINDS
from geo_outreach.mapping import data as mapdata
from geo_outreach.routing import bus
from layers.features import eq

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


@router.get("/public/facilities", tags=["public"], responses=FC)
def public_facilities(
    request: Request,
    ctx: Annotated[ReadCtx, read_guard("public")],
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
    ctx: Annotated[ReadCtx, read_guard("public")],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The SOS bus route (for everyone)."""
    coll = COLLECTIONS["sos_bus_routes"]
    return list_response(ctx, coll, request, bbox=None, limit=limit, offset=offset)


@router.get("/public/sos-bus/stops", tags=["public"], responses=FC)
def public_sos_bus_stops(
    request: Request,
    ctx: Annotated[ReadCtx, read_guard("public")],
    bbox: Bbox = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The SOS bus stops with their times and `next_departure` (ISO time in Europe/Warsaw, or
    null), each evening of the yearly season (for everyone)."""
    coll = COLLECTIONS["sos_bus_stops"]
    listed = list_response(ctx, coll, request, bbox=bbox, limit=limit, offset=offset)
    with ctx.tx() as tx:
        now = bus_clock(ctx.settings.timezone)
        nexts = bus.departures(mapdata.bus_routes(tx.session), now=now)
    return _with_departures(listed, nexts)


def bus_clock(zone: str) -> datetime:
    """Now in the service's time zone (one function: tests set it to a winter evening)."""
    return datetime.now(ZoneInfo(zone))


def _with_departures(listed: Response, nexts: dict[uuid.UUID, datetime | None]) -> Response:
    body = json.loads(bytes(listed.body))
    for feature in body["features"]:
        at = nexts.get(uuid.UUID(feature["id"]))
        feature["properties"]["next_departure"] = at.isoformat() if at else None
    return geojson(json.dumps(body, ensure_ascii=False))
