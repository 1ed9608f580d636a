"""`geo-outreach db status` and the API's /health against the real cluster."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import URL

from api.app import create_app
from geo_outreach.core import migrate
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.core.settings import Settings
from tests.conftest import cli_env, run_cli


def test_db_status_prints_versions(scratch: tuple[URL, URL]) -> None:
    env = cli_env(*scratch)
    proc = run_cli("db", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "PostgreSQL: 1" in proc.stdout
    assert (
        "PostGIS:    not installed in this database (run: geo-outreach db migrate)" in proc.stdout
    )
    assert "schema:     not migrated" in proc.stdout
    assert run_cli("db", "migrate", env=env).returncode == 0
    proc = run_cli("db", "status", env=env)
    assert "PostGIS:    3." in proc.stdout and f"schema:     {migrate.head()}" in proc.stdout


def test_db_status_on_the_embedded_cluster(cluster: LocalPostgres) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_OUTREACH_")}
    env["GEO_OUTREACH_PG_DIR"] = str(cluster.data_dir)
    proc = run_cli("db", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"embedded cluster {cluster.data_dir}" in proc.stdout
    assert "PostGIS:    3." in proc.stdout


def test_unknown_layer_is_a_clear_error(scratch: tuple[URL, URL], tmp_path: Path) -> None:
    env = cli_env(*scratch)
    f = tmp_path / "x.geojson"
    f.write_text('{"type": "FeatureCollection", "features": []}')
    proc = run_cli("import", "campsites", str(f), env=env)
    assert proc.returncode == 1
    assert "unknown layer 'campsites'" in proc.stderr


def test_health(engine: object, app_url: URL, admin_url: URL) -> None:
    settings = Settings(
        database_url=app_url.render_as_string(hide_password=False),
        admin_database_url=admin_url.render_as_string(hide_password=False),
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    # Versions only for an administrator (issue 10); see tests/test_api_hardening_surface.py.
    assert response.json() == {"status": "ok"}


def test_production_refuses_default_secret() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production")
