"""The field app's server side (issue 11): browser sessions and their cookie, CSRF refusals,
revocation, replays of outbox entries stored once, and offline site changes kept for review."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL, text

from api.app import api_routes, create_app
from geo_outreach.core import db
from tests.api_support import PASSWORD, Api, api_for

ORIGIN = "http://localhost"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def _scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


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


def _csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["go_csrf"], "Origin": ORIGIN}


def _visit(site_id: str) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "visited_at": datetime.now(UTC).isoformat(),
        "people_met": 2,
        "women_met": 1,
        "help_given": ["hot_meal"],
        "note": "sensitive note canary",
    }


def _a_site(api: Api) -> tuple[str, int]:
    row = api.client.get("/sites?limit=1", headers=api.headers("coordinator")).json()
    feature = row["features"][0]
    return str(feature["id"]), int(feature["properties"]["version"])


def test_login_page_has_the_named_inputs(api: Api) -> None:
    page = api.client.get("/app/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp


def test_session_cookie_flags_and_csrf(api: Api) -> None:
    client = TestClient(create_app(api.settings), base_url=ORIGIN)
    with client:
        response = client.post(
            "/app/login",
            data={"username": "test-streetworker", "password": PASSWORD},
            headers={"Origin": ORIGIN},
            follow_redirects=False,
        )
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("go_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
        # Plain http is accepted on this machine only; anywhere else the cookie is Secure.
        assert "Secure" not in session
        remote = TestClient(create_app(api.settings), base_url="https://field.example")
        with remote:
            served = remote.post(
                "/app/login",
                data={"username": "test-streetworker", "password": PASSWORD},
                headers={"Origin": "https://field.example"},
                follow_redirects=False,
            )
        assert all("Secure" in c for c in served.headers.get_list("set-cookie"))
        assert _scalar(api, "SELECT count(*) FROM api_tokens WHERE kind = 'session'") >= 1
        assert client.get("/app/session").json()["state"] == "active"
        site_id, _ = _a_site(api)
        # A state-changing request with the cookie but without the token stores nothing.
        visit_id = str(uuid.uuid4())
        refused = client.put(f"/visits/{visit_id}", json=_visit(site_id))
        assert refused.status_code == 403
        # The same from another origin's form, even with a token guess.
        forged = client.put(
            f"/visits/{visit_id}",
            json=_visit(site_id),
            headers={"Origin": "https://evil.example", "X-CSRF-Token": "0" * 64},
        )
        assert forged.status_code == 403
        assert _scalar(api, "SELECT count(*) FROM visits WHERE id = :v", v=visit_id) == 0
        stored = client.put(f"/visits/{visit_id}", json=_visit(site_id), headers=_csrf(client))
        assert stored.status_code == 201, stored.text
        # Reads need no token; the session is an account like any other.
        assert client.get("/app/data.json").status_code == 200
        # Logout ends the session on the server: the old cookie is worthless afterwards.
        sid = client.cookies["go_session"]
        assert client.post("/app/logout", headers=_csrf(client)).status_code == 204
        client.cookies.set("go_session", sid)
        assert client.get("/sites?limit=1").status_code == 401


def test_cross_site_form_login_and_form_post_store_nothing(api: Api) -> None:
    client = _browser(api, "test-streetworker")
    try:
        before = _scalar(api, "SELECT count(*) FROM sleeping_sites")
        # An HTML form on another site posting with the user's cookie (a simple request).
        response = client.post(
            "/sites",
            content=b"type=Feature",
            headers={
                "Origin": "https://evil.example",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status_code == 403
        assert _scalar(api, "SELECT count(*) FROM sleeping_sites") == before
        login = client.post(
            "/app/login",
            data={"username": "test-streetworker", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert login.status_code == 403
    finally:
        client.__exit__(None, None, None)


def test_a_session_id_is_no_bearer_token(api: Api) -> None:
    client = _browser(api, "test-streetworker")
    try:
        sid = client.cookies["go_session"]
        response = api.client.get("/sites?limit=1", headers={"Authorization": f"Bearer {sid}"})
        assert response.status_code == 401
    finally:
        client.__exit__(None, None, None)


def test_idle_and_absolute_timeouts(api: Api) -> None:
    client = _browser(api, "test-coordinator")
    try:
        sid = client.cookies["go_session"]
        from geo_outreach.accounts.users import token_digest

        digest = token_digest(sid, secret=api.settings.secret_key)
        idle = timedelta(minutes=api.settings.session_idle_minutes + 1)
        with db.session_scope(api.engine) as s:
            s.execute(
                text("UPDATE api_tokens SET last_seen_at = now() - :idle WHERE token_hash = :h"),
                {"idle": idle, "h": digest},
            )
        assert client.get("/app/session").json()["state"] == "idle"
        assert client.get("/sites?limit=1").status_code == 401
        with db.session_scope(api.engine) as s:
            s.execute(
                text(
                    "UPDATE api_tokens SET last_seen_at = now(), issued_at = now() - interval "
                    "'2 days', expires_at = now() - interval '1 second' WHERE token_hash = :h"
                ),
                {"h": digest},
            )
        assert client.get("/app/session").json()["state"] == "expired"
    finally:
        client.__exit__(None, None, None)


def test_revoke_ends_every_session_and_token(api: Api) -> None:
    from geo_outreach.accounts import users as auth

    with db.session_scope(api.engine) as s:
        auth.add_user(s, name="lost-phone", role="streetworker", password=PASSWORD, actor="test")
    client = _browser(api, "lost-phone")
    try:
        token = api.client.post(
            "/auth/token", json={"name": "lost-phone", "password": PASSWORD}
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert api.client.get("/sites?limit=1", headers=bearer).status_code == 200
        refused = api.client.post(
            "/admin/users/lost-phone/revoke", headers=api.headers("coordinator")
        )
        assert refused.status_code == 403
        done = api.client.post("/admin/users/lost-phone/revoke", headers=api.headers("admin"))
        assert done.status_code == 200 and done.json()["ended"] == 2
        assert api.client.get("/sites?limit=1", headers=bearer).status_code == 401
        assert client.get("/app/session").json()["state"] == "revoked"
        assert client.get("/app/data.json").status_code == 401
    finally:
        client.__exit__(None, None, None)


def test_put_visit_three_times_stores_one_row(api: Api) -> None:
    site_id, _ = _a_site(api)
    visit_id = str(uuid.uuid4())
    body = _visit(site_id)
    answers = [
        api.client.put(f"/visits/{visit_id}", json=body, headers=api.headers("streetworker"))
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 200, 200]
    assert answers[2].headers["idempotent-replayed"] == "true"
    assert _scalar(api, "SELECT count(*) FROM visits WHERE id = :v", v=visit_id) == 1
    audited = _scalar(
        api,
        "SELECT count(*) FROM audit_log WHERE layer = 'visits' AND object_ids @> "
        "ARRAY[CAST(:v AS uuid)] AND action = 'create'",
        v=visit_id,
    )
    assert audited == 3
    # Another body under the same id is refused, never merged.
    other = {**body, "site_id": None, "patrol_id": None}
    clash = api.client.put(
        f"/visits/{visit_id}",
        json={**other, "site_id": site_id, "visited_at": "2025-01-01T00:00:00+00:00"},
        headers=api.headers("streetworker"),
    )
    assert clash.status_code == 409
    # Validation names the field, as POST /visits does.
    bad = api.client.put(
        f"/visits/{uuid.uuid4()}",
        json={**body, "women_met": 5},
        headers=api.headers("streetworker"),
    )
    assert bad.status_code == 422 and "women_met" in bad.text


def test_put_new_site_is_stored_once(api: Api) -> None:
    site_id = str(uuid.uuid4())
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [18.6, 54.37]},
        "properties": {"code": "APP-NEW-1", "name": "Pod mostem", "category": "piwnica"},
    }
    heads = api.headers("streetworker", **{"If-None-Match": "*"})
    answers = [api.client.put(f"/sites/{site_id}", json=feature, headers=heads) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 200, 200], answers[0].text
    assert _scalar(api, "SELECT count(*) FROM sleeping_sites WHERE id = :s", s=site_id) == 1
    # Without either precondition a PUT is still refused (today's If-Match rule).
    plain = api.client.put(f"/sites/{site_id}", json=feature, headers=api.headers("streetworker"))
    assert plain.status_code == 428


def test_offline_changes_of_one_site_from_two_phones(api: Api) -> None:
    site_id, version = _a_site(api)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a = api.client.put(
        f"/sites/{site_id}/changes/{first}",
        json={"base_version": version, "properties": {"estimated_people": 7}},
        headers=api.headers("streetworker"),
    )
    assert a.status_code == 201 and a.json()["state"] == "applied", a.text
    b_body = {"base_version": version, "properties": {"status": "closed", "hazards": ["fire"]}}
    b = api.client.put(
        f"/sites/{site_id}/changes/{second}", json=b_body, headers=api.headers("streetworker")
    )
    assert b.json()["state"] == "pending"
    again = api.client.put(
        f"/sites/{site_id}/changes/{second}", json=b_body, headers=api.headers("streetworker")
    )
    assert again.json()["state"] == "pending"
    assert _scalar(api, "SELECT count(*) FROM site_changes WHERE site_id = :s", s=site_id) == 2
    waiting = api.client.get("/site-changes", headers=api.headers("coordinator")).json()
    assert second in [c["id"] for c in waiting]
    refused = api.client.post(f"/site-changes/{second}/accept", headers=api.headers("streetworker"))
    assert refused.status_code == 403
    accepted = api.client.post(f"/site-changes/{second}/accept", headers=api.headers("coordinator"))
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    site = api.client.get(f"/sites/{site_id}", headers=api.headers("coordinator")).json()
    # Nothing lost: the applied change and the accepted one are both in the site.
    assert site["properties"]["estimated_people"] == 7
    assert site["properties"]["status"] == "closed"
    assert site["properties"]["hazards"] == ["fire"]
    twice = api.client.post(
        f"/site-changes/{second}/reject",
        json={"reason": "decided already"},
        headers=api.headers("coordinator"),
    )
    assert twice.status_code == 409
    bad = api.client.put(
        f"/sites/{site_id}/changes/{uuid.uuid4()}",
        json={"base_version": 1, "properties": {"status": "gone"}},
        headers=api.headers("streetworker"),
    )
    assert bad.status_code == 422 and "status" in bad.text and "gone" in bad.text


def test_app_data_follows_the_policy(api: Api) -> None:
    staff = api.client.get("/app/data.json", headers=api.headers("streetworker"))
    assert staff.status_code == 200
    body = staff.json()
    assert len(body["sites"]["rows"]) == len(body["sites"]["ids"]) > 0
    assert "note" not in staff.text and "sensitive note canary" not in staff.text
    partner = api.client.get("/app/data.json", headers=api.headers("partner")).json()
    assert partner["sites"] is None and partner["may"]["log_visit"] is False
    public = api.client.get("/app/data.json")
    assert public.status_code == 401
    shell = api.client.get("/app/")
    assert shell.status_code == 200 and "sensitive note canary" not in shell.text


def _joint(api: Api, *, code: str, kind: str, hours_from_now: float, member: str) -> str:
    """A patrol of `kind` starting `hours_from_now` (1 h long) with 3 sites, `member` on it."""
    start = datetime.now(UTC) + timedelta(hours=hours_from_now)
    with db.session_scope(api.engine) as s:
        patrol_id = s.execute(
            text(
                "INSERT INTO patrols (code, kind, agencies, planned_start, planned_end, "
                "created_by, updated_by) VALUES (:code, :kind, '{mops,straz_miejska}', :start, "
                ":end, 'test', 'test') RETURNING id"
            ),
            {"code": code, "kind": kind, "start": start, "end": start + timedelta(hours=1)},
        ).scalar_one()
        s.execute(
            text(
                "INSERT INTO patrol_stops (patrol_id, seq, site_id, eta, geom) "
                "SELECT :p, n, id, :start + n * interval '10 minutes', geom FROM "
                "(SELECT id, geom, row_number() OVER (ORDER BY code) AS n FROM sleeping_sites "
                " ORDER BY code LIMIT 3) x"
            ),
            {"p": patrol_id, "start": start},
        )
        # Straight into the table: assign_patrol already refuses a partner on a streetwork
        # patrol, and the app must hold even if a patrol's kind changes after assignment.
        s.execute(
            text(
                "INSERT INTO patrol_members (patrol_id, user_id, assigned_by) "
                "SELECT :p, id, 'test' FROM users WHERE name = :n"
            ),
            {"p": patrol_id, "n": member},
        )
    return str(patrol_id)


def _site_words(api: Api) -> set[str]:
    """Every site's code and name: none may reach a caller without the right to see them."""
    with db.session_scope(api.engine) as s:
        rows = s.execute(text("SELECT code, name FROM sleeping_sites")).all()
    return {w for row in rows for w in row if w and len(w) >= 5}


def test_partner_sees_only_its_running_joint_patrol(api: Api) -> None:
    from geo_outreach.accounts import users as auth

    with db.session_scope(api.engine) as s:
        for name in ("partner-joint", "partner-sw", "partner-later"):
            auth.add_user(
                s, name=name, role="partner", password=PASSWORD, actor="test",
                agency="straz_miejska",
            )  # fmt: skip
    _joint(api, code="APP-JOINT", kind="joint", hours_from_now=-0.5, member="partner-joint")
    _joint(api, code="APP-SW", kind="streetwork", hours_from_now=-0.5, member="partner-sw")
    _joint(api, code="APP-LATER", kind="joint", hours_from_now=10, member="partner-later")
    words = _site_words(api)

    def data(name: str) -> tuple[dict[str, Any], str]:
        client = _browser(api, name)
        try:
            response = client.get("/app/data.json")
            assert response.status_code == 200, response.text
            return response.json(), response.text
        finally:
            client.__exit__(None, None, None)

    joint, raw = data("partner-joint")
    assert joint["sites"] is None and joint["route"]["closed"] is None
    stops = joint["route"]["stops"]
    assert len(stops) == 3 and all(s["code"] for s in stops)
    # Only what a partner needs to be safe there: no name, access notes, version or visits.
    assert set().union(*(s.keys() for s in stops)) == {
        "seq", "eta", "lat", "lon", "site_id", "code", "category", "estimated_people", "hazards",
    }  # fmt: skip
    codes = {s["code"] for s in stops}
    assert not [w for w in words - codes if w in raw]
    for name, reason in (
        ("partner-sw", "only joint patrols are shared with partners"),
        ("partner-later", "the patrol's sites are shared only during the patrol"),
    ):
        found, raw = data(name)
        assert found["route"]["closed"] == reason and found["route"]["stops"] == []
        assert not [w for w in words if w in raw], name
    audited = _scalar(
        api,
        "SELECT count(*) FROM audit_log WHERE actor = 'api:partner-joint' "
        "AND layer = 'sleeping_sites' AND action = 'read' AND detail->>'purpose' = 'app:route'",
    )
    assert audited == 1


def test_no_app_url_gives_the_public_any_data(api: Api) -> None:
    """Every route under /app (and the field app's sync routes), asked anonymously."""
    app = create_app(api.settings)
    words = _site_words(api)
    samples = {
        "lang": "pl", "name": "app.js", "change_id": str(uuid.uuid4()),
        "site_id": str(uuid.uuid4()), "visit_id": str(uuid.uuid4()), "page": "plan",
    }  # fmt: skip
    seen = []
    with TestClient(app, base_url=ORIGIN) as client:
        for path, route in api_routes(app.routes):
            if not (path.startswith("/app") or route.name in FIELD_ROUTES):
                continue
            url = path.replace("{name:path}", "idb.js").replace(
                "/maps/{name}", "/maps/geo-outreach-sites.js"
            )
            for key, value in samples.items():
                url = url.replace("{" + key + "}", value)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                answer = client.request(
                    method, url, headers={"Origin": ORIGIN}, follow_redirects=False
                )
                seen.append((method, path, answer.status_code))
                leaked = [w for w in words if w in answer.text]
                assert not leaked, (method, path, leaked[:3])
                if path in CONSOLE_PAGES:  # the office console's pages: log in first
                    assert answer.status_code == 303, (method, path, answer.status_code)
                    assert answer.headers["location"].startswith("/app/login?"), path
                elif path in OPEN_APP_PATHS or (method, path) == ("POST", "/app/login"):
                    assert answer.status_code in (200, 401, 422), (method, path, answer.text)
                else:
                    assert answer.status_code == 401, (method, path, answer.status_code)
    assert {p for _, p, _ in seen} >= {"/app/data.json", "/app/", "/visits/{visit_id}"}
    assert len(seen) >= 15, seen


# Served to anyone: the shell, its files and texts, the login form and the session's state.
OPEN_APP_PATHS = {
    "/app/", "/app/login", "/app/session", "/app/text/{lang}.json", "/app/sw.js",
    "/app/manifest.webmanifest", "/app/static/{name}", "/app/vendor/{name:path}",
    "/app/maps/{name}",
}  # fmt: skip
CONSOLE_PAGES = {"/app/console", "/app/console/{page}"}
FIELD_ROUTES = {
    "put_visit", "put_site_change", "list_site_changes", "accept_site_change",
    "reject_site_change", "revoke_user",
}  # fmt: skip


def test_openapi_has_unique_operation_ids(api: Api) -> None:
    import warnings

    app = create_app(api.settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns of a duplicate operation id
        schema = app.openapi()
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and "end_browser_session" in ids


def test_cli_revoke_ends_sessions_and_names_a_missing_account(api: Api) -> None:
    from geo_outreach.accounts import users as auth
    from tests.conftest import cli_env, run_cli

    with db.session_scope(api.engine) as s:
        auth.add_user(s, name="lost-phone-cli", role="streetworker", password=PASSWORD, actor="t")
    client = _browser(api, "lost-phone-cli")
    try:
        assert client.get("/app/session").json()["state"] == "active"
        env = cli_env(api.admin_url, api.app_url)
        done = run_cli("user", "revoke", "lost-phone-cli", env=env)
        assert done.returncode == 0, done.stderr
        assert "account 'lost-phone-cli': 1 session(s) and token(s) ended" in done.stdout
        assert client.get("/app/session").json()["state"] == "revoked"
        assert client.get("/app/data.json").status_code == 401
        missing = run_cli("user", "revoke", "nobody-here", env=env)
        assert missing.returncode != 0
        assert "name" in missing.stderr and "no account 'nobody-here'" in missing.stderr
    finally:
        client.__exit__(None, None, None)
