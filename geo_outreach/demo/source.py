"""Deterministic demonstration data built from real open data: outreach sites and the SOS bus.

No real data on where homeless people sleep exists publicly, and none must be invented about real
people. The demo sites are therefore derived from public OSM features (parks, platforms, tracks,
building entrances, ...), moved by a small random offset and always coded ``DEMO-nnnn``. The SOS
bus route follows the real transit streets between real stop positions. Pure functions: no
database, no network; the same inputs and seed always give the same output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import numpy as np
import osmium
import shapely
from numpy.typing import NDArray
from pyproj import Geod
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo_outreach.core.errors import GeoOutreachError

OSM_PBF: Final = Path("osm/gdansk-central.osm.pbf")
TRANSIT_STOPS: Final = Path("transit/trojmiasto-stops.geojson")
TRANSIT_STREETS: Final = Path("transit/trojmiasto-transit-streets.geojson")

# Fixed order (not the vocabulary dict's) so the output never depends on another module's edits.
CATEGORIES: Final = (
    "altana_dzialkowa",
    "pustostan",
    "klatka_schodowa",
    "piwnica",
    "dworzec_peron",
    "altana_smietnikowa",
    "kanal_cieplowniczy",
    "park_skwer",
    "las",
    "plaza",
    "namiot_szalas",
    "pojazd",
    "inne",
)
STATUSES: Final = ("active", "seasonal", "inactive", "closed")
HAZARDS: Final = (
    "fire",
    "carbon_monoxide",
    "cold_exposure",
    "flooding",
    "aggressive_dog",
    "structural_collapse",
    "needles",
    "traffic",
)

# Share of each category among the sites; a category the extract cannot fill passes its
# shortfall on to the others.
_CATEGORY_WEIGHTS: Final[dict[str, float]] = {
    "altana_dzialkowa": 0.08,
    "pustostan": 0.05,
    "klatka_schodowa": 0.07,
    "piwnica": 0.05,
    "dworzec_peron": 0.08,
    "altana_smietnikowa": 0.08,
    "kanal_cieplowniczy": 0.06,
    "park_skwer": 0.18,
    "las": 0.10,
    "plaza": 0.04,
    "namiot_szalas": 0.06,
    "pojazd": 0.07,
    "inne": 0.08,
}
_STATUS_P: Final = (0.60, 0.20, 0.15, 0.05)
_PEOPLE_P: Final = (0.40, 0.30, 0.13, 0.08, 0.05, 0.04)  # 1..6 people, skewed to 1-2

# Probability of each hazard per category; order follows HAZARDS.
_HAZARD_P: Final[dict[str, dict[str, float]]] = {
    "altana_dzialkowa": {
        "fire": 0.45,
        "carbon_monoxide": 0.25,
        "cold_exposure": 0.5,
        "aggressive_dog": 0.3,
        "structural_collapse": 0.15,
    },
    "pustostan": {
        "fire": 0.45,
        "cold_exposure": 0.4,
        "structural_collapse": 0.7,
        "needles": 0.35,
    },
    "klatka_schodowa": {"fire": 0.1, "cold_exposure": 0.15, "needles": 0.25},
    "piwnica": {
        "fire": 0.25,
        "carbon_monoxide": 0.15,
        "flooding": 0.35,
        "structural_collapse": 0.1,
        "needles": 0.3,
    },
    "dworzec_peron": {"cold_exposure": 0.4, "needles": 0.3, "traffic": 0.5},
    "altana_smietnikowa": {
        "fire": 0.35,
        "cold_exposure": 0.5,
        "aggressive_dog": 0.1,
        "needles": 0.2,
    },
    "kanal_cieplowniczy": {
        "fire": 0.4,
        "carbon_monoxide": 0.6,
        "flooding": 0.2,
        "structural_collapse": 0.25,
    },
    "park_skwer": {
        "cold_exposure": 0.7,
        "flooding": 0.1,
        "aggressive_dog": 0.25,
        "needles": 0.2,
    },
    "las": {"fire": 0.35, "cold_exposure": 0.75, "flooding": 0.15, "aggressive_dog": 0.2},
    "plaza": {"cold_exposure": 0.8, "flooding": 0.6},
    "namiot_szalas": {
        "fire": 0.55,
        "carbon_monoxide": 0.15,
        "cold_exposure": 0.7,
        "flooding": 0.3,
    },
    "pojazd": {"fire": 0.15, "carbon_monoxide": 0.45, "cold_exposure": 0.6, "traffic": 0.4},
    "inne": {"cold_exposure": 0.5, "flooding": 0.15, "needles": 0.2, "traffic": 0.4},
}

_ACCESS_NOTES: Final[dict[str, tuple[str, ...]]] = {
    "altana_dzialkowa": (
        "Wejście przez furtkę od alejki, bramę zamyka się po zmroku.",
        "Altana na końcu alejki, trzeba przejść przez ogródek.",
        "Teren ogrodzony, klucz do bramy ma zarząd ogrodów.",
    ),
    "pustostan": (
        "Wejście przez wybite okno od podwórza, schody niepewne.",
        "Budynek zabity deskami, wejście od tyłu.",
        "Teren nieoświetlony, gruz przy wejściu.",
    ),
    "klatka_schodowa": (
        "Domofon, wejście z mieszkańcami lub przez administratora.",
        "Drzwi często niedomknięte, miejsce pod schodami na parterze.",
        "Klatka zamykana na noc, kontakt z dozorcą.",
    ),
    "piwnica": (
        "Zejście do piwnicy od podwórza, brak oświetlenia.",
        "Okienko piwniczne od strony trawnika, wejście zamykane.",
        "Wejście przez drzwi gospodarcze, schody strome.",
    ),
    "dworzec_peron": (
        "Wejście od strony torów, teren nieoświetlony.",
        "Koniec peronu pod wiatą, monitoring dworca.",
        "Przejście podziemne na perony, po północy zamykane.",
    ),
    "altana_smietnikowa": (
        "Wiata przy wjeździe na podwórze, od ulicy niewidoczna.",
        "Altana zamykana na klucz, wejście od strony parkingu.",
        "Wywóz odpadów rano, pora kontaktu wieczorem.",
    ),
    "kanal_cieplowniczy": (
        "Właz przy chodniku, ciepło od rur, nie schodzić samemu.",
        "Wejście przez uchyloną studzienkę przy trawniku.",
        "Kanał pod płytami chodnika, wyjście po drugiej stronie osiedla.",
    ),
    "park_skwer": (
        "Alejka od strony ulicy, wieczorem słabe oświetlenie.",
        "Ławki za zaroślami, najlepiej podejść od głównej alejki.",
        "Park zamykany na noc, wejście bocznym przejściem.",
    ),
    "las": (
        "Ścieżka od parkingu leśnego, ok. 10 min pieszo.",
        "Miejsce przy skarpie, po deszczu błoto.",
        "Dojazd drogą leśną tylko pieszo, zabrać latarkę.",
    ),
    "plaza": (
        "Zejście na brzeg przy pomoście, teren nieoświetlony.",
        "Miejsce za wydmą, dojście piaszczystą ścieżką.",
        "Przy wysokiej wodzie brzeg zalewany.",
    ),
    "namiot_szalas": (
        "Szałas w zaroślach, dojście wydeptaną ścieżką.",
        "Namiot przy skarpie, niewidoczny z drogi.",
        "Obozowisko za krzakami, uprzedzić głosem przed podejściem.",
    ),
    "pojazd": (
        "Samochód na końcu parkingu, okna zasłonięte.",
        "Przyczepa przy ogrodzeniu parkingu.",
        "Parking monitorowany, kontakt z ochroną przy szlabanie.",
    ),
    "inne": (
        "Pod wiaduktem, dojście od strony przystanku.",
        "Przejście podziemne, wieczorem pusto.",
        "Wnęka przy bramie, widoczna z ulicy.",
    ),
}

# A spot inside a named area, appended to the area's name ("Park Oliwski – altana").
_SPOTS: Final[dict[str, tuple[str, ...]]] = {
    "park_skwer": ("altana", "ławki przy alejce", "zarośla przy ogrodzeniu", "wiata"),
    "las": ("zagajnik", "skarpa przy ścieżce", "polana"),
}

_NODE: Final = 0
_WAY: Final = 1
_FOOT_WAYS: Final = frozenset({"footway", "path", "steps", "cycleway", "pedestrian", "bridleway"})
_STREET_PREFIXES: Final = (
    "Aleja",
    "Al.",
    "Plac",
    "Rondo",
    "Osiedle",
    "Droga",
    "Trakt",
    "Wały",
    "Bulwar",
    "Nabrzeże",
    "Skwer",
    "Park",
    "Most",
    "Wiadukt",
    "Tunel",
    "Ulica",
    "ul.",
    "Zaułek",
    "Targ",
    "Rynek",
)
# Keys whose presence makes a closed way an area rather than a ring-shaped line.
_AREA_KEYS: Final = frozenset(
    {"leisure", "landuse", "amenity", "building", "place", "tourism", "historic"}
)
_PASS_A_KEYS: Final = (
    "leisure",
    "landuse",
    "natural",
    "amenity",
    "railway",
    "public_transport",
    "man_made",
    "tunnel",
    "bridge",
    "entrance",
    "building",
    "tourism",
    "historic",
    "place",
    "abandoned",
    "disused",
    "ruins",
    "disused:shop",
    "disused:amenity",
    "disused:building",
    "disused:leisure",
    "disused:railway",
    "abandoned:shop",
    "abandoned:amenity",
    "abandoned:building",
    "abandoned:leisure",
    "abandoned:railway",
    "abandoned:landuse",
)
_PASS_B_TAGS: Final = (
    ("highway", "residential"),
    ("highway", "living_street"),
    ("highway", "track"),
    ("highway", "platform"),
    ("highway", "construction"),
    ("service", "parking_aisle"),
    ("service", "driveway"),
    ("service", "alley"),
)

_EARTH_M_PER_DEG_LAT: Final = 110_574.0
_EARTH_M_PER_DEG_LON_EQ: Final = 111_320.0
_GEOD: Final = Geod(ellps="WGS84")


@dataclass(frozen=True)
class DemoSite:
    """One demonstration sleeping site; never a real person's place."""

    code: str  # DEMO-0001 ..., stable for a given seed
    name: str  # Polish place label from the feature, or a generic label plus the code
    category: str  # a code of vocab.SITE_CATEGORIES
    status: str  # active | seasonal | inactive | closed
    estimated_people: int  # 0..6
    hazards: tuple[str, ...]  # codes of vocab.HAZARDS, in HAZARDS order
    access_notes: str  # short Polish note
    lon: float
    lat: float
    osm_ref: str  # the OSM feature it was derived from: "way/123" or "node/42"


@dataclass(frozen=True)
class DemoBusStop:
    seq: int  # 1..k along the route
    name: str  # the real stop name
    lon: float  # the real stop position
    lat: float
    arrive: str  # HH:MM
    depart: str  # HH:MM


@dataclass(frozen=True)
class DemoBusRoute:
    name: str
    coords: list[tuple[float, float]]  # lon/lat along the streets, first stop to last
    stops: list[DemoBusStop]
    length_m: float


@dataclass(frozen=True)
class _Label:
    category: str
    text: str  # the place label; for an unnamed feature the generic label the code is added to
    named: bool
    spot: bool = False  # a named area: append a spot inside it


@dataclass(frozen=True)
class _Candidate:
    kind: int  # _NODE or _WAY: sorts nodes before ways, then by id
    osm_id: int
    label: _Label
    lon: float
    lat: float

    @property
    def ref(self) -> str:
        return f"{'node' if self.kind == _NODE else 'way'}/{self.osm_id}"


# ---------------------------------------------------------------------------------------------
# Demo sites
# ---------------------------------------------------------------------------------------------


def demo_sites(
    data_dir: Path,
    *,
    seed: int = 2025,
    n: int = 300,
    pbf: Path | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    min_spacing_m: float = 25.0,
    max_jitter_m: float = 15.0,
    cell_m: float = 1000.0,
    within: BaseGeometry | None = None,
) -> list[DemoSite]:
    """`n` demonstration sites derived from the OSM features of the extract.

    `pbf` defaults to the Gdańsk extract under `data_dir` (a relative path is taken under
    `data_dir`); `bbox` (min_lon, min_lat, max_lon, max_lat) defaults to the data's extent less
    100 m, so that no site sits on the cut edge of the extract. `within` (lon/lat polygons, e.g.
    the served cities) keeps sites inside it, clear of its edge by the jitter.
    """
    if n < 1:
        msg = f"n must be at least 1, got {n}"
        raise ValueError(msg)
    path = data_dir / (pbf if pbf is not None else OSM_PBF)
    if not path.is_file():
        msg = f"OSM extract not found: {path}"
        raise FileNotFoundError(msg)

    candidates, extent = _read_candidates(path)
    if not candidates:
        msg = f"{path}: no usable OSM features (parks, platforms, streets, ...) found"
        raise GeoOutreachError(msg)
    lat0 = (extent[1] + extent[3]) / 2.0
    kx, ky = _metres_per_degree(lat0)
    if bbox is None:
        inset = 100.0
        bbox = (
            extent[0] + inset / kx,
            extent[1] + inset / ky,
            extent[2] - inset / kx,
            extent[3] - inset / ky,
        )
    # The jitter must not push a site out of the box, so candidates keep a margin inside it.
    margin_x, margin_y = max_jitter_m / kx, max_jitter_m / ky
    inner = (bbox[0] + margin_x, bbox[1] + margin_y, bbox[2] - margin_x, bbox[3] - margin_y)
    inside = np.ones(len(candidates), dtype=bool)
    if within is not None:
        shrunk = within.buffer(-max_jitter_m / ky)
        lons = np.array([c.lon for c in candidates])
        lats = np.array([c.lat for c in candidates])
        inside = shapely.contains_xy(shrunk, lons, lats)
    by_category: dict[str, list[_Candidate]] = {c: [] for c in CATEGORIES}
    for cand, ok in zip(candidates, inside, strict=True):
        if ok and inner[0] <= cand.lon <= inner[2] and inner[1] <= cand.lat <= inner[3]:
            by_category[cand.label.category].append(cand)

    rng = np.random.default_rng(seed)
    streams = {
        c: _grid_order(by_category[c], rng, lon0=bbox[0], lat0=bbox[1], kx=kx, ky=ky, cell_m=cell_m)
        for c in CATEGORIES
    }
    quotas = _quotas(n, [c for c in CATEGORIES if streams[c]])
    picker = _Picker(
        rng,
        lon0=bbox[0],
        lat0=bbox[1],
        kx=kx,
        ky=ky,
        spacing_m=min_spacing_m,
        jitter_m=max_jitter_m,
    )
    positions = dict.fromkeys(CATEGORIES, 0)
    counts = dict.fromkeys(CATEGORIES, 0)
    chosen: list[tuple[_Candidate, float, float]] = []

    def take(category: str) -> bool:
        stream = streams[category]
        while positions[category] < len(stream):
            cand = stream[positions[category]]
            positions[category] += 1
            point = picker.place(cand)
            if point is not None:
                chosen.append((cand, *point))
                counts[category] += 1
                return True
        return False

    # Round-robin over categories so that no category crowds the others out of good spots.
    progress = True
    while progress and len(chosen) < n:
        progress = False
        for c in CATEGORIES:
            if counts[c] < quotas.get(c, 0) and len(chosen) < n and take(c):
                progress = True
    # Categories that ran dry leave a shortfall; the others fill it in the same order.
    progress = True
    while progress and len(chosen) < n:
        progress = False
        for c in CATEGORIES:
            if len(chosen) < n and take(c):
                progress = True
    if len(chosen) < n:
        msg = f"{path}: only {len(chosen)} demo sites fit {min_spacing_m:g} m apart, {n} requested"
        raise GeoOutreachError(msg)

    return [_make_site(i, cand, lon, lat, rng) for i, (cand, lon, lat) in enumerate(chosen)]


def _make_site(
    index: int, cand: _Candidate, lon: float, lat: float, rng: np.random.Generator
) -> DemoSite:
    code = f"DEMO-{index + 1:04d}"
    category = cand.label.category
    if cand.label.named:
        name = cand.label.text
        if cand.label.spot:
            spots = _SPOTS[category]
            name = f"{name} – {spots[int(rng.integers(len(spots)))]}"
    else:
        name = f"{cand.label.text} {code}"
    status = STATUSES[int(rng.choice(len(STATUSES), p=_STATUS_P))]
    people = int(rng.choice(len(_PEOPLE_P), p=_PEOPLE_P)) + 1
    if status == "closed":
        people = 0
    elif status == "inactive":
        # Mostly empty; now and then someone is still seen there.
        people = 1 if rng.random() < 0.2 else 0
    profile = _HAZARD_P[category]
    draws = rng.random(len(HAZARDS))
    drawn = {h for h, u in zip(HAZARDS, draws, strict=True) if u < profile.get(h, 0.0)}
    # Every place shows one of its two typical hazards (a heat duct: fumes or fire).
    typical = sorted(profile, key=lambda h: (-profile[h], HAZARDS.index(h)))[:2]
    if not drawn & set(typical):
        drawn.add(typical[0])
    hazards = tuple(h for h in HAZARDS if h in drawn)
    notes = _ACCESS_NOTES[category]
    return DemoSite(
        code=code,
        name=name,
        category=category,
        status=status,
        estimated_people=people,
        hazards=hazards,
        access_notes=notes[int(rng.integers(len(notes)))],
        lon=round(lon, 7),
        lat=round(lat, 7),
        osm_ref=cand.ref,
    )


def _metres_per_degree(lat0: float) -> tuple[float, float]:
    return _EARTH_M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)), _EARTH_M_PER_DEG_LAT


def _quotas(n: int, categories: Sequence[str]) -> dict[str, int]:
    """Largest-remainder split of n over the categories by their weights."""
    if not categories:
        return {}
    total = sum(_CATEGORY_WEIGHTS[c] for c in categories)
    exact = [n * _CATEGORY_WEIGHTS[c] / total for c in categories]
    quotas = {c: math.floor(x) for c, x in zip(categories, exact, strict=True)}
    order = sorted(range(len(categories)), key=lambda i: (-(exact[i] - math.floor(exact[i])), i))
    for i in order[: n - sum(quotas.values())]:
        quotas[categories[i]] += 1
    return quotas


def _grid_order(
    cands: list[_Candidate],
    rng: np.random.Generator,
    *,
    lon0: float,
    lat0: float,
    kx: float,
    ky: float,
    cell_m: float,
) -> list[_Candidate]:
    """Candidates in random order, round-robin over grid cells so that picks spread out.

    Within a cell, named features come first: a named park or halt makes a better demo place
    than the hundredth anonymous playground.
    """
    ordered = sorted(cands, key=lambda c: (c.kind, c.osm_id))
    shuffled = [ordered[i] for i in rng.permutation(len(ordered))]
    shuffled.sort(key=lambda c: not c.label.named)  # stable: keeps the random order otherwise
    cells: dict[tuple[int, int], list[_Candidate]] = {}
    for cand in shuffled:
        key = (
            math.floor((cand.lon - lon0) * kx / cell_m),
            math.floor((cand.lat - lat0) * ky / cell_m),
        )
        cells.setdefault(key, []).append(cand)
    keys = sorted(cells)
    keys = [keys[i] for i in rng.permutation(len(keys))]
    out: list[_Candidate] = []
    depth = max((len(v) for v in cells.values()), default=0)
    for r in range(depth):
        out.extend(cells[k][r] for k in keys if r < len(cells[k]))
    return out


class _Picker:
    """Jitters candidates and keeps the accepted sites at least `spacing_m` apart."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        lon0: float,
        lat0: float,
        kx: float,
        ky: float,
        spacing_m: float,
        jitter_m: float,
    ) -> None:
        self._rng = rng
        self._lon0, self._lat0, self._kx, self._ky = lon0, lat0, kx, ky
        self._spacing = spacing_m
        self._jitter = jitter_m
        self._grid: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def place(self, cand: _Candidate) -> tuple[float, float] | None:
        # At least 3 m off, so that a site never sits exactly on the public OSM object.
        radius = self._rng.uniform(min(3.0, self._jitter), self._jitter)
        angle = self._rng.uniform(0.0, 2.0 * math.pi)
        x = (cand.lon - self._lon0) * self._kx + radius * math.cos(angle)
        y = (cand.lat - self._lat0) * self._ky + radius * math.sin(angle)
        cx, cy = math.floor(x / self._spacing), math.floor(y / self._spacing)
        for gx in (cx - 1, cx, cx + 1):
            for gy in (cy - 1, cy, cy + 1):
                for px, py in self._grid.get((gx, gy), ()):
                    if math.hypot(px - x, py - y) < self._spacing:
                        return None
        self._grid.setdefault((cx, cy), []).append((x, y))
        return self._lon0 + x / self._kx, self._lat0 + y / self._ky


def _read_candidates(path: Path) -> tuple[list[_Candidate], tuple[float, float, float, float]]:
    """One candidate per classified OSM node or way, and the extent of what was read.

    Two filtered passes: the C++ filters keep Python away from the ~200k untagged nodes and the
    footway network, and the location cache gives ways their coordinates.
    """
    found: dict[tuple[int, int], _Candidate] = {}
    bounds = [math.inf, math.inf, -math.inf, -math.inf]
    passes: tuple[tuple[osmium.filter.KeyFilter | osmium.filter.TagFilter, bool], ...] = (
        (osmium.filter.KeyFilter(*_PASS_A_KEYS), True),
        (osmium.filter.TagFilter(*_PASS_B_TAGS), False),
    )
    for filt, with_nodes in passes:
        processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        processor.with_locations()
        if not with_nodes:
            processor.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        processor.with_filter(filt)
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                kind, coords = _NODE, _node_coords(obj)
            elif isinstance(obj, osmium.osm.Way):
                kind, coords = _WAY, _way_coords(obj)
            else:
                continue
            if coords is None or (kind, obj.id) in found:
                continue  # the first pass's reading of a feature wins
            tags = {t.k: t.v for t in obj.tags}
            label = _classify(kind, obj.id, tags)
            if label is None:
                continue
            low, high = coords.min(axis=0).tolist(), coords.max(axis=0).tolist()
            bounds[0], bounds[1] = min(bounds[0], low[0]), min(bounds[1], low[1])
            bounds[2], bounds[3] = max(bounds[2], high[0]), max(bounds[3], high[1])
            point = _representative_point(kind, coords, tags)
            found[(kind, obj.id)] = _Candidate(kind, obj.id, label, point[0], point[1])
    extent = (bounds[0], bounds[1], bounds[2], bounds[3])
    return sorted(found.values(), key=lambda c: (c.kind, c.osm_id)), extent


def _node_coords(node: osmium.osm.Node) -> NDArray[np.float64] | None:
    if not node.location.valid():
        return None
    return np.array([[node.location.lon, node.location.lat]])


def _way_coords(way: osmium.osm.Way) -> NDArray[np.float64] | None:
    # Ways cut by the extract can miss nodes; their located part is still the feature.
    pts = [(n.location.lon, n.location.lat) for n in way.nodes if n.location.valid()]
    if len(pts) < 2:
        return None
    return np.asarray(pts, dtype=np.float64)


def _representative_point(
    kind: int, coords: NDArray[np.float64], tags: dict[str, str]
) -> tuple[float, float]:
    """A point on the feature: inside an area, halfway along a line."""
    if kind == _NODE or len(coords) == 1:
        return float(coords[0, 0]), float(coords[0, 1])
    closed = len(coords) >= 4 and bool(np.array_equal(coords[0], coords[-1]))
    if closed and _is_area(tags):
        polygon = shapely.make_valid(shapely.Polygon(coords))
        if not polygon.is_empty:
            p = shapely.point_on_surface(polygon)
            return float(p.x), float(p.y)
    kx, _ = _metres_per_degree(float(coords[0, 1]))
    steps = np.hypot(np.diff(coords[:, 0]) * kx, np.diff(coords[:, 1]) * _EARTH_M_PER_DEG_LAT)
    cum = np.concatenate(([0.0], np.cumsum(steps)))
    half = cum[-1] / 2.0
    return (
        float(np.interp(half, cum, coords[:, 0])),
        float(np.interp(half, cum, coords[:, 1])),
    )


def _is_area(tags: dict[str, str]) -> bool:
    if tags.get("area") == "yes" or tags.get("highway") == "platform":
        return True
    if tags.get("natural") in {"beach", "sand", "wood", "scrub", "heath", "grassland"}:
        return True
    if tags.get("public_transport") == "platform" or tags.get("railway") == "platform":
        return True
    return "highway" not in tags and any(k in tags for k in _AREA_KEYS)


def _street(name: str) -> str:
    """A street label, or '' for a code-like name ("D3") that reads badly as an address."""
    if sum(ch.isalpha() for ch in name) < 3:
        return ""
    if any(word in _STREET_PREFIXES for word in name.split()):
        return name  # "Aleja Grunwaldzka", "Wrzeszczańska Droga Wzgórz": no "ul."
    return f"ul. {name}"


# -- which OSM features stand for which kind of site: an ordered rule table --------------------
#
# `_RULES` is read top to bottom and the first rule whose condition holds decides. A rule's
# outcome is either a label (`_Out`) or a nested table, tried only when its condition holds; a
# nested table where nothing matches passes on to the next rule. Order matters: an abandoned
# building with a name is a squat before it is anything else.


@dataclass(frozen=True)
class _Feature:
    kind: int
    osm_id: int
    tags: dict[str, str]
    name: str  # the stripped `name` tag, '' when absent


class _Pred(Protocol):
    def __call__(self, f: _Feature) -> bool: ...

    # Keys of which at least one must be set for the predicate to hold (None: no such keys).
    # Lets the interpreter skip a rule at C speed: most features match no rule at all.
    def needs(self) -> frozenset[str] | None: ...


@dataclass(frozen=True)
class _Tag:
    """The tag's value is one of `values`."""

    key: str
    values: frozenset[str]

    def __call__(self, f: _Feature) -> bool:
        return f.tags.get(self.key, "") in self.values

    def needs(self) -> frozenset[str] | None:
        return None if "" in self.values else frozenset({self.key})


@dataclass(frozen=True)
class _Has:
    """The tag is set to a non-empty value (`present`: set at all, even to '')."""

    key: str
    present: bool = False

    def __call__(self, f: _Feature) -> bool:
        return self.key in f.tags if self.present else bool(f.tags.get(self.key))

    def needs(self) -> frozenset[str] | None:
        return frozenset({self.key})


@dataclass(frozen=True)
class _Kind:
    kind: int

    def __call__(self, f: _Feature) -> bool:
        return f.kind == self.kind

    def needs(self) -> frozenset[str] | None:
        return None


@dataclass(frozen=True)
class _IdBucket:
    """osm_id % `mod` falls in [low, high): a fixed share of a feature class, whatever the seed."""

    mod: int
    low: int
    high: int

    def __call__(self, f: _Feature) -> bool:
        return self.low <= f.osm_id % self.mod < self.high

    def needs(self) -> frozenset[str] | None:
        return None


@dataclass(frozen=True)
class _NameStarts:
    prefixes: tuple[str, ...]

    def __call__(self, f: _Feature) -> bool:
        return f.name.lower().startswith(self.prefixes)

    def needs(self) -> frozenset[str] | None:
        return None


@dataclass(frozen=True)
class _NameHas:
    part: str

    def __call__(self, f: _Feature) -> bool:
        return self.part in f.name.lower()

    def needs(self) -> frozenset[str] | None:
        return None


@dataclass(frozen=True)
class _FirstOf:
    """The first of `keys` that is set has a value outside `unless`."""

    keys: tuple[str, ...]
    unless: frozenset[str]

    def __call__(self, f: _Feature) -> bool:
        value = next((f.tags[k] for k in self.keys if k in f.tags), None)
        return value is not None and value not in self.unless

    def needs(self) -> frozenset[str] | None:
        return frozenset(self.keys)


@dataclass(frozen=True)
class _All:
    preds: tuple[_Pred, ...]

    def __call__(self, f: _Feature) -> bool:
        for pred in self.preds:  # noqa: SIM110 - a loop: ~2M calls per extract, all() is slower
            if not pred(f):
                return False
        return True

    def needs(self) -> frozenset[str] | None:
        known = [n for n in (p.needs() for p in self.preds) if n is not None]
        return min(known, key=len) if known else None  # any one part's keys will do


@dataclass(frozen=True)
class _Any:
    preds: tuple[_Pred, ...]

    def __call__(self, f: _Feature) -> bool:
        for pred in self.preds:  # noqa: SIM110 - as in _All
            if pred(f):
                return True
        return False

    def needs(self) -> frozenset[str] | None:
        parts = [p.needs() for p in self.preds]
        return None if any(n is None for n in parts) else frozenset().union(*parts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Not:
    pred: _Pred

    def __call__(self, f: _Feature) -> bool:
        return not self.pred(f)

    def needs(self) -> frozenset[str] | None:
        return None


def _tag(key: str, *values: str) -> _Tag:
    return _Tag(key, frozenset(values))


def _all(*preds: _Pred) -> _All:
    return _All(preds)


def _any(*preds: _Pred) -> _Any:
    return _Any(preds)


_ALWAYS: Final = _All(())

# Where a label's place name comes from: the feature's own name, none, the name read as a street
# ("ul. X", '' for code-like names), the entrance's street (never its house number), or, for a
# squat, the building's own name (a node's name is a former business's, a street's the street's).
_NameSource = Literal["own", "none", "street", "addr_street", "former"]


@dataclass(frozen=True)
class _Out:
    """A label: `text` alone when there is no place name, else `fmt` filled in with it."""

    category: str
    text: str
    name: _NameSource = "none"
    fmt: str = "{text} – {name}"
    spot: bool = False  # a named area: the name alone, and a spot inside it is appended later


def _spot(category: str, text: str) -> _Out:
    return _Out(category, text, "own", "{name}", spot=True)


@dataclass(frozen=True)
class _Rule:
    when: _Pred
    then: _Out | _Table


class _Table:
    """Ordered rules; `first` is the tiny interpreter (a nested table that finds nothing passes).

    Rules are indexed by the keys they need, so a feature only tries the rules its keys can
    match (most features match none), in table order.
    """

    def __init__(self, *rules: _Rule) -> None:
        self.rules = rules
        by_key: dict[str, list[int]] = {}
        always: list[int] = []
        for i, rule in enumerate(rules):
            needs = rule.when.needs()
            if needs is None:
                always.append(i)
            for key in needs or ():
                by_key.setdefault(key, []).append(i)
        self._by_key = {k: tuple(v) for k, v in by_key.items()}
        self._always = tuple(always)

    def first(self, f: _Feature) -> _Label | None:
        tried = set(self._always)
        for key in f.tags:
            tried.update(self._by_key.get(key, ()))
        for i in sorted(tried):
            rule = self.rules[i]
            if not rule.when(f):
                continue
            if isinstance(rule.then, _Out):
                return _label(rule.then, f)
            found = rule.then.first(f)
            if found is not None:
                return found
        return None


def _place_name(source: _NameSource, f: _Feature) -> str:
    if source == "own":
        return f.name
    if source == "street":
        return _street(f.name)
    if source == "addr_street":
        return _street(f.tags.get("addr:street", ""))
    if source == "former":
        return "" if f.tags.get("highway") or f.kind == _NODE else f.name
    return ""


def _label(out: _Out, f: _Feature) -> _Label:
    name = _place_name(out.name, f)
    if not name:
        return _Label(out.category, out.text, False)
    brand = _rail_brand(f.tags) if "{brand}" in out.fmt else ""
    return _Label(
        out.category, out.fmt.format(text=out.text, name=name, brand=brand), True, out.spot
    )


_DISUSED_NODE_KEYS: Final = ("shop", "amenity", "building")  # a disused stop pole is no building
_DISUSED_WAY_KEYS: Final = ("shop", "amenity", "building", "leisure", "railway", "landuse")
# A former cemetery, ferry stop or car park is no empty building.
_NOT_A_SQUAT: Final = frozenset(
    {"cemetery", "grave_yard", "ferry_terminal", "parking", "bicycle_parking"}
)
_LIFECYCLE: Final = ("disused", "abandoned")


def _disused(keys: tuple[str, ...]) -> _FirstOf:
    return _FirstOf(tuple(f"{p}:{k}" for p in _LIFECYCLE for k in keys), _NOT_A_SQUAT)


_STATION: Final = _any(_tag("railway", "station", "halt"), _tag("public_transport", "station"))
_PLATFORM_WAY: Final = _all(
    _Kind(_WAY),
    _any(
        _tag("railway", "platform"),
        _tag("public_transport", "platform"),
        _tag("highway", "platform"),
    ),
)
_BEACH: Final = _any(_tag("natural", "beach", "sand"), _tag("leisure", "beach_resort"))
_GREEN: Final = _any(
    _tag("leisure", "park", "garden", "dog_park", "common", "recreation_ground"),
    _tag("landuse", "grass", "recreation_ground", "village_green", "meadow"),
    _tag("natural", "grassland"),
    _tag("historic", "park"),
    _tag("place", "square"),
)
_TUNNEL: Final = _tag("tunnel", "yes", "culvert")
_BRIDGE: Final = _tag("bridge", "yes", "viaduct", "boardwalk", "movable")
_FOOT: Final = _tag("highway", *_FOOT_WAYS)
_ROAD: Final = _Has("highway")
_HOUSING: Final = _tag("highway", "residential", "living_street")

_RULES: Final = _Table(
    # Abandoned or disused places.
    _Rule(
        _any(
            _all(_Kind(_NODE), _disused(_DISUSED_NODE_KEYS)),
            _all(_Kind(_WAY), _disused(_DISUSED_WAY_KEYS)),
            _tag("building", "ruins", "abandoned", "disused", "construction"),
            _tag("abandoned", "yes"),
            _tag("disused", "yes"),
            _tag("ruins", "yes"),
            _all(_Kind(_WAY), _tag("railway", "disused", "abandoned", "razed")),
            _tag("highway", "construction"),
            _tag("landuse", "construction", "brownfield"),
        ),
        _Table(
            _Rule(
                _any(_Has("railway"), _Has("disused:railway"), _Has("abandoned:railway")),
                _Out("pustostan", "Pustostan przy dawnej bocznicy", "former"),
            ),
            _Rule(
                _any(
                    _tag("highway", "construction"),
                    _tag("landuse", "construction"),
                    _tag("building", "construction"),
                ),
                _Out("pustostan", "Opuszczony plac budowy", "former"),
            ),
            _Rule(
                _any(_Has("disused:leisure"), _Has("abandoned:leisure")),
                _Out("pustostan", "Opuszczony obiekt sportowy", "former"),
            ),
            _Rule(_Kind(_NODE), _Out("pustostan", "Pustostan – dawny lokal", "former")),
            _Rule(_ALWAYS, _Out("pustostan", "Pustostan", "former")),
        ),
    ),
    # Stations and platforms (not yet built ones).
    _Rule(
        _all(_Not(_tag("railway", "proposed")), _Not(_Has("proposed", present=True))),
        _Table(
            _Rule(
                _all(_STATION, _tag("railway", "station")),
                _Out("dworzec_peron", "Peron", "own", "Dworzec {name} – hala"),
            ),
            _Rule(_STATION, _Out("dworzec_peron", "Peron", "own", "Peron {brand}{name}")),
            _Rule(
                _tag("amenity", "bus_station"),
                _Out("dworzec_peron", "Dworzec autobusowy – poczekalnia", "own"),
            ),
            _Rule(_PLATFORM_WAY, _Out("dworzec_peron", "Peron", "own", "Peron {name}")),
        ),
    ),
    # Beaches, shores and piers.
    _Rule(_all(_BEACH, _NameHas("plaż")), _Out("plaza", "Dzika plaża", "own", "{name}")),
    _Rule(_BEACH, _Out("plaza", "Dzika plaża", "own", "Plaża {name}")),
    _Rule(_tag("natural", "coastline"), _Out("plaza", "Dzika plaża")),
    _Rule(_tag("man_made", "pier"), _Out("plaza", "Brzeg przy pomoście", "own")),
    _Rule(_tag("natural", "water"), _Out("plaza", "Brzeg nad wodą", "own")),
    # Woods.
    _Rule(_tag("natural", "scrub"), _spot("las", "Zagajnik")),
    _Rule(
        _any(
            _tag("landuse", "forest"),
            _tag("natural", "wood", "heath"),
            _all(_tag("leisure", "park"), _NameStarts(("las ", "lasek"))),
        ),
        _spot("las", "Las"),
    ),
    # Allotment gardens.
    _Rule(
        _any(_tag("landuse", "allotments"), _tag("garden:type", "allotment")),
        _Out("altana_dzialkowa", "Ogródki działkowe – altana", "own"),
    ),
    # Parks, squares, green strips and playgrounds.
    _Rule(_tag("leisure", "playground"), _spot("park_skwer", "Plac zabaw")),
    _Rule(
        _any(_tag("landuse", "grass"), _tag("natural", "grassland")),
        _spot("park_skwer", "Zieleniec"),
    ),
    _Rule(_GREEN, _spot("park_skwer", "Skwer")),
    # Shelters, huts and camps.
    _Rule(
        _all(_tag("amenity", "shelter"), _Not(_tag("shelter_type", "public_transport"))),
        _Out("namiot_szalas", "Wiata – szałas", "own"),
    ),
    _Rule(
        _tag("tourism", "camp_site", "wilderness_hut"),
        _Out("namiot_szalas", "Obozowisko – namiot", "own"),
    ),
    # Bin shelters.
    _Rule(
        _tag("amenity", "waste_disposal", "recycling"),
        _Out("altana_smietnikowa", "Altana śmietnikowa"),
    ),
    # Vehicles: parkings and garage ramps.
    _Rule(
        _all(_tag("amenity", "parking"), _tag("parking", "underground", "multi-storey")),
        _Out("pojazd", "Garaż – samochód", "own", "{name} – samochód"),
    ),
    _Rule(
        _tag("amenity", "parking"),
        _Out("pojazd", "Parking – samochód", "own", "{name} – samochód"),
    ),
    _Rule(_tag("amenity", "parking_entrance"), _Out("pojazd", "Wjazd do garażu – samochód")),
    _Rule(
        _all(_tag("highway", "service"), _tag("tunnel", "yes")),
        _Out("pojazd", "Zjazd do garażu – samochód"),
    ),
    _Rule(_tag("building", "garage", "garages"), _Out("pojazd", "Garaże – samochód")),
    # Heat pipelines, where mapped.
    _Rule(
        _all(_tag("man_made", "pipeline"), _tag("substance", "heat", "hot_water", "steam")),
        _Out("kanal_cieplowniczy", "Kanał ciepłowniczy"),
    ),
    # Underpasses, viaducts, gateways and stop shelters.
    _Rule(_all(_TUNNEL, _FOOT), _Out("inne", "Przejście podziemne", "own")),
    _Rule(_all(_TUNNEL, _ROAD), _Out("inne", "Wnęka przy tunelu", "street")),
    _Rule(_all(_BRIDGE, _FOOT), _Out("inne", "Pod kładką")),
    _Rule(_all(_BRIDGE, _ROAD), _Out("inne", "Pod wiaduktem", "street")),
    _Rule(_tag("man_made", "bridge"), _Out("inne", "Pod mostem", "own")),
    _Rule(
        _all(_tag("tunnel", "building_passage"), _ROAD),
        _Out("inne", "Przejazd bramowy", "street"),
    ),
    _Rule(_tag("tunnel", "building_passage"), _Out("inne", "Przejazd bramowy")),
    _Rule(
        _any(
            _tag("amenity", "shelter"),
            _all(_Kind(_NODE), _tag("public_transport", "platform"), _tag("shelter", "yes")),
        ),
        _Out("inne", "Wiata przystankowa", "own"),
    ),
    _Rule(_tag("amenity", "toilets"), _Out("inne", "Przy toalecie publicznej")),
    # Stairwells and cellars, from mapped building entrances and buildings.
    _Rule(
        _all(_Kind(_NODE), _tag("entrance", "staircase", "main", "yes", "home")),
        _Out("klatka_schodowa", "Klatka schodowa", "addr_street"),
    ),
    _Rule(
        _all(_Kind(_NODE), _tag("entrance", "service", "secondary", "emergency", "exit")),
        _Out("piwnica", "Zejście do piwnicy", "addr_street"),
    ),
    _Rule(
        _all(
            _Kind(_WAY),
            _tag(
                "building",
                "yes",
                "residential",
                "apartments",
                "house",
                "detached",
                "terrace",
                "outbuilding",
            ),
        ),
        _Out("piwnica", "Piwnica", "addr_street"),
    ),
    # The extract has no mapped allotments, squats, stairwells or heat ducts as such: a share
    # of the housing-estate streets, tracks and yards stands in for them, split by OSM id.
    _Rule(
        _all(_tag("highway", "track"), _tag("access", "private", "no")),
        _Out("altana_dzialkowa", "Ogródki działkowe – altana"),
    ),
    _Rule(
        _all(_tag("highway", "track"), _IdBucket(4, 0, 1)),
        _Out("namiot_szalas", "Szałas przy leśnej drodze"),
    ),
    _Rule(_tag("highway", "track"), _Out("las", "Las przy leśnej drodze")),
    _Rule(
        _all(_HOUSING, _IdBucket(10, 0, 4)),
        _Out("kanal_cieplowniczy", "Kanał ciepłowniczy", "street"),
    ),
    _Rule(_all(_HOUSING, _IdBucket(10, 4, 6)), _Out("pustostan", "Pustostan", "street")),
    _Rule(_all(_HOUSING, _IdBucket(10, 6, 8)), _Out("piwnica", "Piwnica", "street")),
    _Rule(_HOUSING, _Out("klatka_schodowa", "Klatka schodowa", "street")),
    _Rule(
        _all(_tag("highway", "service"), _tag("service", "parking_aisle")),
        _Out("pojazd", "Parking osiedlowy – samochód"),
    ),
    _Rule(
        _all(_tag("highway", "service"), _tag("service", "driveway", "alley")),
        _Out("altana_smietnikowa", "Altana śmietnikowa", "street"),
    ),
)


def _classify(kind: int, osm_id: int, tags: dict[str, str]) -> _Label | None:
    """Which kind of outreach site an OSM feature stands for, if any, and its place label."""
    return _RULES.first(_Feature(kind, osm_id, tags, tags.get("name", "").strip()))


def _rail_brand(tags: dict[str, str]) -> str:
    """'PKM ' / 'SKM ' for a Tricity rail halt, from its operator or network."""
    operator = tags.get("operator:short", "") + ";" + tags.get("network:short", "")
    if "PKM" in operator:
        return "PKM "
    if "SKM" in operator:
        return "SKM "
    return ""


# ---------------------------------------------------------------------------------------------
# SOS bus route
# ---------------------------------------------------------------------------------------------

SOS_BUS_NAME: Final = "Autobus SOS Gdańsk–Sopot (demo)"
# Evening run from the main station through Wrzeszcz, Zaspa/Przymorze and Oliwa to Sopot. All
# the stops sit on the through streets: stops in side bays (Zaspa SKM, Przymorze SKM) would make
# the bus drive in and back out.
SOS_BUS_STOPS: Final = (
    "Dworzec Główny",
    "Uniwersytet Medyczny",
    "Wrzeszcz PKP",
    "Abrahama",
    "Oliwa",
    "Sopot Reja",
    "Sopot PKP",
)
# Tram-only track and straight stand-in segments are kept for connectivity but avoided.
_TRAM_ONLY_FACTOR: Final = 10.0
_UNMAPPED_FACTOR: Final = 3.0


@dataclass(frozen=True)
class _StreetGraph:
    matrix: csr_matrix
    lonlat: NDArray[np.float64]  # node coordinates
    xy: NDArray[np.float64]  # node coordinates in the local metric
    lat0: float


def demo_sos_bus_route(
    data_dir: Path,
    *,
    stop_names: Sequence[str] = SOS_BUS_STOPS,
    start: str = "18:00",
    speed_kmh: float = 25.0,
    dwell_min: int = 20,
    snap_m: float = 1.5,
    max_stop_snap_m: float = 25.0,
) -> DemoBusRoute:
    """The demo SOS bus run along the real transit streets between real stop positions.

    Each named stop has several posts; the posts are chosen so that the whole run is shortest.
    Times start at `start`, advance by the leg's length at `speed_kmh` and `dwell_min` at each
    stop, and are rounded to 5 minutes.
    """
    if len(stop_names) < 2:
        msg = f"a route needs at least two stops, got {len(stop_names)}"
        raise ValueError(msg)
    if speed_kmh <= 0:
        msg = f"speed_kmh must be positive, got {speed_kmh}"
        raise ValueError(msg)
    start_min = _parse_hhmm(start)
    graph = _street_graph(data_dir / TRANSIT_STREETS, snap_m=snap_m)
    posts = _stop_posts(data_dir / TRANSIT_STOPS, stop_names, graph, max_snap_m=max_stop_snap_m)

    # Viterbi over the posts of consecutive stops: the cheapest chain of shortest paths.
    cost = np.zeros(len(posts[0]))
    back: list[NDArray[np.intp]] = []
    preds: list[NDArray[np.int32]] = []
    for k in range(1, len(posts)):
        sources = np.array([node for _, node in posts[k - 1]], dtype=np.intp)
        targets = np.array([node for _, node in posts[k]], dtype=np.intp)
        dist, pred = dijkstra(
            graph.matrix, directed=False, indices=sources, return_predecessors=True
        )
        total = cost[:, None] + dist[:, targets]
        best = np.argmin(total, axis=0)
        cost = total[best, np.arange(len(targets))]
        if not np.isfinite(cost).any():
            msg = (
                f"no path along the transit streets from stop '{stop_names[k - 1]}' "
                f"to stop '{stop_names[k]}'"
            )
            raise GeoOutreachError(msg)
        back.append(best)
        preds.append(pred)

    # Walk back the chosen posts, then each leg's predecessor chain.
    choice = [int(np.argmin(cost))]
    for best in reversed(back):
        choice.append(int(best[choice[-1]]))
    choice.reverse()
    chosen = [posts[k][i] for k, i in enumerate(choice)]
    path: list[int] = [chosen[0][1]]
    leg_lengths: list[float] = []
    for k in range(1, len(chosen)):
        leg = _leg_nodes(preds[k - 1][choice[k - 1]], chosen[k - 1][1], chosen[k][1])
        leg_lengths.append(_geodesic_length(graph.lonlat[leg]))
        path.extend(leg[1:])
    coords = [(float(x), float(y)) for x, y in graph.lonlat[path]]

    stops: list[DemoBusStop] = []
    clock = start_min
    for k, ((name, lon, lat), _) in enumerate(chosen):
        if k > 0:
            travel = leg_lengths[k - 1] / (speed_kmh * 1000.0 / 60.0)
            clock += max(5, _round5(travel))  # never the same minute as the last departure
        arrive = clock
        clock += _round5(dwell_min)
        stops.append(DemoBusStop(k + 1, name, lon, lat, _hhmm(arrive), _hhmm(clock)))
    return DemoBusRoute(
        name=SOS_BUS_NAME,
        coords=coords,
        stops=stops,
        length_m=round(_geodesic_length(graph.lonlat[path]), 1),
    )


def _street_graph(path: Path, *, snap_m: float) -> _StreetGraph:
    """Undirected graph of the street LineStrings; vertices closer than `snap_m` are one node.

    Every vertex is a node (not just line ends): lines meet at shared inner vertices too. Lines
    crossing without a shared vertex (bridges) stay apart.
    """
    features = _load_features(path)
    parts: list[NDArray[np.float64]] = []
    factors: list[float] = []
    for feature in features:
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "LineString" or len(geometry.get("coordinates", ())) < 2:
            continue
        props = feature.get("properties") or {}
        factor = 1.0
        if props.get("mode") == "tram" and not props.get("busLines"):
            factor = _TRAM_ONLY_FACTOR
        elif props.get("unmapped"):
            factor = _UNMAPPED_FACTOR
        parts.append(np.asarray(geometry["coordinates"], dtype=np.float64)[:, :2])
        factors.append(factor)
    if not parts:
        msg = f"{path}: no LineString streets"
        raise GeoOutreachError(msg)
    lengths = np.array([len(p) for p in parts])
    lonlat = np.concatenate(parts)
    lat0 = float(lonlat[:, 1].mean())
    kx, ky = _metres_per_degree(lat0)
    xy = np.column_stack([lonlat[:, 0] * kx, lonlat[:, 1] * ky])

    # Snap: clusters of vertices within snap_m become one node, named by its first vertex.
    count = len(xy)
    pairs = cKDTree(xy).query_pairs(snap_m, output_type="ndarray")
    near = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(count, count)
    ).tocsr()
    n_nodes, node_of = connected_components(near, directed=False)
    first = np.full(n_nodes, count, dtype=np.intp)
    np.minimum.at(first, node_of, np.arange(count))

    # Edges between consecutive vertices of each line, not across line ends.
    ends = np.cumsum(lengths) - 1
    is_start = np.ones(count, dtype=bool)
    is_start[ends] = False
    tail = np.flatnonzero(is_start)
    head = tail + 1
    edge_factor = np.repeat(np.asarray(factors), lengths)[tail]
    step = xy[head] - xy[tail]
    weight = np.hypot(step[:, 0], step[:, 1]) * edge_factor
    u, v = node_of[tail], node_of[head]
    keep = u != v
    u, v, weight = u[keep], v[keep], np.maximum(weight[keep], 1e-3)
    # Parallel edges: keep the cheapest (a sparse matrix would add duplicates up).
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((weight, hi, lo))
    lo, hi, weight = lo[order], hi[order], weight[order]
    unique = np.ones(len(lo), dtype=bool)
    unique[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, weight = lo[unique], hi[unique], weight[unique]
    matrix = coo_matrix((weight, (lo, hi)), shape=(n_nodes, n_nodes)).tocsr()
    return _StreetGraph(matrix=matrix, lonlat=lonlat[first], xy=xy[first], lat0=lat0)


def _stop_posts(
    path: Path, names: Sequence[str], graph: _StreetGraph, *, max_snap_m: float
) -> list[list[tuple[tuple[str, float, float], int]]]:
    """For each stop name, its bus posts near the street graph: ((name, lon, lat), node)."""
    features = _load_features(path)
    kx, ky = _metres_per_degree(graph.lat0)
    tree = cKDTree(graph.xy)
    result: list[list[tuple[tuple[str, float, float], int]]] = []
    for name in names:
        points = sorted(
            {
                (float(f["geometry"]["coordinates"][0]), float(f["geometry"]["coordinates"][1]))
                for f in features
                if (f.get("properties") or {}).get("name") == name
                and (f.get("properties") or {}).get("mode", "bus") == "bus"
                and (f.get("geometry") or {}).get("type") == "Point"
            }
        )
        if not points:
            msg = f"{path}: no bus stop named '{name}'"
            raise GeoOutreachError(msg)
        xy = np.array([(lon * kx, lat * ky) for lon, lat in points])
        dist, node = tree.query(xy)
        near = [
            ((name, lon, lat), int(nd))
            for (lon, lat), d, nd in zip(points, dist, node, strict=True)
            if d <= max_snap_m
        ]
        if not near:
            msg = (
                f"stop '{name}': no post within {max_snap_m:g} m of the transit streets "
                f"(nearest {float(np.min(dist)):.0f} m)"
            )
            raise GeoOutreachError(msg)
        result.append(near)
    return result


def _leg_nodes(pred: NDArray[np.int32], source: int, target: int) -> list[int]:
    nodes = [target]
    while nodes[-1] != source:
        prev = int(pred[nodes[-1]])
        if prev < 0:
            msg = f"broken predecessor chain from node {source} to node {target}"
            raise GeoOutreachError(msg)
        nodes.append(prev)
    nodes.reverse()
    return nodes


def _geodesic_length(lonlat: NDArray[np.float64]) -> float:
    if len(lonlat) < 2:
        return 0.0
    return float(_GEOD.line_length(lonlat[:, 0], lonlat[:, 1]))


def _load_features(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        msg = f"data file not found: {path}"
        raise FileNotFoundError(msg)
    data = json.loads(path.read_text(encoding="utf-8"))
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        msg = f"{path}: not a GeoJSON FeatureCollection"
        raise GeoOutreachError(msg)
    return features


def _parse_hhmm(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        msg = f"time must be HH:MM, got {text!r}"
        raise ValueError(msg)
    return int(hours) * 60 + int(minutes)


def _round5(minutes: float) -> int:
    return int(5 * math.floor(minutes / 5.0 + 0.5))


def _hhmm(minutes: int) -> str:
    # A run past midnight wraps the clock face; the order of stops still tells the day.
    return f"{(minutes // 60) % 24:02d}:{minutes % 60:02d}"
