"""Demo sites and the SOS bus route, built from the real shared data (no mocks, no database)."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import osmium
import pytest
from pyproj import Geod, Transformer
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from geo_outreach.core import vocab
from geo_outreach.demo.source import (
    CATEGORIES,
    HAZARDS,
    STATUSES,
    DemoBusRoute,
    DemoSite,
    demo_sites,
    demo_sos_bus_route,
)

DATA_DIR = Path(
    os.environ.get("GEO_OUTREACH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
EXTRACT_BBOX = (18.560, 54.295, 18.742, 54.403)  # min lon, min lat, max lon, max lat
# UTM 34N covers Gdańsk and Sopot (18–24° E): metres for spacing and distances.
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:32634", always_xy=True)


def _metres(lonlat: list[tuple[float, float]]) -> np.ndarray:
    x, y = TO_METRES.transform([p[0] for p in lonlat], [p[1] for p in lonlat])
    return np.column_stack([x, y])


@pytest.fixture(scope="module")
def data_dir() -> Path:
    assert (DATA_DIR / "osm" / "gdansk-central.osm.pbf").is_file(), (
        f"shared data not found in {DATA_DIR}; set GEO_OUTREACH_DATA_DIR"
    )
    return DATA_DIR


@pytest.fixture(scope="module")
def sites(data_dir: Path) -> list[DemoSite]:
    return demo_sites(data_dir)


@pytest.fixture(scope="module")
def route(data_dir: Path) -> DemoBusRoute:
    return demo_sos_bus_route(data_dir)


# --- sites ------------------------------------------------------------------------------------


def test_sites_are_deterministic(data_dir: Path, sites: list[DemoSite]) -> None:
    assert demo_sites(data_dir) == sites
    assert demo_sites(data_dir, seed=7) != sites


def test_sites_count_and_codes(sites: list[DemoSite]) -> None:
    assert len(sites) == 300
    codes = [s.code for s in sites]
    assert len(set(codes)) == len(codes)
    assert codes == [f"DEMO-{i:04d}" for i in range(1, 301)]


def test_n_is_honoured(data_dir: Path) -> None:
    few = demo_sites(data_dir, n=40, seed=3)
    assert len(few) == 40
    assert len({s.category for s in few}) >= 9


def test_sites_inside_extract_bbox(sites: list[DemoSite]) -> None:
    min_lon, min_lat, max_lon, max_lat = EXTRACT_BBOX
    outside = [s.code for s in sites if not (min_lon <= s.lon <= max_lon)]
    outside += [s.code for s in sites if not (min_lat <= s.lat <= max_lat)]
    assert not outside


def test_sites_are_spaced_and_spread(sites: list[DemoSite]) -> None:
    xy = _metres([(s.lon, s.lat) for s in sites])
    nearest, _ = cKDTree(xy).query(xy, k=2)
    assert nearest[:, 1].min() >= 20.0
    # Spread over the area, not piled into one park: many 1 km cells, none holding many.
    cells = Counter(
        zip((xy[:, 0] // 1000).astype(int), (xy[:, 1] // 1000).astype(int), strict=True)
    )
    assert len(cells) >= 50
    assert max(cells.values()) <= 15


def test_site_categories(sites: list[DemoSite]) -> None:
    assert set(CATEGORIES) == set(vocab.SITE_CATEGORIES)
    counts = Counter(s.category for s in sites)
    assert set(counts) <= set(CATEGORIES)
    assert len(counts) >= 9
    # No category swamps the rest.
    assert max(counts.values()) <= 0.3 * len(sites)


def test_site_status_people_and_hazards(sites: list[DemoSite]) -> None:
    assert set(STATUSES) == set(vocab.SITE_STATUSES)
    assert set(HAZARDS) <= set(vocab.HAZARDS)
    statuses = Counter(s.status for s in sites)
    assert set(statuses) <= set(STATUSES)
    assert 0.45 <= statuses["active"] / len(sites) <= 0.75
    assert statuses["closed"] >= 1
    for s in sites:
        assert 0 <= s.estimated_people <= 6
        if s.status == "closed":
            assert s.estimated_people == 0
        assert s.hazards, s
        assert set(s.hazards) <= set(HAZARDS)
        # Canonical order, no repeats: stable for storage and display.
        assert list(s.hazards) == [h for h in HAZARDS if h in s.hazards]
    people = Counter(s.estimated_people for s in sites if s.status in {"active", "seasonal"})
    assert people[1] + people[2] > people[3] + people[4] + people[5] + people[6]


def test_site_labels_and_provenance(sites: list[DemoSite]) -> None:
    for s in sites:
        assert s.name.strip() and s.access_notes.strip()
        assert re.fullmatch(r"(node|way)/\d+", s.osm_ref), s.osm_ref
        # Unnamed features carry their code, so every label is unique to its site or place.
        if "DEMO-" in s.name:
            assert s.name.endswith(s.code)
    # Hazards fit the place.
    typical = {
        "kanal_cieplowniczy": {"carbon_monoxide", "fire"},
        "plaza": {"cold_exposure", "flooding"},
        "pustostan": {"structural_collapse", "fire"},
    }
    for s in sites:
        if s.category in typical:
            assert typical[s.category] & set(s.hazards), s


def test_sites_are_near_their_osm_feature(sites: list[DemoSite]) -> None:
    # A jittered point on the feature: within ~15 m of where the feature's point would be, and
    # never exactly on an OSM node (checked for node-derived sites, whose position is known).
    nodes = [s for s in sites if s.osm_ref.startswith("node/")]
    assert nodes
    geod = Geod(ellps="WGS84")
    wanted = {int(s.osm_ref.split("/")[1]): s for s in nodes}
    found: dict[int, tuple[float, float]] = {}
    pbf = DATA_DIR / "osm" / "gdansk-central.osm.pbf"
    processor = osmium.FileProcessor(str(pbf), osmium.osm.NODE)
    processor.with_filter(osmium.filter.IdFilter(wanted))
    for obj in processor:
        if isinstance(obj, osmium.osm.Node):
            found[obj.id] = (obj.location.lon, obj.location.lat)
    assert set(found) == set(wanted)
    for osm_id, (lon, lat) in found.items():
        site = wanted[osm_id]
        _, _, dist = geod.inv(lon, lat, site.lon, site.lat)
        assert 2.0 <= dist <= 16.0, (site.code, dist)


# --- SOS bus ----------------------------------------------------------------------------------


def _sopot() -> BaseGeometry:
    data = json.loads((DATA_DIR / "boundaries" / "sopot.geojson").read_text(encoding="utf-8"))
    return shape(data["features"][0]["geometry"])


def test_route_is_deterministic(data_dir: Path, route: DemoBusRoute) -> None:
    assert demo_sos_bus_route(data_dir) == route


def test_route_stops(route: DemoBusRoute) -> None:
    assert route.name == "Autobus SOS Gdańsk–Sopot (demo)"
    assert 5 <= len(route.stops) <= 8
    assert [s.seq for s in route.stops] == list(range(1, len(route.stops) + 1))
    names = [s.name for s in route.stops]
    assert "Dworzec Główny" in names[0]
    assert not _sopot().contains(Point(route.stops[0].lon, route.stops[0].lat))
    assert _sopot().contains(Point(route.stops[-1].lon, route.stops[-1].lat))
    # Main station, then Wrzeszcz, Oliwa and Sopot in that order.
    order = [
        next(i for i, n in enumerate(names) if key in n)
        for key in ("Dworzec Główny", "Wrzeszcz", "Oliwa", "Sopot")
    ]
    assert order == sorted(order)


def test_route_stops_are_real_positions(data_dir: Path, route: DemoBusRoute) -> None:
    stops_file = data_dir / "transit" / "trojmiasto-stops.geojson"
    real = {
        (f["properties"]["name"], *f["geometry"]["coordinates"][:2])
        for f in json.loads(stops_file.read_text(encoding="utf-8"))["features"]
    }
    for stop in route.stops:
        assert (stop.name, stop.lon, stop.lat) in real, stop


def test_route_times(route: DemoBusRoute) -> None:
    assert route.stops[0].arrive == "18:00"
    minutes: list[int] = []
    for stop in route.stops:
        for text in (stop.arrive, stop.depart):
            assert re.fullmatch(r"\d\d:\d\d", text)
            hours, mins = map(int, text.split(":"))
            assert mins % 5 == 0
            minutes.append(hours * 60 + mins)
    assert all(a < b for a, b in itertools.pairwise(minutes))
    assert all(_to_min(s.depart) - _to_min(s.arrive) == 20 for s in route.stops)


def _to_min(text: str) -> int:
    hours, mins = map(int, text.split(":"))
    return hours * 60 + mins


def test_route_line_follows_stops(route: DemoBusRoute) -> None:
    line = LineString(_metres(route.coords))
    assert line.is_valid
    along = []
    for stop in route.stops:
        point = Point(_metres([(stop.lon, stop.lat)])[0])
        assert line.distance(point) <= 30.0, stop
        along.append(line.project(point))
    assert along == sorted(along)
    assert along[0] <= 30.0 and along[-1] >= line.length - 30.0


def test_route_length(route: DemoBusRoute) -> None:
    assert 8_000 <= route.length_m <= 25_000
    lon, lat = zip(*route.coords, strict=True)
    geodesic = Geod(ellps="WGS84").line_length(lon, lat)
    assert route.length_m == pytest.approx(geodesic, rel=1e-3)
    # No leg with a gap: consecutive vertices are street vertices, never a long jump.
    xy = _metres(route.coords)
    assert np.hypot(*np.diff(xy, axis=0).T).max() < 500.0
