"""The three maps, rendered in memory by the same entry point as the CLI's files
(`geo_outreach.mapping.render`), with their assets and street tiles.

Staff pages are built fresh per request (sites, visits, tonight's plan). The public pages are
kept until their data or clock changes and carry an ETag (304 on If-None-Match): anonymous load
costs one fingerprint query, not a render. The assets they name are static code
(content-addressed) and the tiles are drawn from OSM only, so both may be served to anyone.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.deps import ReadCtx, open_route, read_guard, street_tiles
from api.geojson import etag_matches
from geo_outreach.core.errors import NotFound
from geo_outreach.core.vocab import Lang
from geo_outreach.mapping import render
from geo_outreach.routing import planner
from maps import streets
from maps.assets import Page

router = APIRouter(prefix="/maps", tags=["maps"])
ASSET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
IfNoneMatch = Annotated[str | None, Header(include_in_schema=False)]


def _page(request: Request, page: Page, headers: dict[str, str] | None = None) -> HTMLResponse:
    store: dict[str, str] = request.app.state.__dict__.setdefault("map_assets", {})
    store.update(page.assets)
    return HTMLResponse(page.html, headers=headers or {"Cache-Control": "no-store"})


def _now() -> datetime:
    return datetime.now(planner.TZ)


@router.get("/live.html", response_class=HTMLResponse)
def map_live(request: Request, ctx: Annotated[ReadCtx, read_guard("maps_live")]) -> HTMLResponse:
    """The streetworkers' live site map (site reads are audited)."""
    with ctx.tx() as tx:
        data = render.gather(tx.session, "live", actor=ctx.actor, role=ctx.principal.role)
    tiles = street_tiles(request, ctx.settings)
    return _page(request, render.render_page(data, now=_now(), tiles=tiles))


@router.get("/planner.html", response_class=HTMLResponse)
def map_planner(
    request: Request, ctx: Annotated[ReadCtx, read_guard("maps_planner")]
) -> HTMLResponse:
    """Tonight's demo plan on the planner's map, with the H3 heat layer."""
    with ctx.tx() as tx:
        plan = planner.plan_tonight(
            tx.session, ctx.settings, actor=ctx.actor, role=ctx.principal.role
        )
        data = render.gather(
            tx.session, "planner", actor=ctx.actor, role=ctx.principal.role, plan=plan
        )
    tiles = street_tiles(request, ctx.settings)
    return _page(request, render.render_page(data, now=_now(), tiles=tiles))


def _public(request: Request, ctx: ReadCtx, lang: Lang, if_none_match: str | None) -> Response:
    tiles, now = street_tiles(request, ctx.settings), _now()
    if not ctx.settings.public_page_cache:  # the old path, kept for the benchmark's comparison
        with ctx.tx() as tx:
            return _page(
                request, render.render_uncached(tx.session, lang=lang, now=now, tiles=tiles)
            )
    pages: render.PublicPages = request.app.state.public_pages
    found = pages.get(ctx.read_engine(), lang=lang, now=now, tiles=tiles)  # public: no audit
    # Browsers may keep it but must ask again (a cheap 304) before showing it.
    headers = {"ETag": f'"{found.tag}"', "Cache-Control": "no-cache"}
    if etag_matches(if_none_match, found.tag):
        return Response(status_code=304, headers=headers)
    return _page(request, found.page, headers)


@router.get("/public.html", response_class=HTMLResponse)
def map_public(
    request: Request,
    ctx: Annotated[ReadCtx, read_guard("maps_public")],
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The public campaign map, in Polish: help points and the SOS bus, nothing else."""
    return _public(request, ctx, "pl", if_none_match)


@router.get("/public.en.html", response_class=HTMLResponse)
def map_public_en(
    request: Request,
    ctx: Annotated[ReadCtx, read_guard("maps_public")],
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The public campaign map, in English."""
    return _public(request, ctx, "en", if_none_match)


@router.get("/public.uk.html", response_class=HTMLResponse)
def map_public_uk(
    request: Request,
    ctx: Annotated[ReadCtx, read_guard("maps_public")],
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The public campaign map, in Ukrainian."""
    return _public(request, ctx, "uk", if_none_match)


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
