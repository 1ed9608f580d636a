"""Fixtures: a real PostGIS cluster started by the project for the whole session.

Each test that takes `session` runs inside a transaction that is rolled back afterwards.
Nothing here skips: without PostgreSQL/PostGIS the fixtures fail loudly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import URL, Engine
from sqlalchemy.orm import Session

from geo_outreach.core import db
from geo_outreach.core.pgserver import APP_LOGIN, LocalPostgres
from geo_outreach.core.settings import REPO_ROOT, Settings
from geo_outreach.demo.cluster import migrate_and_load, throwaway_cluster

DATA_DIR = Path(os.environ.get("GEO_OUTREACH_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


# (no skipped test counts as passed: see the repository's root conftest.py)


# -- the cluster ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert (DATA_DIR / "osm" / "gdansk-central.osm.pbf").exists(), (
        f"shared data missing at {DATA_DIR}; set GEO_OUTREACH_DATA_DIR"
    )
    return DATA_DIR


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalPostgres]:
    with throwaway_cluster() as pg:
        yield pg


@pytest.fixture(scope="session")
def admin_url(cluster: LocalPostgres) -> URL:
    return cluster.url(admin=True)


@pytest.fixture(scope="session")
def app_url(cluster: LocalPostgres) -> URL:
    return cluster.url()


@pytest.fixture(scope="session")
def engine(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Engine]:
    """The app role's engine on a migrated database with the demo loaded once."""
    migrate_and_load(admin_url, app_url, data_dir=data_dir, seed=2025, year=2025)
    eng = db.make_engine(app_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even if the code commits."""
    connection = engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


def _create_database(admin_url: URL, name: str) -> None:
    with psycopg.connect(
        host=admin_url.host,
        port=admin_url.port,
        user=admin_url.username,
        password=admin_url.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(APP_LOGIN)
            )
        )


@pytest.fixture
def scratch(admin_url: URL, app_url: URL) -> Iterator[tuple[URL, URL]]:
    """An empty database of its own (admin URL, app URL), for migrations and CLI runs."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    _create_database(admin_url, name)
    yield admin_url.set(database=name), app_url.set(database=name)
    with psycopg.connect(
        host=admin_url.host,
        port=admin_url.port,
        user=admin_url.username,
        password=admin_url.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def cli_env(admin: URL, app: URL) -> dict[str, str]:
    env = dict(os.environ)
    env["GEO_OUTREACH_DATABASE_URL"] = app.render_as_string(hide_password=False)
    env["GEO_OUTREACH_ADMIN_DATABASE_URL"] = admin.render_as_string(hide_password=False)
    env["GEO_OUTREACH_DATA_DIR"] = str(DATA_DIR)
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo_outreach.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture
def settings() -> Settings:
    return Settings()
