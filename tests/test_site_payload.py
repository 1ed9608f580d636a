"""The live map's packed site columns are lossless: the shared site layer's decoder, run in
Chromium on the real page, gives back exactly the rows the field app still receives."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from playwright.sync_api import Browser
from sqlalchemy.orm import Session

from geo_outreach.mapping import data as mapdata
from maps import live
from maps.model import SitePoint, VisitSummary
from tests.test_maps import NOW
from tests.test_maps_browser import (  # the shared Chromium, the demo maps and their server
    browser,  # noqa: F401
    server,  # noqa: F401
    session_module,  # noqa: F401
    site,  # noqa: F401
    tiles,  # noqa: F401
)

_DECODE = "payload => L.GoSiteLayer.decode(JSON.parse(payload)).rows"


def _edge_cases(sites: list[SitePoint]) -> list[SitePoint]:
    """Demo sites varied where packing could go wrong: no visit, a visit in the future, every
    hazard at once, a site on the packed origin itself and one far from it."""
    base = sites[0]
    future = NOW + timedelta(hours=5, seconds=7)
    return [
        SitePoint(**{**base.__dict__, "last_visit_at": None, "recent_visits": ()}),
        SitePoint(**{**base.__dict__, "last_visit_at": future,
                     "recent_visits": (VisitSummary(visited_at=future, people_met=3),)}),
        SitePoint(**{**base.__dict__, "hazards": tuple(live._HAZARD_CODES), "lon": 14.1234567,
                     "lat": 49.0000005, "district": None}),
        SitePoint(**{**base.__dict__, "lon": 24.1500004, "lat": 54.8999996}),
    ]  # fmt: skip


def _vocabulary_order(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows with hazard and help lists in vocabulary order, as the bit sets carry them."""
    for r in rows:
        r[7] = sorted(set(r[7]))
        for v in r[11]:
            v[2] = sorted(set(v[2]))
    return rows


def test_packed_columns_decode_to_the_rows(
    browser: Browser,  # noqa: F811 - the fixture imported above
    server: str,  # noqa: F811
    session_module: Session,  # noqa: F811
) -> None:
    data = mapdata.live_data(session_module, actor="test:site-payload")
    sites = [*data.sites, *_edge_cases(data.sites)]
    packed = live.site_payload(sites, now=NOW, lang="pl", packed=True)
    plain = live.site_payload(sites, now=NOW, lang="pl")
    assert "rows" not in packed and len(packed["code"]) == len(plain["rows"]) > 100
    assert any(plain["rows"][i][11] for i in range(len(sites)))  # visits are in the test
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server}/live.html")
        page.wait_for_function("window.GO_SITE_STATS")
        decoded = page.evaluate(_DECODE, json.dumps(packed))
        # A payload that already has rows (the field app's) is handed back untouched.
        assert page.evaluate(_DECODE, json.dumps(plain)) == plain["rows"]
    finally:
        context.close()
    assert decoded == _vocabulary_order(json.loads(json.dumps(plain["rows"])))
