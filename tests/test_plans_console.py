"""Stored plans for the office console (issue 12): crews, exclude / require / lock and re-solve,
compare, publish to patrols with members (and the field app's "my route tonight"), the route
sheet, GPX per team and the plan's map; coordinators only.

Plans run the solver briefly (0.3 s) on the real Gdańsk walking network and the demo sites."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gpxpy
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL, text
from sqlalchemy.exc import ProgrammingError

from api.app import create_app
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.routing import planner, vrp
from tests.api_support import PASSWORD, Api, api_for

ORIGIN = "http://localhost"
SOLVER = 0.3  # seconds per plan: enough for a feasible plan, short for the suite
# A required or locked site must be placed, not just preferred: a little longer for the solver.
FIRM = 1.0
MEMBER, OUTSIDER, SECOND = "test-streetworker", "sw-not-on-the-plan", "sw-team-two"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        with db.session_scope(api.engine) as s:
            for name in (OUTSIDER, SECOND):
                auth.add_user(s, name=name, role="streetworker", password=PASSWORD, actor="test")
        yield api


def _scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


def _tonight() -> dict[str, Any]:
    """A streetwork shift running now (Warsaw time), so a published route is "tonight's"."""
    start = (datetime.now(planner.TZ) - timedelta(minutes=30)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=3)
    return {
        "mode": "streetwork",
        "day": start.date().isoformat(),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
        "teams": 2,
        "seconds": SOLVER,
        "crews": [
            {"name": "Północ <b>1</b>", "members": [MEMBER]},
            {"name": "Południe", "members": [SECOND]},
        ],
    }


def _post(api: Api, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(url, json=body, headers=api.headers("coordinator"))
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def _stops(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [f["properties"] for f in plan["plan"]["features"] if f["properties"]["kind"] == "stop"]


def _site_ids(api: Api, codes: list[str]) -> dict[str, str]:
    with db.session_scope(api.engine) as s:
        rows = s.execute(
            text("SELECT code, id::text FROM sleeping_sites WHERE code = ANY(:c)"), {"c": codes}
        ).all()
    return {code: site_id for code, site_id in rows}


def _team_of(plan: dict[str, Any]) -> dict[str, int]:
    return {s["code"]: s["team"] for s in _stops(plan)}


@pytest.fixture(scope="module")
def base(api: Api) -> dict[str, Any]:
    plan = _post(api, "/plans", _tonight())
    assert plan["parent_id"] is None and plan["published"] is False
    assert {t["team"] for t in plan["summary"]["teams"]} == {1, 2}
    return plan


def _plan_count(api: Api) -> int:
    return int(_scalar(api, "SELECT count(*) FROM plans"))


def test_crews_must_fit_the_teams_and_name_real_accounts(api: Api, base: dict[str, Any]) -> None:
    before = _plan_count(api)
    h = api.headers("coordinator")
    one_crew = {**_tonight(), "crews": [{"name": "A", "members": []}]}
    response = api.client.post("/plans", json=one_crew, headers=h)
    assert response.status_code == 422 and "crews" in response.text
    assert "1 crew(s) for 2 team(s)" in response.text
    nobody = {**_tonight(), "crews": [{"name": "A", "members": ["no-such"]}, {"name": "B"}]}
    response = api.client.post("/plans", json=nobody, headers=h)
    assert response.status_code == 422 and "crews" in response.text and "no-such" in response.text
    twice = {**_tonight(), "crews": [{"name": "A", "members": [MEMBER]}, {"name": "B", "members": [MEMBER]}]}  # fmt: skip
    assert api.client.post("/plans", json=twice, headers=h).status_code == 422
    bad_lock = {**_tonight(), "lock": {str(uuid.uuid4()): 3}}
    response = api.client.post("/plans", json=bad_lock, headers=h)
    assert response.status_code == 422 and "lock" in response.text
    unknown = {**_tonight(), "exclude": [str(uuid.uuid4())]}
    response = api.client.post("/plans", json=unknown, headers=h)
    assert response.status_code == 422 and "exclude" in response.text
    assert _plan_count(api) == before


def test_a_plan_is_stored_and_read_back(api: Api, base: dict[str, Any]) -> None:
    h = api.headers("coordinator")
    got = api.client.get(f"/plans/{base['id']}", headers=h)
    assert got.status_code == 200 and got.json() == base
    summary = base["summary"]
    assert [t["name"] for t in summary["teams"]] == ["Północ <b>1</b>", "Południe"]
    assert summary["teams"][0]["members"] == [MEMBER]
    assert summary["sites_covered"] == len(_stops(base)) > 0
    assert set(base["gpx"]) <= {"Północ <b>1</b>", "Południe"}
    listed = api.client.get("/plans", headers=h).json()
    # The module's first plan, and every request made so far was refused: the only one listed.
    assert len(listed) == _plan_count(api) == 1
    assert {k: v for k, v in listed[0].items() if k != "created_at"} == {
        "id": base["id"],
        "parent_id": None,
        "mode": "streetwork",
        "day": base["request"]["day"],
        "created_by": "api:test-coordinator",
        "published": False,
        "replaced_by": None,
        "summary": base["summary"],
    }
    assert api.client.get(f"/plans/{uuid.uuid4()}", headers=h).status_code == 404
    reads = (
        "SELECT count(*) FROM audit_log WHERE layer = 'sleeping_sites' AND action = 'read' "
        "AND detail->>'purpose' = 'plan' AND detail->'plans' ? :id"
    )
    before = _scalar(api, reads, id=base["id"])
    assert api.client.get(f"/plans/{base['id']}", headers=h).status_code == 200
    assert _scalar(api, reads, id=base["id"]) == before + 1


def test_exclude_keeps_the_rest_of_the_request(api: Api, base: dict[str, Any]) -> None:
    on_route = _stops(base)[0]["code"]
    site = _site_ids(api, [on_route])[on_route]
    child = _post(api, f"/plans/{base['id']}/resolve", {"exclude": [site]})
    assert child["parent_id"] == base["id"] and child["id"] != base["id"]
    assert on_route not in _team_of(child)
    left = {lo["code"]: lo["reason"] for lo in child["summary"]["left_out"]}
    assert left[on_route] == "excluded"
    feature = next(f for f in child["plan"]["features"] if f["properties"].get("code") == on_route)
    assert feature["properties"]["kind"] == "left_out"
    assert feature["properties"]["reason_pl"] == "wyłączone z planu"
    assert child["request"] == {**base["request"], "exclude": [site]}
    stored = _scalar(api, "SELECT request FROM plans WHERE id = :id", id=child["id"])
    assert stored == child["request"]


def test_require_puts_a_left_out_site_on_a_route(api: Api, base: dict[str, Any]) -> None:
    depot = next(f for f in base["plan"]["features"] if f["properties"]["kind"] == "route")
    home = depot["geometry"]["coordinates"][0]
    optional = [
        f for f in base["plan"]["features"]
        if f["properties"]["kind"] == "left_out" and f["properties"]["reason"] != "unreachable"
    ]  # fmt: skip
    assert optional, "the demo has more sites than two teams visit in three hours"
    nearest = min(optional, key=lambda f: math.dist(f["geometry"]["coordinates"], home))
    code = nearest["properties"]["code"]
    change = {"require": [_site_ids(api, [code])[code]], "seconds": FIRM}
    child = _post(api, f"/plans/{base['id']}/resolve", change)
    assert code in _team_of(child)
    assert code not in {lo["code"] for lo in child["summary"]["left_out"]}


def _audited(api: Api, where: str) -> int:
    return int(_scalar(api, f"SELECT count(*) FROM audit_log WHERE {where}"))


SITES_READ = (
    "layer = 'sleeping_sites' AND action = 'read' AND detail->>'purpose' = 'plan streetwork'"
)
REFUSED = (
    "layer = 'sleeping_sites' AND outcome = 'refused' AND detail->>'endpoint' LIKE '%resolve%'"
)


def test_more_required_sites_than_fit_are_refused(api: Api, base: dict[str, Any]) -> None:
    left = [lo["site_id"] for lo in base["summary"]["left_out"] if lo["reason"] != "unreachable"]
    before = _plan_count(api)
    read, refused = _audited(api, SITES_READ), _audited(api, REFUSED)
    response = api.client.post(
        f"/plans/{base['id']}/resolve", json={"require": left}, headers=api.headers("coordinator")
    )
    assert response.status_code == 422 and "require" in response.text, response.text
    assert "do not fit" in response.text
    assert _plan_count(api) == before
    # The sites were read before the solve refused: that read stays in the record (it was
    # committed before solving), and so does the refusal.
    assert _audited(api, SITES_READ) == read + 1
    assert _audited(api, REFUSED) == refused + 1


def test_a_plan_is_refused_at_once_while_every_solver_is_busy(
    api: Api, base: dict[str, Any]
) -> None:
    """One solve per core in the process: a request that finds them all taken is answered 503
    with Retry-After at once (it would wait forever here, the test holds every slot)."""
    from api.routes import plans as plan_routes

    taken = 0
    while plan_routes.SOLVES.acquire(blocking=False):
        taken += 1
    try:
        assert taken == (os.cpu_count() or 1)
        before = _plan_count(api)
        for url, body in (("/plans", _tonight()), (f"/plans/{base['id']}/resolve", {})):
            response = api.client.post(url, json=body, headers=api.headers("coordinator"))
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "10"
            assert response.json() == {
                "detail": f"the planner is busy ({taken} plan(s) being solved); try again shortly"
            }
        assert _plan_count(api) == before
    finally:
        for _ in range(taken):
            plan_routes.SOLVES.release()


def test_the_solver_keeps_a_locked_site_for_its_team() -> None:
    """The solver core alone: a site kept for one team (PyVRP routing profiles) is served by it,
    whichever team would be cheaper."""
    rng = np.random.default_rng(5)
    xy = rng.random((9, 2)) * 2000
    seconds = np.ceil(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)))
    duration = seconds.astype(np.int64)
    # Site index → team index, alternating: no cheapest split of the points looks like this.
    kept = {1: 0, 2: 1, 4: 0, 5: 1, 6: 0, 7: 1}
    sites = [
        vrp.Site(location=i + 1, service=60, prize=10_000, required=i in kept,
                 teams=(kept[i],) if i in kept else None)
        for i in range(8)
    ]  # fmt: skip
    teams = [vrp.Team(start=0, end=0), vrp.Team(start=0, end=0)]
    problem = vrp.Problem(duration, duration, sites, teams, xy)
    solution = vrp.solve_problem(problem, seconds=1, seed=3, iterations=300)
    assert solution.feasible and not solution.unplanned
    served = {i: r.team for r in solution.routes for i in r.sites}
    assert {i: served[i] for i in kept} == kept


def test_lock_moves_a_site_to_the_other_team(api: Api, base: dict[str, Any]) -> None:
    teams = _team_of(base)
    code = next(c for c, t in teams.items() if t == 1)
    site = _site_ids(api, [code])[code]
    child = _post(api, f"/plans/{base['id']}/resolve", {"lock": {site: 2}, "seconds": FIRM})
    assert _team_of(child)[code] == 2
    assert child["request"]["lock"] == {site: 2}
    # Teams changed without crews for the new number: 422 on crews, nothing stored.
    before = _plan_count(api)
    response = api.client.post(
        f"/plans/{base['id']}/resolve", json={"teams": 3}, headers=api.headers("coordinator")
    )
    assert response.status_code == 422 and "crews" in response.text
    response = api.client.post(
        f"/plans/{child['id']}/resolve",
        json={"teams": 1, "crews": [{"name": "Jeden", "members": []}]},
        headers=api.headers("coordinator"),
    )
    assert response.status_code == 422 and "lock" in response.text
    assert _plan_count(api) == before


def _expected_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """The summary's numbers recounted from the plan's GeoJSON."""
    start, end = (datetime.fromisoformat(t).astimezone(UTC) for t in plan["plan"]["window"])
    half = start + (end - start) / 2
    stops = _stops(plan)
    routes = [f["properties"] for f in plan["plan"]["features"] if f["properties"]["kind"] == "route"]  # fmt: skip
    weak = [s for s in stops if planner.vulnerable(s["estimated_people"], s["hazards"])]
    return {
        "sites_covered": len(stops),
        "km": sum(r["distance_m"] for r in routes) / 1000,
        "first_half": sum(datetime.fromisoformat(s["arrive"]) <= half for s in weak),
        "reached": len(weak),
    }


def test_compare_counts_what_each_plan_holds(api: Api, base: dict[str, Any]) -> None:
    code = _stops(base)[-1]["code"]
    other = _post(
        api, f"/plans/{base['id']}/resolve", {"exclude": [_site_ids(api, [code])[code]], "seed": 7}
    )
    got = api.client.get(
        "/plans/compare",
        params={"a": base["id"], "b": other["id"]},
        headers=api.headers("coordinator"),
    )
    assert got.status_code == 200, got.text
    both = got.json()
    assert both == {"a": base["summary"], "b": other["summary"]}
    for plan, summary in ((base, both["a"]), (other, both["b"])):
        expected = _expected_summary(plan)
        assert summary["sites_covered"] == expected["sites_covered"]
        assert summary["km"] == pytest.approx(expected["km"], abs=0.01)
        assert summary["vulnerable_first_half"] == expected["first_half"]
        assert (
            summary["vulnerable_total"] >= expected["reached"] >= summary["vulnerable_first_half"]
        )
    assert any(lo["reason"] == "excluded" for lo in both["b"]["left_out"])
    missing = api.client.get(
        "/plans/compare",
        params={"a": base["id"], "b": str(uuid.uuid4())},
        headers=api.headers("coordinator"),
    )
    assert missing.status_code == 404


def test_sheet_gpx_and_map(api: Api, base: dict[str, Any]) -> None:
    h = api.headers("coordinator")
    for lang, word in (("pl", "Plan tras"), ("en", "Route plan")):
        sheet = api.client.get(f"/plans/{base['id']}/sheet.html", params={"lang": lang}, headers=h)
        assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/html")
        assert f'<html lang="{lang}"' in sheet.text and word in sheet.text
        # The crew's name is text, escaped: never markup.
        assert "Północ &lt;b&gt;1&lt;/b&gt;" in sheet.text and "<b>1</b>" not in sheet.text
        assert MEMBER in sheet.text
    team = _stops(base)[0]["team"]
    gpx = api.client.get(f"/plans/{base['id']}/teams/{team}.gpx", headers=h)
    assert gpx.status_code == 200 and gpx.headers["content-type"].startswith("application/gpx+xml")
    assert "attachment" in gpx.headers["content-disposition"]
    parsed = gpxpy.parse(gpx.text)
    assert len(parsed.waypoints) == sum(1 for s in _stops(base) if s["team"] == team)
    assert api.client.get(f"/plans/{base['id']}/teams/9.gpx", headers=h).status_code == 404
    page = api.client.get(f"/plans/{base['id']}/map.html", headers=h)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assert _stops(base)[0]["code"] in page.text and "<b>1</b>" not in page.text
    assets = [a for a in page.text.split('"') if a.startswith("/maps/assets/")]
    assert assets and 'src="assets/' not in page.text
    assert '"/maps/tiles/{z}/{x}/{y}.png"' in page.text and '"tiles/{z}' not in page.text
    assert api.client.get(assets[0]).status_code == 200
    # Every other answer still refuses to be framed.
    other = api.client.get(f"/plans/{base['id']}/sheet.html", headers=h)
    assert other.headers["x-frame-options"] == "DENY"


def _browser(api: Api, name: str) -> TestClient:
    """A separate cookie jar, logged in through the login form as a browser does."""
    client = TestClient(create_app(api.settings), base_url=ORIGIN)
    client.__enter__()
    response = client.post(
        "/app/login",
        data={"username": name, "password": PASSWORD},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def test_publish_gives_the_members_their_route_tonight(api: Api) -> None:
    plan = _post(api, "/plans", _tonight())
    h = api.headers("coordinator")
    response = api.client.post(f"/plans/{plan['id']}/publish", headers=h)
    assert response.status_code == 200, response.text
    published = response.json()
    by_team = {p["team"]: p for p in published["patrols"]}
    routes = {s["team"] for s in _stops(plan)}
    assert set(by_team) == routes
    assert by_team[1]["members"] == [MEMBER] and by_team[1]["name"] == "Północ <b>1</b>"
    for team, patrol in by_team.items():
        stops = _scalar(
            api, "SELECT count(*) FROM patrol_stops WHERE patrol_id = :p", p=patrol["id"]
        )
        assert stops == sum(1 for s in _stops(plan) if s["team"] == team)
        members = _scalar(
            api,
            "SELECT array_agg(u.name) FROM patrol_members m JOIN users u ON u.id = m.user_id "
            "WHERE m.patrol_id = :p",
            p=patrol["id"],
        )
        assert members == patrol["members"]
        assert _scalar(api, "SELECT status FROM patrols WHERE id = :p", p=patrol["id"]) == "planned"
    again = api.client.post(f"/plans/{plan['id']}/publish", headers=h)
    assert again.status_code == 409
    assert api.client.get(f"/plans/{plan['id']}", headers=h).json()["published"] is True
    assert _scalar(
        api,
        "SELECT count(*) FROM audit_log WHERE layer = 'plans' AND action = 'update' "
        "AND :id = ANY(object_ids)",
        id=plan["id"],
    ) == 1  # fmt: skip
    member = _browser(api, MEMBER)
    outsider = _browser(api, OUTSIDER)
    try:
        mine = member.get("/app/data.json").json()["route"]
        assert mine is not None and mine["code"] == by_team[1]["code"]
        first = [s for s in _stops(plan) if s["team"] == 1]
        assert [s["code"] for s in mine["stops"]] == [s["code"] for s in first]
        assert outsider.get("/app/data.json").json()["route"] is None
    finally:
        member.__exit__(None, None, None)
        outsider.__exit__(None, None, None)


def test_publish_checks_the_crews_again(api: Api) -> None:
    """An account changed after the plan was made (to a role that does not go on patrols, or
    switched off) is refused at publishing: 422 on crews naming it, nothing stored."""
    name = "sw-changes-later"
    with db.session_scope(api.engine) as s:
        auth.add_user(s, name=name, role="streetworker", password=PASSWORD, actor="test")
    body = {**_tonight(), "crews": [{"name": "A", "members": [name]}, {"name": "B"}]}
    plan = _post(api, "/plans", body)
    h = api.headers("coordinator")
    patrols = int(_scalar(api, "SELECT count(*) FROM patrols"))
    changes: list[tuple[dict[str, Any], str]] = [
        ({"role": "ngo"}, f"'{name}' is ngo: only streetworker, coordinator, partner accounts go on patrols (crew 'A')"),
        ({"role": "streetworker", "active": False}, f"the account '{name}' is deactivated (crew 'A')"),
    ]  # fmt: skip
    for change, fault in changes:
        with db.session_scope(api.engine) as s:
            auth.update_user(s, name=name, actor_name="test", **change)
        response = api.client.post(f"/plans/{plan['id']}/publish", headers=h)
        assert response.status_code == 422, response.text
        assert response.json()["problems"] == [{"field": "crews", "fault": fault}]
        assert _scalar(api, "SELECT count(*) FROM patrols") == patrols
        assert api.client.get(f"/plans/{plan['id']}", headers=h).json()["published"] is False
    with db.session_scope(api.engine) as s:
        auth.update_user(s, name=name, actor_name="test", active=True)
    response = api.client.post(f"/plans/{plan['id']}/publish", headers=h)
    assert response.status_code == 200, response.text
    assert [p["members"] for p in response.json()["patrols"] if p["team"] == 1] == [[name]]


def test_a_streetworker_is_refused_every_plans_route(api: Api, base: dict[str, Any]) -> None:
    spec = api.client.get("/openapi.json").json()
    calls = [
        (method, path)
        for path, ops in spec["paths"].items()
        if path.startswith("/plans")
        for method in ops
    ]
    assert len(calls) == 10  # the 9 plan routes and GET /plans/crew-accounts
    values = {"plan_id": base["id"], "team": 1}
    for method, path in calls:
        url = path.format(**values)
        for role, expected in (("streetworker", 403), ("partner", 403), ("public", 401)):
            kwargs: dict[str, Any] = {"headers": api.headers(role)}
            if path == "/plans/compare":
                kwargs["params"] = {"a": base["id"], "b": base["id"]}
            if method == "post":
                kwargs["json"] = _tonight() if path == "/plans" else {}
            response = api.client.request(method.upper(), url, **kwargs)
            assert response.status_code == expected, (method, path, role, response.text[:200])


def test_the_app_role_keeps_plans(api: Api, base: dict[str, Any]) -> None:
    """Plans are published in place, never deleted by the application."""
    with pytest.raises(ProgrammingError, match="permission denied"):
        _scalar(api, "DELETE FROM plans WHERE id = :id RETURNING id", id=base["id"])
    assert _scalar(api, "SELECT count(*) FROM plans WHERE id = :id", id=base["id"]) == 1
