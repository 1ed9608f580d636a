"""Helpers for the API tests: a database of their own (migrated, demo loaded) so API writes never
touch the shared test database, one account per role, and a real uvicorn server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psycopg
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import URL, Engine

from api.app import create_app
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.pgserver import APP_LOGIN
from geo_outreach.core.policy import ACCOUNT_ROLES
from geo_outreach.core.settings import Settings
from geo_outreach.demo.cluster import migrate_and_load

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-" + uuid.uuid4().hex


def _admin(admin_url: URL) -> psycopg.Connection:
    return psycopg.connect(
        host=admin_url.host,
        port=admin_url.port,
        user=admin_url.username,
        password=admin_url.password,
        dbname="postgres",
        autocommit=True,
    )


@contextmanager
def own_database(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[tuple[URL, URL]]:
    """A fresh database with the schema and the demo, dropped afterwards."""
    name = f"api_{uuid.uuid4().hex[:10]}"
    with _admin(admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(APP_LOGIN)
            )
        )
    admin, app = admin_url.set(database=name), app_url.set(database=name)
    try:
        migrate_and_load(admin, app, data_dir=data_dir, seed=2025, year=2025)
        yield admin, app
    finally:
        with _admin(admin_url) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def settings_for(admin: URL, app: URL, **overrides: object) -> Settings:
    return Settings(
        database_url=app.render_as_string(hide_password=False),
        admin_database_url=admin.render_as_string(hide_password=False),
        secret_key=SECRET,
        **overrides,  # type: ignore[arg-type]
    )


@dataclass
class Api:
    client: TestClient
    engine: Engine
    settings: Settings
    admin_url: URL
    app_url: URL
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if role != "public":
            out["Authorization"] = f"Bearer {self.tokens[role]}"
        return out


def add_accounts(engine: Engine) -> None:
    with db.session_scope(engine) as session:
        for role in ACCOUNT_ROLES:
            auth.add_user(
                session,
                name=f"test-{role}",
                role=role,
                password=PASSWORD,
                actor="test",
                agency="straz_miejska" if role == "partner" else None,
            )


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    response = client.post("/auth/token", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@contextmanager
def api_for(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with own_database(admin_url, app_url, data_dir) as (admin, app):
        engine = db.make_engine(app)
        add_accounts(engine)
        settings = settings_for(admin, app)
        try:
            with TestClient(create_app(settings)) as client:
                api = Api(client, engine, settings, admin, app)
                api.tokens = {r: login(client, f"test-{r}") for r in ACCOUNT_ROLES}
                yield api
        finally:
            engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(api: Api) -> Iterator[str]:
    """`geo-outreach serve` in its own process on 127.0.0.1 (GDAL holds the GIL while it reads,
    so the server must not share this interpreter)."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        # Links (next, /ogc) name the configured address: here, this server's.
        GEO_OUTREACH_PUBLIC_URL=f"http://127.0.0.1:{port}",
        GEO_OUTREACH_DATABASE_URL=api.app_url.render_as_string(hide_password=False),
        GEO_OUTREACH_ADMIN_DATABASE_URL=api.admin_url.render_as_string(hide_password=False),
        GEO_OUTREACH_SECRET_KEY=api.settings.secret_key,
    )
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "geo_outreach.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, _tail(log)
                assert time.monotonic() < deadline, "the server did not answer /health in 60 s"
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]
