"""Stored XSS (issue 10, defect 2): hostile site, facility, stop and district names in every map.

Real demo rows are renamed (inside a rolled-back transaction) to strings that break out of HTML,
of folium's inline <script> and of the JavaScript template literals folium wraps tooltips and
popups in. The planner, live and public maps and the route sheet are then opened in Chromium with
every layer shown and every tooltip and popup opened: no dialog may fire, no injected element may
exist, and each string must be shown literally.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Browser, Page
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.core.plan import LeftOut, Plan
from geo_outreach.mapping import data as mapdata
from geo_outreach.routing.exports import route_sheet_html
from maps import common, live, planner, public
from maps.escape import escape
from tests.test_maps import NOW, team_route
from tests.test_maps_browser import (  # the shared Chromium and the module's DB session
    browser,  # noqa: F401
    session_module,  # noqa: F401
)

HOSTILE = (
    'X"><img src=x onerror=alert(1)>',
    "</script><script>alert(1)</script>",
    "${alert(1)}`;alert(1)//\\",  # ends a template literal or a quoted JS string
)

# Every layer group shown, every tooltip and popup opened; returns the texts they show.
_OPEN_ALL = """() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  for (const v of Object.values(window)) {
    if (v instanceof L.LayerGroup && !map.hasLayer(v)) { map.addLayer(v); }
  }
  const layers = [], shown = [];
  map.eachLayer(l => layers.push(l));
  const text = overlay => { const el = overlay.getElement(); if (el) shown.push(el.textContent); };
  for (const l of layers) {
    // Skip open tooltips and popups themselves, and markers the site layer has redrawn away.
    if (!l._map || l instanceof L.DivOverlay) { continue; }
    const tip = l.getTooltip && l.getTooltip() instanceof L.Tooltip ? l.getTooltip() : null;
    if (tip && l instanceof L.GeoJSON) {  // one tooltip for the group: hover each feature
      for (const part of l.getLayers()) {
        part.fire('mouseover', {latlng: part.getBounds().getCenter()}, true);
        text(tip);
      }
    } else if (tip) {
      l.openTooltip();
      text(tip);
    }
    const pop = l.getPopup && l.getPopup();
    if (pop instanceof L.Popup) { l.openPopup(); text(pop); }
  }
  document.querySelectorAll('.go-legend, .leaflet-control-layers').forEach(
    e => shown.push(e.textContent));
  return shown;
}"""
_INJECTED = """() =>
  document.querySelectorAll('img[src="x"], [onerror]').length +
  [...document.scripts].filter(s => s.textContent.trim() === 'alert(1)').length"""


@given(st.text())
def test_escape_keeps_the_text_and_no_markup_or_script_syntax(value: str) -> None:
    out = escape(value)
    assert html.unescape(out) == value
    assert not set(out) & set("<>\"'`$\\\n\r")


@pytest.fixture(scope="module")
def hostile(session_module: Session) -> dict[str, Any]:  # noqa: F811 - the fixture imported above
    """Demo rows renamed to the hostile strings (rolled back with the module's session)."""
    s = session_module
    ids = s.execute(
        text("SELECT id FROM sleeping_sites WHERE status = 'active' ORDER BY code LIMIT 3")
    ).scalars()
    for i, site_id in enumerate(list(ids)):
        s.execute(
            text("UPDATE sleeping_sites SET code = :code, name = :name WHERE id = :id"),
            {"code": HOSTILE[i], "name": HOSTILE[(i + 1) % 3], "id": site_id},
        )
    public_ids = s.execute(
        text("SELECT id FROM facilities WHERE public AND NOT confidential ORDER BY code LIMIT 3")
    ).scalars()
    for i, facility_id in enumerate(list(public_ids)):
        s.execute(
            text("UPDATE facilities SET name = :name, code = :code WHERE id = :id"),
            {"name": HOSTILE[i], "code": HOSTILE[(i + 1) % 3], "id": facility_id},
        )
    # A confidential shelter appears only by name and free beds, in the live map's legend.
    s.execute(
        text(
            "UPDATE facilities SET name = :name, capacity = NULL, free_beds = 2 WHERE id = "
            "(SELECT id FROM facilities WHERE confidential ORDER BY code LIMIT 1)"
        ),
        {"name": HOSTILE[1]},
    )
    s.execute(
        text(
            "UPDATE sos_bus_stops SET name = :name WHERE id = "
            "(SELECT id FROM sos_bus_stops ORDER BY route_id, seq LIMIT 1)"
        ),
        {"name": HOSTILE[0]},
    )
    s.execute(
        text(
            "UPDATE areas SET name = :name WHERE id = "
            "(SELECT id FROM areas WHERE kind = 'district' ORDER BY name LIMIT 1)"
        ),
        {"name": HOSTILE[2]},
    )
    return {"plan": _plan(s)}


def _plan(s: Session) -> Plan:
    """The hostile sites as stops of two teams, and again as sites left out."""
    rows = s.execute(
        text(
            "SELECT id, code, name, ST_X(geom), ST_Y(geom), estimated_people, hazards "
            "FROM sleeping_sites WHERE code = ANY(:codes) ORDER BY code"
        ),
        {"codes": list(HOSTILE)},
    ).all()
    assert len(rows) == len(HOSTILE)
    depot = (18.6466, 54.3520)
    routes = [
        team_route(1, rows[:2], depot=depot, distance_m=3000.0),
        team_route(2, rows[2:], depot=depot, distance_m=3000.0, name=HOSTILE[1]),
    ]
    left = [
        LeftOut(site_id=r[0], code=r[1], name=r[2], lon=r[3], lat=r[4], reason="no_time")
        for r in rows
    ]
    return Plan(
        mode="streetwork",
        window_start=NOW,
        window_end=NOW + timedelta(hours=3),
        routes=routes,
        left_out=left,
        notes=[HOSTILE[2]],
    )


class Watched:
    """A page that records dialogs (dismissing them), script errors and console errors."""

    def __init__(self, browser: Browser) -> None:  # noqa: F811 - the fixture imported above
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page: Page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def safe(self) -> None:
        # An injected <img src=x> fails at once (file: URL); give its onerror a moment to run.
        self.page.wait_for_timeout(300)
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        assert self.page.evaluate(_INJECTED) == 0


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:  # noqa: F811 - the fixture imported above
    w = Watched(browser)
    try:
        yield w
    finally:
        w.context.close()


def _open_map(w: Watched, path: Path) -> list[str]:
    w.page.goto(path.as_uri(), wait_until="load")
    w.safe()  # nothing ran on load (a broken-out <script> would also leave no map)
    return list(w.page.evaluate(_OPEN_ALL))


def _shown(strings: tuple[str, ...], texts: list[str]) -> list[str]:
    return [h for h in strings if not any(h in t for t in texts)]


def test_planner_map_shows_hostile_codes_and_names_as_text(
    hostile: dict[str, Any], watched: Watched, tmp_path: Path
) -> None:
    path = tmp_path / "planner.html"
    common.save(planner.build(hostile["plan"], streets=None), path)
    texts = _open_map(watched, path)
    watched.safe()
    assert _shown(HOSTILE, texts) == []
    # The stop tooltips themselves (the reported hole), not only the popups.
    tips = watched.page.locator(".leaflet-tooltip").all_text_contents()
    assert _shown(HOSTILE, tips) == []


def test_live_map_shows_hostile_sites_facilities_stops_and_districts_as_text(
    session_module: Session,  # noqa: F811 - the fixture imported above
    hostile: dict[str, Any],
    watched: Watched,
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.html"
    data = mapdata.live_data(session_module, actor="test:xss")
    common.save(live.build(data, now=NOW, streets=None), path)
    texts = _open_map(watched, path)
    watched.safe()
    assert _shown(HOSTILE, texts) == []
    # Each hostile site found by the search box and opened: its popup shows code and name.
    for code in HOSTILE:
        watched.page.fill(".go-search input", code)
        watched.page.keyboard.press("Enter")
        # The site's popup heading, found by its literal text (another popup may stay open).
        watched.page.locator(".leaflet-popup-content h3", has_text=code).first.wait_for()
        watched.page.evaluate(_OPEN_ALL)
    watched.safe()
    assert _shown(HOSTILE, watched.page.locator(".leaflet-tooltip").all_text_contents()) == []


def test_public_map_shows_hostile_facility_and_stop_names_as_text(
    session_module: Session,  # noqa: F811 - the fixture imported above
    hostile: dict[str, Any],
    watched: Watched,
    tmp_path: Path,
) -> None:
    path = tmp_path / "public.html"
    common.save(public.build(mapdata.public_data(session_module), now=NOW, streets=None), path)
    texts = _open_map(watched, path)
    texts.append(watched.page.locator("#go-list").text_content() or "")
    watched.safe()
    assert _shown(HOSTILE, texts) == []


def test_route_sheet_shows_hostile_codes_and_names_as_text(
    hostile: dict[str, Any], watched: Watched
) -> None:
    watched.page.set_content(route_sheet_html(hostile["plan"]))
    watched.safe()
    cells = watched.page.locator("td, p, h2").all_text_contents()
    assert _shown(HOSTILE, cells) == []
