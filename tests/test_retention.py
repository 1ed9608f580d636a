"""Issue 16, retention and redaction: with notes kept one month, a run empties the demo's old
sensitive notes and deletes the old login attempts, idempotency keys, ended tokens and audit
rows; the yearly report stays byte-identical; each run leaves one audit row. One visit's note or
one site's text is redacted at once by an admin (CLI and API) through the one narrow function,
and the app role still cannot UPDATE or DELETE visits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL

from tests.api_support import Api, api_for
from tests.conftest import cli_env, run_cli

MARKER = "[redacted]"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def _conn(url: URL) -> psycopg.Connection:
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )


def _one(url: URL, query: str, *params: Any) -> Any:
    with _conn(url) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0] if len(row) == 1 else row


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _old_notes(url: URL, months: int) -> int:
    return int(
        _one(
            url,
            "SELECT count(*) FROM visits WHERE note_sensitive AND note IS NOT NULL "
            "AND note <> %s AND visited_at < now() - make_interval(months => %s)",
            MARKER,
            months,
        )
    )


def test_retention_runs_redact_old_notes_and_keep_the_report(api: Api, tmp_path: Path) -> None:
    admin, app = api.admin_url, api.app_url
    now = datetime.now(UTC)
    site = _one(admin, "SELECT id FROM sleeping_sites ORDER BY code LIMIT 1")
    user = _one(admin, "SELECT id FROM users ORDER BY name LIMIT 1")
    with _conn(admin) as conn:
        # Kept by a one-month policy: a recent sensitive note, an old note not marked sensitive.
        recent = conn.execute(
            "INSERT INTO visits (site_id, visited_at, people_met, note, created_by) "
            "VALUES (%s, %s, 1, 'recent note', 't') RETURNING id",
            (site, now - timedelta(days=2)),
        ).fetchone()
        plain = conn.execute(
            "INSERT INTO visits (site_id, visited_at, people_met, note, note_sensitive, "
            "created_by) VALUES (%s, '2025-03-01T21:00Z', 1, 'plain note', false, 't') "
            "RETURNING id",
            (site,),
        ).fetchone()
        assert recent is not None and plain is not None
        for days, name in ((200, "old-try"), (1, "new-try")):
            conn.execute(
                "INSERT INTO login_attempts (at, name, client, ok) VALUES (%s, %s, '127.0.0.1', "
                "false)",
                (now - timedelta(days=days), name),
            )
        for days, key in ((30, "old-key"), (0, "new-key")):
            conn.execute(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) "
                "VALUES (%s, %s, 'h', %s)",
                (user, key, now - timedelta(days=days)),
            )
        # Ended over a week ago: deleted. Ended two days ago: kept, so a revoked phone that
        # comes back is still told so and wipes what it holds.
        conn.execute(
            "INSERT INTO api_tokens (token_hash, user_id, issued_at, expires_at) "
            "VALUES ('ended-token', %s, %s, %s)",
            (user, now - timedelta(days=11), now - timedelta(days=10)),
        )
        conn.execute(
            "INSERT INTO api_tokens (token_hash, user_id, issued_at, expires_at, revoked_at) "
            "VALUES ('recently-revoked', %s, %s, %s, %s)",
            (user, now - timedelta(days=3), now + timedelta(hours=1), now - timedelta(days=2)),
        )
        conn.execute(
            "INSERT INTO audit_log (at, actor, role, action, layer, object_ids, outcome, detail) "
            "VALUES (%s, 't', 'cli', 'read', 'visits', '{}', 'ok', '{}')",
            (now - timedelta(days=6 * 366),),
        )
    visits_before = _one(admin, "SELECT count(*), sum(people_met), sum(women_met) FROM visits")
    tokens_before = _one(admin, "SELECT count(*) FROM api_tokens")
    env = cli_env(admin, app)
    report = run_cli("report", "--year", "2025", "--out", str(tmp_path / "before"), env=env)
    assert report.returncode == 0, report.stderr

    # The defaults (24 months) touch no demo note younger than that.
    expected = _old_notes(admin, 24)
    proc = run_cli("retention", "run", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"retention: {expected} visit notes older than 24 months redacted" in proc.stdout

    old = _old_notes(admin, 1)
    assert old > 500  # the demo year's notes
    env["GEO_OUTREACH_RETENTION_NOTE_MONTHS"] = "1"
    proc = run_cli("retention", "run", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"retention: {old} visit notes older than 1 months redacted" in proc.stdout
    assert _old_notes(admin, 1) == 0
    assert _one(admin, "SELECT note FROM visits WHERE id = %s", recent[0]) == "recent note"
    assert _one(admin, "SELECT note FROM visits WHERE id = %s", plain[0]) == "plain note"
    assert _one(admin, "SELECT count(*) FROM visits WHERE note = %s", MARKER) == old
    assert _one(admin, "SELECT count(*), sum(people_met), sum(women_met) FROM visits") == (
        visits_before
    )
    assert _one(admin, "SELECT array_agg(name) FROM login_attempts WHERE name LIKE '%%-try'") == [
        "new-try"
    ]
    assert _one(admin, "SELECT array_agg(key) FROM idempotency_keys") == ["new-key"]
    assert _one(admin, "SELECT count(*) FROM api_tokens") == tokens_before - 1
    assert _one(admin, "SELECT count(*) FROM api_tokens WHERE token_hash = 'recently-revoked'") == 1
    assert _one(admin, "SELECT count(*) FROM audit_log WHERE at < now() - interval '5 years'") == 0

    # A third run finds nothing left to do, and says so in its own audit row.
    assert run_cli("retention", "run", env=env).returncode == 0
    with _conn(admin) as conn:
        runs = conn.execute(
            "SELECT detail FROM audit_log WHERE action = 'retention' ORDER BY id"
        ).fetchall()
    assert [r[0]["notes_redacted"] for r in runs] == [expected, old, 0]
    assert [r[0]["audit_rows_deleted"] for r in runs] == [1, 0, 0]
    assert runs[1][0]["policy"]["note_months"] == 1

    report = run_cli("report", "--year", "2025", "--out", str(tmp_path / "after"), env=env)
    assert report.returncode == 0, report.stderr
    before, after = _files(tmp_path / "before"), _files(tmp_path / "after")
    assert len(before) > 5 and before == after


def test_the_app_role_redacts_only_through_the_narrow_function(api: Api) -> None:
    admin, app = api.admin_url, api.app_url
    definer, owner, config = _one(
        admin,
        "SELECT prosecdef, pg_get_userbyid(proowner), proconfig FROM pg_proc "
        "WHERE proname = 'geo_outreach_redact_visit_notes'",
    )
    assert definer and owner == admin.username and "search_path=pg_catalog, pg_temp" in config
    assert (
        _one(
            admin,
            "SELECT has_function_privilege('public', "
            "'geo_outreach_redact_visit_notes(uuid[])', 'EXECUTE')",
        )
        is False
    )
    visit = _one(admin, "SELECT id FROM visits WHERE note IS NOT NULL ORDER BY id LIMIT 1")
    with _conn(app) as conn:
        for statement in (
            "UPDATE visits SET note = 'x' WHERE id = %s",
            "DELETE FROM visits WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, (visit,))


def test_admin_redacts_a_visit_note_at_the_command_line(api: Api) -> None:
    admin, app = api.admin_url, api.app_url
    env = cli_env(admin, app)
    visit, people = _one(
        admin,
        "SELECT id, people_met FROM visits WHERE note IS NOT NULL AND note <> %s "
        "ORDER BY visited_at DESC LIMIT 1",
        MARKER,
    )
    reason = "written about the wrong person"
    proc = run_cli("redact", "visit", str(visit), "--reason", reason, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "note redacted" in proc.stdout
    assert _one(admin, "SELECT note, people_met FROM visits WHERE id = %s", visit) == (
        MARKER,
        people,
    )
    actor, action, layer, detail = _one(
        admin,
        "SELECT actor, action, layer, detail FROM audit_log WHERE object_ids = ARRAY[%s::uuid] "
        "ORDER BY id DESC LIMIT 1",
        visit,
    )
    assert actor.startswith("cli:") and (action, layer) == ("redact", "visits")
    assert detail["reason"] == reason and detail["changed"] is True

    proc = run_cli("redact", "visit", str(visit), "--reason", " ", env=env)
    assert proc.returncode == 1 and "--reason" in proc.stderr
    proc = run_cli("redact", "visit", str(uuid.uuid4()), "--reason", reason, env=env)
    assert proc.returncode == 1 and "no visits record" in proc.stderr
    proc = run_cli("redact", "visit", "nope", "--reason", reason, env=env)
    assert proc.returncode == 1 and "not a UUID" in proc.stderr


def test_admin_redacts_a_site_and_a_visit_through_the_api(api: Api) -> None:
    admin = api.admin_url
    site, version, note = _one(
        admin,
        "SELECT id, version, access_notes FROM sleeping_sites WHERE access_notes IS NOT NULL "
        "AND access_notes <> %s ORDER BY code LIMIT 1",
        MARKER,
    )
    body = {"reason": "names a person"}
    url = f"/admin/sites/{site}/redact"
    assert api.client.post(url, json=body, headers=api.headers("coordinator")).status_code == 403
    assert api.client.post(url, json={}, headers=api.headers("admin")).status_code == 422
    response = api.client.post(url, json=body, headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    assert response.json() == {"id": str(site), "redacted": True}
    assert _one(admin, "SELECT access_notes, version FROM sleeping_sites WHERE id = %s", site) == (
        MARKER,
        version + 1,
    )
    # The stored Feature (migration 0011) is rewritten with the row: the text is gone there too.
    stored = _one(admin, "SELECT feature_json::jsonb FROM sleeping_sites WHERE id = %s", site)
    assert stored["properties"]["access_notes"] == MARKER and note not in json.dumps(
        stored, ensure_ascii=False
    )
    actor, detail = _one(
        admin,
        "SELECT actor, detail FROM audit_log WHERE action = 'redact' "
        "AND object_ids = ARRAY[%s::uuid] ORDER BY id DESC LIMIT 1",
        site,
    )
    assert actor == "api:test-admin" and detail["reason"] == "names a person"
    # Once more: nothing left to blank.
    again = api.client.post(url, json=body, headers=api.headers("admin"))
    assert again.json()["redacted"] is False

    visit = _one(
        admin, "SELECT id FROM visits WHERE note IS NOT NULL AND note <> %s LIMIT 1", MARKER
    )
    response = api.client.post(
        f"/admin/visits/{visit}/redact", json=body, headers=api.headers("admin")
    )
    assert response.status_code == 200 and response.json()["redacted"] is True
    assert _one(admin, "SELECT note FROM visits WHERE id = %s", visit) == MARKER
    missing = api.client.post(
        f"/admin/visits/{uuid.uuid4()}/redact", json=body, headers=api.headers("admin")
    )
    assert missing.status_code == 404
