"""The field app in Debian's Chromium against a real `geo-outreach serve` (issue 11 acceptance):
log in, map and site list, a visit stored with its audit row; offline with the server stopped:
reload, 3 visits and 1 new site, page closed, server back: all 4 arrive once (pending 4 → 0);
logout wipes the site data from IndexedDB and Cache Storage; no request to any other host."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import URL, text

from geo_outreach.core import db
from tests.api_support import PASSWORD, Api, api_for, free_port
from tests.browser_support import chromium

ARTIFACTS = Path(__file__).parent / "artifacts" / "field_app"
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@contextmanager
def serve(api: Api, port: int) -> Iterator[str]:
    """`geo-outreach serve` on a fixed port, so the app keeps its origin across a restart."""
    env = dict(os.environ)
    env.update(
        GEO_OUTREACH_DATABASE_URL=api.app_url.render_as_string(hide_password=False),
        GEO_OUTREACH_ADMIN_DATABASE_URL=api.admin_url.render_as_string(hide_password=False),
        GEO_OUTREACH_SECRET_KEY=api.settings.secret_key,
    )
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "geo_outreach.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.seek(0) or log.read()[-3000:]
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Phone:
    """One browser profile (cookies, IndexedDB, caches, service worker) with every request seen."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(**PHONE)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.missing: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.on(
            "response", lambda r: self.missing.append(r.url) if r.status == 404 else None
        )

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def foreign(self) -> list[str]:
        return [
            u
            for u in self.requests
            if not u.startswith(("data:", "blob:"))
            and urlparse(u).hostname not in ("127.0.0.1", "localhost")
        ]


def _ready(page: Page) -> None:
    try:
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    except Exception:
        _shot(page, "not-ready")
        notice = page.locator("#notice").inner_text() if page.locator("#notice").count() else ""
        raise AssertionError(f"the app did not start at {page.url}: {notice!r}") from None


def _until(page: Page, expression: str, timeout: float = 30) -> None:
    """Poll an expression with page.evaluate (wait_for_function would eval, which the CSP
    forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true after {timeout} s: {expression}"
        time.sleep(0.2)


def _pending(page: Page) -> int:
    return int(page.locator("#pending-count").inner_text())


def _log_visit(page: Page, index: int, people: int) -> None:
    page.click("[data-view=list]")
    page.locator("#site-list button").nth(index).click()
    page.click("#card-visit")
    page.fill("#v-people_met", str(people))
    page.fill("#v-women_met", "0")
    page.click("#visit-form button[type=submit]")
    page.wait_for_selector("#visit-panel", state="hidden")
    page.click("#card .close")


def _scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


# What the role's caches hold, by cache: a worker may reopen a cache it looks into (then empty).
KEPT_JS = """async () => { const out = {};
  for (const name of ['go-data', 'go-tiles']) {
    if (!(await caches.has(name))) continue;
    const n = (await (await caches.open(name)).keys()).length;
    if (n) out[name] = n;
  }
  return out; }"""


def _kept(page: Page) -> dict[str, int]:
    found: dict[str, int] = page.evaluate(KEPT_JS)
    return found


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_streetworker_online_offline_and_logout(api: Api, browser: Browser) -> None:
    port = free_port()
    phone = Phone(browser)
    with serve(api, port) as base:
        page = phone.page()
        page.goto(f"{base}/app/")
        page.wait_for_url("**/app/login*")
        page.fill("input[name=username]", "test-streetworker")
        page.fill("input[name=password]", PASSWORD)
        response_cookies = None
        page.click("button[type=submit]")
        _ready(page)
        cookies = {c["name"]: c for c in phone.context.cookies()}
        response_cookies = cookies["go_session"]
        assert response_cookies["httpOnly"] and response_cookies["sameSite"] == "Strict"
        csp = httpx.get(f"{base}/app/").headers["content-security-policy"]
        assert "default-src 'self'" in csp and "http" not in csp
        # The service worker takes over; a reload keeps the role's data in its cache.
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        _ready(page)
        _until(page, "!!navigator.serviceWorker.controller")
        _until(page, "document.querySelectorAll('img.leaflet-tile-loaded').length > 3")
        assert page.locator("#site-list button").count() > 0
        _shot(page, "map-online")
        before = _scalar(
            api, "SELECT count(*) FROM visits WHERE created_by = 'api:test-streetworker'"
        )
        _log_visit(page, 0, 3)
        _until(page, "document.getElementById('pending-count').textContent === '0'")
        after = _scalar(
            api, "SELECT count(*) FROM visits WHERE created_by = 'api:test-streetworker'"
        )
        assert after == before + 1
        audited = _scalar(
            api,
            "SELECT count(*) FROM audit_log WHERE layer = 'visits' AND action = 'create' "
            "AND actor = 'api:test-streetworker' AND outcome = 'ok'",
        )
        assert audited >= 1
    # Offline: the browser has no network and the server is gone.
    phone.context.set_offline(True)
    page.reload()
    _ready(page)
    _shot(page, "offline-reloaded")
    for i in range(3):
        _log_visit(page, i + 1, 2)
    page.click("[data-view=map]")
    page.click("#add-site")
    page.fill("#s-name", "Altana przy torach")
    page.fill("#s-estimated_people", "2")
    page.click("#site-form button[type=submit]")
    page.wait_for_selector("#site-panel", state="hidden")
    assert _pending(page) == 4
    entries = page.evaluate("GoOutbox.all().then(a => a.map(e => [e.kind, e.id]))")
    assert sorted(k for k, _ in entries) == ["site", "visit", "visit", "visit"]
    page.close()
    # The server comes back on the same address; the phone goes online.
    with serve(api, port) as base:
        phone.context.set_offline(False)
        page = phone.page()
        page.goto(f"{base}/app/")
        _ready(page)
        _until(page, "document.getElementById('pending-count').textContent === '0'")
        for kind, entry_id in entries:
            table = "visits" if kind == "visit" else "sleeping_sites"
            assert _scalar(api, f"SELECT count(*) FROM {table} WHERE id = :i", i=entry_id) == 1
        # Logout wipes the site data from IndexedDB and Cache Storage.
        page.click("#logout")
        page.wait_for_url("**/app/login*")
        assert _kept(page) == {}, _kept(page)
        meta = page.evaluate(
            "new Promise(r => { const q = indexedDB.open('geo-outreach'); q.onsuccess = () => {"
            " const t = q.result.transaction(['meta', 'outbox']);"
            " const a = t.objectStore('meta').count(); const b = t.objectStore('outbox').count();"
            " t.oncomplete = () => r([a.result, b.result]); }; })"
        )
        assert meta == [0, 0]
        assert phone.foreign() == [], phone.foreign()
        assert phone.errors == [], phone.errors
        assert phone.missing == [], phone.missing
    phone.context.close()


def test_revoked_phone_wipes_its_data(api: Api, browser: Browser) -> None:
    phone = Phone(browser)
    with serve(api, free_port()) as base:
        page = phone.page()
        page.goto(f"{base}/app/login")
        page.fill("input[name=username]", "test-coordinator")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        _ready(page)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        _ready(page)
        _until(page, "caches.keys().then(k => k.includes('go-data'))")
        revoked = httpx.post(
            f"{base}/admin/users/test-coordinator/revoke",
            headers={"Authorization": f"Bearer {api.tokens['admin']}"},
        )
        assert revoked.status_code == 200
        page.reload()
        page.wait_for_url("**/app/login*")
        assert _kept(page) == {}, _kept(page)
        assert phone.foreign() == []
    phone.context.close()


def test_public_and_partner_get_no_site_data(api: Api, browser: Browser) -> None:
    phone = Phone(browser)
    with serve(api, free_port()) as base:
        assert httpx.get(f"{base}/app/data.json").status_code == 401
        page = phone.page()
        page.goto(f"{base}/app/login?lang=en")
        assert page.evaluate("document.documentElement.lang") == "en"
        page.fill("input[name=username]", "test-partner")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        _ready(page)
        assert page.evaluate("GoApp.state.data.sites") is None
        assert page.locator("[data-view=list]").is_hidden()
        assert page.locator("[data-facility]").count() > 0
        _shot(page, "partner-en")
        assert phone.foreign() == []
    phone.context.close()
