"""The three maps in real headless Chromium (Debian's), served from 127.0.0.1 with no network.

Each page, on a desktop and a phone viewport: a screenshot, zero console errors, zero requests
to any other host, street tiles drawn, and the expected markers or clusters on screen. The public
pages also go through the privacy canary with everything the browser actually loaded.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.mapping import data as mapdata
from maps import common, live, planner, public, streets
from tests.browser_support import chromium
from tests.test_maps import (
    NOW,
    assert_no_leak,
    demo_plan,
    sensitive_reference,
    tiles,  # noqa: F401 - the session tile fixture
)

ARTIFACTS = Path(__file__).parent / "artifacts" / "maps"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # tiles cancelled when a page closes are not errors


@pytest.fixture(scope="module")
def site(
    session_module: Session,
    tiles: streets.TileSet,  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """All maps of the demo written into one folder, as `geo-outreach map` does."""
    s = session_module
    out = tmp_path_factory.mktemp("maps-site")
    streets.install_tiles(tiles, out)
    data = mapdata.live_data(s, actor="test:browser")
    common.save(live.build(data, now=NOW, streets=tiles), out / "live.html")
    plan = demo_plan(s)
    m = planner.build(
        plan,
        heat_points=mapdata.heat_points(s, actor="test:browser"),
        districts=mapdata.districts(s),
        streets=tiles,
    )
    common.save(m, out / "planner.html")
    pdata = mapdata.public_data(s)
    for lang in public.LANGS:
        common.save(
            public.build(pdata, now=NOW, streets=tiles, lang=lang), out / public.FILE_NAMES[lang]
        )
    return {
        "dir": out,
        "sites": [(p.lat, p.lon) for p in data.sites],
        "codes": [p.code for p in data.sites],
        "plan": plan,
        "public": pdata,
        "reference": sensitive_reference(s),
    }


@pytest.fixture(scope="module")
def session_module(engine: Any) -> Iterator[Session]:
    connection = engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


@pytest.fixture(scope="module")
def server(site: dict[str, Any]) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site["dir"]))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Visit:
    """One page load with every request, response and console error recorded."""

    def __init__(self, browser: Browser, url: str, viewport: str) -> None:
        self.context = browser.new_context(**VIEWPORTS[viewport])  # type: ignore[arg-type]
        self.page: Page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.bodies: dict[str, bytes] = {}
        local = urlparse(url).netloc
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", self._keep)

        # Anything not on our server is refused (and still recorded, so the test fails on it).
        def guard(route: Any) -> None:
            if urlparse(route.request.url).netloc == local:
                route.continue_()
            else:
                route.abort()

        self.page.route("**/*", guard)
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function(
            "document.querySelectorAll('img.leaflet-tile-loaded').length > 0"
        )
        self.page.wait_for_load_state("networkidle")

    def _keep(self, response: Any) -> None:
        with contextlib.suppress(Exception):  # a cancelled tile has no body
            self.bodies[response.url] = response.body()

    def foreign(self) -> list[str]:
        return [
            u
            for u in self.requests
            if not u.startswith("data:") and urlparse(u).hostname not in ("127.0.0.1", "localhost")
        ]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        print(f"screenshot: {path}")
        return path

    def close(self) -> None:
        self.context.close()


def _common_checks(v: Visit, name: str) -> None:
    path = v.screenshot(name)
    assert path.stat().st_size > 10_000
    assert v.errors == [], v.errors
    assert v.foreign() == [], v.foreign()
    n_tiles = v.page.locator("img.leaflet-tile-loaded").count()
    assert n_tiles >= 4, f"{name}: only {n_tiles} street tiles drawn"
    assert (
        v.page.locator(".leaflet-control-attribution")
        .inner_text()
        .count("© OpenStreetMap contributors")
        == 1
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_live_map_in_chromium(
    browser: Browser, server: str, site: dict[str, Any], viewport: str
) -> None:
    v = Visit(browser, f"{server}/live.html", viewport)
    try:
        _common_checks(v, f"live-{viewport}")
        stats = v.page.evaluate("window.GO_SITE_STATS")
        south, west, north, east = stats["bounds"]
        in_view = sum(
            1 for lat, lon in site["sites"] if south <= lat <= north and west <= lon <= east
        )
        assert stats["total"] == len(site["sites"])
        assert stats["inView"] == in_view > 0
        assert stats["clustered"] + stats["points"] == in_view
        assert v.page.locator(".go-cluster").count() == stats["clusters"] > 0
        # Clusters carry their counts; together with single points they hold every site in view.
        counts = v.page.locator(".go-cluster").evaluate_all(
            "els => els.map(e => Number(e.dataset.count))"
        )
        assert sum(counts) == stats["clustered"]
        if viewport == "desktop":
            code = site["codes"][len(site["codes"]) // 2]
            v.page.fill(".go-search input", code)
            v.page.keyboard.press("Enter")
            popup = v.page.locator(".leaflet-popup-content")
            popup.wait_for()
            assert code in popup.inner_text()
            v.screenshot("live-search-popup")
        assert v.errors == [], v.errors
    finally:
        v.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_planner_map_in_chromium(
    browser: Browser, server: str, site: dict[str, Any], viewport: str
) -> None:
    v = Visit(browser, f"{server}/planner.html", viewport)
    try:
        _common_checks(v, f"planner-{viewport}")
        plan = site["plan"]
        assert v.page.locator("[data-seq]").count() == sum(len(r.stops) for r in plan.routes)
        assert v.page.locator("path.go-left-out").count() == len(plan.left_out)
        assert v.page.locator("textPath").count() == len(plan.routes)  # direction arrows
        assert v.page.locator(".leaflet-draw-draw-polyline").count() == 1
    finally:
        v.close()


@pytest.mark.parametrize("lang", public.LANGS)
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_public_map_in_chromium(
    browser: Browser,
    server: str,
    site: dict[str, Any],
    session_module: Session,
    viewport: str,
    lang: str,
) -> None:
    v = Visit(browser, f"{server}/{public.FILE_NAMES[lang]}", viewport)
    try:
        _common_checks(v, f"public-{lang}-{viewport}")
        n_places = session_module.execute(
            text("SELECT count(*) FROM facilities WHERE public AND NOT confidential")
        ).scalar_one()
        n_stops = session_module.execute(text("SELECT count(*) FROM sos_bus_stops")).scalar_one()
        assert v.page.locator("[data-facility]").count() == n_places
        assert v.page.locator("[data-bus-stop]").count() == n_stops
        assert v.page.locator(".go-places > li").count() == n_places
        assert v.page.evaluate("document.documentElement.lang") == lang
        # The privacy canary over everything the browser loaded (text files; tiles are PNGs).
        assert v.bodies
        for url, body in v.bodies.items():
            if url.endswith(".png"):
                assert body[:8] == b"\x89PNG\r\n\x1a\n", url
                continue
            assert_no_leak(url, body.decode("utf-8"), site["reference"])
    finally:
        v.close()
