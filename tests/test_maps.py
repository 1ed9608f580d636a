"""Maps: builders, offline assets, street tiles, audit, the public map's privacy canary, the CLI.

Everything runs on the real demo data in the session's PostGIS and the real OSM extract.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import h3
import numpy as np
import osmium
import pytest
from PIL import Image
from sqlalchemy import URL, event, text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.plan import LEFT_OUT_LABELS, LeftOut, Plan, PlannedStop, TeamRoute
from geo_outreach.mapping import data as mapdata
from maps import assets, common, live, planner, public, streets
from maps.model import BusRoute, BusStop
from tests.conftest import cli_env, run_cli

TZ = ZoneInfo("Europe/Warsaw")
NOW = datetime(2025, 12, 15, 21, 30, tzinfo=TZ)  # a Monday evening in the SOS bus season
SERVICE_AREA = (17.9, 54.0, 19.3, 54.9)
CANARY_METRES = 200.0


# -- shared fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiles(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> streets.TileSet:
    """Street tiles of the real extract, drawn once per test session (both map test files)."""
    cache = tmp_path_factory.getbasetemp() / "map-tile-cache"
    return streets.ensure_tiles(data_dir / "osm" / "gdansk-central.osm.pbf", cache)


def team_route(
    team: int,
    rows: Sequence[Any],
    *,
    depot: tuple[float, float],
    distance_m: float,
    name: str | None = None,
) -> TeamRoute:
    """One team's route over site rows (id, code, name, lon, lat, people, hazards), a stop every
    20 minutes from NOW, straight legs from and back to the depot."""
    stops = [
        PlannedStop(
            seq=i + 1,
            site_id=r[0],
            code=r[1],
            name=r[2],
            lon=r[3],
            lat=r[4],
            arrive=NOW + timedelta(minutes=20 * (i + 1)),
            depart=NOW + timedelta(minutes=20 * (i + 1) + 10),
            service_minutes=10,
            estimated_people=r[5],
            hazards=tuple(r[6]),
        )
        for i, r in enumerate(rows)
    ]
    return TeamRoute(
        team=team,
        name=name or f"Zespół {team}",
        start=depot,
        end=depot,
        depart=NOW,
        back=NOW + timedelta(hours=2),
        stops=stops,
        distance_m=distance_m,
        duration_s=7200.0,
        geometry=[depot, *((s.lon, s.lat) for s in stops), depot],
    )


def demo_plan(session: Session) -> Plan:
    """Two teams over real demo sites (straight legs; the planner draws street geometry)."""
    rows = session.execute(
        text(
            "SELECT id, code, name, ST_X(geom), ST_Y(geom), estimated_people, hazards "
            "FROM sleeping_sites WHERE status = 'active' ORDER BY code LIMIT 13"
        )
    ).all()
    assert len(rows) == 13
    depot = (18.6466, 54.3520)
    routes = [
        team_route(team, rows[(team - 1) * 5 : team * 5], depot=depot, distance_m=4200.0 + team)
        for team in (1, 2)
    ]
    reasons = ("no_time", "unreachable", "lower_priority")
    left = [
        LeftOut(site_id=r[0], code=r[1], name=r[2], lon=r[3], lat=r[4], reason=reasons[i])  # type: ignore[arg-type]
        for i, r in enumerate(rows[10:])
    ]
    return Plan(
        mode="streetwork",
        window_start=NOW,
        window_end=NOW + timedelta(hours=3),
        routes=routes,
        left_out=left,
    )


# -- the privacy canary -------------------------------------------------------------------------

_NUMBER_PAIR = re.compile(r"(-?\d{1,3}\.\d{3,})\s*[,\s]\s*\[?\s*(-?\d{1,3}\.\d{3,})")


def _metres(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(a))


def coordinates_in(text_: str) -> list[tuple[float, float]]:
    """Every (lat, lon) a text may hold: each pair of decimals, read both ways round."""
    found = []
    minx, miny, maxx, maxy = SERVICE_AREA
    for a, b in ((float(x), float(y)) for x, y in _NUMBER_PAIR.findall(text_)):
        for lat, lon in ((a, b), (b, a)):
            if miny <= lat <= maxy and minx <= lon <= maxx:
                found.append((lat, lon))
    return found


def canary_hits(
    text_: str,
    *,
    sites: list[tuple[float, float]],
    radius_m: float = CANARY_METRES,
) -> list[tuple[float, float, float]]:
    """Every coordinate within radius_m of a sleeping site, with no exception.

    (The demo keeps its sites 220 m from every public place, so the rule can be literal.)
    Returns (lat, lon, metres to the nearest site).
    """
    site_lat = np.array([s[0] for s in sites])
    site_lon = np.array([s[1] for s in sites])
    hits = []
    for lat, lon in coordinates_in(text_):
        nearest = float(_metres(site_lat, site_lon, lat, lon).min())
        if nearest < radius_m:
            hits.append((lat, lon, nearest))
    return hits


def sensitive_reference(session: Session) -> dict[str, list]:
    """Every sleeping site, read straight from the table."""
    sites = session.execute(
        text("SELECT id, code, name, ST_Y(geom), ST_X(geom) FROM sleeping_sites")
    ).all()
    return {
        "coords": [(float(r[3]), float(r[4])) for r in sites],
        "strings": [str(r[0]) for r in sites] + [r[1] for r in sites] + [r[2] for r in sites],
    }


def assert_no_leak(label_: str, body: str, ref: dict[str, list]) -> None:
    hits = canary_hits(body, sites=ref["coords"])
    assert not hits, f"{label_}: coordinates within {CANARY_METRES} m of a site: {hits[:5]}"
    leaked = [s for s in ref["strings"] if s and s in body]
    assert not leaked, f"{label_}: sleeping-site names/codes/ids present: {leaked[:5]}"
    assert "sleeping_site" not in body and "DEMO-0" not in body, label_


def shown(label_: str, html: str) -> bool:
    """A label is in the page as text or inside a JSON/JS string (non-ASCII escaped)."""
    return label_ in html or json.dumps(label_)[1:-1] in html


# -- pure helpers -------------------------------------------------------------------------------


def test_opening_hours_run_past_midnight() -> None:
    night = [{"byday": "MO", "opens_at": "20:00", "closes_at": "08:00"}]
    monday = datetime(2025, 12, 15, tzinfo=TZ)  # a Monday
    assert common.is_open(night, monday.replace(hour=21))
    assert common.is_open(night, (monday + timedelta(days=1)).replace(hour=7, minute=59))
    assert not common.is_open(night, (monday + timedelta(days=1)).replace(hour=8))
    assert not common.is_open(night, monday.replace(hour=19, minute=59))
    all_day = [{"byday": "TU", "opens_at": "00:00", "closes_at": "24:00"}]
    assert common.is_open(all_day, (monday + timedelta(days=1)).replace(hour=23, minute=59))
    assert not common.is_open(all_day, monday.replace(hour=12))


def test_season_wraps_the_new_year() -> None:
    assert common.in_season("11-01", "03-31", datetime(2026, 1, 10).date())
    assert common.in_season("11-01", "03-31", datetime(2025, 11, 1).date())
    assert not common.in_season("11-01", "03-31", datetime(2025, 7, 1).date())
    assert common.in_season("05-01", "09-30", datetime(2025, 7, 1).date())
    assert common.in_season(None, None, datetime(2025, 7, 1).date())


def test_next_bus_departure_respects_the_season() -> None:
    stop = BusStop(
        seq=1, name="X", lon=18.6, lat=54.35, arrive=NOW.replace(hour=18).time(),
        depart=NOW.replace(hour=18, minute=20).time(),
    )  # fmt: skip
    route = BusRoute(
        name="R", season_from=f"{NOW:%m-%d}", season_to=f"{NOW + timedelta(days=1):%m-%d}",
        coords=[], stops=[stop],
    )  # fmt: skip
    # 21:30 is after today's 18:20, so tomorrow's; the day after is outside the season, which
    # comes back the next year.
    assert common.next_departure(route, stop, NOW) == NOW.replace(hour=18, minute=20) + timedelta(
        days=1
    )
    next_year = NOW.replace(year=NOW.year + 1, hour=18, minute=20)
    assert common.next_departure(route, stop, NOW + timedelta(days=1)) == next_year
    before = NOW - timedelta(days=30)
    assert common.next_departure(route, stop, before) == NOW.replace(hour=18, minute=20)


def test_hours_text_groups_days() -> None:
    hours = [
        {"byday": d, "opens_at": "08:00", "closes_at": "16:00"} for d in ("MO", "TU", "WE")
    ] + [{"byday": "SA", "opens_at": "10:00", "closes_at": "14:00"}]
    assert common.hours_text(hours, "pl") == "pon.–śr. 08:00–16:00; sob. 10:00–14:00"
    assert common.hours_text(hours, "en") == "Mon–Wed 08:00–16:00; Sat 10:00–14:00"


# -- offline assets -----------------------------------------------------------------------------


def test_unknown_remote_asset_is_refused() -> None:
    page = '<html><head><script src="https://example.invalid/x.js"></script></head></html>'
    with pytest.raises(GeoOutreachError, match=r"example\.invalid/x\.js.*not available offline"):
        assets.localize(page)
    with pytest.raises(GeoOutreachError, match="would load from another host"):
        assets.localize('<img src="https://example.invalid/a.png">')


# -- street tiles -------------------------------------------------------------------------------


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_street_tiles_cover_the_extract_and_show_streets(
    tiles: streets.TileSet, data_dir: Path
) -> None:
    w, s, e, n = tiles.bounds
    expected = 0
    for z in range(tiles.min_zoom, tiles.max_zoom + 1):
        x0, y1 = _tile_of(w, s, z)
        x1, y0 = _tile_of(e, n, z)
        expected += (x1 - x0 + 1) * (y1 - y0 + 1)
        assert (tiles.directory / str(z) / str(x0) / f"{y0}.png").is_file()
    assert tiles.tiles == expected
    # A real primary road of the extract must be drawn on its tile at the highest zoom.
    road = None
    for obj in osmium.FileProcessor(
        str(data_dir / "osm" / "gdansk-central.osm.pbf")
    ).with_locations():
        if obj.is_way() and obj.tags.get("highway") == "primary" and len(obj.nodes) > 3:
            mid = obj.nodes[len(obj.nodes) // 2]
            road = (mid.lon, mid.lat)
            break
    assert road is not None
    x, y = _tile_of(road[0], road[1], tiles.max_zoom)
    png = Image.open(tiles.directory / str(tiles.max_zoom) / str(x) / f"{y}.png").convert("RGB")
    pixels = np.asarray(png).reshape(-1, 3)
    not_background = np.any(np.abs(pixels.astype(int) - streets.BACKGROUND) > 12, axis=1)
    assert not_background.mean() > 0.02, "the tile under a primary road shows no street"
    stamp = json.loads((tiles.directory / streets.STAMP).read_text())
    assert stamp["attribution"] == "© OpenStreetMap contributors"


def _tiny_pbf(path: Path, *, shift: float) -> None:
    with osmium.SimpleWriter(str(path)) as writer:
        for i in range(3):
            writer.add_node(
                osmium.osm.mutable.Node(id=i + 1, location=(18.60 + shift + i * 0.001, 54.35))
            )
        writer.add_way(
            osmium.osm.mutable.Way(id=1, nodes=[1, 2, 3], tags={"highway": "residential"})
        )


def test_tiles_are_cached_and_rebuilt_when_the_pbf_changes(tmp_path: Path) -> None:
    pbf = tmp_path / "tiny.osm.pbf"
    cache = tmp_path / "cache"
    _tiny_pbf(pbf, shift=0.0)
    first = streets.ensure_tiles(pbf, cache, min_zoom=14, max_zoom=15)
    stamp_time = (first.directory / streets.STAMP).stat().st_mtime_ns
    again = streets.ensure_tiles(pbf, cache, min_zoom=14, max_zoom=15)
    assert again.directory == first.directory
    assert (again.directory / streets.STAMP).stat().st_mtime_ns == stamp_time  # not redrawn
    pbf.unlink()
    _tiny_pbf(pbf, shift=0.01)
    changed = streets.ensure_tiles(pbf, cache, min_zoom=14, max_zoom=15)
    assert changed.source_sha256 != first.source_sha256
    assert changed.directory != first.directory and not first.directory.exists()
    out = tmp_path / "out"
    streets.install_tiles(changed, out)
    assert (out / "tiles" / streets.STAMP).is_file()


def test_bad_extract_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoOutreachError, match="file not found"):
        streets.ensure_tiles(tmp_path / "missing.osm.pbf", tmp_path)
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"this is not a pbf")
    with pytest.raises(GeoOutreachError, match=r"junk\.osm\.pbf"):
        streets.ensure_tiles(junk, tmp_path / "c")


# -- live map -----------------------------------------------------------------------------------


def _audit_count(session: Session, purpose: str, layer: str) -> int:
    return int(
        session.execute(
            text("SELECT count(*) FROM audit_log WHERE layer = :l AND detail->>'purpose' = :p"),
            {"l": layer, "p": purpose},
        ).scalar_one()
    )


def test_live_data_is_audited(session: Session) -> None:
    before = {lay: _audit_count(session, "map:live", lay) for lay in ("sleeping_sites", "visits")}
    data = mapdata.live_data(session, actor="test:maps")
    session.flush()
    n_sites = session.execute(text("SELECT count(*) FROM sleeping_sites")).scalar_one()
    assert len(data.sites) == n_sites
    for lay in ("sleeping_sites", "visits"):
        assert _audit_count(session, "map:live", lay) == before[lay] + 1
    row = session.execute(
        text(
            "SELECT object_ids, detail FROM audit_log WHERE layer = 'sleeping_sites' "
            "AND actor = 'test:maps' ORDER BY id DESC LIMIT 1"
        )
    ).one()
    assert len(row[0]) == n_sites and row[1]["count"] == n_sites


def test_live_map_layers_labels_and_no_personal_data(
    session: Session, tiles: streets.TileSet
) -> None:
    data = mapdata.live_data(session, actor="test:maps")
    page = common.render(live.build(data, now=NOW, streets=tiles))
    html = page.html
    for needle in (
        '<html lang="pl">',
        "Miejsca niemieszkalne",
        "Placówki pomocy",
        "Autobus SOS",
        "Dzielnice",
        "Legenda",
        "Szukaj miejsca: nazwa lub numer",
        "Pokaż moje położenie",
        "zamieszkałe",
        "dni od wizyty",
        "© OpenStreetMap contributors",
        "tiles/{z}/{x}/{y}.png",
    ):
        assert shown(needle, html), needle
    assert "user-scalable=no" not in html
    # Every site travels once, in the compact array (not as one Marker each).
    payload = json.loads(re.search(r"new L\.GoSiteLayer\((\{.*?\})\);\n", html, re.S).group(1))
    codes = session.execute(text("SELECT code FROM sleeping_sites ORDER BY code")).scalars().all()
    assert sorted(payload["code"]) == list(codes)  # packed as columns (live.site_columns)
    assert html.count("L.circleMarker(") == 0 and html.count("L.marker(") < 50
    # Recent visits: dates and counts only; no note ever reaches the map.
    notes = (
        session.execute(
            text("SELECT DISTINCT note FROM visits WHERE note IS NOT NULL AND length(note) > 8")
        )
        .scalars()
        .all()
    )
    assert not [n for n in notes if shown(n, html)]
    with_visits = session.execute(
        text("SELECT count(DISTINCT site_id) FROM visits WHERE site_id IS NOT NULL")
    ).scalar_one()
    assert sum(1 for n in payload["visits"] if n) == with_visits
    # The confidential shelter's place is never drawn, not even on the internal map.
    conf = session.execute(
        text("SELECT code, ST_Y(geom), ST_X(geom) FROM facilities WHERE confidential")
    ).all()
    assert conf, "the demo has a confidential facility"
    for code, lat, lon in conf:
        assert not shown(f'data-facility="{code}"', html)
        assert f"{lat:.5f}" not in html or f"{lon:.5f}" not in html
    # Everything is local: assets beside the page, none from a CDN.
    srcs = re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', html)
    assert srcs and all(s.startswith("assets/") for s in srcs)
    assert set(s.removeprefix("assets/") for s in srcs) == set(page.assets)


# -- planner map --------------------------------------------------------------------------------


def test_planner_map_routes_stops_left_out_and_heat(
    session: Session, tiles: streets.TileSet
) -> None:
    plan = demo_plan(session)
    points = mapdata.heat_points(session, actor="test:maps")
    m = planner.build(plan, heat_points=points, districts=mapdata.districts(session), streets=tiles)
    page = common.render(m)
    html = page.html
    for route in plan.routes:
        assert planner.team_colour(route.team) in html
        for stop in route.stops:
            assert shown(f"{stop.seq}. {stop.code} – przyjazd {stop.arrive:%H:%M}", html)
            assert shown(f'data-team="{route.team}" data-seq="{stop.seq}"', html)
    for lo in plan.left_out:
        assert shown(f"{lo.code} {lo.name}: {LEFT_OUT_LABELS[lo.reason]}", html)
    assert shown("►", html) and "setText" in html  # direction arrows along each route
    assert "L.Control.Draw" in html and "szkic.geojson" in html
    assert shown("Eksportuj szkic (GeoJSON)", html)
    district_names = (
        session.execute(text("SELECT name FROM areas WHERE kind = 'district'")).scalars().all()
    )
    assert all(shown(name, html) for name in district_names)
    # Heat cells: exactly the H3 r8 cells with 5+ people, computed here straight from the table.
    totals: dict[str, int] = {}
    for lon, lat, people in session.execute(
        text(
            "SELECT ST_X(geom), ST_Y(geom), estimated_people FROM sleeping_sites "
            "WHERE status IN ('active', 'seasonal')"
        )
    ):
        if people:
            cell = h3.latlng_to_cell(lat, lon, 8)
            totals[cell] = totals.get(cell, 0) + people
    expected = {c for c, n in totals.items() if n >= 5}
    drawn = set(re.findall(r'"cell": "([0-9a-f]{15})"', html))
    assert expected and drawn == expected
    assert all(h3.get_resolution(c) == 8 for c in drawn)
    suppressed = {c for c, n in totals.items() if n < 5}
    assert suppressed and not (suppressed & set(re.findall(r"[0-9a-f]{15}", html)))


# -- public map ---------------------------------------------------------------------------------


@pytest.fixture
def public_pages(session: Session, tiles: streets.TileSet, tmp_path: Path) -> Path:
    data = mapdata.public_data(session)
    for lang in public.LANGS:
        common.save(
            public.build(data, now=NOW, streets=tiles, lang=lang),
            tmp_path / public.FILE_NAMES[lang],
        )
    streets.install_tiles(tiles, tmp_path)
    return tmp_path


def test_public_data_never_reads_site_tables(session: Session) -> None:
    statements: list[str] = []

    def spy(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", spy)
    try:
        data = mapdata.public_data(session)
    finally:
        event.remove(connection, "before_cursor_execute", spy)
    assert statements and data.facilities and data.routes
    for statement in statements:
        for table in ("sleeping_sites", "visits", "patrol"):
            assert table not in statement, statement


def test_public_map_lists_places_accessibly_in_three_languages(
    session: Session, public_pages: Path
) -> None:
    places = session.execute(
        text("SELECT name, address FROM facilities WHERE public AND NOT confidential")
    ).all()
    hidden = (
        session.execute(text("SELECT name FROM facilities WHERE NOT public OR confidential"))
        .scalars()
        .all()
    )
    stops = session.execute(
        text("SELECT name, to_char(depart_time, 'HH24:MI') FROM sos_bus_stops")
    ).all()
    assert places and hidden and stops
    wisely = {"pl": "Pomagaj mądrze", "en": "Help wisely", "uk": "Допомагай мудро"}
    for lang in public.LANGS:
        html = (public_pages / public.FILE_NAMES[lang]).read_text()
        assert f'<html lang="{lang}">' in html
        assert re.search(
            r'<meta name="viewport" content="width=device-width, initial-scale=1"', html
        )
        assert "user-scalable=no" not in html and "maximum-scale" not in html
        aside = html[html.index('<aside class="go-aside"') : html.index("</aside>")]
        assert aside.count("<li><h3>") == len(places)
        for name, address in places:
            assert name in aside and address in aside
        for name in hidden:
            assert not shown(name, html)
        for name, depart in stops:
            assert name in aside and depart in aside
        assert 'href="tel:112"' in aside and 'href="tel:986"' in aside
        assert wisely[lang] in aside and "© OpenStreetMap contributors" in html
        assert all(f'href="{public.FILE_NAMES[o]}"' in aside for o in public.LANGS)


def test_public_map_privacy_canary(session: Session, public_pages: Path) -> None:
    """No coordinate within 200 m of any sleeping site, no site name, code or id, in the HTML
    and every file it loads — checked against the full demo data."""
    ref = sensitive_reference(session)
    assert (
        len(ref["coords"])
        == session.execute(text("SELECT count(*) FROM sleeping_sites")).scalar_one()
    )
    checked = 0
    for lang in public.LANGS:
        page = public_pages / public.FILE_NAMES[lang]
        html = page.read_text()
        assert_no_leak(page.name, html, ref)
        checked += 1
        refs = re.findall(r'(?:src|href)="((?:assets|tiles)/[^"]+)"', html)
        assert refs
        for rel in refs:
            assert_no_leak(rel, (public_pages / rel).read_text(), ref)
            checked += 1
    # Tiles are images drawn only from OSM; their stamp is the only text beside them.
    assert_no_leak("tiles/tileset.json", (public_pages / "tiles" / streets.STAMP).read_text(), ref)
    assert checked > 6


def test_privacy_canary_catches_a_leak(session: Session, public_pages: Path) -> None:
    """The canary bites: a site's position (even rounded to ~100 m) or code is caught."""
    ref = sensitive_reference(session)
    html = (public_pages / "public.html").read_text()
    lat, lon = ref["coords"][7]
    for leak in (f"[{lat}, {lon}]", f"[{lon:.3f},{lat:.3f}]", f'"center": [{lat:.4f}, {lon:.4f}]'):
        with pytest.raises(AssertionError, match="within 200"):
            assert_no_leak("leaky", html.replace("</body>", leak + "</body>"), ref)
    code = session.execute(text("SELECT code FROM sleeping_sites LIMIT 1")).scalar_one()
    with pytest.raises(AssertionError, match="names/codes/ids"):
        assert_no_leak("leaky", html + code, ref)


def test_public_map_refuses_a_confidential_facility(session: Session) -> None:
    data = mapdata.live_data(session, actor="test:maps", with_districts=False)
    conf = [f for f in data.facilities if f.confidential]
    with pytest.raises(GeoOutreachError, match=r"confidential.*never be on the public map"):
        public.build(
            public.PublicData(facilities=conf, routes=[]), now=NOW, streets=None, lang="pl"
        )


# -- command line -------------------------------------------------------------------------------


def test_cli_writes_the_maps(
    engine: object, admin_url: URL, app_url: URL, tiles: streets.TileSet, tmp_path: Path
) -> None:
    env = cli_env(admin_url, app_url)
    cache = tiles.directory.parent
    out = tmp_path / "maps"
    proc = run_cli(
        "map", "all", "--out", str(out), "--cache", str(cache), "--at", "2025-12-15T21:30",
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("live.html", "public.html", "public.en.html", "public.uk.html"):
        assert (out / name).is_file(), proc.stdout
    assert (out / "tiles" / streets.STAMP).is_file()
    assert "© OpenStreetMap contributors" in proc.stdout
    from geo_outreach.routing import planner as planner_module

    proc = run_cli("map", "planner", "--out", str(out), "--cache", str(cache), env=env)
    if hasattr(planner_module, "plan_tonight"):
        assert proc.returncode == 0, proc.stderr
        assert (out / "planner.html").is_file()
    else:
        assert proc.returncode == 1
        assert "planner is not available yet" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("map", "everything"), "KIND must be one of live, planner, public, all; got 'everything'"),
        (("map", "live", "--at", "yesterday"), "--at: 'yesterday' is not an ISO date-time"),
        (("map", "public", "--osm", "/nonexistent/x.osm.pbf"), "osm extract: file not found"),
    ],
)
def test_cli_bad_input(
    engine: object,
    admin_url: URL,
    app_url: URL,
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    proc = run_cli(*args, "--out", str(tmp_path), env=cli_env(admin_url, app_url))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not list(tmp_path.glob("*.html"))
