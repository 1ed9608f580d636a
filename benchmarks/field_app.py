"""Field app (/app/) against the CLI's static live map: time from navigation to an interactive map.

    .venv/bin/python -m benchmarks.field_app [--sizes 300,5000] [--repeat 3]

Starts a throw-away PostGIS cluster with the demo (facilities, SOS bus), replaces its sites with
N synthetic ones, serves it with `geo-outreach serve`, and writes the static live map with the
CLI's own entry point (`geo-outreach map live`, geo_outreach/mapping/render.py) in the same run.
Then, in Debian's Chromium at 360×640:

- online, on Chrome DevTools' "Slow 4G" profile (CDP Network.emulateNetworkConditions: 562.5 ms
  latency, 1.44 Mb/s down, 675 kb/s up), with an empty browser cache: the app's first visit
  (already logged in, its cookie set; service worker blocked in this run, as CDP would not
  throttle the worker's own fetches) and the static map served over plain HTTP on loopback;
- offline: the app reloaded from its service worker's cache with the network cut, and the
  static map opened from disk (file://), which is how a phone without signal would keep it.

"Interactive" is the same signal for both: the live map's own site layer (shared by both) has
drawn the sites (window.GO_SITE_STATS), and for the app also its data-ready flag (its buttons
are wired). Times are from navigation start (performance.timeOrigin), median of --repeat runs.
Prints a table on stderr and one JSON line on stdout. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import URL, text

from benchmarks.api import PASSWORD, SECRET, fill, free_port, log, serve
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.settings import Settings
from geo_outreach.demo.cluster import demo_cluster

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
# Chrome DevTools' "Slow 4G" preset (its network panel): 150 ms RTT × 3.75, 1.6 Mb/s and
# 750 kb/s × 0.9, in bytes per second.
SLOW_4G = {
    "offline": False,
    "latency": 150 * 3.75,
    "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,
    "uploadThroughput": 750 * 1000 / 8 * 0.9,
}
OFFLINE = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
# Resolves with performance.now() (ms since navigation start) once `cond` holds (written into
# the script: the app's CSP allows no eval).
READY_JS = """() => new Promise(resolve => {
  const check = () => (%s) ? resolve(performance.now()) : requestAnimationFrame(check);
  check();
})"""
SITES_DRAWN = "!!window.GO_SITE_STATS && window.GO_SITE_STATS.total > 0"
APP_READY = "document.body && document.body.dataset.ready === 'true' && " + SITES_DRAWN
LOAD_TIMEOUT_MS = 180_000


def reset_sites(admin: URL, n: int) -> None:
    """Exactly n synthetic sites (the demo's removed), three in four visited in the last 90 days."""
    engine = db.make_engine(admin, statement_timeout_ms=600_000)
    try:
        with db.session_scope(engine) as s:
            s.execute(text("TRUNCATE sleeping_sites CASCADE"))
    finally:
        engine.dispose()
    fill(admin, n)
    engine = db.make_engine(admin, statement_timeout_ms=600_000)
    try:
        with db.session_scope(engine) as s:
            s.execute(
                text(
                    "UPDATE sleeping_sites SET last_visit_at = now() - (abs(hashtext(code)) % 90) "
                    "* interval '1 day' WHERE abs(hashtext(code)) % 4 > 0"
                )
            )
    finally:
        engine.dispose()


def add_streetworker(app: URL) -> None:
    engine = db.make_engine(app)
    try:
        with db.session_scope(engine) as s:
            auth.add_user(s, name="bench-sw", role="streetworker", password=PASSWORD, actor="b")
    finally:
        engine.dispose()


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """The CLI's map folder over plain HTTP on loopback, gzipped as a web host would serve it."""

    class Host(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            path = Path(self.translate_path(self.path))
            zipped = path.suffix in (".html", ".js", ".css") and "gzip" in self.headers.get(
                "Accept-Encoding", ""
            )
            if not zipped or not path.is_file():
                super().do_GET()
                return
            body = gzip.compress(path.read_bytes(), compresslevel=6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    handler = functools.partial(Host, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


# Bytes over the wire until now: the page and every resource it fetched (Resource Timing).
TRANSFERRED_JS = """() => performance.getEntries().filter(e => 'transferSize' in e)
  .reduce((n, e) => n + e.transferSize, 0)"""


def _timed(page: Page, url: str, cond: str) -> tuple[float, int]:
    """Seconds from navigation start until `cond` holds, and the bytes transferred by then."""
    page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
    ms: float = page.evaluate(READY_JS % cond)
    return ms / 1000, int(page.evaluate(TRANSFERRED_JS))


def _throttled(context: BrowserContext, conditions: dict[str, Any]) -> Page:
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", conditions)
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    return page


def _logged_in(browser: Browser, base: str, **options: Any) -> BrowserContext:
    context = browser.new_context(**PHONE, **options)
    answer = context.request.post(
        f"{base}/app/login",
        form={"username": "bench-sw", "password": PASSWORD},
        headers={"Origin": base},
        max_redirects=0,
    )
    assert answer.status == 303, answer.status
    return context


def app_runs(browser: Browser, base: str) -> dict[str, float]:
    """(online on Slow 4G with an empty cache, offline from the service worker) in seconds."""
    # Online: the first visit. The service worker is kept out of this run because CDP throttles
    # the page's own requests only: once the worker took over, it would fetch the data unthrottled.
    context = _logged_in(browser, base, service_workers="block")
    try:
        online, sent = _timed(_throttled(context, SLOW_4G), f"{base}/app/", APP_READY)
    finally:
        context.close()
    context = _logged_in(browser, base)
    try:
        page = context.new_page()
        page.goto(f"{base}/app/")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        # The first load fetched its data before the worker took over: once more through it.
        page.reload(wait_until="commit")
        page.evaluate(READY_JS % "true")
        for _ in range(600):
            if page.evaluate("caches.keys().then(k => k.includes('go-data'))"):
                break
            page.wait_for_timeout(500)
        else:
            sys.exit("error: the service worker never kept the app's data")
        page.close()
        context.set_offline(True)
        page = _throttled(context, OFFLINE)
        offline, _ = _timed(page, f"{base}/app/", APP_READY)
        stats = page.evaluate("window.GO_SITE_STATS.total")
        assert stats > 0
        return {"online": online, "offline": offline, "bytes": sent}
    finally:
        context.close()


def static_runs(browser: Browser, base: str, folder: Path) -> dict[str, float]:
    context = browser.new_context(**PHONE)
    try:
        page = _throttled(context, SLOW_4G)
        online, sent = _timed(page, f"{base}/live.html", SITES_DRAWN)
        page.close()
        context.set_offline(True)
        page = _throttled(context, OFFLINE)
        offline, _ = _timed(page, (folder / "live.html").as_uri(), SITES_DRAWN)
        return {"online": online, "offline": offline, "bytes": sent}
    finally:
        context.close()


def median_of(repeat: int, run: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
    runs = [run(*args) for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def write_static_map(env: dict[str, str], folder: Path) -> None:
    cmd = [sys.executable, "-m", "geo_outreach.cli", "map", "live", "--out", str(folder)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"error: geo-outreach map live failed: {done.stderr[-2000:]}")


def data_bytes(base: str) -> int:
    """Size of the app's data for this account (/app/data.json, uncompressed)."""
    with httpx.Client(base_url=base, timeout=120) as client:
        client.post(
            "/app/login",
            data={"username": "bench-sw", "password": PASSWORD},
            headers={"Origin": base},
        )
        return len(client.get("/app/data.json").content)


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in [path, *path.parent.glob("assets/*")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,5000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = Settings()
    results: dict[int, dict[str, Any]] = {}
    with demo_cluster(data_dir=settings.data_dir, log=log) as cluster:
        admin, app = cluster.url(admin=True), cluster.url()
        add_streetworker(app)
        env = dict(os.environ)
        env.update(
            GEO_OUTREACH_DATABASE_URL=app.render_as_string(hide_password=False),
            GEO_OUTREACH_ADMIN_DATABASE_URL=admin.render_as_string(hide_password=False),
            GEO_OUTREACH_SECRET_KEY=SECRET,
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "geo_outreach.cli", "serve", "--port", str(port)]
        with (
            serve(cmd, env, f"{base}/health"),
            sync_playwright() as p,
            tempfile.TemporaryDirectory(prefix="geo-outreach-bench-") as tmp,
        ):
            httpx.get(f"{base}/maps/tiles/11/1130/653.png", timeout=300)  # tiles drawn once
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for n in sizes:
                log(f"[{n} sites] sites, static map (CLI) …")
                reset_sites(admin, n)
                folder = Path(tmp) / str(n)
                write_static_map(env, folder)
                log(f"[{n} sites] app and static map, online (Slow 4G) and offline …")
                with static_server(folder) as static_base:
                    app_t = median_of(args.repeat, app_runs, browser, base)
                    static_t = median_of(args.repeat, static_runs, browser, static_base, folder)
                results[n] = {
                    "app_data_bytes": data_bytes(base),
                    "app": app_t,
                    "static": static_t,
                    "static_bytes": _bytes(folder / "live.html"),
                }
            browser.close()
    print(
        "seconds from navigation to an interactive map, 360×640, median of "
        f"{args.repeat}; online = Chrome's Slow 4G profile, empty cache",
        file=sys.stderr,
    )
    print(
        f"{'sites':>6}{'app online':>12}{'static online':>15}{'ratio':>7}"
        f"{'app offline':>13}{'static offline':>16}{'ratio':>7}",
        file=sys.stderr,
    )
    out = []
    for n, r in results.items():
        a, s = r["app"], r["static"]
        on, off = a["online"] / s["online"], a["offline"] / s["offline"]
        print(
            f"{n:>6}{a['online']:>12.2f}{s['online']:>15.2f}{on:>7.2f}"
            f"{a['offline']:>13.2f}{s['offline']:>16.2f}{off:>7.2f}",
            file=sys.stderr,
        )
        out.append(
            {
                "sites": n,
                "app_online_s": round(a["online"], 2),
                "static_online_s": round(s["online"], 2),
                "ratio_online_app_over_static": round(on, 2),
                "app_offline_s": round(a["offline"], 2),
                "static_offline_s": round(s["offline"], 2),
                "ratio_offline_app_over_static": round(off, 2),
                "static_map_bytes": r["static_bytes"],
                "app_data_bytes": r["app_data_bytes"],
                "app_transferred_bytes": int(a["bytes"]),
                "static_transferred_bytes": int(s["bytes"]),
            }
        )
    print(json.dumps({"repeat": args.repeat, "profile": "slow-4g", "results": out}))


if __name__ == "__main__":
    main()
