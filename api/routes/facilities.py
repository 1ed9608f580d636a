"""Facilities: GeoJSON read and write (coordinators), and the evening free-beds update."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.collections import COLLECTIONS, item_response, list_response
from api.deps import Ctx, guard
from api.editing import create_response, update_response
from api.geojson import (
    FEATURE_COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    geojson,
    geojson_responses,
    if_match,
    refuse,
)
from api.routes.sites import Bbox, IdempotencyKey, IfMatch, Limit, Offset
from geo_outreach.core import policy
from geo_outreach.core.vocab import FACILITY_TYPES
from layers import facilities, features, writes
from layers.features import eq

router = APIRouter(tags=["facilities"])
FACILITIES = COLLECTIONS["facilities"]


@router.get("/facilities", responses=geojson_responses(FEATURE_COLLECTION_SCHEMA))
def list_facilities(
    request: Request,
    ctx: Annotated[Ctx, guard("facilities", "read")],
    bbox: Bbox = None,
    type: Annotated[str | None, Query(max_length=60)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Facilities (confidential ones only for outreach staff and admins)."""
    conds = []
    if type is not None:
        if type not in FACILITY_TYPES:
            raise refuse("type", f"'{type}' is not one of: {', '.join(FACILITY_TYPES)}")
        conds.append(eq("type", type, table=FACILITIES.table))
    return list_response(
        ctx, FACILITIES, request, bbox=bbox, limit=limit, offset=offset, conds=conds
    )


@router.get("/facilities/{facility_id}", responses=geojson_responses(FEATURE_SCHEMA))
def get_facility(
    facility_id: uuid.UUID, ctx: Annotated[Ctx, guard("facilities", "read")]
) -> Response:
    """One facility as a GeoJSON Feature, with its version as ETag."""
    return item_response(ctx, FACILITIES, facility_id)


@router.post("/facilities", status_code=201, responses=geojson_responses(FEATURE_SCHEMA))
def create_facility(
    feature: writes.FacilityFeatureIn,
    ctx: Annotated[Ctx, guard("facilities", "create")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add a facility from a GeoJSON Feature."""
    return create_response(
        ctx, FACILITIES, writes.FACILITIES, feature, path="/facilities", key=idempotency_key
    )


@router.put("/facilities/{facility_id}", responses=geojson_responses(FEATURE_SCHEMA))
def replace_facility(
    facility_id: uuid.UUID,
    feature: writes.FacilityFeatureIn,
    ctx: Annotated[Ctx, guard("facilities", "update")],
    if_match_header: IfMatch = None,
) -> Response:
    """Replace a facility (If-Match required)."""
    return update_response(
        ctx, FACILITIES, writes.FACILITIES, facility_id, feature, if_match_header, partial=False
    )


@router.patch("/facilities/{facility_id}", responses=geojson_responses(FEATURE_SCHEMA))
def patch_facility(
    facility_id: uuid.UUID,
    change: writes.FacilityPatchIn,
    ctx: Annotated[Ctx, guard("facilities", "update")],
    if_match_header: IfMatch = None,
) -> Response:
    """Change some fields of a facility (If-Match required)."""
    return update_response(
        ctx, FACILITIES, writes.FACILITIES, facility_id, change, if_match_header, partial=True
    )


@router.put("/facilities/{facility_id}/free-beds", responses=geojson_responses(FEATURE_SCHEMA))
def set_free_beds(
    facility_id: uuid.UUID,
    change: writes.FreeBedsIn,
    ctx: Annotated[Ctx, guard("free_beds", "update")],
    if_match_header: IfMatch = None,
) -> Response:
    """Tonight's free beds (If-Match required; at most the capacity)."""
    with ctx.tx(ids=[facility_id]) as tx:
        writes.set_free_beds(
            tx.session,
            facility_id,
            expected=if_match(if_match_header),
            free_beds=change.free_beds,
            actor=ctx.actor,
            include_confidential=ctx.principal.role in policy.SEES_CONFIDENTIAL,
        )
        found = features.one(
            tx.session,
            FACILITIES.table,
            facility_id,
            fields=policy.fields("facilities", ctx.principal.role),
        )
        assert found is not None
    return geojson(found[0], etag=found[1])


@router.get("/facilities/{facility_id}/free-beds")
def free_beds_history(
    facility_id: uuid.UUID, ctx: Annotated[Ctx, guard("facilities", "read")]
) -> list[dict[str, Any]]:
    """The facility's free-beds reports, newest first: [{free_beds, at, by}]."""
    with ctx.tx(ids=[facility_id]) as tx:
        return facilities.free_beds_history(
            tx.session,
            facility_id,
            include_confidential=ctx.principal.role in policy.SEES_CONFIDENTIAL,
        )
