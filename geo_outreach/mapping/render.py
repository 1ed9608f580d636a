"""Writing the maps: gather data, ensure the offline street tiles, build, save into one folder.

The folder is self-contained (HTML, assets/, tiles/) and works from a phone with no network.
The builders stay pure; this module does the reading and the writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.plan import Plan
from geo_outreach.mapping import data as mapdata
from maps import common, live, planner, public, streets

KINDS = ("live", "planner", "public")


@dataclass
class Written:
    pages: dict[str, Path] = field(default_factory=dict)  # name → HTML file
    tiles: streets.TileSet | None = None


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
    if "live" in kinds:
        data = mapdata.live_data(session, actor=actor, role=role)
        path = out_dir / "live.html"
        common.save(live.build(data, now=now, streets=tiles), path)
        result.pages["live"] = path
    if "planner" in kinds and plan is not None:
        heat = mapdata.heat_points(session, actor=actor, role=role)
        path = out_dir / "planner.html"
        m = planner.build(
            plan, heat_points=heat, districts=mapdata.districts(session), streets=tiles
        )
        common.save(m, path)
        result.pages["planner"] = path
    if "public" in kinds:
        pdata = mapdata.public_data(session)
        for lang in public.LANGS:
            path = out_dir / public.FILE_NAMES[lang]
            common.save(public.build(pdata, now=now, streets=tiles, lang=lang), path)
            result.pages[f"public.{lang}"] = path
    return result
