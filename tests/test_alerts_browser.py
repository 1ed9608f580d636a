"""The public alert form in real headless Chromium (Debian's), against `geo-outreach serve` on
127.0.0.1: an anonymous alert pinned near a known site on a phone reaches the coordinator's
queue matched to that site; the reporter's page shows only the status, and after the
coordinator closes the alert, only the outcome. No request leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import URL, text

from tests.api_support import PASSWORD, Api, api_for, live_server
from tests.browser_support import chromium
from tests.test_maps_browser import VIEWPORTS

ARTIFACTS = Path(__file__).parent / "artifacts" / "alerts"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


@pytest.fixture(scope="module")
def base(api: Api) -> Iterator[str]:
    with live_server(api) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _watch(page: Page) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: (
            foreign.append(r.url)
            if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:")
            else None
        ),
    )
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors, foreign


def _visible_text(page: Page) -> list[str]:
    lines = page.evaluate("document.body.innerText").split("\n")
    return [line.strip() for line in lines if line.strip()]


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_an_anonymous_alert_reaches_the_coordinator_and_the_reporter_sees_only_the_status(
    api: Api, base: str, browser: Browser, viewport: str
) -> None:
    with api.engine.connect() as conn:
        site = conn.execute(
            text(
                "SELECT id, code, name, ST_X(geom), ST_Y(geom) FROM sleeping_sites "
                "WHERE status = 'active' AND estimated_people > 0 ORDER BY code OFFSET 3 LIMIT 1"
            )
        ).one()
    target = (site[4] + 0.0003, site[3])  # lat, lon: ~33 m north of the site
    context = browser.new_context(**VIEWPORTS[viewport])
    page = context.new_page()
    errors, foreign = _watch(page)
    try:
        page.goto(f"{base}/maps/public.html", wait_until="load")
        page.wait_for_function("document.querySelector('#go-alert-pin') !== null")
        # Bring the place into view, then pin it with a real tap/click on the map.
        page.evaluate(
            """([lat, lon]) => window[document.querySelector('.folium-map').id]
                .setView([lat, lon], 17, {animate: false})""",
            list(target),
        )
        page.click("#go-alert-pin")
        assert page.get_attribute("#go-alert-pin", "aria-pressed") == "true"
        page.evaluate(
            "window[document.querySelector('.folium-map').id].getContainer()"
            ".scrollIntoView({block: 'center'})"
        )
        point = page.evaluate(
            """([lat, lon]) => {
                const map = window[document.querySelector('.folium-map').id];
                const p = map.latLngToContainerPoint([lat, lon]);
                const box = map.getContainer().getBoundingClientRect();
                return [box.left + p.x, box.top + p.y];
            }""",
            list(target),
        )
        page.mouse.click(point[0], point[1])
        assert page.inner_text("#go-alert-where") == "Miejsce wskazane na mapie."
        page.fill("#go-alert-what", "Starszy mężczyzna śpi na przystanku, bez kurtki.")
        page.click("button.go-alert-send")
        page.wait_for_selector(".go-alert-ref", timeout=15_000)
        ref = page.inner_text(".go-alert-ref")
        assert errors == [], errors
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"alert-sent-{viewport}.png"))

        # The coordinator's queue (API): the alert, matched to that known site.
        token = httpx.post(
            f"{base}/auth/token", json={"name": "test-coordinator", "password": PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        queue = httpx.get(f"{base}/alerts", headers=auth).json()
        alert = next(a for a in queue if a["ref"] == ref)
        assert alert["matches"]["sites"][0]["site_id"] == str(site[0])
        assert alert["matches"]["sites"][0]["distance_m"] < 60
        assert alert["description"].startswith("Starszy mężczyzna")

        # The reporter's page: the code and the status, nothing else.
        page.click("#go-alert-status-link")
        page.wait_for_selector("#go-status")
        assert _visible_text(page) == [
            "Status zgłoszenia",
            "Numer zgłoszenia",
            ref,
            "Stan",
            "zgłoszenie przyjęte",
        ]
        closed = httpx.post(
            f"{base}/alerts/{alert['id']}/decision",
            json={"action": "close", "outcome": "not_found"},
            headers=auth,
        )
        assert closed.status_code == 200, closed.text
        page.reload()
        page.wait_for_selector("#go-status")
        shown = _visible_text(page)
        assert shown == [
            "Status zgłoszenia",
            "Numer zgłoszenia",
            ref,
            "Stan",
            "nie odnaleziono osoby",
        ]
        source = page.content()
        for secret in (site[1], site[2], "Starszy", f"{site[3]:.4f}", f"{site[4]:.4f}"):
            assert secret not in source
        page.screenshot(path=str(ARTIFACTS / f"alert-status-{viewport}.png"))
        assert errors == [], errors
        assert foreign == [], foreign
    finally:
        context.close()
