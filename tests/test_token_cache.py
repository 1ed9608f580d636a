"""Issue 15: checked bearer tokens are remembered in memory, and a revocation, a deactivation or a
new role made anywhere (another process, psql) holds within moments, announced by the database.
The hot bbox read writes its audit row in the same statement, committed before the answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL, text

from api.authcache import TTL_SECONDS, TokenCache
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.policy import Principal
from tests.api_support import PASSWORD, Api, api_for, login

WAIT_S = 10.0  # the listener reconnects after RETRY_SECONDS


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def _cache(api: Api) -> TokenCache:
    tokens: TokenCache = api.client.app.state.tokens  # type: ignore[attr-defined]
    return tokens


def _until(check: Callable[[], bool]) -> float:
    """Seconds until `check` holds (fails the test after WAIT_S)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < WAIT_S, "did not happen in time"
        time.sleep(0.02)
    return time.monotonic() - started


def _sql(api: Api, sql: str, **params: Any) -> None:
    # Outside the API, as `geo-outreach user revoke` or an administrator's psql would.
    with db.session_scope(api.engine) as s:
        s.execute(text(sql), params)


def _fresh_account(api: Api, name: str, role: str) -> dict[str, str]:
    with db.session_scope(api.engine) as s:
        auth.add_user(s, name=name, role=role, password=PASSWORD, actor="test")
    return {"Authorization": f"Bearer {login(api.client, name)}"}


def test_a_checked_token_is_remembered(api: Api) -> None:
    _until(lambda: _cache(api).listening)
    headers = _fresh_account(api, "cache-one", "coordinator")
    digest = auth.token_digest(headers["Authorization"][7:], secret=api.settings.secret_key)
    assert api.client.get("/auth/me", headers=headers).json()["name"] == "cache-one"
    assert _cache(api).get(digest, now=datetime.now(UTC)) is not None


def test_a_revocation_elsewhere_holds_at_once(api: Api) -> None:
    _until(lambda: _cache(api).listening)
    headers = _fresh_account(api, "cache-two", "coordinator")
    assert api.client.get("/sites?limit=1", headers=headers).status_code == 200
    _sql(
        api,
        "UPDATE api_tokens SET revoked_at = now() "
        "WHERE user_id = (SELECT id FROM users WHERE name = 'cache-two')",
    )
    took = _until(lambda: api.client.get("/sites?limit=1", headers=headers).status_code == 401)
    assert took < TTL_SECONDS / 2  # the notification, not the entry's expiry


def test_a_new_role_and_a_deactivation_hold_at_once(api: Api) -> None:
    _until(lambda: _cache(api).listening)
    headers = _fresh_account(api, "cache-three", "coordinator")
    assert api.client.get("/sites?limit=1", headers=headers).status_code == 200
    _sql(api, "UPDATE users SET role = 'ngo' WHERE name = 'cache-three'")
    _until(lambda: api.client.get("/sites?limit=1", headers=headers).status_code == 403)
    assert api.client.get("/auth/me", headers=headers).json()["role"] == "ngo"
    _sql(api, "UPDATE users SET active = false WHERE name = 'cache-three'")
    _until(lambda: api.client.get("/auth/me", headers=headers).status_code == 401)


def test_the_bbox_read_is_audited_before_the_answer(api: Api) -> None:
    bbox = "18.54,54.33,18.70,54.45"
    with db.session_scope(api.engine) as s:
        before = s.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    response = api.client.get(f"/sites?bbox={bbox}&limit=7", headers=api.headers("coordinator"))
    assert response.status_code == 200
    body = response.json()
    returned = [f["id"] for f in body["features"]]
    assert len(returned) == body["numberReturned"] == 7
    # Read at once from another connection: the row is committed, not on its way.
    with db.session_scope(api.engine) as s:
        rows = s.execute(
            text(
                "SELECT actor, action, layer, outcome, object_ids::text[], detail FROM audit_log "
                "WHERE id > :before AND detail->>'endpoint' = 'GET /sites'"
            ),
            {"before": before},
        ).all()
    assert len(rows) == 1
    actor, action, layer, outcome, ids, detail = rows[0]
    assert (actor, action, layer, outcome) == (
        "api:test-coordinator",
        "read",
        "sleeping_sites",
        "ok",
    )
    assert ids == returned
    assert detail == {"endpoint": "GET /sites", "returned": 7, "offset": 0, "bbox": True}


def test_a_change_through_this_api_holds_for_the_very_next_request(api: Api) -> None:
    _until(lambda: _cache(api).listening)
    for round_ in range(5):  # no waiting at all: the process empties its own cache
        name = f"cache-next-{round_}"
        headers = _fresh_account(api, name, "coordinator")
        assert api.client.get("/sites?limit=1", headers=headers).status_code == 200
        revoked = api.client.post(f"/admin/users/{name}/revoke", headers=api.headers("admin"))
        assert revoked.status_code == 200, revoked.text
        assert api.client.get("/sites?limit=1", headers=headers).status_code == 401


def test_a_lookup_that_began_before_a_change_is_not_kept() -> None:
    # The interleaving the cache must survive: a request checks a token in the database, the
    # token is revoked (the notification empties the cache), then the request's answer arrives.
    cache = TokenCache()
    cache.listening = True
    principal = Principal(role="coordinator", name="x", user_id=None)
    expires = datetime.now(UTC) + timedelta(hours=1)
    began = cache.generation
    cache.clear()  # the revocation's notification
    cache.put("digest", principal, expires_at=expires, generation=began)
    assert cache.get("digest", now=datetime.now(UTC)) is None
    cache.put("digest", principal, expires_at=expires, generation=cache.generation)
    assert cache.get("digest", now=datetime.now(UTC)) == principal
    cache.listening = False  # a listener not known to be alive: nothing is served from memory
    assert cache.get("digest", now=datetime.now(UTC)) is None


def test_a_lost_listener_stops_the_cache_until_it_is_back(api: Api) -> None:
    _until(lambda: _cache(api).listening)
    headers = _fresh_account(api, "cache-four", "coordinator")
    assert api.client.get("/auth/me", headers=headers).status_code == 200
    with psycopg.connect(
        host=api.admin_url.host,
        port=api.admin_url.port,
        user=api.admin_url.username,
        password=api.admin_url.password,
        dbname=api.admin_url.database,
        autocommit=True,
    ) as conn:
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'geo-outreach-auth-listener' AND datname = current_database()"
        ).fetchone()
    assert ended == (1,)
    _until(lambda: not _cache(api).listening)
    digest = auth.token_digest(headers["Authorization"][7:], secret=api.settings.secret_key)
    assert _cache(api).get(digest, now=datetime.now(UTC)) is None
    # Still answered meanwhile (from the database), and cached again once it reconnected.
    assert api.client.get("/auth/me", headers=headers).status_code == 200
    _until(lambda: _cache(api).listening)
