"""Issue 16, backups: `db backup` → the database dropped → `db restore` gives every table back
with the same rows (counted and hashed here, independently of the manifest), the API works on
it, the file is useless without the key, and a backup killed with SIGKILL leaves the earlier
ones intact and no half file under a good name."""

from __future__ import annotations

import io
import json
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyrage
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import URL

from api.app import create_app
from geo_outreach.accounts import users as auth
from geo_outreach.core import db, migrate
from tests.api_support import PASSWORD, login, own_database, settings_for
from tests.conftest import cli_env, run_cli

KEY = "a long test passphrase for backups"
GOOD = "geo-outreach-*.backup.age"


@pytest.fixture(scope="module")
def source(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[tuple[URL, URL]]:
    with own_database(admin_url, app_url, data_dir) as urls:
        yield urls


def _connect(url: URL, database: str | None = None) -> psycopg.Connection:
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=database or url.database,
        autocommit=True,
    )


def contents(url: URL, *, audit_up_to: int | None = None) -> dict[str, tuple[int, str]]:
    """Row count and an MD5 of all rows in text order, per table: computed here, not by the
    code under test."""
    out: dict[str, tuple[int, str]] = {}
    with _connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys'"
            )
        ]
        for table in sorted(tables):
            where = sql.SQL("")
            if table == "audit_log" and audit_up_to is not None:
                where = sql.SQL(" WHERE id <= {}").format(sql.Literal(audit_up_to))
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' "
                    "ORDER BY t::text COLLATE \"C\"), '')) FROM {} t{}"
                ).format(sql.Identifier(table), where)
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


def _env(source: tuple[URL, URL], key: str | None = KEY) -> dict[str, str]:
    env = cli_env(*source)
    env.pop("GEO_OUTREACH_BACKUP_KEY", None)
    if key is not None:
        env["GEO_OUTREACH_BACKUP_KEY"] = key
    return env


def _drop(admin: URL) -> None:
    with _connect(admin, "postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(str(admin.database)))
        )


def test_no_backup_without_a_key(source: tuple[URL, URL], tmp_path: Path) -> None:
    proc = run_cli("db", "backup", "--out", str(tmp_path), env=_env(source, key=None))
    assert proc.returncode == 1
    assert "GEO_OUTREACH_BACKUP_KEY is not set" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_kill_9_leaves_earlier_backups_and_no_half_file(
    source: tuple[URL, URL], tmp_path: Path
) -> None:
    env = _env(source)
    first = run_cli("db", "backup", "--out", str(tmp_path), env=env)
    assert first.returncode == 0, first.stderr
    (earlier,) = tmp_path.glob(GOOD)
    earlier_bytes = earlier.read_bytes()

    proc = subprocess.Popen(
        [sys.executable, "-m", "geo_outreach.cli", "db", "backup", "--out", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*.partial")):  # the file being written, not yet checked
        assert proc.poll() is None, "the backup ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    assert list(tmp_path.glob(GOOD)) == [earlier]
    assert earlier.read_bytes() == earlier_bytes
    (half,) = tmp_path.glob(".*.partial")  # hidden, and never under a good name

    # The next run cleans up after the dead one and keeps only the newest.
    third = run_cli("db", "backup", "--out", str(tmp_path), "--keep", "1", env=env)
    assert third.returncode == 0, third.stderr
    assert not half.exists() and not earlier.exists()
    (newest,) = tmp_path.glob(GOOD)
    assert sorted(p.name for p in tmp_path.iterdir()) == [newest.name]


def test_backup_drop_restore_gives_every_row_back(
    source: tuple[URL, URL], tmp_path: Path, data_dir: Path
) -> None:
    admin, app = source
    env = _env(source)
    proc = run_cli("db", "backup", "--out", str(tmp_path / "b.backup.age"), env=env)
    assert proc.returncode == 0, proc.stderr
    file = tmp_path / "b.backup.age"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    with _connect(admin) as conn:
        row = conn.execute("SELECT max(id) FROM audit_log").fetchone()
        assert row is not None
        audit_max = int(row[0])
        note = conn.execute("SELECT note FROM visits WHERE note IS NOT NULL LIMIT 1").fetchone()
        assert note is not None
    before = contents(admin)
    assert before["visits"][0] > 1000 and before["sleeping_sites"][0] > 100

    raw = file.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1\n")
    assert note[0].encode() not in raw and b"sleeping_sites" not in raw
    # The manifest inside agrees with what was counted here.
    with tarfile.open(fileobj=io.BytesIO(pyrage.passphrase.decrypt(raw, KEY))) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = json.loads(member.read())
    assert manifest["schema_revision"] == migrate.head()
    assert {t.removeprefix("public."): v["rows"] for t, v in manifest["tables"].items()} == {
        t: n for t, (n, _) in before.items()
    }

    _drop(admin)
    # Without the key, or with a wrong one: a clear error, and nothing is created.
    for key, said in ((None, "GEO_OUTREACH_BACKUP_KEY is not set"), ("x" * 20, "wrong")):
        proc = run_cli("db", "restore", str(file), env=_env(source, key=key))
        assert proc.returncode == 1 and said in proc.stderr, proc.stderr
        with _connect(admin, "postgres") as conn:
            assert (
                conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (admin.database,)
                ).fetchone()
                is None
            )

    proc = run_cli("db", "restore", str(file), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "checksums match the manifest" in proc.stdout
    after = contents(admin, audit_up_to=audit_max)
    assert after == before
    with _connect(admin) as conn:
        restored = conn.execute("SELECT action FROM audit_log WHERE id > %s", (audit_max,))
        assert [r[0] for r in restored] == ["restore"]

    # A database that is not empty is refused, unless --force.
    proc = run_cli("db", "restore", str(file), env=env)
    assert proc.returncode == 1 and "not empty" in proc.stderr
    proc = run_cli("db", "restore", str(file), "--force", env=env)
    assert proc.returncode == 0, proc.stderr
    assert contents(admin, audit_up_to=audit_max) == before

    # The API and the maps work on the restored database, as the least-privilege app role.
    engine = db.make_engine(app)
    try:
        with db.session_scope(engine) as session:
            auth.add_user(
                session, name="restored-worker", role="streetworker", password=PASSWORD, actor="t"
            )
        with TestClient(create_app(settings_for(admin, app))) as client:
            token = login(client, "restored-worker")
            headers = {"Authorization": f"Bearer {token}"}
            sites = client.get("/sites", params={"limit": 5}, headers=headers)
            assert sites.status_code == 200, sites.text
            assert len(sites.json()["features"]) == 5
            visit = client.post(
                "/visits",
                json={
                    "site_id": sites.json()["features"][0]["id"],
                    "visited_at": "2026-12-01T21:00:00+01:00",
                    "people_met": 1,
                },
                headers=headers,
            )
            assert visit.status_code == 201, visit.text
            assert client.get("/maps/public.html").status_code == 200
            assert client.get("/maps/live.html", headers=headers).status_code == 200
    finally:
        engine.dispose()
