"""Live map at scale: generation seconds, HTML bytes and first paint in Chromium at 1k/20k/100k.

Peer, measured in the same run: folium's usual way, one CircleMarker per site inside a
MarkerCluster (Leaflet.markercluster), rendered through the same offline asset pipeline.
Baseline, also in the same run: our own page with the sites as they were sent before issue 15
(one row array per site, `tojson`'s spaced JSON), so the packed columns are judged against it.
First paint = navigation start → the sites are on the map and the next frame has been drawn.
Generation and first paint are medians of `--repeat` runs.

    .venv/bin/python benchmarks/maps.py [--sizes 1000,20000,100000] [--peer-max 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# This file is called maps.py: keep its folder off the path so `maps` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import folium  # noqa: E402
import numpy as np  # noqa: E402
from folium.plugins import MarkerCluster  # noqa: E402
from jinja2.utils import htmlsafe_json_dumps  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from geo_outreach.core.settings import Settings  # noqa: E402
from geo_outreach.core.vocab import HAZARDS, SITE_CATEGORIES, SITE_STATUSES  # noqa: E402
from maps import assets, common, live, streets  # noqa: E402
from maps.model import LiveData, SitePoint, VisitSummary  # noqa: E402

NOW = datetime(2025, 12, 15, 21, 30, tzinfo=ZoneInfo("Europe/Warsaw"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
OURS_READY = "window.GO_SITE_STATS"
PEER_READY = "document.querySelector('.marker-cluster, .leaflet-interactive')"


def synthetic_sites(n: int, bounds: tuple[float, float, float, float]) -> list[SitePoint]:
    """Deterministic fake sites spread like a city: dense centre, sparse edges."""
    rng = np.random.default_rng(2025)
    w, s, e, north = bounds
    lon = np.clip(rng.normal((w + e) / 2, (e - w) / 5, n), w, e)
    lat = np.clip(rng.normal((s + north) / 2, (north - s) / 5, n), s, north)
    cats, stats, hazards = list(SITE_CATEGORIES), list(SITE_STATUSES), list(HAZARDS)
    sites = []
    for i in range(n):
        last = NOW - timedelta(days=int(rng.integers(0, 90))) if i % 4 else None
        visits = (
            tuple(
                VisitSummary(visited_at=last - timedelta(days=7 * k), people_met=int(k + 1))
                for k in range(2)
            )
            if last
            else ()
        )
        sites.append(
            SitePoint(
                id=uuid.UUID(int=i + 1),
                code=f"BENCH-{i:06d}",
                name=f"Miejsce testowe {i}",
                category=cats[i % len(cats)],
                status=stats[i % len(stats)],
                lon=float(lon[i]),
                lat=float(lat[i]),
                estimated_people=int(rng.integers(0, 6)),
                hazards=(hazards[i % len(hazards)],) if i % 3 == 0 else (),
                last_visit_at=last.astimezone(UTC) if last else None,
                district=None,
                recent_visits=visits,
            )
        )
    return sites


def peer_map(sites: list[SitePoint], tiles: streets.TileSet) -> folium.Map:
    m = common.new_map(streets=tiles, lang="pl", title="peer", location=common.GDANSK_CENTRE)
    cluster = MarkerCluster(name="sites").add_to(m)
    for p in sites:
        folium.CircleMarker(
            [p.lat, p.lon], radius=6, color="#c0392b", fill=True, popup=f"{p.code} {p.name}"
        ).add_to(cluster)
    return m


def rows_map(data: LiveData, tiles: streets.TileSet) -> folium.Map:
    """Our live map with the sites encoded as before issue 15: one row per site, spaced JSON."""
    m = live.build(data, now=NOW, streets=tiles)
    (layer,) = [c for c in m._children.values() if isinstance(c, live.SiteLayer)]
    layer.data_json = htmlsafe_json_dumps(
        live.site_payload(data.sites, now=NOW, lang="pl"), sort_keys=True
    )
    return m


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _timed_save(build: Any, path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    page = common.render(build())
    assets.write(page, path)
    return time.perf_counter() - started, len(page.html.encode())


def _median_save(build: Any, path: Path, repeat: int) -> tuple[float, int]:
    runs = [_timed_save(build, path) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), runs[-1][1]


def _median_paint(browser: Any, url: str, ready: str, repeat: int) -> float:
    return statistics.median(_first_paint(browser, url, ready) for _ in range(repeat))


def _first_paint(browser: Any, url: str, ready: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if "127.0.0.1" not in r.url else None)
    page.goto(url, wait_until="commit", timeout=300_000)
    ms = page.evaluate(
        "ready => new Promise(done => { (function poll() {"
        " if (eval(ready)) { requestAnimationFrame(() => done(performance.now())); }"
        " else { setTimeout(poll, 5); } })(); })",
        ready,
    )
    context.close()
    if [u for u in foreign if not u.startswith("data:")]:
        msg = f"non-local requests: {foreign[:3]}"
        raise RuntimeError(msg)
    return float(ms) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--peer-max", type=int, default=20000, help="largest size for the peer")
    parser.add_argument("--osm", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()
    settings = Settings()
    osm = args.osm or settings.pbf
    tiles = streets.ensure_tiles(osm, settings.cache_dir)
    sizes = [int(s) for s in args.sizes.split(",")]
    out = Path(tempfile.mkdtemp(prefix="geo-outreach-bench-"))
    streets.install_tiles(tiles, out)
    handler = functools.partial(_Quiet, directory=str(out))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.handle_error = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    print(f"live map benchmark (Chromium {'/usr/bin/chromium'}, 1280x800, output {out})")
    print(
        f"{'sites':>7} | {'map':<22} | {'generate s':>10} | {'HTML MB':>8} | {'first paint s':>13}"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for n in sizes:
            sites = synthetic_sites(n, tiles.bounds)
            data = LiveData(sites=sites, facilities=[], routes=[])
            gen, size = _median_save(
                lambda data=data: live.build(data, now=NOW, streets=tiles),
                out / f"live-{n}.html",
                args.repeat,
            )
            paint = _median_paint(browser, f"{base}/live-{n}.html", OURS_READY, args.repeat)
            print(
                f"{n:>7} | {'geo-outreach live map':<22} | {gen:>10.2f} | {size / 1e6:>8.2f} | "
                f"{paint:>13.2f}"
            )
            bgen, bsize = _median_save(
                lambda data=data: rows_map(data, tiles), out / f"rows-{n}.html", args.repeat
            )
            bpaint = _median_paint(browser, f"{base}/rows-{n}.html", OURS_READY, args.repeat)
            print(
                f"{n:>7} | {'ours, rows (pre-#15)':<22} | {bgen:>10.2f} | {bsize / 1e6:>8.2f} | "
                f"{bpaint:>13.2f}"
            )
            print(
                f"{n:>7} | {'ratio rows / packed':<22} | {bgen / gen:>9.1f}x | "
                f"{bsize / size:>7.2f}x | {bpaint / paint:>12.2f}x"
            )
            if n > args.peer_max:
                print(f"{n:>7} | {'folium MarkerCluster':<22} | not run (above --peer-max)")
                continue
            pgen, psize = _median_save(
                lambda sites=sites: peer_map(sites, tiles), out / f"peer-{n}.html", args.repeat
            )
            ppaint = _median_paint(browser, f"{base}/peer-{n}.html", PEER_READY, args.repeat)
            print(
                f"{n:>7} | {'folium MarkerCluster':<22} | {pgen:>10.2f} | {psize / 1e6:>8.2f} | "
                f"{ppaint:>13.2f}"
            )
            print(
                f"{n:>7} | {'ratio peer / ours':<22} | {pgen / gen:>9.1f}x | "
                f"{psize / size:>7.1f}x | {ppaint / paint:>12.1f}x"
            )
        browser.close()
    httpd.shutdown()


if __name__ == "__main__":
    main()
