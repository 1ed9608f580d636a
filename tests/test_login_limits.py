"""Login limiting (issue 10, defect 3) against `geo-outreach serve` on loopback.

Clients connect from distinct loopback source addresses (127.0.0.x), so the server sees genuinely
different socket peers. 127.0.0.9 is configured as a trusted proxy; every other address is not.
Each test uses its own accounts and source address, so the tests do not share a lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import URL, text
from starlette.requests import Request

from api.deps import client_address
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.settings import Settings
from tests.api_support import PASSWORD, Api, api_for, live_server

PROXY = "127.0.0.9"
WRONG = "not the right password"
CONCURRENT = 40


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def base(api: Api) -> Iterator[str]:
    # live_server passes this process's environment on to the server.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GEO_OUTREACH_TRUSTED_PROXIES", f"{PROXY},10.20.0.0/16")
        with live_server(api) as url:
            yield url


def _from(base: str, source: str) -> httpx.Client:
    """An HTTP client whose connections come from `source` (a loopback address)."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base, transport=transport, timeout=60)


def _account(api: Api, name: str) -> None:
    with db.session_scope(api.engine) as s:
        auth.add_user(s, name=name, role="streetworker", password=PASSWORD, actor="test")


def _post(client: httpx.Client, name: str, password: str, **headers: str) -> httpx.Response:
    return client.post("/auth/token", json={"name": name, "password": password}, headers=headers)


def _attempts(api: Api, name: str) -> list[tuple[str, bool]]:
    """(client, ok) of the login_attempts rows of one account, oldest first."""
    with db.session_scope(api.engine) as s:
        rows = s.execute(
            text("SELECT client, ok FROM login_attempts WHERE name = :n ORDER BY at, id"),
            {"n": name},
        )
        return [(str(c), bool(ok)) for c, ok in rows]


def _age(api: Api, name: str, seconds: int) -> None:
    """Move one account's attempts into the past, as if `seconds` had gone by."""
    engine = db.make_engine(api.admin_url)
    try:
        with db.session_scope(engine) as s:
            s.execute(
                text(
                    "UPDATE login_attempts SET at = at - make_interval(secs => :s) WHERE name = :n"
                ),
                {"s": seconds, "n": name},
            )
    finally:
        engine.dispose()


def test_concurrent_wrong_logins_check_the_password_at_most_limit_times(
    api: Api, base: str
) -> None:
    name = "target-concurrent"
    _account(api, name)
    limit = api.settings.login_max_failures
    start = threading.Barrier(CONCURRENT)

    def wrong(_: int) -> int:
        with _from(base, "127.0.0.2") as client:
            start.wait()
            return _post(client, name, WRONG).status_code

    with ThreadPoolExecutor(CONCURRENT) as pool:
        codes = list(pool.map(wrong, range(CONCURRENT)))
    # A 401 comes only after an argon2 check; a 429 is refused before any.
    assert sorted(codes) == [401] * limit + [429] * (CONCURRENT - limit)
    # Each check is written (ok=false) before it runs, refused tries are not written: the rows
    # count the checks the server made.
    assert _attempts(api, name) == [("127.0.0.2", False)] * limit


def test_the_owner_logs_in_from_another_address_while_one_is_locked(api: Api, base: str) -> None:
    name = "target-owner"
    _account(api, name)
    limit = api.settings.login_max_failures
    with _from(base, "127.0.0.3") as attacker:
        assert [_post(attacker, name, WRONG).status_code for _ in range(limit)] == [401] * limit
        assert _post(attacker, name, PASSWORD).status_code == 429
    with _from(base, "127.0.0.4") as owner:
        answer = _post(owner, name, PASSWORD)
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == "streetworker"


def test_forwarded_for_from_an_untrusted_client_is_ignored(api: Api, base: str) -> None:
    limit = api.settings.login_max_failures
    cap = limit * auth.CLIENT_FACTOR
    name = "target-xff"
    _account(api, name)
    with _from(base, "127.0.0.1") as client:
        # One account: a new X-Forwarded-For per try changes nothing.
        codes = [
            _post(client, name, WRONG, **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(limit + 1)
        ]
        assert codes == [401] * limit + [429]
        # Across accounts (password spraying): the per-address cap holds under varying headers.
        sprayed = [
            _post(client, f"nobody-{i}", WRONG, **{"X-Forwarded-For": f"198.51.100.{i}"})
            for i in range(cap - limit + 1)
        ]
    assert [r.status_code for r in sprayed] == [401] * (cap - limit) + [429]
    assert int(sprayed[-1].headers["retry-after"]) > 0
    assert _attempts(api, name) == [("127.0.0.1", False)] * limit


def test_forwarded_for_from_a_trusted_proxy_is_honoured(api: Api, base: str) -> None:
    limit = api.settings.login_max_failures
    name = "target-proxied"
    _account(api, name)
    with _from(base, PROXY) as proxy:
        # The client's own header (left) is followed by what the proxy saw (right-most).
        codes = [
            _post(proxy, name, WRONG, **{"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.7"})
            for i in range(limit)
        ]
        assert [r.status_code for r in codes] == [401] * limit
        locked = _post(proxy, name, PASSWORD, **{"X-Forwarded-For": "203.0.113.7"})
        other = _post(proxy, name, PASSWORD, **{"X-Forwarded-For": "203.0.113.8"})
    assert locked.status_code == 429
    assert other.status_code == 200, other.text
    assert _attempts(api, name) == [("203.0.113.7", False)] * limit + [
        ("203.0.113.8", False),
        ("203.0.113.8", True),
    ]


def test_an_ipv6_client_is_counted_by_its_64(api: Api, base: str) -> None:
    limit = api.settings.login_max_failures
    name = "target-ipv6"
    _account(api, name)
    with _from(base, PROXY) as proxy:
        for i in range(limit):
            xff = {"X-Forwarded-For": f"2001:db8:1:2::{i + 1:x}"}
            assert _post(proxy, name, WRONG, **xff).status_code == 401
        same_64 = _post(proxy, name, PASSWORD, **{"X-Forwarded-For": "2001:db8:1:2:ffff::1"})
        other_64 = _post(proxy, name, PASSWORD, **{"X-Forwarded-For": "2001:db8:1:3::1"})
    assert same_64.status_code == 429
    assert other_64.status_code == 200, other_64.text


def test_a_refused_try_does_not_extend_the_lock(api: Api, base: str) -> None:
    limit = api.settings.login_max_failures
    window = api.settings.login_window_seconds
    name = "target-knock"
    _account(api, name)
    with _from(base, "127.0.0.5") as client:
        assert [_post(client, name, WRONG).status_code for _ in range(limit)] == [401] * limit
        # Most of the window has passed when the attacker keeps knocking.
        _age(api, name, window - 30)
        knocks = [_post(client, name, PASSWORD) for _ in range(3)]
        assert [k.status_code for k in knocks] == [429] * 3
        assert all(0 < int(k.headers["retry-after"]) <= 30 for k in knocks)
        assert _attempts(api, name) == [("127.0.0.5", False)] * limit
        # The rest of the window passes: the knocks did not extend it.
        _age(api, name, 31)
        answer = _post(client, name, PASSWORD)
    assert answer.status_code == 200, answer.text


def test_a_success_clears_the_failures_of_its_address(api: Api, base: str) -> None:
    limit = api.settings.login_max_failures
    name = "target-typo"
    _account(api, name)
    with _from(base, "127.0.0.6") as owner:
        typos = [_post(owner, name, WRONG).status_code for _ in range(limit - 1)]
        assert typos == [401] * (limit - 1)
        assert _post(owner, name, PASSWORD).status_code == 200
        again = [_post(owner, name, WRONG).status_code for _ in range(limit - 1)]
        assert again == [401] * (limit - 1)
        assert _post(owner, name, PASSWORD).status_code == 200


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.1", (), "198.51.100.1"),
        # Not a trusted proxy: its header is the client's own claim.
        ("198.51.100.1", ("203.0.113.5",), "198.51.100.1"),
        # A trusted proxy: the right-most entry that is not a trusted proxy.
        (PROXY, ("192.0.2.66, 203.0.113.5",), "203.0.113.5"),
        (PROXY, ("192.0.2.66, 203.0.113.5, 10.20.3.4",), "203.0.113.5"),
        (PROXY, ("192.0.2.66", "203.0.113.5:4711"), "203.0.113.5"),
        (PROXY, ("[2001:db8::7]:4711",), "2001:db8::7"),
        # An unreadable entry: the request counts as the proxy's own.
        (PROXY, ("203.0.113.5, unknown",), PROXY),
        # IPv4 on a dual-stack socket.
        (f"::ffff:{PROXY}", ("203.0.113.5",), "203.0.113.5"),
        ("::ffff:198.51.100.1", ("203.0.113.5",), "198.51.100.1"),
    ],
)
def test_client_address(peer: str, forwarded: tuple[str, ...], expected: str) -> None:
    settings = Settings(trusted_proxies=f"{PROXY},10.20.0.0/16")  # type: ignore[arg-type]
    assert client_address(_request(peer, *forwarded), settings) == expected


def test_trusted_proxies_are_checked_when_settings_load() -> None:
    with pytest.raises(ValueError, match="GEO_OUTREACH_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.example")  # type: ignore[arg-type]
    assert Settings.model_fields["trusted_proxies"].default == ()  # none unless configured
