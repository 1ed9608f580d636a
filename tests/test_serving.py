"""Issue 16, production serving: liveness and readiness say only ok / 503; `serve --workers 2`
loses no request when a worker gets SIGTERM during a (bounded, loopback-only) load run and is
replaced; SIGTERM to the server lets a request in flight finish; the access log is one JSON
object per request with the route template and never a query string."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL

from api.app import create_app
from tests.api_support import PASSWORD, Api, api_for, free_port, settings_for

BBOX = "18.51,54.31,18.77,54.49"
THREADS = 6
REQUESTS_PER_THREAD = 60


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def test_probes_tell_anonymous_callers_only_ok(api: Api) -> None:
    for path in ("/health/live", "/health/ready"):
        response = api.client.get(path)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    # A database that does not answer: not ready (503, no reason given), still alive.
    dead = f"postgresql+psycopg://nobody:nothing@127.0.0.1:{free_port()}/none"
    settings = settings_for(api.admin_url, api.app_url).model_copy(
        update={"database_url": dead, "admin_database_url": dead}
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json() == {"status": "unavailable"}
        assert client.get("/health/live").json() == {"status": "ok"}


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    port: int
    out: IO[bytes]
    err: IO[bytes]


def _workers(master: int) -> set[int]:
    """The uvicorn worker processes (spawned children) of the master."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    found = set()
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            found.add(int(pid))
    return found


def _wait(predicate: object, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.1)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def server(api: Api) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        GEO_OUTREACH_DATABASE_URL=api.app_url.render_as_string(hide_password=False),
        GEO_OUTREACH_ADMIN_DATABASE_URL=api.admin_url.render_as_string(hide_password=False),
        GEO_OUTREACH_SECRET_KEY=api.settings.secret_key,
    )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "geo_outreach.cli", "serve", "--port", str(port), "--workers=2"],
            env=env,
            stdout=out,
            stderr=err,
        )
        server = Server(proc, f"http://127.0.0.1:{port}", port, out, err)
        try:
            _wait(lambda: proc.poll() is None and _ready(server.base), "the server is ready")
            _wait(lambda: len(_workers(proc.pid)) == 2, "two workers run")
            yield server
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


# A connection the stopping worker had accepted but not yet read from is closed unanswered
# (uvicorn closes idle connections at shutdown). No byte of an answer was sent, so a client may
# send an idempotent GET again (RFC 9110 §9.2.2), as browsers and proxies do: once, and counted.
UNANSWERED = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError)


def _load(base: str, done: list[int], failures: list[str], retried: list[str]) -> None:
    """One client: bounded requests, each on a new connection (no keep-alive to hide a loss)."""
    with httpx.Client(
        base_url=base, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    ) as c:
        for i in range(REQUESTS_PER_THREAD):
            path = "/health/ready" if i % 3 == 0 else f"/public/facilities?bbox={BBOX}&limit=5"
            try:
                try:
                    response = c.get(path)
                except UNANSWERED as exc:
                    retried.append(f"{path}: {type(exc).__name__}")
                    response = c.get(path)
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code}")
            except httpx.HTTPError as exc:
                failures.append(f"{path}: {type(exc).__name__} {exc}")
            done.append(1)


def test_a_worker_sigterm_under_load_loses_no_request(server: Server) -> None:
    before = _workers(server.proc.pid)
    done: list[int] = []
    failures: list[str] = []
    retried: list[str] = []
    threads = [
        threading.Thread(target=_load, args=(server.base, done, failures, retried))
        for _ in range(THREADS)
    ]
    for t in threads:
        t.start()
    _wait(lambda: len(done) >= THREADS * REQUESTS_PER_THREAD // 4, "a quarter of the load ran")
    victim = min(before)
    os.kill(victim, signal.SIGTERM)
    for t in threads:
        t.join(timeout=300)
    assert len(done) == THREADS * REQUESTS_PER_THREAD
    assert failures == []
    # Only the connections the stopping worker held can go unanswered: a handful, not a share.
    assert len(retried) <= THREADS, retried
    # The supervisor replaced the worker; the server keeps serving.
    _wait(lambda: len(_workers(server.proc.pid)) == 2, "a new worker replaces it")
    after = _workers(server.proc.pid)
    assert victim not in after and len(after - before) == 1
    assert _ready(server.base)


def test_sigterm_lets_a_request_in_flight_finish_and_logs_no_query(server: Server) -> None:
    body = json.dumps({"name": "test-streetworker", "password": PASSWORD}).encode()
    head = (
        "POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head + body[:10])  # the request has begun; its body is not all there
        time.sleep(1)  # let a worker read the head (ordering, not a timing assertion)
        server.proc.send_signal(signal.SIGTERM)
        _wait(lambda: not _ready(server.base), "the server stops taking new requests")
        assert server.proc.poll() is None  # still draining the request in flight
        sock.sendall(body[10:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", answer[:300]
    assert b"access_token" in rest
    assert server.proc.wait(timeout=60) == 0

    server.out.seek(0)
    lines = [json.loads(line) for line in server.out.read().decode().splitlines() if line]
    routes = {(entry["method"], entry["route"]) for entry in lines}
    assert {("GET", "/public/facilities"), ("GET", "/health/ready"), ("POST", "/auth/token")} <= (
        routes
    )
    assert all(set(entry) == {"at", "method", "route", "status", "ms"} for entry in lines)
    server.out.seek(0)
    server.err.seek(0)
    logged = server.out.read() + server.err.read()
    assert b"bbox" not in logged and b"18.51" not in logged and b"test-streetworker" not in logged
