"""Fixes from a hostile review of the field app: origin and cookie rules follow the configured
public address (behind a proxy the request says http://127.0.0.1), cookie callers get no-store,
the lost-phone button is audited, a redacted note is not replayed from a stored answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL, text

from api.app import create_app
from geo_outreach.core import db
from geo_outreach.ops import retention
from tests.api_support import PASSWORD, Api, api_for

PUBLIC = "https://outreach.example.pl"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def _behind_proxy(api: Api) -> TestClient:
    """The app as a reverse proxy reaches it: plain http on 127.0.0.1, public URL https."""
    settings = api.settings.model_copy(update={"public_url": PUBLIC})
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8000")


def _login(client: TestClient, headers: dict[str, str]) -> int:
    form = {"username": "test-streetworker", "password": PASSWORD}
    return client.post("/app/login", data=form, headers=headers, follow_redirects=False).status_code


def test_behind_a_proxy_the_public_origin_is_accepted_and_the_cookie_is_secure(api: Api) -> None:
    with _behind_proxy(api) as client:
        assert _login(client, {"Origin": PUBLIC}) == 303
        cookie = next(h for h in client.cookies.jar if h.name == "go_session")
        assert cookie.secure
        # Another site, or a hidden origin with no Fetch Metadata to vouch for it: refused.
        assert _login(client, {"Origin": "https://evil.example"}) == 403
        assert _login(client, {"Origin": "null"}) == 403
        assert _login(client, {"Origin": "null", "Sec-Fetch-Site": "same-origin"}) == 303


def test_cookie_callers_get_no_store(api: Api) -> None:
    # On this machine over plain http (a Secure cookie would not come back over http).
    with TestClient(create_app(api.settings), base_url="http://localhost") as client:
        assert _login(client, {"Origin": "http://localhost"}) == 303
        for path in ("/site-changes", "/app/session", "/facilities?limit=1"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:200])
            assert response.headers.get("cache-control") == "no-store", path


def test_revoking_an_account_is_audited(api: Api) -> None:
    before = _count(api, "SELECT count(*) FROM audit_log WHERE action = 'revoke'")
    response = api.client.post("/admin/users/test-partner/revoke", headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    after = _count(api, "SELECT count(*) FROM audit_log WHERE action = 'revoke'")
    assert after == before + 1
    api.tokens.pop("partner", None)  # its token ended with the rest


def test_a_redacted_note_is_not_replayed_from_the_stored_answer(api: Api) -> None:
    site = api.client.get("/sites?limit=1", headers=api.headers("coordinator")).json()
    body = {
        "site_id": str(site["features"][0]["id"]),
        "visited_at": datetime.now(UTC).isoformat(),
        "people_met": 1,
        "note": "replay canary note",
        "note_sensitive": True,
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    headers = {**api.headers("coordinator"), **key}
    first = api.client.post("/visits", json=body, headers=headers)
    assert first.status_code == 201, first.text
    visit_id = uuid.UUID(first.headers["location"].rsplit("/", 1)[-1])
    with db.session_scope(api.engine) as session:
        assert retention.redact_visit(
            session, visit_id, reason="written about a person by mistake", actor="t", role="admin"
        )
    replay = api.client.post("/visits", json=body, headers=headers)
    assert replay.status_code == 201
    assert "replay canary note" not in replay.text
    assert retention.REDACTED in replay.text


def _count(api: Api, sql: str) -> int:
    with db.session_scope(api.engine) as session:
        return int(session.execute(text(sql)).scalar_one())


def test_a_rejection_needs_a_reason_an_acceptance_may_give_one(api: Api) -> None:
    """Issue 12: a proposed change is rejected with a reason (422 on `reason` without one,
    nothing decided); an acceptance may say why or not."""
    site = api.client.get("/sites?limit=1", headers=api.headers("coordinator")).json()
    site_id = site["features"][0]["id"]
    changes = []
    for people in (5, 6):
        made = api.client.put(
            f"/sites/{site_id}/changes/{uuid.uuid4()}",
            json={"base_version": 1_000_000, "properties": {"estimated_people": people}},
            headers=api.headers("streetworker"),
        )
        assert made.status_code == 201 and made.json()["state"] == "pending", made.text
        changes.append(made.json()["id"])
    first, second = changes
    coordinator = api.headers("coordinator")
    for body in (None, {}, {"reason": ""}, {"reason": "   \n "}, {"reason": "x" * 501}):
        refused = api.client.post(f"/site-changes/{first}/reject", json=body, headers=coordinator)
        assert refused.status_code == 422, (body, refused.text)
        assert "reason" in refused.text, refused.text
    decided = "SELECT count(*) FROM audit_log WHERE detail->>'decision' IS NOT NULL"
    before = _count(api, decided)
    with db.session_scope(api.engine) as session:
        state = session.execute(
            text("SELECT state FROM site_changes WHERE id = :i"), {"i": first}
        ).scalar_one()
    assert state == "pending" and _count(api, decided) == before

    rejected = api.client.post(
        f"/site-changes/{first}/reject", json={"reason": "  counted twice  "}, headers=coordinator
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected", rejected.text
    accepted = api.client.post(f"/site-changes/{second}/accept", headers=coordinator)
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted", accepted.text
    with db.session_scope(api.engine) as session:
        reasons: dict[str, str | None] = dict(
            session.execute(
                text(
                    "SELECT detail->>'change', detail->>'reason' FROM audit_log "
                    "WHERE detail->>'change' IN (:a, :b) AND detail ? 'decision'"
                ),
                {"a": first, "b": second},
            ).all()
        )
    assert reasons == {first: "counted twice", second: None}
