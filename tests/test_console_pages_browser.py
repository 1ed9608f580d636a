"""The office console's pages sos, beds, review, reports, admin and import (issue 12, and issue
13's upload) in Debian's Chromium against a real `geo-outreach serve`, under the pages' own CSP:
an SOS duty entered in the browser raises the year's report by exactly its numbers; a free-beds
tap reaches /public/facilities and the public map on the next request; bad input shows the
field's fault and stores nothing; a proposed site change is shown beside the site as it is now,
accepted, and another rejected with its (required) reason, audited; an admin creates an account,
changes its role and, after a confirmation, revokes its sessions and deactivates it; a small CSV is
checked, then imported, with progress while the server works; a partner reads the partner report
only; no page calls an API its role may not call; every page (and the login and no-access pages)
passes axe-core at laptop and tablet width in pl, en and uk."""

from __future__ import annotations

import difflib
import html
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize
from sqlalchemy import URL, text

from api import apptext
from geo_outreach.core import db
from geo_outreach.winter.alerts import STATUS_LABELS
from tests.api_support import PASSWORD, Api, api_for, free_port
from tests.browser_support import chromium
from tests.test_field_app_a11y import AXE, violations
from tests.test_field_app_browser import _shot, serve

LAPTOP: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 800, "height": 1200}
PAGES = ("sos", "beds", "review", "reports", "admin", "import")
SOS_MEASURES = ("duties", "uses", "meals", "clothes", "rides_to_warming_centre")
TZ = ZoneInfo("Europe/Warsaw")
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
PL = apptext.texts("pl")


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def base(api: Api) -> Iterator[str]:
    with serve(api, free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def checker(browser: Browser) -> Iterator[BrowserContext]:
    """For axe-core only: its script is injected, which the pages' CSP refuses (here it comes
    with every page loaded, so violations() need not add it each time)."""
    ctx = browser.new_context(bypass_csp=True)
    ctx.add_init_script(path=AXE)
    ctx.new_page()
    yield ctx
    ctx.close()


def csp_context(browser: Browser, viewport: ViewportSize) -> tuple[BrowserContext, list[str]]:
    """A normal context (the pages' CSP applies) and the CSP refusals its pages report."""
    ctx = browser.new_context(viewport=viewport)
    refused: list[str] = []
    ctx.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return ctx, refused


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx, refused = csp_context(browser, LAPTOP)
    yield ctx
    ctx.close()
    assert not refused, refused


def axe(page: Page, checker: BrowserContext) -> list[str]:
    """axe-core's serious and critical findings on `page` as it is drawn now. The page runs under
    its CSP, which refuses axe's injected script; so its DOM (scripts left out) is loaded at the
    same address, with the same stylesheets and width, in the `checker` context and checked
    there. The twin must show the same text, or the check would be of something else."""
    shown = page.locator("body").inner_text()
    for _ in range(20):  # a page still drawing: the snapshot once it has settled
        snapshot = SCRIPT.sub("", page.content())
        settled = page.locator("body").inner_text()
        if settled == shown:
            break
        shown = settled
        page.wait_for_timeout(100)
    url = page.url
    twin = checker.pages[0]

    def here(u: str) -> bool:
        return u == url

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=snapshot)

    twin.set_viewport_size(page.viewport_size or LAPTOP)
    twin.route(here, fulfil)
    try:
        twin.goto(url)
        twin_text = twin.locator("body").inner_text()
        assert twin_text == shown, "\n".join(
            difflib.unified_diff(shown.split("\n"), twin_text.split("\n"))
        )
        return violations(twin)
    finally:
        twin.unroute(here)


def open_page(
    context: BrowserContext, base: str, page_name: str, who: str, lang: str = "pl"
) -> Page:
    """Log in as `who` through the login page, which comes back to the console page."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/app/console/{page_name}?lang={lang}")
    if page.url.split("?")[0].endswith("/app/login"):
        page.fill("input[name=username]", who)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
    ready(page)
    assert not errors, errors
    return page


def ready(page: Page) -> None:
    try:
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    except Exception:
        _shot(page, f"console-{page.url.rsplit('/', 1)[-1].split('?')[0]}-not-ready")
        raise


def saved(page: Page, click: str) -> str:
    """Click, then wait for the status line to say it went well; its text."""
    page.evaluate("document.getElementById('con-status-text').className = ''")
    page.click(click)
    page.wait_for_selector("#con-status-text.con-ok")
    return page.locator("#con-status-text").inner_text()


def count(api: Api, sql: str, **params: Any) -> int:
    with db.session_scope(api.engine) as s:
        return int(s.execute(text(sql), params).scalar_one())


def sos_figures(api: Api, year: int) -> dict[str, int]:
    """The SOS bus measures of `year` in the internal report (no log yet: 0)."""
    answer = api.client.get(
        f"/reports/{year}.json?audience=internal", headers=api.headers("coordinator")
    )
    assert answer.status_code == 200, answer.text
    tables = answer.json()["tables"]
    table = next(t for t in tables if str(t["key"]).endswith("sos_bus"))
    column = list(table["header"]).index(str(year)) - 1
    out = {}
    for row in table["rows"]:
        if row["code"] in SOS_MEASURES:
            value = row["values"][column]
            out[row["code"]] = int(value or 0)
    assert set(out) == set(SOS_MEASURES), out
    return out


def denied(api: Api, name: str) -> int:
    """How many calls of account `name` were refused (each is a "denied" audit row)."""
    sql = "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND actor LIKE :a"
    return count(api, sql, a=f"%{name}")


def test_sos_duty_raises_the_report_by_its_numbers(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    today = datetime.now(TZ).date()
    before = sos_figures(api, today.year)
    duties = count(api, "SELECT count(*) FROM sos_bus_duties")
    page = open_page(context, base, "sos", "test-coordinator")
    form = page.locator("#sos-duty")

    # Bad input first: a negative count, then a date in the far past; nothing is stored.
    form.locator("[name=uses]").fill("-3")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#sos-duty [data-error-for=uses]:not(:empty)")
    uses = form.locator("[name=uses]")
    assert uses.get_attribute("aria-invalid") == "true"
    described = uses.get_attribute("aria-describedby") or ""
    assert page.locator(f"#{described.split()[-1]}").inner_text()
    found = axe(page, checker)
    assert not found, found
    form.locator("[name=uses]").fill("7")
    form.locator("[name=duty_date]").fill("1999-01-01")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#sos-duty [data-error-for=duty_date]:not(:empty)")
    assert form.locator("[data-error-for=uses]").inner_text() == ""
    assert form.locator("[name=duty_date]").get_attribute("aria-invalid") == "true"
    assert count(api, "SELECT count(*) FROM sos_bus_duties") == duties

    numbers = {"uses": 7, "meals": 5, "clothes": 3, "rides_to_warming_centre": 2}
    form.locator("[name=duty_date]").fill(today.isoformat())
    for name, value in numbers.items():
        form.locator(f"[name={name}]").fill(str(value))
    form.locator("[name=notes]").fill("H3b test evening")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"#sos-duties tr[data-date='{today.isoformat()}']")
    assert count(api, "SELECT count(*) FROM sos_bus_duties") == duties + 1
    after = sos_figures(api, today.year)
    assert after["duties"] == before["duties"] + 1
    for name, value in numbers.items():
        assert after[name] == before[name] + value, (name, before, after)

    # The same evening again: 409 shown at the date, still one duty.
    form.locator("[name=duty_date]").fill(today.isoformat())
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#sos-duty [data-error-for=duty_date]:not(:empty)")
    assert count(api, "SELECT count(*) FROM sos_bus_duties") == duties + 1


def test_sos_timetable_edit(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    page = open_page(context, base, "sos", "test-coordinator")
    row = page.locator("#sos-stops tbody tr").first
    stop_id = row.get_attribute("data-stop")
    row.locator("[name=season_from]").fill("13-45")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#sos-stops tr[data-stop='{stop_id}'] [aria-invalid=true]")
    assert row.locator(".field-error:not(:empty)").count() >= 1
    found = axe(page, checker)  # the timetable with a row's fault shown
    assert not found, found
    row.locator("[name=season_from]").fill("10-15")
    row.locator("[name=season_to]").fill("04-15")
    saved(page, f"#sos-stops tr[data-stop='{stop_id}'] button[type=submit]")
    stops = api.client.get("/sos-bus/stops", headers=api.headers("coordinator")).json()
    listed = stops["features"] if isinstance(stops, dict) and "features" in stops else stops
    mine = [s.get("properties", s) for s in listed if str(s.get("id")) == stop_id]
    assert mine and mine[0]["season_from"] == "10-15" and mine[0]["season_to"] == "04-15", mine


def _public_facility(api: Api) -> dict[str, Any]:
    """A public facility with room for one more free bed."""
    answer = api.client.get("/public/facilities?limit=1000")
    assert answer.status_code == 200, answer.text
    for f in answer.json()["features"]:
        p = f["properties"]
        if p.get("capacity") and (p.get("free_beds") or 0) < p["capacity"]:
            return f
    raise AssertionError("the demo has no public facility with a capacity")


def _public_item(page_html: str, name: str) -> str:
    start = page_html.index(f"<h3>{html.escape(name)}</h3>")
    return page_html[start : page_html.index("</li>", start)]


def test_free_beds_tap_reaches_the_public_outputs(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    facility = _public_facility(api)
    code, name = facility["properties"]["code"], facility["properties"]["name"]
    before = facility["properties"].get("free_beds") or 0
    httpx.get(f"{base}/maps/public.html")  # a cached page, if any, is made now
    page = open_page(context, base, "beds", "test-coordinator")
    row = page.locator(f"#beds tr[data-code='{code}']")
    row.locator(".beds-plus").click()
    deadline = datetime.now().timestamp() + 15
    while row.locator(".beds-now").inner_text() != str(before + 1):
        assert datetime.now().timestamp() < deadline, row.locator(".beds-now").inner_text()
        page.wait_for_timeout(100)
    public = httpx.get(f"{base}/public/facilities?limit=1000").json()["features"]
    shown = next(f for f in public if f["properties"]["code"] == code)
    assert shown["properties"]["free_beds"] == before + 1
    item = _public_item(httpx.get(f"{base}/maps/public.html").text, name)
    assert f'data-free-beds="{before + 1}"' in item, item
    history = api.client.get(
        f"/facilities/{facility['id']}/free-beds", headers=api.headers("coordinator")
    ).json()
    assert history[0]["free_beds"] == before + 1

    # Set a number above the capacity: the field's fault, nothing stored.
    row.locator("input[name=free_beds]").fill(str(facility["properties"]["capacity"] + 5))
    row.locator(".beds-set button[type=submit]").click()
    page.wait_for_selector(f"#beds tr[data-code='{code}'] [data-error-for=free_beds]:not(:empty)")
    assert row.locator("input[name=free_beds]").get_attribute("aria-invalid") == "true"
    stored = count(api, "SELECT free_beds FROM facilities WHERE code = :c", c=code)
    assert stored == before + 1

    # The history open beside the fault: what it lists, and axe on the board as it is.
    more = page.locator(f"#beds tr.beds-more-row[data-facility='{facility['id']}']")
    more.locator(".beds-history summary").click()
    more.locator(".beds-history-list li").first.wait_for()
    first = more.locator(".beds-history-list li").first.inner_text()
    assert first.startswith(f"{before + 1} ·") and "test-coordinator" in first, first
    found = axe(page, checker)
    assert not found, found

    # Opening hours and season.
    more.locator(".beds-details summary").click()
    more.locator("[name=opening_hours]").fill("MO 20:00-08:00\nTU 20:00-08:00")
    more.locator("[name=season_from]").fill("10-01")
    more.locator("[name=season_to]").fill("04-30")
    saved(page, f"#beds tr.beds-more-row[data-facility='{facility['id']}'] form button")
    with db.session_scope(api.engine) as s:
        hours, season_from = s.execute(
            text("SELECT opening_hours, season_from FROM facilities WHERE code = :c"), {"c": code}
        ).one()
    assert [h["byday"] for h in hours] == ["MO", "TU"] and season_from == "10-01"


def _pending_change(api: Api, people: int) -> tuple[str, str]:
    site = api.client.get("/sites?limit=1", headers=api.headers("coordinator")).json()
    site_id = site["features"][0]["id"]
    answer = api.client.put(
        f"/sites/{site_id}/changes/{uuid.uuid4()}",
        json={"base_version": 1_000_000, "properties": {"estimated_people": people}},
        headers=api.headers("streetworker"),
    )
    assert answer.status_code == 201 and answer.json()["state"] == "pending", answer.text
    return site_id, answer.json()["id"]


def _open_alert(api: Api) -> str:
    """The code of a public alert waiting for a decision (one is sent if none waits)."""
    waiting = api.client.get("/alerts", headers=api.headers("coordinator"))
    assert waiting.status_code == 200, waiting.text
    if waiting.json():
        return str(waiting.json()[0]["ref"])
    sent = api.client.post(
        "/public/alerts",
        json={"lon": 18.6466, "lat": 54.352, "description": "man asleep on a bench, no coat"},
    )
    assert sent.status_code == 201, sent.text
    return str(sent.json()["ref"])


def _change_state(api: Api, change_id: str) -> str:
    with db.session_scope(api.engine) as s:
        return str(
            s.execute(
                text("SELECT state FROM site_changes WHERE id = :i"), {"i": change_id}
            ).scalar_one()
        )


def test_review_shows_now_and_proposed_and_rejects_only_with_a_reason(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    site_id, accepted = _pending_change(api, 17)
    _, rejected = _pending_change(api, 23)
    site = api.client.get(f"/sites/{site_id}", headers=api.headers("coordinator")).json()
    ref = _open_alert(api)
    page = open_page(context, base, "review", "test-coordinator")

    # The site as it is now beside what the change asks for, the property in words.
    card = page.locator(f"#review-changes li[data-change='{accepted}']")
    people = card.locator("tr[data-prop=estimated_people]")
    assert people.locator("th").inner_text() == PL["estimated_people"]
    assert people.locator(".review-now").inner_text() == str(site["properties"]["estimated_people"])
    assert people.locator(".review-new").inner_text() == "17"

    # Rejecting without a reason: the fault at the reason, nothing decided.
    other = page.locator(f"#review-changes li[data-change='{rejected}']")
    other.locator(".review-reject").click()
    other.locator("[data-error-for=reason]:not(:empty)").wait_for()
    assert other.locator("[data-error-for=reason]").inner_text() == PL["review_reason_required"]
    assert other.locator("input[name=reason]").get_attribute("aria-invalid") == "true"
    assert _change_state(api, rejected) == "pending"
    page.locator("#review-alerts li", has_text=ref).wait_for()
    # The alert's state in words (Polish page), not its code.
    heading = page.locator("#review-alerts li", has_text=ref).locator("h3").inner_text()
    assert heading.split(" · ")[-1] in STATUS_LABELS.values(), heading
    found = axe(page, checker)  # change cards (one with its fault) and alert cards
    assert not found, found

    for change, button, reason in (
        (accepted, ".review-accept", "seen by two teams"),
        (rejected, ".review-reject", "duplicate of the other"),
    ):
        card = page.locator(f"#review-changes li[data-change='{change}']")
        card.locator("input[name=reason]").fill(reason)
        card.locator(button).click()
        page.wait_for_selector(f"#review-changes li[data-change='{change}']", state="detached")
    with db.session_scope(api.engine) as s:
        people_now = s.execute(
            text("SELECT estimated_people FROM sleeping_sites WHERE id = :i"), {"i": site_id}
        ).scalar_one()
        reasons = (
            s.execute(
                text(
                    "SELECT detail->>'reason' FROM audit_log WHERE detail->>'change' IN (:a, :b) "
                    "AND detail ? 'reason' ORDER BY at"
                ),
                {"a": accepted, "b": rejected},
            )
            .scalars()
            .all()
        )
    assert (_change_state(api, accepted), _change_state(api, rejected)) == ("accepted", "rejected")
    assert people_now == 17
    assert reasons == ["seen by two teams", "duplicate of the other"]

    # The public alert, closed with an outcome the sender then reads by the code.
    card = page.locator("#review-alerts li", has_text=ref)
    card.locator("select[name=outcome]").select_option("not_found")
    card.locator("button[value=close]").click()
    page.wait_for_selector(f"#review-alerts li:has-text('{ref}')", state="detached")
    status = api.client.get(f"/public/alerts/{ref}").json()
    assert status["status"] == "not_found", status
    decision = count(
        api, "SELECT count(*) FROM public_alerts WHERE ref = :r AND decision = 'closed'", r=ref
    )
    assert decision == 1


def test_admin_creates_changes_and_revokes(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    refused = denied(api, "test-admin")
    page = open_page(context, base, "admin", "test-admin")
    # The page asks only what an admin may read (no GET /patrols: a "denied" row each time).
    assert denied(api, "test-admin") == refused
    form = page.locator("#admin-create")
    # A short password: its fault at the field, no account.
    form.locator("[name=name]").fill("h3b-night-worker")
    form.locator("[name=password]").fill("short")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#admin-create [data-error-for=password]:not(:empty)")
    assert form.locator("[name=password]").get_attribute("aria-invalid") == "true"
    assert count(api, "SELECT count(*) FROM users WHERE name = 'h3b-night-worker'") == 0

    form.locator("[name=password]").fill(PASSWORD)
    form.locator("[name=role]").select_option("streetworker")
    form.locator("button[type=submit]").click()
    user = "#admin-users tr[data-user='h3b-night-worker']"
    row = page.locator(user)
    row.wait_for()
    row.locator("select[name=role]").select_option("coordinator")
    saved(page, f"{user} [data-action=admin_set_role]")
    users = api.client.get("/admin/users", headers=api.headers("admin")).json()
    assert {u["name"]: u["role"] for u in users}["h3b-night-worker"] == "coordinator"

    token = api.client.post(
        "/auth/token", json={"name": "h3b-night-worker", "password": PASSWORD}
    ).json()["access_token"]
    mine = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/site-changes", headers=mine).status_code == 200
    # Revoking takes two taps: the first only puts "Confirm" (focused) in the button's place.
    page.click(f"{user} [data-action=admin_revoke]")
    confirm = page.locator(f"{user} [data-confirm=admin_revoke]")
    confirm.wait_for()
    assert confirm.evaluate("b => b === document.activeElement")
    assert httpx.get(f"{base}/site-changes", headers=mine).status_code == 200
    found = axe(page, checker)  # the row asking for the confirmation
    assert not found, found
    said = saved(page, f"{user} [data-confirm=admin_revoke]")
    assert said.endswith(": 1"), said
    assert httpx.get(f"{base}/site-changes", headers=mine).status_code == 401

    # Deactivating too: Cancel leaves the account active, Confirm switches it off.
    active = "SELECT count(*) FROM users WHERE name = 'h3b-night-worker' AND active"
    page.click(f"{user} [data-action=admin_deactivate]")
    page.click(f"{user} [data-cancel=admin_deactivate]")
    assert page.locator(f"{user} [data-action=admin_deactivate]").is_visible()
    assert count(api, active) == 1
    page.click(f"{user} [data-action=admin_deactivate]")
    saved(page, f"{user} [data-confirm=admin_deactivate]")
    assert count(api, active) == 0
    page.locator(f"{user} [data-action=admin_activate]").wait_for()

    # A joint patrol's team, the patrol given by its id (an admin cannot list patrols); an
    # unknown code is the field's fault in words.
    page.fill("#admin-patrol", "NO-SUCH-PATROL")
    page.click("#admin-members button[type=submit]")
    page.wait_for_selector("#admin-members [data-error-for=patrol]:not(:empty)")
    fault = page.locator("#admin-members [data-error-for=patrol]").inner_text()
    assert fault == PL["admin_patrol_unknown"], fault
    joint = api.client.get("/patrols?kind=joint&limit=1", headers=api.headers("coordinator"))
    patrol_id = joint.json()["features"][0]["id"]
    page.fill("#admin-patrol", patrol_id)
    page.fill("#admin-members-list", "test-streetworker, nobody-like-this")
    page.click("#admin-members button[type=submit]")
    page.wait_for_selector("#admin-members [data-error-for=members]:not(:empty)")
    page.fill("#admin-members-list", "test-streetworker, test-partner")
    saved(page, "#admin-members button[type=submit]")
    team = api.client.get(f"/patrols/{patrol_id}/members", headers=api.headers("admin")).json()
    assert sorted(m["name"] for m in team["members"]) == ["test-partner", "test-streetworker"]

    # Who touched a site, the site given by its code; an unknown code is the field's fault.
    site = api.client.get("/sites?limit=1", headers=api.headers("coordinator")).json()
    page.fill("#admin-site", site["features"][0]["properties"]["code"])
    page.click("#admin-access button[type=submit]")
    page.wait_for_selector("#admin-access-log:not([hidden]) tbody tr")
    assert "test-coordinator" in page.locator("#admin-access-log").inner_text()
    found = axe(page, checker)
    assert not found, found
    page.fill("#admin-site", "NO-SUCH-SITE-CODE")
    page.click("#admin-access button[type=submit]")
    page.wait_for_selector("#admin-access [data-error-for=site]:not(:empty)")
    assert page.locator("#admin-site").get_attribute("aria-invalid") == "true"
    assert denied(api, "test-admin") == refused


CSV = (
    "NAME,ADDRESS,LATITUDE,LONGITUDE\n"
    "H3B Punkt A,ul. Testowa 1,54.521,18.531\n"
    "H3B Punkt B,ul. Testowa 2,54.532,18.542\n"
)


def figures(page: Page) -> dict[str, str]:
    """The import report's counts as the page shows them: {label: number}."""
    labels = page.locator("#import-counts dt").all_inner_texts()
    numbers = page.locator("#import-counts dd").all_inner_texts()
    return dict(zip(labels, numbers, strict=True))


def test_import_dry_run_then_confirm(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext, tmp_path: Path
) -> None:
    path = tmp_path / "punkty.csv"
    path.write_text(CSV, encoding="utf-8")
    named = "SELECT count(*) FROM facilities WHERE name LIKE 'H3B Punkt %'"
    page = open_page(context, base, "import", "test-coordinator")
    page.select_option("#import-layer", "facilities")
    page.set_input_files("#import-file", str(path))
    progress = page.locator("#con-progress")
    assert progress.is_hidden()
    # Held at the network until looked at: the bar shows while the request is under way.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/imports/**", hold)
    page.click("#import-check")
    deadline = datetime.now().timestamp() + 15
    while not held:
        assert datetime.now().timestamp() < deadline, "the upload did not start"
        page.wait_for_timeout(50)
    assert progress.is_visible()
    assert page.locator("#import-check").is_disabled()
    shown = page.locator("#con-status-text").inner_text()
    assert shown in (PL["import_uploading"], PL["import_checking"]), shown
    held[0].continue_()
    page.unroute("**/imports/**")
    # Without a type the rows are refused: the faults per row, nothing stored.
    page.wait_for_selector("#import-refused tbody tr")
    assert progress.is_hidden()
    assert page.locator("#import-confirm").is_disabled()
    assert count(api, named) == 0
    page.fill("#import-set", "type=jadlodajnia")
    page.click("#import-check")
    page.wait_for_selector("#import-confirm:not([disabled])")
    checked = figures(page)
    assert checked[PL["import_inserted"]] == "2" and checked[PL["import_refused"]] == "0", checked
    assert "LATITUDE" in page.locator("#import-mapped").inner_text()
    assert count(api, named) == 0
    found = axe(page, checker)
    assert not found, found
    saved(page, "#import-confirm")
    assert progress.is_hidden()
    assert figures(page)[PL["import_inserted"]] == "2"
    assert count(api, named) == 2
    assert (
        count(
            api, "SELECT count(*) FROM audit_log WHERE action = 'import' AND layer = 'facilities'"
        )
        >= 1
    )


def _show_report(page: Page, year: str) -> None:
    page.fill("#reports-year", year)
    page.click("#reports-form button[type=submit]")
    page.wait_for_selector("#reports-out section.report-table")


def _published(page: Page) -> list[str]:
    """The partner report's numbers as drawn (grouped by a no-break space: "1 234")."""
    return ["".join(c.split()) for c in page.locator("#reports-out td").all_inner_texts()]


def test_reports_page_shows_both_audiences(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    page = open_page(context, base, "reports", "test-coordinator")
    _show_report(page, "2025")
    assert page.locator("#reports-out section.report-table").count() >= 3
    json_href = page.locator("#reports-json").get_attribute("href") or ""
    assert "/reports/2025.json?audience=internal" in json_href
    page.check("#reports-form input[value=partner]")
    page.click("#reports-form button[type=submit]")
    page.wait_for_selector("#reports-hidden:not([hidden])")
    assert "audience=partner" in (page.locator("#reports-json").get_attribute("href") or "")
    # As published: no cell between 1 and 9 (a hidden one shows "x").
    numbers = _published(page)
    assert numbers
    small = [n for n in numbers if n.isdigit() and 1 <= int(n) <= 9]
    assert not small, small
    found = axe(page, checker)
    assert not found, found
    body = api.client.get(
        "/reports/2025.json?audience=partner", headers=api.headers("coordinator")
    ).json()
    assert body["audience"] == "partner" and body["year"] == 2025
    # The page draws the JSON's tables, and the JSON publishes no count from 1 to 9 either.
    assert page.locator("#reports-out section.report-table").count() == len(body["tables"])
    titles = page.locator("#reports-out section.report-table h2").all_inner_texts()
    assert titles == [t["title"] for t in body["tables"]]
    cells = [
        v
        for t in body["tables"]
        for v in [*(c for row in t["cells"] for c in row), *t["row_totals"], *t["column_totals"]]
    ]
    assert cells and not [v for v in cells if v is not None and 1 <= v <= 9]
    page.fill("#reports-year", "1990")
    page.click("#reports-form button[type=submit]")
    page.wait_for_selector("#reports-form [data-error-for=year]:not(:empty)")
    last = datetime.now(TZ).year + 1
    want = PL["reports_year_range"].replace("{from}", "2000").replace("{to}", str(last))
    assert page.locator("#reports-form [data-error-for=year]").inner_text() == want


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_reports_tables_pass_axe_in_english_and_ukrainian(
    base: str, context: BrowserContext, checker: BrowserContext, lang: str
) -> None:
    page = open_page(context, base, "reports", "test-coordinator", lang)
    _show_report(page, "2025")
    assert page.evaluate("document.documentElement.lang") == lang
    found = axe(page, checker)
    assert not found, found


def test_a_partner_reads_the_partner_report_only(
    api: Api, base: str, context: BrowserContext, checker: BrowserContext
) -> None:
    refused = denied(api, "test-partner")
    page = open_page(context, base, "reports", "test-partner")
    # No choice of audience: the internal one is not offered, the page says which it shows.
    assert page.locator("#reports-form input[value=internal]").count() == 0
    assert page.locator("#reports-audience").is_hidden()
    assert page.locator("#reports-partner-only").is_visible()
    _show_report(page, "2025")
    assert "audience=partner" in (page.locator("#reports-json").get_attribute("href") or "")
    assert page.locator("#reports-hidden").is_visible()
    numbers = _published(page)
    assert numbers and not [n for n in numbers if n.isdigit() and 1 <= int(n) <= 9]
    assert denied(api, "test-partner") == refused
    found = axe(page, checker)
    assert not found, found


def test_no_page_calls_what_its_role_may_not(api: Api, base: str, context: BrowserContext) -> None:
    """An admin on every page, a coordinator on the admin page: no refused call (each would be a
    "denied" audit row); what the role may not use says so instead."""
    refused = denied(api, "test-admin")
    for name in PAGES:
        page = open_page(context, base, name, "test-admin")
        page.close()
    assert denied(api, "test-admin") == refused
    context.clear_cookies()
    refused = denied(api, "test-coordinator")
    page = open_page(context, base, "admin", "test-coordinator")
    assert page.locator("#admin-denied").is_visible()
    assert page.locator("#admin-users-section").is_hidden()
    assert page.locator("#admin-members-section").is_visible()
    assert denied(api, "test-coordinator") == refused


@pytest.mark.parametrize("lang", ["pl", "en", "uk"])
def test_every_page_passes_axe_at_both_widths(
    api: Api, base: str, browser: Browser, checker: BrowserContext, lang: str
) -> None:
    _pending_change(api, 3)
    _open_alert(api)
    found: dict[str, list[str]] = {}
    for viewport in (LAPTOP, TABLET):
        where = f"{viewport['width']}"
        context, refused = csp_context(browser, viewport)
        page = context.new_page()
        page.goto(f"{base}/app/login?lang={lang}&next=/app/console/sos")
        assert page.evaluate("document.documentElement.lang") == lang
        found[f"login {where}"] = axe(page, checker)
        page.close()
        for name in PAGES:
            who = "test-admin" if name == "admin" else "test-coordinator"
            if name == "admin":
                context.clear_cookies()
            page = open_page(context, base, name, who, lang)
            html = page.content()
            assert "{{" not in html and "[[" not in html, name
            assert page.evaluate("document.documentElement.lang") == lang
            found[f"{name} {where}"] = axe(page, checker)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= viewport["width"], (name, where, scroll)
            if viewport is TABLET and lang == "pl":
                _shot(page, f"console-{name}-tablet")
            page.close()
        if viewport is TABLET and lang != "pl":
            # A signed-in account without the console: the no-access page.
            context.clear_cookies()
            page = open_page(context, base, "sos", "test-streetworker", lang)
            assert page.locator("body").get_attribute("data-page") == "no-access"
            found[f"no-access {where}"] = axe(page, checker)
            page.close()
        context.close()
        assert not refused, refused
    bad = {k: v for k, v in found.items() if v}
    assert not bad, bad
