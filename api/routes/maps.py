"""The three maps, rendered in memory per request, with their assets and street tiles.

Pages are built fresh (free beds, open now, next bus); the assets they name are static code
(content-addressed) and the tiles are drawn from OSM only, so both may be served to anyone.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.deps import Ctx, guard, open_route
from geo_outreach.core.errors import NotFound
from geo_outreach.core.settings import Settings
from geo_outreach.core.vocab import Lang
from geo_outreach.mapping import data as mapdata
from geo_outreach.routing import planner
from maps import common, live, public, streets
from maps import planner as planner_map
from maps.assets import Page

router = APIRouter(prefix="/maps", tags=["maps"])
ASSET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def _tiles(request: Request, settings: Settings) -> streets.TileSet:
    tiles: streets.TileSet | None = getattr(request.app.state, "map_tiles", None)
    if tiles is None:
        tiles = streets.ensure_tiles(settings.pbf, settings.cache_dir)
        request.app.state.map_tiles = tiles
    return tiles


def _page(request: Request, page: Page) -> HTMLResponse:
    store: dict[str, str] = request.app.state.__dict__.setdefault("map_assets", {})
    store.update(page.assets)
    return HTMLResponse(page.html, headers={"Cache-Control": "no-store"})


def _now(settings: Settings) -> datetime:
    return datetime.now(planner.TZ)


@router.get("/live.html", response_class=HTMLResponse)
def map_live(request: Request, ctx: Annotated[Ctx, guard("maps_live", "read")]) -> HTMLResponse:
    """The streetworkers' live site map (site reads are audited)."""
    with ctx.tx() as tx:
        data = mapdata.live_data(tx.session, actor=ctx.actor, role=ctx.principal.role)
    m = live.build(data, now=_now(ctx.settings), streets=_tiles(request, ctx.settings))
    return _page(request, common.render(m))


@router.get("/planner.html", response_class=HTMLResponse)
def map_planner(
    request: Request, ctx: Annotated[Ctx, guard("maps_planner", "read")]
) -> HTMLResponse:
    """Tonight's demo plan on the planner's map, with the H3 heat layer."""
    with ctx.tx() as tx:
        plan = planner.plan_tonight(tx.session, ctx.settings, actor=ctx.actor)
        heat = mapdata.heat_points(tx.session, actor=ctx.actor, role=ctx.principal.role)
        districts = mapdata.districts(tx.session)
    m = planner_map.build(
        plan, heat_points=heat, districts=districts, streets=_tiles(request, ctx.settings)
    )
    return _page(request, common.render(m))


def _public(request: Request, ctx: Ctx, lang: Lang) -> HTMLResponse:
    with ctx.tx() as tx:
        data = mapdata.public_data(tx.session)
    m = public.build(data, now=_now(ctx.settings), streets=_tiles(request, ctx.settings), lang=lang)
    return _page(request, common.render(m))


@router.get("/public.html", response_class=HTMLResponse)
def map_public(request: Request, ctx: Annotated[Ctx, guard("maps_public", "read")]) -> HTMLResponse:
    """The public campaign map, in Polish: help points and the SOS bus, nothing else."""
    return _public(request, ctx, "pl")


@router.get("/public.en.html", response_class=HTMLResponse)
def map_public_en(
    request: Request, ctx: Annotated[Ctx, guard("maps_public", "read")]
) -> HTMLResponse:
    """The public campaign map, in English."""
    return _public(request, ctx, "en")


@router.get("/public.uk.html", response_class=HTMLResponse)
def map_public_uk(
    request: Request, ctx: Annotated[Ctx, guard("maps_public", "read")]
) -> HTMLResponse:
    """The public campaign map, in Ukrainian."""
    return _public(request, ctx, "uk")


@router.get("/assets/{name}", include_in_schema=False, dependencies=[open_route()])
def map_asset(request: Request, name: str) -> Response:
    store: dict[str, str] = request.app.state.__dict__.get("map_assets", {})
    if not ASSET_NAME.match(name) or name not in store:
        msg = f"no map asset '{name}' (open a map page first)"
        raise NotFound(msg)
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return Response(
        store[name],
        media_type=kind,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.get("/tiles/{z}/{x}/{y}.png", include_in_schema=False, dependencies=[open_route()])
def map_tile(request: Request, z: int, x: int, y: int) -> FileResponse:
    tiles: streets.TileSet | None = getattr(request.app.state, "map_tiles", None)
    path = None if tiles is None else Path(tiles.directory) / str(z) / str(x) / f"{y}.png"
    if path is None or not path.is_file():
        msg = f"no street tile {z}/{x}/{y}"
        raise NotFound(msg)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "max-age=86400"})
