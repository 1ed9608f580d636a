"""The office console (issue 12) in Debian's Chromium against a real `geo-outreach serve`: the
shell (login and back, no access for other roles, language, logout), the plan page and the
patrols page. The issue's main flow: a coordinator plans a streetwork night for 2 teams (team 1
with a streetworker made for the test), excludes a site, re-solves, compares and publishes;
the streetworker sees the route in the field app and marks two stops done; the coordinator sees
the patrol running with 2 of N visited, uploads its GPX track (one in another city first: the
fault is shown at the file field) and sets it done; the year's report counts it and its contacts.
Bad input shows the field's fault and stores nothing; every page passes axe-core in pl and
another language at laptop and tablet widths."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import URL

from tests.api_support import PASSWORD, Api, api_for, live_server
from tests.browser_support import chromium
from tests.test_field_app_a11y import violations
from tests.test_field_app_browser import _ready, _until

TZ = ZoneInfo("Europe/Warsaw")
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
LAPTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
TABLET: dict[str, Any] = {"viewport": {"width": 800, "height": 1200}, "has_touch": True}
PAGES = ("plan", "patrols", "sos", "beds", "review", "reports", "admin", "import")
WORKER = "sw-console-night"
# The patrol is a streetwork night: 2 people met at each of the two stops marked done.
PEOPLE_PER_STOP = 2


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def base(api: Api) -> Iterator[str]:
    with live_server(api) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Desk:
    """One browser profile with the page errors it saw."""

    def __init__(self, browser: Browser, shape: dict[str, Any], *, bypass_csp: bool = False):
        self.context: BrowserContext = browser.new_context(**shape, bypass_csp=bypass_csp)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.set_default_timeout(60_000)

    def close(self) -> None:
        self.context.close()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _console_login(page: Page, base: str, name: str, where: str = "plan", lang: str = "pl") -> None:
    """Open a console page signed out: the login page, then back to that page."""
    page.goto(f"{base}/app/console/{where}?lang={lang}")
    assert "/app/login" in page.url and f"next=/app/console/{where}" in page.url, page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/app/console/{where}?lang={lang}*")
    _ready(page)


def _open(page: Page, base: str, where: str, lang: str = "pl") -> None:
    joiner = "&" if "?" in where else "?"
    page.goto(f"{base}/app/console/{where}{joiner}lang={lang}")
    _ready(page)


def _fits(page: Page) -> bool:
    """Nothing wider than the window (tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _plans(api: Api) -> int:
    found = api.client.get("/plans", headers=api.headers("coordinator"))
    assert found.status_code == 200, found.text
    return len(found.json())


def _gpx(points: list[tuple[float, float]], start: datetime) -> str:
    # Two minutes apart, but never past now (the server refuses a track time in the future):
    # the patrol began 1–2 h ago, depending on the time of day the test runs.
    latest = datetime.now(ZoneInfo("UTC")) - timedelta(minutes=1)
    step = min(timedelta(minutes=2), (latest - start) / max(1, len(points) - 1))
    pts = "".join(
        f'<trkpt lat="{lat:.6f}" lon="{lon:.6f}"><time>'
        f"{(start + step * i).astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%M:%SZ}"
        "</time></trkpt>"
        for i, (lon, lat) in enumerate(points)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>night</name><trkseg>{pts}</trkseg></trk></gpx>"
    )


def _report_value(api: Api, year: int, code: str) -> float:
    found = api.client.get(f"/reports/{year}.json", headers=api.headers("coordinator"))
    assert found.status_code == 200, found.text
    table = next(t for t in found.json()["tables"] if t["key"] == "01_patrols")
    column = table["header"].index(str(year)) - 1
    row = next((r for r in table["rows"] if r["code"] == code), None)
    return 0 if row is None or row["values"][column] is None else float(row["values"][column])


# -- the shell ------------------------------------------------------------------------------


def test_shell_login_access_language_logout(api: Api, base: str, browser: Browser) -> None:
    desk = Desk(browser, LAPTOP)
    page = desk.page
    _console_login(page, base, "test-coordinator", where="patrols")
    assert page.locator("#con-who").inner_text() == "test-coordinator"
    assert page.locator("#con-role").inner_text() == "koordynator / planista"  # not "coordinator"
    nav = page.locator(".con-nav a")
    assert nav.count() == len(PAGES) + 1
    assert page.locator('.con-nav a[aria-current="page"]').get_attribute("data-page") == "patrols"
    # The index links to every page; every page's markup is filled (no {{key}} left).
    page.goto(f"{base}/app/console?lang=pl")
    _ready(page)
    menu = [page.locator(".con-menu a").nth(i).get_attribute("data-page") for i in range(8)]
    assert menu == list(PAGES)
    for name in PAGES:
        page.goto(f"{base}/app/console/{name}?lang=en")
        assert "{{" not in page.content() and "[[" not in page.content(), name
        assert page.locator("html").get_attribute("lang") == "en"
    # The language select keeps the page.
    _open(page, base, "plan")
    assert page.locator("h1").inner_text() == "Plan patroli"
    page.select_option("#con-lang", "uk")
    page.wait_for_url("**/app/console/plan?lang=uk*")
    _ready(page)
    assert page.locator("h1").inner_text() == "План патрулів"
    # An unknown page is no page.
    assert page.goto(f"{base}/app/console/nothing").status == 422  # type: ignore[union-attr]
    # Logout offline: the page stays and says so (the session lives on).
    _open(page, base, "plan", lang="en")
    desk.context.set_offline(True)
    page.click("#con-logout")
    _until(page, "document.getElementById('con-status-text').className === 'con-error'")
    assert "Not logged out" in page.locator("#con-status-text").inner_text()
    assert "/app/console/plan" in page.url
    desk.context.set_offline(False)
    # Logout ends the session on the server: the old cookie, put back, opens nothing.
    sid = next(c for c in desk.context.cookies() if c["name"] == "go_session")
    page.click("#con-logout")
    page.wait_for_url(re.compile(r"/app/login\?"))
    assert not [c for c in desk.context.cookies() if c["name"] == "go_session"]
    desk.context.add_cookies([sid])  # type: ignore[list-item]
    state = page.request.get(f"{base}/app/session").json()
    assert state["state"] != "active" and state["name"] is None, state
    page.goto(f"{base}/app/console/plan")
    assert "/app/login" in page.url
    desk.close()
    # A streetworker is told clearly that the console is not for this account.
    worker = Desk(browser, TABLET)
    worker.page.goto(f"{base}/app/console/plan?lang=en")
    worker.page.fill("input[name=username]", "test-streetworker")
    worker.page.fill("input[name=password]", PASSWORD)
    worker.page.click("button[type=submit]")
    worker.page.wait_for_url("**/app/console/plan*")
    assert worker.page.locator("h1").inner_text() == "No access"
    assert worker.page.locator(".con-nav a").count() == 0
    answer = worker.page.goto(f"{base}/app/console?lang=en")
    assert answer is not None and answer.status == 403
    worker.close()
    assert desk.errors == [] and worker.errors == [], desk.errors + worker.errors


def test_an_ended_session_keeps_the_page_and_what_was_typed(
    api: Api, base: str, browser: Browser
) -> None:
    """The session ends server-side while a form is filled: pressing Solve sends nothing that
    is stored, keeps the page and its inputs, and says so with a login link for a new tab;
    after logging in there, pressing Solve again makes the plan."""
    name = "coord-session-ends"
    made = api.client.post(
        "/admin/users",
        json={"name": name, "role": "coordinator", "password": PASSWORD},
        headers=api.headers("admin"),
    )
    assert made.status_code == 201, made.text
    desk = Desk(browser, LAPTOP)
    page = desk.page
    _console_login(page, base, name, where="plan", lang="en")
    start, end = _window()
    _fill_plan(page, start, end, members="test-streetworker")
    page.fill("#plan-seconds", "0.5")
    page.fill("#plan-crews-1-name", "Typed before the session ended")
    typed = {box: page.locator(box).input_value() for box in _TYPED}
    here = page.url
    before = _plans(api)
    revoked = api.client.post(f"/admin/users/{name}/revoke", headers=api.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["ended"] >= 1, revoked.text
    page.click("#plan-solve")
    notice = page.locator("#con-session")
    notice.wait_for()
    assert "session has ended" in notice.inner_text()
    link = notice.locator("a")
    assert link.get_attribute("href") == "/app/login?lang=en&next=%2Fapp%2Fconsole%2Fplan"
    assert (link.get_attribute("target"), link.get_attribute("rel")) == ("_blank", "noopener")
    _until(page, "document.getElementById('con-progress').hidden")
    assert page.url == here
    assert {box: page.locator(box).input_value() for box in _TYPED} == typed
    assert page.locator("#plan-result").is_hidden() and _plans(api) == before
    # Log in in the new tab the link opens (same browser profile), then press Solve again.
    with page.expect_popup() as opened:
        link.click()
    tab = opened.value
    tab.fill("input[name=username]", name)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/app/console/plan?lang=en*")
    page.click("#plan-solve")
    shown = _wait_plan(page, None)
    assert notice.is_hidden()
    stored = api.client.get(f"/plans/{shown}", headers=api.headers("coordinator")).json()
    assert stored["request"]["crews"][1]["name"] == "Typed before the session ended"
    assert _plans(api) == before + 1 and shown
    assert desk.errors == [], desk.errors
    desk.close()


_TYPED = ("#plan-day", "#plan-start", "#plan-end", "#plan-seconds", "#plan-teams",
          "#plan-crews-0-members", "#plan-crews-1-name")  # fmt: skip


# -- the main flow ------------------------------------------------------------------


def _window() -> tuple[datetime, datetime]:
    """A shift running now (the field app shows the route of a patrol within 12 hours)."""
    start = datetime.now(TZ).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    return start, start + timedelta(hours=6)


def _fill_plan(page: Page, start: datetime, end: datetime, *, members: str) -> None:
    page.select_option("#plan-mode", "streetwork")
    page.fill("#plan-day", start.strftime("%Y-%m-%d"))
    page.fill("#plan-start", start.strftime("%H:%M"))
    page.fill("#plan-end", end.strftime("%H:%M"))
    page.dispatch_event("#plan-end", "change")
    page.fill("#plan-seconds", "1")
    page.fill("#plan-teams", "2")
    page.dispatch_event("#plan-teams", "input")
    page.fill("#plan-crews-0-members", members)


def _wait_plan(page: Page, previous: str | None) -> str:
    deadline = time.monotonic() + 120
    while True:
        shown = page.evaluate("document.getElementById('plan-result').dataset.plan || null")
        busy = page.evaluate("!document.getElementById('con-progress').hidden")
        if shown and shown != previous and not busy:
            return str(shown)
        assert time.monotonic() < deadline, page.locator("#con-status-text").inner_text()
        time.sleep(0.3)


def test_plan_publish_field_route_patrol_done_report(api: Api, base: str, browser: Browser) -> None:
    made = api.client.post(
        "/admin/users",
        json={"name": WORKER, "role": "streetworker", "password": PASSWORD},
        headers=api.headers("admin"),
    )
    assert made.status_code == 201, made.text
    start, end = _window()
    year = start.year
    patrols_before = _report_value(api, year, "streetwork.patrols")
    people_before = _report_value(api, year, "streetwork.people_met")

    desk = Desk(browser, LAPTOP)
    page = desk.page
    _console_login(page, base, "test-coordinator", where="plan")
    _fill_plan(page, start, end, members=WORKER)
    # The crews' account names come from GET /plans/crew-accounts (not the admin's list).
    assert page.locator(f'#plan-accounts option[value="{WORKER}"]').count() == 1
    page.click("#plan-solve")
    # Progress while solving: the bar, the seconds (aria-hidden: the live region says the
    # start and the end only), the plan's part of the page busy, not the whole page.
    page.wait_for_selector("#con-progress:not([hidden])")
    busy = page.evaluate(
        "({said: document.getElementById('con-status-text').textContent,"
        " clock: document.getElementById('con-elapsed').textContent,"
        " hidden: document.getElementById('con-elapsed').getAttribute('aria-hidden'),"
        " body: document.body.getAttribute('aria-busy'),"
        " result: document.getElementById('plan-result').getAttribute('aria-busy')})"
    )
    assert busy == {"said": "Układanie tras", "clock": busy["clock"], "hidden": "true",
                    "body": None, "result": "true"}, busy  # fmt: skip
    assert busy["clock"].endswith(" s")
    first = _wait_plan(page, None)
    assert page.locator("#plan-result").get_attribute("aria-busy") is None
    assert page.locator("#plan-teams-table tbody tr").count() == 2
    assert WORKER in page.locator("#plan-teams-table tbody tr").first.inner_text()
    assert page.locator("#plan-map").get_attribute("src") == f"/plans/{first}/map.html?lang=pl"
    frame = page.frame_locator("#plan-map")
    frame.locator(".leaflet-container").first.wait_for()
    _shot(page, "plan-first")

    # Exclude a site on a route of the first plan (the first stop of team 2) and re-solve:
    # the site is on no route of the new plan, listed as excluded; the rest is kept.
    before = api.client.get(f"/plans/{first}", headers=api.headers("coordinator")).json()
    routed = [
        f["properties"] for f in before["plan"]["features"] if f["properties"]["kind"] == "stop"
    ]
    on_team_2 = [s for s in routed if s["team"] == 2 and s.get("site_id")]
    site = (on_team_2 or [s for s in routed if s.get("site_id")])[0]["site_id"]
    assert site in {s.get("site_id") for s in routed}
    excluded = page.locator(f'#plan-sites select[data-site="{site}"]')
    code = excluded.get_attribute("data-code")
    excluded.select_option("exclude")
    page.click("#plan-resolve")
    second = _wait_plan(page, first)
    plan = api.client.get(f"/plans/{second}", headers=api.headers("coordinator")).json()
    assert plan["parent_id"] == first
    stops = [f["properties"] for f in plan["plan"]["features"] if f["properties"]["kind"] == "stop"]
    assert site not in {s.get("site_id") for s in stops}
    assert code not in {s["code"] for s in stops}
    left = {s["site_id"]: s["reason"] for s in plan["summary"]["left_out"]}
    assert left.get(site) == "excluded", plan["summary"]["left_out"]
    assert (
        page.locator(f'#plan-left-out tr[data-site="{site}"]')
        .inner_text()
        .endswith("wyłączone z planu")
    )
    # The excluded site stays listed, chosen as excluded, for the next change.
    kept = page.locator(f'#plan-sites select[data-site="{site}"]')
    assert kept.input_value() == "exclude"
    assert WORKER in page.locator("#plan-teams-table tbody tr").first.inner_text()

    # Compare the two plans side by side.
    _until(page, f"document.getElementById('compare-b').value === '{second}'")
    assert page.locator("#compare-a").input_value() == first
    assert page.locator("#compare-b").input_value() == second
    page.click("#plan-compare-go")
    page.wait_for_selector("#compare-table:not([hidden])")
    measures = page.locator("#compare-table tbody tr")
    assert measures.count() == 6
    assert page.locator('#compare-table tr[data-measure="plan_km"] td').count() == 2

    # The first version was published meanwhile (by another coordinator, say).
    older = api.client.post(f"/plans/{first}/publish", headers=api.headers("coordinator"))
    assert older.status_code == 200, older.text
    older_codes = sorted(p["code"] for p in older.json()["patrols"])
    # Publish the new version: once (the button is off while the request runs), patrols for
    # both teams replacing the first version's, the route sheet and a GPX per team.
    held: list[Any] = []
    page.route(f"**/plans/{second}/publish", lambda route: held.append(route))
    page.click("#plan-publish")
    _until(page, "document.getElementById('plan-publish').disabled")
    page.dispatch_event("#publish-form", "submit")  # a second press sends nothing
    page.wait_for_timeout(300)
    assert len(held) == 1
    with page.expect_response(lambda r: r.url.endswith(f"/plans/{second}/publish")) as answer:
        held[0].continue_()
    page.unroute(f"**/plans/{second}/publish")
    published = answer.value.json()
    assert len(published["patrols"]) == 2
    assert sorted(r["code"] for r in published["replaced"]) == older_codes
    replaced = page.locator("#plan-replaced")
    replaced.wait_for()
    assert all(c in replaced.inner_text() for c in older_codes) and first[:8] in (
        replaced.inner_text()
    )
    mine = next(p for p in published["patrols"] if p["team"] == 1)
    assert mine["members"] == [WORKER]
    page.wait_for_selector("#plan-published:not([hidden])")
    assert page.locator("#plan-publish").is_disabled()
    assert page.locator("#plan-sheet").get_attribute("href") == (
        f"/plans/{second}/sheet.html?lang=pl"
    )
    links = page.locator("#plan-gpx a.gpx-link")
    assert links.count() == 2
    with page.expect_download() as download:
        links.first.click()
    assert download.value.suggested_filename.endswith("team-1.gpx")
    sheet = page.request.get(f"{base}/plans/{second}/sheet.html?lang=pl")
    assert sheet.status == 200 and WORKER in sheet.text()
    _shot(page, "plan-published")

    # The streetworker of team 1 sees the route in the field app and marks two stops done.
    phone = Desk(browser, {"viewport": {"width": 360, "height": 640}, "is_mobile": True})
    field = phone.page
    field.goto(f"{base}/app/login")
    field.fill("input[name=username]", WORKER)
    field.fill("input[name=password]", PASSWORD)
    field.click("button[type=submit]")
    _ready(field)
    field.click("[data-view=route]")
    field.wait_for_selector("#route-stops li")
    assert mine["code"] in field.locator("#route-title").inner_text()
    total = field.locator("#route-stops li").count()
    assert total >= 2
    for _ in range(2):
        field.locator("#route-stops .mark-done").first.click()
        field.fill("#v-people_met", str(PEOPLE_PER_STOP))
        field.fill("#v-women_met", "0")
        field.click("#visit-form button[type=submit]")
        field.wait_for_selector("#visit-panel", state="hidden")
    _until(field, "document.getElementById('pending-count').textContent === '0'")
    assert field.locator("#route-stops .done").count() == 2

    # The coordinator: the patrol is running with 2 of N stops visited.
    _open(page, base, f"patrols?day={start:%Y-%m-%d}")
    running = page.locator(f'#patrols-running li[data-code="{mine["code"]}"]')
    running.wait_for()
    bar = running.locator("progress").first
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("2", str(total))
    assert running.locator(".visited-count").inner_text() == f"2 z {total} odwiedzonych"
    running.locator("details.stops summary").click()
    assert running.locator("tbody tr.visited").count() == 2
    _shot(page, "patrols-running")

    # Its track: one from another city is refused at the file field, nothing stored.
    route = next(
        f["geometry"]["coordinates"]
        for f in plan["plan"]["features"]
        if f["properties"]["kind"] == "route" and f["properties"]["team"] == 1
    )
    track = [(lon, lat) for lon, lat in route[:: max(1, len(route) // 40)]]
    krakow = [(19.93 + i * 0.001, 50.06) for i in range(5)]
    files = ARTIFACTS / "gpx"
    files.mkdir(parents=True, exist_ok=True)
    (files / "krakow.gpx").write_text(_gpx(krakow, start), encoding="utf-8")
    (files / "night.gpx").write_text(_gpx(track, start), encoding="utf-8")
    running.locator("details.manage summary").click()
    running.locator("input[type=file]").set_input_files(str(files / "krakow.gpx"))
    running.locator("button.upload-track").click()
    fault = running.locator('.track-form [data-error-for="track"]')
    fault.wait_for(state="visible")
    assert "outside the service area" in fault.inner_text()
    file_input = running.locator("input[type=file]")
    assert file_input.get_attribute("aria-invalid") == "true"
    said = (file_input.get_attribute("aria-describedby") or "").split()
    assert fault.get_attribute("id") in said
    progress = api.client.get(
        f"/patrols/{mine['id']}/progress", headers=api.headers("coordinator")
    ).json()
    assert progress["has_track"] is False
    _shot(page, "patrols-track-refused")
    running.locator("input[type=file]").set_input_files(str(files / "night.gpx"))
    running.locator("button.upload-track").click()
    _until(page, "document.getElementById('con-status-text').className !== ''")
    assert page.locator("#con-status-text").get_attribute("class") == "con-ok", running.locator(
        ".track-form"
    ).inner_text()
    running = page.locator(f'#patrols-running li[data-code="{mine["code"]}"]')
    running.locator(".has-track").wait_for()
    _until(page, f"!!document.querySelector('li[data-code=\"{mine['code']}\"] .has-track')")
    assert running.locator(".has-track").inner_text() == "ślad GPX zapisany"

    # Done: the card moves to the finished ones.
    running.locator("select[name=status]").select_option("done")
    running.locator("button.save-status").click()
    done = page.locator(f'#patrols-done li[data-code="{mine["code"]}"]')
    done.wait_for()
    assert done.get_attribute("data-status") == "done"
    _shot(page, "patrols-done")
    progress = api.client.get(
        f"/patrols/{mine['id']}/progress", headers=api.headers("coordinator")
    ).json()
    assert progress["status"] == "done" and progress["has_track"] is True
    assert progress["visited"] == 2 and progress["contacts"] == 2 * PEOPLE_PER_STOP

    # The year's report counts the new patrol and its contacts.
    assert _report_value(api, year, "streetwork.patrols") == patrols_before + 1
    assert _report_value(api, year, "streetwork.people_met") == (
        people_before + 2 * PEOPLE_PER_STOP
    )
    assert desk.errors == [] and phone.errors == [], desk.errors + phone.errors
    desk.close()
    phone.close()


# -- bad input ------------------------------------------------------------------------------


def test_bad_input_is_shown_at_the_field_and_nothing_is_stored(
    api: Api, base: str, browser: Browser
) -> None:
    desk = Desk(browser, TABLET)
    page = desk.page
    _console_login(page, base, "test-coordinator", where="plan", lang="en")
    before = _plans(api)
    # End before start on the same day: the browser's check names the end field.
    page.fill("#plan-start", "20:00")
    page.fill("#plan-end", "18:00")
    page.select_option("#plan-end-day", "same")
    page.click("#plan-solve")
    error = page.locator('#plan-form [data-error-for="end"]')
    error.wait_for(state="visible")
    assert "end before start" in error.inner_text()
    end = page.locator("#plan-end")
    assert end.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in (end.get_attribute("aria-describedby") or "").split()
    assert "nothing was stored" in page.locator("#con-status-text").inner_text()
    _shot(page, "plan-end-before-start")
    # The server's own check: an inspection of a district without sites, named at the field.
    page.select_option("#plan-end-day", "next")
    page.select_option("#plan-mode", "inspection")
    page.fill("#plan-district", "Nibylandia")
    page.fill("#plan-seconds", "0.5")
    page.click("#plan-solve")
    district = page.locator('#plan-form [data-error-for="district"]')
    district.wait_for(state="visible")
    assert "Nibylandia" in district.inner_text()
    assert page.locator("#plan-district").get_attribute("aria-invalid") == "true"
    # A crew per team and account names only: an unknown form of name is caught here.
    page.select_option("#plan-mode", "streetwork")
    page.fill("#plan-crews-0-members", "Not An Account!")
    page.click("#plan-solve")
    crew = page.locator('#plan-form [data-error-for="crews.0.members"]')
    crew.wait_for(state="visible")
    assert page.locator("#plan-crews-0-members").get_attribute("aria-invalid") == "true"
    page.fill("#plan-crews-0-members", "")
    # The depot: a fault on "depot" (here the server's, on its longitude) marks both inputs.
    page.fill("#plan-depot-lat", "54.35")
    page.fill("#plan-depot-lon", "200")
    page.click("#plan-solve")
    depot = page.locator('#plan-form [data-error-for="depot"]')
    depot.wait_for(state="visible")
    for box in ("#plan-depot-lat", "#plan-depot-lon"):
        assert page.locator(box).get_attribute("aria-invalid") == "true", box
        said = (page.locator(box).get_attribute("aria-describedby") or "").split()
        assert depot.get_attribute("id") in said and "plan-depot-hint" in said, box
    assert page.evaluate("document.activeElement.id") == "plan-depot-lat"
    page.fill("#plan-depot-lat", "")
    page.fill("#plan-depot-lon", "")
    # A busy planner (503) and no network are said as such, not as faults to correct.
    busy = "the planner is busy (2 plan(s) being solved); try again shortly"
    page.route(
        "**/plans",
        lambda route: route.fulfill(
            status=503, headers={"Retry-After": "10"}, json={"detail": busy}
        ),
    )
    page.click("#plan-solve")
    _until(page, "document.getElementById('con-progress').hidden && "
                 "document.getElementById('con-status-text').className === 'con-error'")  # fmt: skip
    status = page.locator("#con-status-text").inner_text()
    assert busy in status and "Try again in 10 s." in status, status
    assert "marked fields" not in status, status
    page.unroute("**/plans")
    desk.context.set_offline(True)
    page.click("#plan-solve")
    _until(
        page, "document.getElementById('con-status-text').textContent.indexOf('connection') >= 0"
    )
    desk.context.set_offline(False)
    assert _plans(api) == before
    assert _fits(page)
    assert desk.errors == [], desk.errors
    desk.close()


# -- accessibility and sizes ----------------------------------------------------------------


def test_console_pages_pass_axe_in_two_languages_and_fit(
    api: Api, base: str, browser: Browser
) -> None:
    made = api.client.post(
        "/plans",
        json={
            "mode": "streetwork",
            "day": f"{datetime.now(TZ):%Y-%m-%d}",
            "start": "20:00",
            "end": "02:00",
            "teams": 2,
            "seconds": 0.5,
        },
        headers=api.headers("coordinator"),
    )
    assert made.status_code == 200, made.text
    found: dict[str, list[str]] = {}
    for shape_name, shape in (("laptop", LAPTOP), ("tablet", TABLET)):
        desk = Desk(browser, shape, bypass_csp=True)
        page = desk.page
        lang = "pl" if shape_name == "laptop" else "en"
        _console_login(page, base, "test-coordinator", where="plan", lang=lang)
        for where in ("", "plan", "patrols"):
            for language in ("pl", "uk" if lang == "pl" else "en"):
                page.goto(f"{base}/app/console{'/' + where if where else ''}?lang={language}")
                _ready(page)
                if where == "plan":  # with a plan shown: map, tables, adjust, publish
                    page.locator("#plan-recent button.open-plan").first.click()
                    page.wait_for_selector("#plan-result:not([hidden])")
                    page.wait_for_selector("#plan-sites tbody tr")
                if where == "patrols":  # the demo's patrols, one opened for changes
                    page.click("#patrols-all-days")
                    page.wait_for_selector("details.manage")
                    _until(page, "document.getElementById('con-progress').hidden")
                    page.locator("details.manage summary").first.click()
                key = f"{shape_name}:{where or 'index'}:{language}"
                found[key] = violations(page)
                assert _fits(page), key
        # The plan form with its faults shown.
        page.goto(f"{base}/app/console/plan?lang={lang}")
        _ready(page)
        page.select_option("#plan-end-day", "same")
        page.fill("#plan-start", "20:00")
        page.fill("#plan-end", "18:00")
        page.select_option("#plan-end-day", "same")
        page.click("#plan-solve")
        page.wait_for_selector('[data-error-for="end"]:not(:empty)')
        found[f"{shape_name}:plan-errors"] = violations(page)
        _shot(page, f"axe-{shape_name}-plan-errors")
        assert desk.errors == [], desk.errors
        desk.close()
    bad = {view: v for view, v in found.items() if v}
    assert not bad, bad
    assert len(found) == 14


def test_partner_reads_the_reports_page_only(api: Api, base: str, browser: Browser) -> None:
    """A coalition partner opens the reports page (the partner version); every other page is
    the no-access page (which passes axe), with a nav of the reports page only."""
    desk = Desk(browser, LAPTOP, bypass_csp=True)
    page = desk.page
    page.goto(f"{base}/app/console/plan?lang=pl")
    page.fill("input[name=username]", "test-partner")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: "/app/console/plan" in r.url) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 403
    _ready(page)
    assert page.locator("h1").inner_text() == "Brak dostępu"
    assert page.locator("script[src='/app/static/console-plan.js']").count() == 0
    nav = page.locator(".con-nav a")
    assert [nav.nth(i).get_attribute("data-page") for i in range(nav.count())] == ["reports"]
    assert violations(page) == []
    for where in ("", "/patrols", "/admin"):
        shown = page.goto(f"{base}/app/console{where}?lang=pl")
        assert shown is not None and shown.status == 403, where
    shown = page.goto(f"{base}/app/console/reports?lang=en")
    assert shown is not None and shown.status == 200
    assert page.locator("h1").inner_text() == "Reports"
    assert page.locator("body").get_attribute("data-role") == "partner"
    assert page.locator("script[src='/app/static/console-reports.js']").count() == 1
    nav = page.locator(".con-nav a")
    assert [nav.nth(i).get_attribute("data-page") for i in range(nav.count())] == ["reports"]
    assert page.locator("#con-role").inner_text() == "partner (city guard / police)"
    desk.close()


def test_login_returns_only_to_console_pages(api: Api, base: str, browser: Browser) -> None:
    """`next` takes the browser back to a console page, never elsewhere."""
    desk = Desk(browser, LAPTOP)
    page = desk.page
    page.goto(f"{base}/app/login?lang=en&next=https://example.org/")
    assert page.locator("input[name=next]").count() == 0
    page.fill("input[name=username]", "test-coordinator")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app/?lang=en")
    assert page.url == f"{base}/app/?lang=en"
    desk.close()
