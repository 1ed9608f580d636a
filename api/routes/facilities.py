"""Facilities: GeoJSON read and write (coordinators), and the evening free-beds update."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.collections import COLLECTIONS, item_response, list_response
from api.deps import Ctx, guard
from api.geojson import (
    FEATURE_COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    GEOJSON,
    geojson,
    geojson_responses,
    if_match,
    refuse,
)
from api.idempotency import Created, create_once, fingerprint
from api.routes.sites import Bbox, IdempotencyKey, IfMatch, Limit, Offset
from geo_outreach import policy
from geo_outreach.vocab import FACILITY_TYPES
from layers import features, writes
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


def _feature(ctx: Ctx, session: Session, facility_id: uuid.UUID) -> tuple[str, int | None]:
    found = features.one(session, FACILITIES.table, facility_id, fields=FACILITIES.fields(ctx))
    assert found is not None
    return found


@router.post("/facilities", status_code=201, responses=geojson_responses(FEATURE_SCHEMA))
def create_facility(
    feature: writes.FacilityFeatureIn,
    ctx: Annotated[Ctx, guard("facilities", "create")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add a facility from a GeoJSON Feature."""
    request_hash = fingerprint("POST", "/facilities", feature.model_dump_json())
    with ctx.tx() as tx:

        def make() -> Created:
            new_id = writes.create_facility(
                tx.session, feature, actor=ctx.actor, service_area=ctx.settings.service_area
            )
            body, version = _feature(ctx, tx.session, new_id)
            return Created(new_id, body, f"/facilities/{new_id}", version)

        return create_once(
            ctx, tx, key=idempotency_key, request_hash=request_hash, media_type=GEOJSON, create=make
        )


def _updated(
    ctx: Ctx,
    facility_id: uuid.UUID,
    change: writes.FacilityFeatureIn | writes.FacilityPatchIn,
    tag: str | None,
    *,
    partial: bool,
) -> Response:
    if isinstance(change, writes.FacilityPatchIn):
        props = change.properties.model_dump(exclude_unset=True) if change.properties else {}
    else:
        props = change.properties.model_dump()
    with ctx.tx(ids=[facility_id]) as tx:
        writes.update_facility(
            tx.session,
            facility_id,
            expected=if_match(tag),
            geometry=change.geometry,
            properties=props,
            partial=partial,
            actor=ctx.actor,
            service_area=ctx.settings.service_area,
        )
        body, version = _feature(ctx, tx.session, facility_id)
    return geojson(body, etag=version)


@router.put("/facilities/{facility_id}", responses=geojson_responses(FEATURE_SCHEMA))
def replace_facility(
    facility_id: uuid.UUID,
    feature: writes.FacilityFeatureIn,
    ctx: Annotated[Ctx, guard("facilities", "update")],
    if_match_header: IfMatch = None,
) -> Response:
    """Replace a facility (If-Match required)."""
    return _updated(ctx, facility_id, feature, if_match_header, partial=False)


@router.patch("/facilities/{facility_id}", responses=geojson_responses(FEATURE_SCHEMA))
def patch_facility(
    facility_id: uuid.UUID,
    change: writes.FacilityPatchIn,
    ctx: Annotated[Ctx, guard("facilities", "update")],
    if_match_header: IfMatch = None,
) -> Response:
    """Change some fields of a facility (If-Match required)."""
    return _updated(ctx, facility_id, change, if_match_header, partial=True)


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
