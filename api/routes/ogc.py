"""OGC API – Features (Part 1: core, GeoJSON) over the same collections, guards and audit as
the GeoJSON routes, so QGIS and GDAL (OAPIF driver) open the layers a role may read."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.collections import COLLECTIONS, Collection, item_response, list_response
from api.deps import Ctx, PrincipalDep, ReadCtx, guard, open_route, read_guard
from api.geojson import (
    FEATURE_COLLECTION_SCHEMA,
    FEATURE_SCHEMA,
    GEOJSON,
    geojson_responses,
    public_url,
)
from geo_outreach.core import policy
from geo_outreach.core.settings import Settings

router = APIRouter(prefix="/ogc", tags=["OGC API Features"])
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
JSON = "application/json"


def _base(request: Request) -> str:
    return str(public_url(request, "/ogc"))


def _describe(coll: Collection, base: str, settings: Settings) -> dict[str, Any]:
    href = f"{base}/collections/{coll.id}"
    return {
        "id": coll.id,
        "title": coll.title,
        "description": coll.description,
        "itemType": "feature",
        "crs": [CRS84],
        # The service area, not the data's extent: an extent would itself say where sites are.
        "extent": {"spatial": {"bbox": [list(settings.service_area)], "crs": CRS84}},
        "links": [
            {"rel": "self", "type": JSON, "href": href},
            {"rel": "items", "type": GEOJSON, "href": f"{href}/items"},
        ],
    }


@router.get("", dependencies=[open_route()])
def landing(request: Request) -> dict[str, Any]:
    """The landing page: where the API description, conformance and collections are."""
    base = _base(request)
    root = str(public_url(request, ""))
    return {
        "title": "geo-outreach – OGC API Features",
        "description": "Layers of geo-outreach; sign in for more than the public layer.",
        "links": [
            {"rel": "self", "type": JSON, "href": base},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.1",
                "href": f"{root}/openapi.json",
            },
            {"rel": "service-doc", "type": "text/html", "href": f"{root}/docs"},
            {"rel": "conformance", "type": JSON, "href": f"{base}/conformance"},
            {"rel": "data", "type": JSON, "href": f"{base}/collections"},
        ],
    }


@router.get("/conformance", dependencies=[open_route()])
def conformance() -> dict[str, list[str]]:
    """The conformance classes this implementation follows."""
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", dependencies=[open_route()])
def collections(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """The collections the caller's role may read (the public sees only the public layer)."""
    settings: Settings = request.app.state.settings
    base = _base(request)
    visible = [
        _describe(c, base, settings)
        for c in COLLECTIONS.values()
        if policy.allowed(principal.role, c.resource, "read")
    ]
    return {
        "links": [{"rel": "self", "type": JSON, "href": f"{base}/collections"}],
        "collections": visible,
    }


def _collection_route(coll: Collection) -> Callable[..., dict[str, Any]]:
    def describe(
        request: Request, ctx: Annotated[Ctx, guard(coll.resource, "read")]
    ) -> dict[str, Any]:
        return _describe(coll, _base(request), ctx.settings)

    describe.__doc__ = f"About the collection {coll.id}."
    # The guard depends on the loop's collection: give FastAPI the object, not a string.
    describe.__annotations__["ctx"] = Annotated[Ctx, guard(coll.resource, "read")]
    return describe


def _items_route(coll: Collection) -> Callable[..., Response]:
    def items(
        request: Request,
        ctx: Annotated[ReadCtx, read_guard(coll.resource)],
        bbox: Annotated[
            str | None, Query(description="minLon,minLat,maxLon,maxLat (CRS84)", max_length=200)
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        f: Annotated[
            str | None, Query(description="json (the only encoding)", max_length=20)
        ] = None,
    ) -> Response:
        # OGC: a limit above the maximum is lowered to it rather than refused.
        limit = min(limit, ctx.settings.api_page_max)
        base = f"{_base(request)}/collections/{coll.id}"
        return list_response(
            ctx,
            coll,
            request,
            bbox=bbox,
            limit=limit,
            offset=offset,
            extra={"collection": base},
        )

    items.__doc__ = f"Features of {coll.id} (GeoJSON, paged with limit/offset)."
    # The guard depends on the loop's collection: give FastAPI the object, not a string.
    # Read on the replica when there is one (issue 16); audit rows on the primary.
    items.__annotations__["ctx"] = Annotated[ReadCtx, read_guard(coll.resource)]
    return items


def _item_route(coll: Collection) -> Callable[..., Response]:
    def item(feature_id: uuid.UUID, ctx: Annotated[ReadCtx, read_guard(coll.resource)]) -> Response:
        return item_response(ctx, coll, feature_id)

    item.__doc__ = f"One feature of {coll.id}."
    # The guard depends on the loop's collection: give FastAPI the object, not a string.
    item.__annotations__["ctx"] = Annotated[ReadCtx, read_guard(coll.resource)]
    return item


for _coll in COLLECTIONS.values():
    router.add_api_route(
        f"/collections/{_coll.id}",
        _collection_route(_coll),
        methods=["GET"],
        name=f"ogc_collection_{_coll.id}",
    )
    router.add_api_route(
        f"/collections/{_coll.id}/items",
        _items_route(_coll),
        methods=["GET"],
        name=f"ogc_items_{_coll.id}",
        response_class=Response,
        responses=geojson_responses(FEATURE_COLLECTION_SCHEMA),
    )
    router.add_api_route(
        f"/collections/{_coll.id}/items/{{feature_id}}",
        _item_route(_coll),
        methods=["GET"],
        name=f"ogc_item_{_coll.id}",
        response_class=Response,
        responses=geojson_responses(FEATURE_SCHEMA),
    )
