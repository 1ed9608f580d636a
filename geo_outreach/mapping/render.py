"""The one way a map page is made, for the CLI and the API: gather its data, render it in memory.

`gather` reads what a map shows (audited where sites or visits are read), `render_page` turns it
into one HTML page with its local assets, `write_maps` saves pages into a self-contained folder
(HTML, assets/, tiles/) that works from a phone with no network, and `PublicPages` keeps the
public map's pages until the data or the clock they show changes. The builders stay pure.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.plan import Plan
from geo_outreach.core.vocab import Lang
from geo_outreach.mapping import data as mapdata
from maps import assets, common, live, planner, public, streets
from maps.assets import Page
from maps.model import District, LiveData, PublicData

Kind = Literal["live", "planner", "public"]
KINDS: tuple[Kind, ...] = ("live", "planner", "public")


@dataclass(frozen=True)
class PlannerData:
    """What the planner's map shows: a plan, the aggregated heat of occupied sites, districts."""

    plan: Plan
    heat: list[tuple[float, float, int]]
    districts: list[District]


MapData = LiveData | PlannerData | PublicData


@dataclass
class Written:
    pages: dict[str, Path] = field(default_factory=dict)  # name → HTML file
    tiles: streets.TileSet | None = None


def gather(
    session: Session, kind: Kind, *, actor: str, role: str, plan: Plan | None = None
) -> MapData:
    """The data one kind of map shows; reading sites (live, planner) writes audit rows."""
    if kind == "live":
        return mapdata.live_data(session, actor=actor, role=role)
    if kind == "planner":
        if plan is None:
            msg = "map planner: no plan given (the route planner produces one)"
            raise GeoOutreachError(msg)
        heat = mapdata.heat_points(session, actor=actor, role=role)
        return PlannerData(plan=plan, heat=heat, districts=mapdata.districts(session))
    if kind == "public":
        return mapdata.public_data(session)
    msg = f"map: unknown kind {kind!r}; choose from {', '.join(KINDS)}"
    raise GeoOutreachError(msg)


def render_page(
    data: MapData, *, now: datetime, tiles: streets.TileSet | None, lang: Lang = "pl"
) -> Page:
    """One map page in memory (HTML and the assets it names), chosen by the kind of data."""
    if isinstance(data, LiveData):
        m = live.build(data, now=now, streets=tiles, lang=lang)
    elif isinstance(data, PlannerData):
        m = planner.build(
            data.plan, heat_points=data.heat, districts=data.districts, streets=tiles, lang=lang
        )
    else:
        m = public.build(data, now=now, streets=tiles, lang=lang)
    return common.render(m)


def _file_names(kind: Kind) -> dict[str, tuple[str, Lang]]:
    """Page name → (file name, language); the public map is written in every language."""
    if kind == "public":
        return {f"public.{lang}": (public.FILE_NAMES[lang], lang) for lang in public.LANGS}
    return {kind: (f"{kind}.html", "pl")}


def write_maps(
    session: Session,
    *,
    kinds: tuple[str, ...],
    out_dir: Path,
    osm: Path,
    cache_dir: Path,
    now: datetime,
    actor: str,
    role: str = "cli",
    plan: Plan | None = None,
) -> Written:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        msg = f"map: unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}"
        raise GeoOutreachError(msg)
    if "planner" in kinds and plan is None:
        msg = "map planner: no plan given (the route planner produces one)"
        raise GeoOutreachError(msg)
    tiles = streets.ensure_tiles(osm, cache_dir)
    streets.install_tiles(tiles, out_dir)
    result = Written(tiles=tiles)
    for kind in KINDS:
        if kind not in kinds:
            continue
        data = gather(session, kind, actor=actor, role=role, plan=plan)
        for name, (file_name, lang) in _file_names(kind).items():
            path = out_dir / file_name
            assets.write(render_page(data, now=now, tiles=tiles, lang=lang), path)
            result.pages[name] = path
    return result


# -- the public map, kept while what it shows is unchanged ----------------------------------


def clock_key(data: PublicData, now: datetime) -> tuple[object, ...]:
    """Everything the public page derives from the clock: the day ("today"/"tomorrow"), each
    stop's next departure and each place's open state. Two instants with the same key give
    the same page, so a page is rebuilt only when one of these moves."""
    departures = tuple(
        common.next_departure(route, stop, now) for route in data.routes for stop in route.stops
    )
    opened = tuple(common.facility_open_now(f, now) for f in data.facilities)
    return (now.date(), departures, opened)


@dataclass(frozen=True)
class CachedPage:
    page: Page
    tag: str  # changes exactly when the page's content may change (an ETag for the API)


@dataclass
class _Entry:
    version: str
    data: PublicData
    pages: dict[tuple[Lang, tuple[object, ...]], CachedPage] = field(default_factory=dict)


class PublicPages:
    """The public map's pages per language, rebuilt only when the public data (facilities, free
    beds, SOS bus routes and stops: `mapdata.public_version`) or the clock key changes."""

    def __init__(self) -> None:
        self._entry: _Entry | None = None
        # One builder at a time: a burst of requests after a change renders each page once.
        self._lock = threading.Lock()

    def get(
        self, engine: Engine, *, lang: Lang, now: datetime, tiles: streets.TileSet | None
    ) -> CachedPage:
        # Autocommit: the check is one round trip (no BEGIN/COMMIT). Data read after the
        # version is at least as new; if newer, the next check sees a new version and rebuilds.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            version = mapdata.public_version(conn)
            entry = self._entry
            if entry is None or entry.version != version:
                with Session(bind=conn) as session:
                    entry = _Entry(version=version, data=mapdata.public_data(session))
        key = (lang, clock_key(entry.data, now))
        found = entry.pages.get(key)
        if found is not None and entry is self._entry:
            return found
        with self._lock:
            if self._entry is not None and self._entry.version == version:
                entry = self._entry
            found = entry.pages.get(key)
            if found is None:
                found = CachedPage(
                    page=render_page(entry.data, now=now, tiles=tiles, lang=lang),
                    tag=_tag(version, lang, key[1]),
                )
                # Pages of an older clock key are dropped: only the current ones are asked for.
                entry.pages = {k: v for k, v in entry.pages.items() if k[1] == key[1]}
                entry.pages[key] = found
            self._entry = entry
        return found


def _tag(version: str, lang: Lang, clock: tuple[object, ...]) -> str:
    text = f"{version}|{lang}|{clock!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def render_uncached(
    session: Session, *, lang: Lang, now: datetime, tiles: streets.TileSet | None
) -> Page:
    """Today's page built from scratch (for comparisons and when caching is switched off)."""
    return render_page(mapdata.public_data(session), now=now, tiles=tiles, lang=lang)
