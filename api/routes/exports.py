"""Exports of the layers a role may read, as GeoPackage, CSV, GPX or GeoJSON (audited)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api import exports
from api.collections import COLLECTIONS, Collection
from api.deps import Ctx, guard
from api.errors import ContentNotAcceptable
from api.geojson import collection
from geo_outreach.core import policy
from layers import features

router = APIRouter(prefix="/exports", tags=["exports"])
Format = Literal["geojson", "gpkg", "csv", "gpx"]
FormatQuery = Annotated[Format, Query(description="geojson | gpkg | csv | gpx")]
SUFFIX = {"geojson": "geojson", "gpkg": "gpkg", "csv": "csv", "gpx": "gpx"}


def _file(ctx: Ctx, layer: str, page: features.Page, fmt: Format) -> Response:
    feats = json.loads(page.features)
    if fmt == "geojson":
        body = collection(page).encode("utf-8")
    elif fmt == "gpkg":
        body = exports.gpkg(exports.frame(feats), layer=layer)
    elif fmt == "csv":
        body = exports.csv(exports.frame(feats))
    else:
        body = exports.gpx(feats, name=layer)
    disposition = f'attachment; filename="{layer}.{SUFFIX[fmt]}"'
    return Response(
        body, media_type=exports.MEDIA[fmt], headers={"Content-Disposition": disposition}
    )


def _layer_export(coll: Collection) -> Callable[..., Response]:
    def export(
        ctx: Annotated[Ctx, guard(coll.resource, "export")], format: FormatQuery = "geojson"
    ) -> Response:
        with ctx.tx() as tx:
            page = features.page(
                tx.session,
                coll.table,
                fields=coll.fields(ctx),
                conds=coll.rows(ctx),
                limit=ctx.settings.api_export_max,
                count=False,
            )
            tx.ids = page.ids
            tx.detail = {"format": format, "features": len(page.ids)}
            tx.action = "export"
        return _file(ctx, coll.id, page, format)

    export.__doc__ = f"Export {coll.title} (GeoPackage, CSV, GPX or GeoJSON)."
    # The guard depends on the loop's collection: give FastAPI the object, not a string.
    export.__annotations__["ctx"] = Annotated[Ctx, guard(coll.resource, "export")]
    return export


for _coll in COLLECTIONS.values():
    router.add_api_route(
        f"/{_coll.id}",
        _layer_export(_coll),
        methods=["GET"],
        name=f"export_{_coll.id}",
        response_class=Response,
        responses={200: {"content": {m: {} for m in exports.MEDIA.values()}}},
    )


@router.get(
    "/visits",
    response_class=Response,
    responses={200: {"content": {m: {} for m in exports.MEDIA.values()}}},
)
def export_visits(
    ctx: Annotated[Ctx, guard("visits", "export")],
    format: FormatQuery = "csv",
    include_sensitive: Annotated[
        bool, Query(description="include the visit notes (recorded in the audit log)")
    ] = False,
) -> Response:
    """Export the contact log; notes only on request. Visits have no geometry (no GPX)."""
    if format == "gpx":
        msg = "format: visits have no geometry; use csv, gpkg or geojson"
        raise ContentNotAcceptable(msg)
    fields = tuple(
        f for f in policy.fields("visits", ctx.principal.role) if include_sensitive or f != "note"
    )
    with ctx.tx() as tx:
        page = features.page(
            tx.session, "visits", fields=fields, limit=ctx.settings.api_export_max, count=False
        )
        tx.ids = page.ids
        tx.detail = {"format": format, "features": len(page.ids), "sensitive": include_sensitive}
    return _file(ctx, "visits", page, format)
