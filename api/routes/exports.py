"""Exports of the layers a role may read, as GeoPackage, CSV, GPX or GeoJSON (audited).

The files are made by the one export engine (geo_outreach.io.exports) that the CLI uses too;
these routes only choose the rows and fields the caller's role may have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.collections import COLLECTIONS, Collection
from api.deps import Ctx, guard
from geo_outreach.core import policy
from geo_outreach.io import exports

router = APIRouter(prefix="/exports", tags=["exports"])
Format = Literal["geojson", "gpkg", "csv", "gpx"]
FormatQuery = Annotated[Format, Query(description="geojson | gpkg | csv | gpx")]
FILES: dict[int | str, dict[str, Any]] = {200: {"content": {m: {} for m in exports.MEDIA.values()}}}


def _download(done: exports.Exported) -> Response:
    disposition = f'attachment; filename="{done.filename}"'
    return Response(
        done.body, media_type=done.media_type, headers={"Content-Disposition": disposition}
    )


def _layer_export(coll: Collection) -> Callable[..., Response]:
    def export(
        ctx: Annotated[Ctx, guard(coll.resource, "export")], format: FormatQuery = "geojson"
    ) -> Response:
        with ctx.tx() as tx:
            tx.action = "export"
            done = exports.export(
                tx.session,
                coll.table,
                fmt=format,
                fields=coll.fields(ctx),
                conds=coll.rows(ctx),
                limit=ctx.settings.api_export_max,
                name=coll.id,
            )
            tx.ids = done.ids
            tx.detail = {"format": format, "features": len(done.ids)}
        return _download(done)

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
        responses=FILES,
    )


@router.get("/visits", response_class=Response, responses=FILES)
def export_visits(
    ctx: Annotated[Ctx, guard("visits", "export")],
    format: FormatQuery = "csv",
    include_sensitive: Annotated[
        bool, Query(description="include the visit notes (recorded in the audit log)")
    ] = False,
) -> Response:
    """Export the contact log; notes only on request. Visits have no geometry (no GPX)."""
    fields = tuple(
        f for f in policy.fields("visits", ctx.principal.role) if include_sensitive or f != "note"
    )
    with ctx.tx() as tx:
        tx.detail = {"format": format, "sensitive": include_sensitive}
        done = exports.export(
            tx.session, "visits", fmt=format, fields=fields, limit=ctx.settings.api_export_max
        )
        tx.ids = done.ids
        tx.detail["features"] = len(done.ids)
    return _download(done)
