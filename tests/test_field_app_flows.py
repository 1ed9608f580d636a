"""Field-app flows in Debian's Chromium against a real `geo-outreach serve` (issue 11):
two phones change one site offline (one applies, the other waits; a coordinator decides in the
app's review page; nothing is lost), "my route tonight" with stops marked done (each a visit),
the site card's history (notes only for roles that may read them, never kept on the phone),
faults named at the field with nothing stored, and street tiles kept for a cellar."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import URL

from tests.api_support import PASSWORD, Api, api_for, free_port
from tests.browser_support import chromium
from tests.test_field_app_a11y import give_route
from tests.test_field_app_browser import Phone, _ready, _scalar, _shot, _until, serve

CANARY = "NOTE-CANARY-7f3a"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _login(phone: Phone, base: str, name: str) -> Page:
    page = phone.page()
    page.goto(f"{base}/app/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    _ready(page)
    # The service worker holds the role's data from now on (for the offline part).
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    _ready(page)
    _until(page, "!!navigator.serviceWorker.controller")
    return page


def _open_site(page: Page, code: str) -> None:
    page.click("[data-view=list]")
    page.fill("#site-search", code)
    page.locator("#site-list button").first.click()
    page.wait_for_selector("#card:not([hidden])")


def _change(page: Page, *, people: int | None = None, status: str | None = None) -> None:
    page.click("#card-change")
    if people is not None:
        page.fill("#s-estimated_people", str(people))
    if status is not None:
        page.select_option("#s-status", status)
    page.click("#site-form button[type=submit]")
    page.wait_for_selector("#site-panel", state="hidden")
    page.click("#card .close")


def _site(api: Api, site_id: str) -> dict[str, Any]:
    found = api.client.get(f"/sites/{site_id}", headers=api.headers("coordinator"))
    assert found.status_code == 200
    properties: dict[str, Any] = found.json()["properties"]
    return properties


def _changes(api: Api, site_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    rows = _scalar(
        api,
        "SELECT json_agg(json_build_array(created_by, state, properties) ORDER BY created_at) "
        "FROM site_changes WHERE site_id = :s",
        s=site_id,
    )
    return [(a, b, c) for a, b, c in (rows or [])]


def test_two_phones_change_one_site_offline(api: Api, browser: Browser) -> None:
    from geo_outreach.accounts import users as auth
    from geo_outreach.core import db

    with db.session_scope(api.engine) as s:
        auth.add_user(s, name="sw-two", role="streetworker", password=PASSWORD, actor="test")
    first = api.client.get(
        "/sites?limit=1&status=active", headers=api.headers("coordinator")
    ).json()["features"][0]
    site_id, code = str(first["id"]), first["properties"]["code"]
    people = int(first["properties"]["estimated_people"])
    phone_a, phone_b, desk = Phone(browser), Phone(browser), Phone(browser)
    with serve(api, free_port()) as base:
        a = _login(phone_a, base, "test-streetworker")
        b = _login(phone_b, base, "sw-two")
        # Both in a cellar: each changes the same site from the same version.
        phone_a.context.set_offline(True)
        phone_b.context.set_offline(True)
        _open_site(a, code)
        _change(a, people=people + 3)
        _open_site(b, code)
        _change(b, status="closed")
        assert a.locator("#pending-count").inner_text() == "1"
        assert b.locator("#pending-count").inner_text() == "1"
        # A comes back first: its change applies. B's was based on the old version: it waits.
        phone_a.context.set_offline(False)
        a.click("#send-now")
        _until(a, "document.getElementById('pending-count').textContent === '0'")
        assert _site(api, site_id)["estimated_people"] == people + 3
        phone_b.context.set_offline(False)
        b.click("#send-now")
        _until(b, "document.getElementById('pending-count').textContent === '0'")
        b.wait_for_selector("#waiting-list li")
        assert code in b.locator("#waiting-list").inner_text()
        _shot(b, "two-phones-waiting")
        assert _site(api, site_id)["status"] != "closed"
        assert [(w, st) for w, st, _ in _changes(api, site_id)] == [
            ("api:test-streetworker", "applied"),
            ("api:sw-two", "pending"),
        ]
        # B changes the site again from its stale copy: a second change waits as well.
        phone_b.context.set_offline(True)
        _open_site(b, code)
        _change(b, people=0)
        phone_b.context.set_offline(False)
        b.click("#send-now")
        _until(b, "document.querySelectorAll('#waiting-list li').length === 2")
        # The coordinator decides in the app's review page: accept the first, reject the second.
        c = _login(desk, base, "test-coordinator")
        c.click("[data-view=review]")
        _until(c, "document.querySelectorAll('#review-list li').length === 2")
        _shot(c, "review-two")
        c.locator("#review-list li").first.locator(".decide-accept").click()
        _until(c, "document.querySelectorAll('#review-list li').length === 1")
        # A rejection without a reason is refused at the field (issue 12), nothing decided.
        c.locator("#review-list li").first.locator(".decide-reject").click()
        c.wait_for_selector("#review-list li .field-error:not(:empty)")
        assert c.locator("#review-list li .decide-reason").get_attribute("aria-invalid") == "true"
        c.locator("#review-list li").first.locator(".decide-reason").fill("closed in person")
        c.locator("#review-list li").first.locator(".decide-reject").click()
        _until(c, "document.querySelectorAll('#review-list li').length === 0")
        b.click("#send-now")
        _until(b, "document.querySelectorAll('#waiting-list li').length === 0")
        # Nothing lost: A's people and B's closing are both in the site; the rejected change
        # is still on record with what it asked for.
        site = _site(api, site_id)
        assert site["estimated_people"] == people + 3 and site["status"] == "closed"
        states = _changes(api, site_id)
        assert [(w, st) for w, st, _ in states] == [
            ("api:test-streetworker", "applied"),
            ("api:sw-two", "accepted"),
            ("api:sw-two", "rejected"),
        ]
        assert states[2][2]["estimated_people"] == 0
        for phone in (phone_a, phone_b, desk):
            assert phone.foreign() == [] and phone.errors == [], phone.errors
    for phone in (phone_a, phone_b, desk):
        phone.context.close()


def test_my_route_tonight_marks_stops_done(api: Api, browser: Browser) -> None:
    patrol = give_route(api, name="test-streetworker", code="ROUTE-TONIGHT", stops=3)
    phone = Phone(browser)
    with serve(api, free_port()) as base:
        page = _login(phone, base, "test-streetworker")
        page.click("[data-view=route]")
        page.wait_for_selector("#route-stops li")
        assert "ROUTE-TONIGHT" in page.locator("#route-title").inner_text()
        stops = page.locator("#route-stops li")
        assert stops.count() == 3
        # Ordered, each with its ETA.
        assert [stops.nth(i).get_attribute("data-seq") for i in range(3)] == ["1", "2", "3"]
        assert all(":" in stops.nth(i).locator(".muted").inner_text() for i in range(3))
        for _ in range(2):
            page.locator("#route-stops .mark-done").first.click()
            page.fill("#v-people_met", "2")
            page.fill("#v-women_met", "1")
            page.click("#visit-form button[type=submit]")
            page.wait_for_selector("#visit-panel", state="hidden")
        assert page.locator("#route-stops .done").count() == 2
        _until(page, "document.getElementById('pending-count').textContent === '0'")
        logged = _scalar(
            api,
            "SELECT count(DISTINCT v.site_id) FROM visits v JOIN patrol_stops s "
            "ON s.patrol_id = v.patrol_id AND s.site_id = v.site_id "
            "WHERE v.patrol_id = :p AND s.seq IN (1, 2)",
            p=str(patrol),
        )
        assert logged == 2
        # The server knows which stops are done: a reload shows the same.
        page.reload()
        _ready(page)
        page.click("[data-view=route]")
        page.wait_for_selector("#route-stops li")
        assert page.locator("#route-stops .done").count() == 2
        assert page.locator("#route-stops .mark-done").count() == 1
        _shot(page, "route-two-done")
        assert phone.foreign() == [] and phone.errors == []
    phone.context.close()


def test_card_history_notes_and_field_errors(api: Api, browser: Browser) -> None:
    first = api.client.get(
        "/sites?limit=1&status=active", headers=api.headers("coordinator")
    ).json()["features"][0]
    site_id, code = str(first["id"]), first["properties"]["code"]
    visit = {
        "site_id": site_id,
        "visited_at": datetime.now(UTC).isoformat(),
        "people_met": 1,
        "note": f"{CANARY} needs a sleeping bag",
    }
    stored = api.client.put(
        f"/visits/{uuid.uuid4()}", json=visit, headers=api.headers("streetworker")
    )
    assert stored.status_code == 201
    phone, partner = Phone(browser), Phone(browser)
    with serve(api, free_port()) as base:
        page = _login(phone, base, "test-streetworker")
        _open_site(page, code)
        page.wait_for_selector("#card-history li")
        assert CANARY in page.locator("#card-history").inner_text()
        # The note was shown, never kept: no cache and no IndexedDB record holds it.
        kept = page.evaluate(
            """async () => {
              const out = [];
              for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const req of await cache.keys()) {
                  const res = await cache.match(req);
                  if ((res.headers.get('content-type') || '').match(/json|html|javascript/)) {
                    out.push(await res.text());
                  }
                }
              }
              out.push(JSON.stringify(await GoOutbox.all()));
              return out.join('\\n');
            }"""
        )
        assert site_id in kept and CANARY not in kept
        # A fault the form knows: named at its field, nothing sent.
        before = _scalar(api, "SELECT count(*) FROM visits")
        page.click("#card-visit")
        page.fill("#v-people_met", "1")
        page.fill("#v-women_met", "4")
        page.click("#visit-form button[type=submit]")
        page.wait_for_selector("#e-women_met:not(:empty)")
        assert page.get_attribute("#v-women_met", "aria-invalid") == "true"
        # A fault only the server knows (a visit in the future): named at its field too.
        page.fill("#v-women_met", "0")
        page.fill("#v-visited_at", "2099-01-01T12:00")
        page.click("#visit-form button[type=submit]")
        page.wait_for_selector("#e-visited_at:not(:empty)")
        assert "future" in page.locator("#e-visited_at").inner_text()
        assert page.locator("#e-women_met").inner_text() == ""
        assert page.locator("#visit-panel").is_visible()
        _shot(page, "visit-server-fault")
        assert page.locator("#pending-count").inner_text() == "0"
        assert _scalar(api, "SELECT count(*) FROM visits") == before
        # A partner has no site card, and the visits API refuses it from the app's page.
        p = _login(partner, base, "test-partner")
        assert p.locator("[data-view=list]").is_hidden()
        answer = p.evaluate(
            "fetch('/visits?site_id=' + arguments_0).then(r => r.status)".replace(
                "arguments_0", json.dumps(site_id)
            )
        )
        assert answer == 403
        assert CANARY not in p.content()
        assert phone.foreign() == [] and partner.foreign() == []
    phone.context.close()
    partner.context.close()


def test_street_tiles_are_kept_for_a_cellar(api: Api, browser: Browser) -> None:
    patrol = give_route(api, name="test-coordinator", code="CELLAR-ROUTE", stops=3)
    assert patrol
    phone = Phone(browser)
    with serve(api, free_port()) as base:
        page = _login(phone, base, "test-coordinator")
        wanted = page.evaluate("GoApp.state.data.tiles.prefetch.length")
        assert 100 < wanted <= 600
        _until(page, "document.body.dataset.tilesKept !== undefined", timeout=120)
        kept = page.evaluate("caches.open('go-tiles').then(c => c.keys()).then(k => k.length)")
        assert kept >= wanted
        stop = page.evaluate("GoApp.state.data.route.stops[0]")
        # No signal: the street map around the first stop at the closest zoom still draws.
        phone.context.set_offline(True)
        page.reload()
        _ready(page)
        page.evaluate(f"GoApp.state.map.setView([{stop['lat']}, {stop['lon']}], 16)")
        _until(page, "document.querySelectorAll('img.leaflet-tile-loaded').length >= 4")
        _shot(page, "cellar-tiles")
        assert phone.foreign() == []
    phone.context.close()
