"""Offline street tiles: PNG tiles drawn from any OSM .osm.pbf, cached on disk.

Field phones are often offline and these machines have no tile server, so every map carries its
own street tiles. They are images: they hold no coordinates (which keeps the public map's privacy
canary meaningful) and Leaflet loads only the visible ones, so first paint stays fast.

The cache is keyed by the pbf's SHA-256 and the renderer version: a changed extract gets new tiles.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.vocab import OSM_ATTRIBUTION

RENDER_VERSION = 3  # bump when the look of the tiles changes
STAMP = "tileset.json"
TILE = 256
SUPERSAMPLE = 2  # draw at 2x and shrink: PIL draws lines without anti-aliasing
BACKGROUND = (242, 239, 233)
PARK = (205, 235, 200)

# Street classes in drawing order (bottom first): colour and width in px per zoom (0 = skip).
_MAJOR = {"motorway", "trunk", "primary", "secondary"}
_MINOR = {"tertiary", "unclassified", "residential", "living_street", "road", "busway"}
_SERVICE = {"service"}
_PATHS = {"footway", "path", "pedestrian", "cycleway", "steps", "track", "bridleway", "corridor"}
_CLASSES: tuple[tuple[str, tuple[int, int, int], dict[int, float]], ...] = (
    ("rail", (150, 150, 150), {12: 0.7, 13: 1.0, 14: 1.2, 15: 1.5, 16: 2.0}),
    ("path", (200, 120, 110), {14: 0.8, 15: 1.1, 16: 1.6}),
    ("service", (255, 255, 255), {14: 1.2, 15: 2.0, 16: 3.0}),
    ("minor", (255, 255, 255), {11: 0.6, 12: 0.9, 13: 1.4, 14: 2.4, 15: 3.6, 16: 5.5}),
    ("major", (250, 200, 120), {11: 1.6, 12: 2.0, 13: 2.6, 14: 3.6, 15: 5.0, 16: 7.5}),
)
_CASING = (190, 185, 180)
_CASED = {"minor", "service", "major"}  # white streets need an edge to show on the background


@dataclass(frozen=True)
class TileSet:
    """Street tiles on disk: `directory/{z}/{x}/{y}.png` covering `bounds` at min…max zoom."""

    directory: Path
    bounds: tuple[float, float, float, float]  # lon/lat: west, south, east, north
    min_zoom: int
    max_zoom: int
    source_sha256: str
    tiles: int

    @property
    def leaflet_bounds(self) -> list[list[float]]:
        west, south, east, north = self.bounds
        return [[south, west], [north, east]]


@dataclass(frozen=True)
class StreetData:
    """Lines and park polygons as lon/lat arrays, with the class of each line."""

    lines: list[NDArray[np.float64]]  # each (n, 2) lon/lat
    classes: list[str]
    parks: list[NDArray[np.float64]]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _line_class(tags: osmium.osm.TagList) -> str | None:
    highway = tags.get("highway")
    if highway:
        base = highway.removesuffix("_link")
        if base in _MAJOR:
            return "major"
        if base in _MINOR:
            return "minor"
        if base in _SERVICE:
            return "service"
        if base in _PATHS:
            return "path"
        return None
    if tags.get("railway") in {"rail", "tram", "light_rail", "subway"}:
        return "rail"
    return None


def _is_park(tags: osmium.osm.TagList) -> bool:
    return (
        tags.get("leisure") in {"park", "garden", "playground"}
        or tags.get("landuse") in {"forest", "grass", "recreation_ground", "cemetery"}
        or tags.get("natural") in {"wood", "scrub"}
    )


def read_streets(pbf: Path) -> StreetData:
    """Streets, paths, railways and closed park ways of an OSM extract (pyosmium)."""
    if not pbf.is_file():
        msg = f"osm extract: file not found: {pbf}"
        raise GeoOutreachError(msg)
    lines: list[NDArray[np.float64]] = []
    classes: list[str] = []
    parks: list[NDArray[np.float64]] = []
    try:
        processor = osmium.FileProcessor(str(pbf)).with_locations()
        for obj in processor:
            if not isinstance(obj, osmium.osm.Way):
                continue
            cls = _line_class(obj.tags)
            park = cls is None and obj.is_closed() and _is_park(obj.tags)
            if cls is None and not park:
                continue
            coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            arr = np.asarray(coords, dtype=np.float64)
            if park:
                parks.append(arr)
            else:
                lines.append(arr)
                classes.append(cls or "minor")
    except RuntimeError as exc:
        msg = f"osm extract {pbf}: cannot be read as .osm.pbf ({exc})"
        raise GeoOutreachError(msg) from exc
    if not lines:
        msg = f"osm extract {pbf}: it holds no streets (highway=* ways)"
        raise GeoOutreachError(msg)
    return StreetData(lines=lines, classes=classes, parks=parks)


def _mercator(lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
    """lon/lat → Web Mercator in [0, 1] (x east, y south), as slippy tiles count."""
    lat = np.clip(lonlat[:, 1], -85.05112878, 85.05112878)
    x = (lonlat[:, 0] + 180.0) / 360.0
    y = (1.0 - np.log(np.tan(np.radians(lat)) + 1.0 / np.cos(np.radians(lat))) / math.pi) / 2.0
    return np.column_stack([x, y])


def _mercator_each(shapes: Sequence[NDArray[np.float64]]) -> list[NDArray[np.float64]]:
    """One vectorised projection for all shapes, split back per shape."""
    if not shapes:
        return []
    merc = _mercator(np.concatenate(shapes))
    cuts = np.cumsum([len(a) for a in shapes])[:-1]
    return list(np.split(merc, cuts))


def tile_range(bounds: tuple[float, float, float, float], zoom: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (inclusive) of the tiles covering lon/lat bounds at a zoom."""
    west, south, east, north = bounds
    corners = _mercator(np.array([[west, north], [east, south]], dtype=np.float64))
    n = 2**zoom
    x0, y0 = (np.floor(corners[0] * n)).astype(int)
    x1, y1 = (np.floor(corners[1] * n)).astype(int)
    return int(x0), int(y0), int(min(x1, n - 1)), int(min(y1, n - 1))


def _index(shapes: Sequence[NDArray[np.float64]], zoom: int) -> dict[tuple[int, int], list[int]]:
    """Which shapes touch which tile (by bounding box) at a zoom."""
    n = 2**zoom
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, merc in enumerate(shapes):
        lo = np.floor(merc.min(axis=0) * n).astype(int)
        hi = np.floor(merc.max(axis=0) * n).astype(int)
        for tx in range(lo[0], hi[0] + 1):
            for ty in range(lo[1], hi[1] + 1):
                buckets[(tx, ty)].append(i)
    return buckets


def _png(image: Image.Image) -> bytes:
    # A 2x2 box filter is enough for anti-aliasing and ~15x faster than Lanczos.
    small = image.reduce(SUPERSAMPLE)
    buf = io.BytesIO()
    small.quantize(colors=48, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG")
    return buf.getvalue()


def _joint(width: int) -> str | None:
    # Round joints only show (and only cost) on wide lines.
    return "curve" if width >= 6 else None


def render_tiles(
    data: StreetData, *, min_zoom: int, max_zoom: int
) -> Iterable[tuple[int, int, int, bytes]]:
    """(z, x, y, png) for every tile covering the data at min_zoom…max_zoom (pure)."""
    merc_lines = _mercator_each(data.lines)
    merc_parks = _mercator_each(data.parks)
    bounds = data_bounds(data)
    for zoom in range(min_zoom, max_zoom + 1):
        scale = TILE * SUPERSAMPLE * 2**zoom
        line_index = _index(merc_lines, zoom)
        park_index = _index(merc_parks, zoom) if zoom >= 13 else {}
        widths = {name: w.get(zoom, 0.0) for name, _, w in _CLASSES}
        x0, y0, x1, y1 = tile_range(bounds, zoom)
        empty: bytes | None = None
        for tx in range(x0, x1 + 1):
            for ty in range(y0, y1 + 1):
                on_tile = line_index.get((tx, ty), [])
                parks_on_tile = park_index.get((tx, ty), [])
                if not on_tile and not parks_on_tile:
                    if empty is None:
                        empty = _png(Image.new("RGB", (TILE * SUPERSAMPLE,) * 2, BACKGROUND))
                    yield zoom, tx, ty, empty
                    continue
                origin = np.array([tx, ty], dtype=np.float64) * TILE * SUPERSAMPLE
                image = Image.new("RGB", (TILE * SUPERSAMPLE,) * 2, BACKGROUND)
                draw = ImageDraw.Draw(image)
                for i in parks_on_tile:
                    pts = merc_parks[i] * scale - origin
                    if len(pts) >= 3:
                        draw.polygon(pts.ravel().tolist(), fill=PARK)
                by_class: dict[str, list[list[float]]] = defaultdict(list)
                for i in on_tile:
                    cls = data.classes[i]
                    if widths[cls] <= 0:
                        continue
                    pts = merc_lines[i] * scale - origin
                    by_class[cls].append(pts.ravel().tolist())
                for name, colour, _ in _CLASSES:
                    width = widths[name] * SUPERSAMPLE
                    if name in _CASED and zoom >= 13:
                        casing = max(1, round(width + 2 * SUPERSAMPLE))
                        for pts_list in by_class.get(name, []):
                            draw.line(pts_list, fill=_CASING, width=casing, joint=_joint(casing))
                    for pts_list in by_class.get(name, []):
                        w = max(1, round(width))
                        draw.line(pts_list, fill=colour, width=w, joint=_joint(w))
                yield zoom, tx, ty, _png(image)


def data_bounds(data: StreetData) -> tuple[float, float, float, float]:
    stacked = np.concatenate(data.lines)
    west, south = stacked.min(axis=0)
    east, north = stacked.max(axis=0)
    return float(west), float(south), float(east), float(north)


def _read_stamp(directory: Path) -> dict[str, object] | None:
    try:
        stamp = json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _tileset(directory: Path, stamp: dict[str, object]) -> TileSet:
    b = stamp["bounds"]
    assert isinstance(b, list)
    return TileSet(
        directory=directory,
        bounds=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
        min_zoom=int(str(stamp["min_zoom"])),
        max_zoom=int(str(stamp["max_zoom"])),
        source_sha256=str(stamp["source_sha256"]),
        tiles=int(str(stamp["tiles"])),
    )


def ensure_tiles(pbf: Path, cache_dir: Path, *, min_zoom: int = 11, max_zoom: int = 16) -> TileSet:
    """Street tiles for `pbf` under cache_dir, drawn only when the pbf (or renderer) changed."""
    if not 0 <= min_zoom <= max_zoom <= 19:
        msg = f"zoom: need 0 <= min_zoom <= max_zoom <= 19, got {min_zoom}..{max_zoom}"
        raise GeoOutreachError(msg)
    sha = file_sha256(pbf) if pbf.is_file() else ""
    if not sha:
        msg = f"osm extract: file not found: {pbf}"
        raise GeoOutreachError(msg)
    key = f"streets-{sha[:16]}-r{RENDER_VERSION}-z{min_zoom}-{max_zoom}"
    target = cache_dir / key
    stamp = _read_stamp(target)
    if stamp is not None and stamp.get("source_sha256") == sha:
        return _tileset(target, stamp)
    data = read_streets(pbf)
    building = cache_dir / f".{key}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    count = 0
    for z, x, y, png in render_tiles(data, min_zoom=min_zoom, max_zoom=max_zoom):
        path = building / str(z) / str(x) / f"{y}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        count += 1
    stamp = {
        "source": pbf.name,
        "source_sha256": sha,
        "render_version": RENDER_VERSION,
        "bounds": list(data_bounds(data)),
        "min_zoom": min_zoom,
        "max_zoom": max_zoom,
        "tiles": count,
        "attribution": OSM_ATTRIBUTION,
    }
    (building / STAMP).write_text(json.dumps(stamp, indent=1))
    # Older tiles of this extract's predecessors are useless now.
    for old in cache_dir.glob("streets-*"):
        if old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return _tileset(target, stamp)


def install_tiles(tiles: TileSet, out_dir: Path) -> Path:
    """Put the tiles beside the maps (out_dir/tiles), so the folder works on its own offline."""
    dest = out_dir / "tiles"
    current = _read_stamp(dest)
    if current is not None and current.get("source_sha256") == tiles.source_sha256:
        stamp_now = _read_stamp(tiles.directory)
        if stamp_now == current:
            return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(tiles.directory, dest, copy_function=os.link)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(tiles.directory, dest)
    return dest
