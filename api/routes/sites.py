"""Sleeping sites: GeoJSON read and write, with ETag / If-Match and Idempotency-Key."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from api import fieldsync
from api.collections import COLLECTIONS, item_response
from api.deps import Ctx, guard
from api.editing import create_response, update_response
from api.fastread import audited_list
from api.geojson import (
    FEATURE_COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    geojson_responses,
    refuse,
)
from geo_outreach.core.vocab import SITE_CATEGORIES, SITE_STATUSES
from layers import writes
from layers.features import eq

router = APIRouter(tags=["sleeping sites"])
SITES = COLLECTIONS["sleeping_sites"]
Limit = Annotated[int, Query(ge=1, le=100_000, description="page size (hard cap in settings)")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Bbox = Annotated[
    str | None, Query(description="minLon,minLat,maxLon,maxLat in WGS 84", max_length=200)
]
IdempotencyKey = Annotated[
    str | None, Header(description="repeat a POST safely: the same key returns the first result")
]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description='the ETag you read, e.g. "3" (required)')
]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="* to add a new site under this id (field app)"),
]


@router.get("/sites", responses=geojson_responses(FEATURE_COLLECTION_SCHEMA))
async def list_sites(
    request: Request,
    ctx: Annotated[Ctx, guard("sleeping_sites", "read")],
    bbox: Bbox = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    district: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Sleeping sites as a GeoJSON FeatureCollection (audited; outreach staff only)."""
    conds = []
    if status is not None:
        if status not in SITE_STATUSES:
            raise refuse("status", f"'{status}' is not one of: {', '.join(SITE_STATUSES)}")
        conds.append(eq("status", status, table=SITES.table))
    if category is not None:
        if category not in SITE_CATEGORIES:
            raise refuse("category", f"'{category}' is not one of: {', '.join(SITE_CATEGORIES)}")
        conds.append(eq("category", category, table=SITES.table))
    if district is not None:
        if "\x00" in district:  # PostgreSQL text cannot hold it: say so, naming the field
            raise refuse("district", "contains a NUL character")
        conds.append(eq("district", district, table=SITES.table))
    return await audited_list(
        ctx, SITES, request, bbox=bbox, limit=limit, offset=offset, conds=conds
    )


@router.get("/sites/{site_id}", responses=geojson_responses(FEATURE_SCHEMA))
def get_site(site_id: uuid.UUID, ctx: Annotated[Ctx, guard("sleeping_sites", "read")]) -> Response:
    """One site as a GeoJSON Feature; its ETag is the version to send back in If-Match."""
    return item_response(ctx, SITES, site_id)


@router.post("/sites", status_code=201, responses=geojson_responses(FEATURE_SCHEMA))
def create_site(
    feature: writes.SiteFeatureIn,
    ctx: Annotated[Ctx, guard("sleeping_sites", "create")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add a site from a GeoJSON Feature (Point in lon/lat inside the service area)."""
    return create_response(ctx, SITES, writes.SITES, feature, path="/sites", key=idempotency_key)


@router.put("/sites/{site_id}", responses=geojson_responses(FEATURE_SCHEMA))
def replace_site(
    site_id: uuid.UUID,
    feature: writes.SiteFeatureIn,
    ctx: Annotated[Ctx, guard("sleeping_sites", "update")],
    if_match_header: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Replace a site; If-Match must carry the version read (412 with the current one if not).
    With `If-None-Match: *` instead, add a site under an id the phone made (stored once)."""
    if if_none_match is not None and if_none_match.strip() == "*" and if_match_header is None:
        return fieldsync.put_new_site(ctx, site_id, feature)
    return update_response(
        ctx, SITES, writes.SITES, site_id, feature, if_match_header, partial=False
    )


@router.patch("/sites/{site_id}", responses=geojson_responses(FEATURE_SCHEMA))
def patch_site(
    site_id: uuid.UUID,
    change: writes.SitePatchIn,
    ctx: Annotated[Ctx, guard("sleeping_sites", "update")],
    if_match_header: IfMatch = None,
) -> Response:
    """Change some properties and/or the geometry of a site (JSON merge of properties)."""
    return update_response(ctx, SITES, writes.SITES, site_id, change, if_match_header, partial=True)
