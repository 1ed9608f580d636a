"""Accounts in the office console (issue 12), through the API on a database of its own: an
administrator lists, adds and changes accounts with the rules of `geo-outreach user add`;
switching an account off ends its sessions and tokens; no password hash ever leaves; every
refusal names its field and stores nothing; every action is audited; nobody else gets in."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text
from sqlalchemy.orm import Session

from geo_outreach.accounts import users
from geo_outreach.core import db
from geo_outreach.core.errors import ValidationFailed
from tests.api_support import PASSWORD, Api, api_for, login


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


def scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


def admin(api: Api, method: str, path: str, **kwargs: Any) -> Any:
    return api.client.request(method, path, headers=api.headers("admin"), **kwargs)


def problem(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    for p in body.get("problems", []):
        if p["field"] == field:
            return str(p["fault"])
    for d in body["detail"] if isinstance(body["detail"], list) else []:
        if field in [str(x) for x in d["loc"]]:
            return str(d["msg"])
    raise AssertionError(f"{field} not named in {body}")


def audited(api: Api, action: str, account: str) -> list[str]:
    with db.session_scope(api.engine) as s:
        return list(
            s.execute(
                text(
                    "SELECT outcome FROM audit_log WHERE layer = 'users' AND action = :a "
                    "AND detail->>'account' = :n ORDER BY id"
                ),
                {"a": action, "n": account},
            ).scalars()
        )


def test_the_list_shows_accounts_and_never_a_password_hash(api: Api) -> None:
    listed = admin(api, "GET", "/admin/users")
    assert listed.status_code == 200, listed.text
    by_name = {u["name"]: u for u in listed.json()}
    assert {f"test-{r}" for r in ("streetworker", "coordinator", "partner", "ngo", "admin")} <= set(
        by_name
    )
    partner = by_name["test-partner"]
    assert (partner["role"], partner["agency"], partner["active"]) == (
        "partner",
        "straz_miejska",
        True,
    )
    assert set(partner) == {"name", "role", "agency", "email", "active", "created_at", "created_by"}
    assert "argon2" not in listed.text and "password" not in listed.text
    assert scalar(api, "SELECT count(*) FROM audit_log WHERE layer = 'users' AND action = 'read'")


@pytest.mark.parametrize(
    ("role", "status"),
    [("public", 401), ("coordinator", 403), ("streetworker", 403), ("partner", 403), ("ngo", 403)],
)
def test_only_an_administrator_gets_in(api: Api, role: str, status: int) -> None:
    h = api.headers(role)
    body = {"name": f"intruder-{role}", "role": "admin", "password": PASSWORD}
    assert api.client.get("/admin/users", headers=h).status_code == status
    assert api.client.post("/admin/users", json=body, headers=h).status_code == status
    patched = api.client.patch("/admin/users/test-admin", json={"active": False}, headers=h)
    assert patched.status_code == status
    assert scalar(api, "SELECT count(*) FROM users WHERE name LIKE 'intruder-%'") == 0
    assert scalar(api, "SELECT active FROM users WHERE name = 'test-admin'") is True
    if role != "public":  # a named account's refusal is written at once
        refused = scalar(
            api,
            "SELECT count(*) FROM audit_log WHERE layer = 'users' AND outcome = 'denied' "
            "AND actor = :a",
            a=f"api:test-{role}",
        )
        assert refused >= 3


def test_an_account_is_added_and_can_log_in(api: Api) -> None:
    body = {"name": "sw.nowak", "role": "streetworker", "password": PASSWORD, "email": "n@mops.pl"}
    made = admin(api, "POST", "/admin/users", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "sw.nowak" and made.json()["active"] is True
    assert made.json()["email"] == "n@mops.pl" and made.json()["created_by"] == "api:test-admin"
    assert "argon2" not in made.text and PASSWORD not in made.text
    stored = scalar(api, "SELECT password_hash FROM users WHERE name = 'sw.nowak'")
    assert stored.startswith("$argon2") and PASSWORD not in stored
    token = login(api.client, "sw.nowak")
    me = api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "streetworker"
    again = admin(api, "POST", "/admin/users", json={**body, "email": None})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    assert audited(api, "create", "sw.nowak") == ["ok"]
    assert PASSWORD not in str(
        scalar(api, "SELECT json_agg(detail)::text FROM audit_log WHERE layer = 'users'")
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Jan Kowalski"}, "name"),
        ({"name": "ab"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"role": "superuser"}, "role"),
        ({"role": "public"}, "role"),
        ({"password": "short"}, "password"),
        ({"agency": "nato"}, "agency"),
        ({"email": "not-an-address"}, "email"),
        ({"is_admin": True}, "is_admin"),
        ({"role": 3}, "role"),
    ],
)
def test_a_bad_new_account_names_its_field_and_stores_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    before = scalar(api, "SELECT count(*) FROM users")
    body = {"name": "new.worker", "role": "streetworker", "password": PASSWORD, **change}
    assert problem(admin(api, "POST", "/admin/users", json=body), field)
    assert scalar(api, "SELECT count(*) FROM users") == before


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_switching_an_account_off_ends_its_tokens_and_on_lets_it_back(api: Api) -> None:
    body = {"name": "sw.kowalska", "role": "streetworker", "password": PASSWORD}
    assert admin(api, "POST", "/admin/users", json=body).status_code == 201
    tokens = [login(api.client, "sw.kowalska") for _ in range(2)]
    assert api.client.get("/auth/me", headers=_bearer(tokens[0])).status_code == 200
    off = admin(api, "PATCH", "/admin/users/sw.kowalska", json={"active": False})
    assert off.status_code == 200, off.text
    assert (off.json()["active"], off.json()["ended"]) == (False, 2)
    for token in tokens:
        assert api.client.get("/auth/me", headers=_bearer(token)).status_code == 401
    assert scalar(
        api,
        "SELECT count(*) FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.name = 'sw.kowalska' AND t.revoked_at IS NULL",
    ) == 0  # fmt: skip
    refused = api.client.post("/auth/token", json={"name": "sw.kowalska", "password": PASSWORD})
    assert refused.status_code == 401
    on = admin(
        api, "PATCH", "/admin/users/sw.kowalska", json={"active": True, "role": "coordinator"}
    )
    assert (on.json()["active"], on.json()["role"], on.json()["ended"]) == (True, "coordinator", 0)
    token = login(api.client, "sw.kowalska")
    assert api.client.get("/auth/me", headers=_bearer(token)).json()["role"] == "coordinator"
    assert audited(api, "update", "sw.kowalska") == ["ok", "ok"]


def test_a_role_change_takes_effect_at_once(api: Api) -> None:
    body = {"name": "koord.lis", "role": "coordinator", "password": PASSWORD}
    assert admin(api, "POST", "/admin/users", json=body).status_code == 201
    token = login(api.client, "koord.lis")
    assert api.client.get("/patrols", headers=_bearer(token)).status_code == 200
    changed = admin(api, "PATCH", "/admin/users/koord.lis", json={"role": "ngo"})
    assert changed.json()["role"] == "ngo"
    assert api.client.get("/patrols", headers=_bearer(token)).status_code == 403


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("test-ngo", {"role": "root"}, "role"),
        ("test-ngo", {"active": "no"}, "active"),
        ("test-ngo", {"email": "nobody"}, "email"),
        ("test-ngo", {"password": PASSWORD}, "password"),
        ("test-admin", {"active": False}, "active"),
        ("test-admin", {"role": "coordinator"}, "role"),
    ],
)
def test_a_bad_change_names_its_field_and_changes_nothing(
    api: Api, name: str, change: dict[str, Any], field: str
) -> None:
    before = scalar(api, "SELECT row_to_json(u)::text FROM users u WHERE name = :n", n=name)
    assert problem(admin(api, "PATCH", f"/admin/users/{name}", json=change), field)
    after = scalar(api, "SELECT row_to_json(u)::text FROM users u WHERE name = :n", n=name)
    assert after == before
    # The administrator's own token still works (nothing of theirs was switched off).
    assert admin(api, "GET", "/admin/users").status_code == 200


def test_an_unknown_account_is_404(api: Api) -> None:
    missing = admin(api, "PATCH", "/admin/users/nobody-by-this-name", json={"active": False})
    assert missing.status_code == 404
    assert admin(api, "PATCH", "/admin/users/NOT%20A%20NAME", json={}).status_code == 422


@pytest.mark.parametrize("field", ["role", "active"])
def test_a_null_role_or_active_is_refused(api: Api, field: str) -> None:
    before = scalar(api, "SELECT row_to_json(u)::text FROM users u WHERE name = 'test-ngo'")
    sent = admin(api, "PATCH", "/admin/users/test-ngo", json={field: None})
    assert problem(sent, field) == "may not be null"
    assert scalar(api, "SELECT row_to_json(u)::text FROM users u WHERE name = 'test-ngo'") == before
    assert audited(api, "update", "test-ngo")[-1] == "refused"


def _admins(session: Session, *names: str) -> None:
    for name in names:
        users.add_user(session, name=name, role="admin", password=PASSWORD, actor="test")


def test_the_last_active_administrator_cannot_be_demoted_or_switched_off(api: Api) -> None:
    """Two administrators demoting each other (in one transaction, rolled back: the others
    switched off first, so these two are the last)."""
    with api.engine.connect() as conn, Session(conn) as s:
        try:
            _admins(s, "adm.a", "adm.b")
            s.execute(
                text("UPDATE users SET active = false WHERE role = 'admin' AND name <> 'adm.a' "
                     "AND name <> 'adm.b'")
            )  # fmt: skip
            users.update_user(s, name="adm.b", actor_name="adm.a", role="coordinator")
            for change, field in (({"role": "ngo"}, "role"), ({"active": False}, "active")):
                with pytest.raises(ValidationFailed) as refused:
                    users.update_user(s, name="adm.a", actor_name="adm.b", **change)
                assert [(p.field, p.fault) for p in refused.value.problems] == [
                    (field, "would leave no active administrator")
                ]
            # Another administrator back, and the change is possible again.
            users.update_user(s, name="adm.b", actor_name="adm.a", role="admin")
            users.update_user(s, name="adm.a", actor_name="adm.b", active=False)
            active = "SELECT count(*) FROM users WHERE role = 'admin' AND active"
            assert s.execute(text(active)).scalar() == 1
        finally:
            s.rollback()
    assert scalar(api, "SELECT count(*) FROM users WHERE name IN ('adm.a', 'adm.b')") == 0


def test_two_administrators_demoting_each_other_at_once_leave_one(api: Api) -> None:
    """The second change waits for the first (every active administrator row is locked) and
    then sees that it would leave none."""
    with db.session_scope(api.engine) as s:
        _admins(s, "adm.c", "adm.d")
    others = "role = 'admin' AND active AND name NOT IN ('adm.c', 'adm.d')"
    with db.session_scope(api.engine) as s:
        kept = list(s.execute(text(f"SELECT id FROM users WHERE {others}")).scalars())
        s.execute(text("UPDATE users SET active = false WHERE id = ANY(:ids)"), {"ids": kept})
    outcome: list[BaseException | str] = []

    def second() -> None:
        try:
            with db.session_scope(api.engine) as s2:
                users.update_user(s2, name="adm.c", actor_name="adm.d", role="coordinator")
            outcome.append("done")
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    try:
        with db.session_scope(api.engine) as s1:
            users.update_user(s1, name="adm.d", actor_name="adm.c", role="coordinator")
            waiter = threading.Thread(target=second)
            waiter.start()
            deadline = time.monotonic() + 10
            while not outcome and not _waits_for_a_lock(api) and time.monotonic() < deadline:
                time.sleep(0.05)
        waiter.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], ValidationFailed), outcome
        assert "would leave no active administrator" in str(outcome[0])
        left = "SELECT array_agg(name) FROM users WHERE name LIKE 'adm._' AND role = 'admin'"
        assert scalar(api, left) == ["adm.c"]
    finally:
        with db.session_scope(api.engine) as s:
            s.execute(text("UPDATE users SET active = true WHERE id = ANY(:ids)"), {"ids": kept})
            s.execute(text("UPDATE users SET active = false WHERE name IN ('adm.c', 'adm.d')"))


def _waits_for_a_lock(api: Api) -> bool:
    return bool(
        scalar(
            api,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()",
        )
    )


def test_an_unknown_site_code_is_recorded_too(api: Api) -> None:
    code = "NO-SUCH-SITE-42"
    missing = admin(api, "GET", "/admin/sites/access", params={"code": code})
    assert missing.status_code == 404
    row = "SELECT outcome FROM audit_log WHERE layer = 'audit_log' AND actor = 'api:test-admin' "
    assert scalar(api, row + "AND detail->>'code' = :c", c=code) == "not_found"
    site = scalar(api, "SELECT code FROM sleeping_sites ORDER BY code LIMIT 1")
    found = admin(api, "GET", "/admin/sites/access", params={"code": site})
    assert found.status_code == 200, found.text
    assert scalar(api, row + "AND detail->>'code' = :c", c=site) == "ok"
