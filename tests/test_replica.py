"""Issue 16, reads on a replica: a real streaming replica of the test cluster (pg_basebackup,
standby.signal, primary_conninfo) serves the public layer and the OGC items; writes and every
audit row go to the primary; a writer reads their own write at once, also while the replica
lags; a replica that does not answer sends the reads back to the primary."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL, Engine, text

from api.app import create_app
from api.deps import SAMPLE_MAX_AGE, ReadCtx
from geo_outreach.core import db
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.core.policy import ACCOUNT_ROLES, Principal
from geo_outreach.demo.cluster import throwaway_standby
from geo_outreach.mapping import render
from tests.api_support import add_accounts, free_port, login, own_database, settings_for

WAIT_MS = 50  # how long a signed-in read waits for the replica here (keeps the test short)


@dataclass
class Pair:
    client: TestClient
    tokens: dict[str, str]
    primary: Engine  # the app role on the primary
    primary_admin: Engine
    replica_admin: Engine  # a superuser on the standby (pause replay, pg_stat_activity)
    database: str

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module")
def pair(cluster: LocalPostgres, admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Pair]:
    with (
        own_database(admin_url, app_url, data_dir) as (admin, app),
        throwaway_standby(cluster) as standby,
    ):
        assert standby.is_standby()
        replica_app = standby.url().set(database=app.database)
        settings = settings_for(
            admin,
            app,
            read_database_url=replica_app.render_as_string(hide_password=False),
            read_wait_ms=WAIT_MS,
        )
        primary = db.make_engine(app)
        primary_admin = db.make_engine(admin)
        replica_admin = db.make_engine(standby.url(admin=True).set(database=app.database))
        add_accounts(primary)
        try:
            with TestClient(create_app(settings)) as client:
                tokens = {r: login(client, f"test-{r}") for r in ACCOUNT_ROLES}
                yield Pair(client, tokens, primary, primary_admin, replica_admin, str(app.database))
        finally:
            for engine in (primary, primary_admin, replica_admin):
                engine.dispose()


def _replayed(pair: Pair) -> None:
    """Waits until the replica has replayed everything the primary has written."""
    target = db.wal_position(pair.primary)
    with pair.replica_admin.connect() as conn:
        assert db.wait_replayed(conn, target, wait_ms=30_000), "the replica did not catch up"


def _replay(pair: Pair, *, paused: bool) -> None:
    call = "pg_wal_replay_pause()" if paused else "pg_wal_replay_resume()"
    with pair.replica_admin.connect() as conn:
        conn.execute(text(f"SELECT {call}"))
        conn.commit()
        deadline = time.monotonic() + 10
        want = "paused" if paused else "not paused"
        while conn.execute(text("SELECT pg_get_wal_replay_pause_state()")).scalar_one() != want:
            conn.rollback()
            assert time.monotonic() < deadline, f"replay not {want}"
            time.sleep(0.02)


def _scans(pair: Pair, table: str) -> int:
    """How often `table` was scanned on the replica, from the replica's own statistics."""
    with pair.replica_admin.connect() as conn:
        found = conn.execute(
            text(
                "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                "WHERE relname = :table"
            ),
            {"table": table},
        ).scalar_one()
        return int(found)


def _scanned_since(pair: Pair, table: str, before: int) -> bool:
    """True once the replica's statistics count a scan of `table` after `before`. A backend
    reports its counts at exit at the latest: the app's replica connections are closed."""
    pair.client.app.state.read_engine.dispose()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while _scans(pair, table) <= before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _audit_count(pair: Pair, actor: str, purpose: str) -> int:
    """Audit rows on the primary by `actor` whose endpoint or purpose is `purpose`."""
    with pair.primary_admin.connect() as conn:
        found = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE actor = :actor "
                "AND (detail->>'endpoint' = :p OR detail->>'purpose' = :p)"
            ),
            {"actor": actor, "p": purpose},
        ).scalar_one()
        return int(found)


def _beds(features: list[dict[str, object]], facility_id: str) -> object:
    props = next(f["properties"] for f in features if f["id"] == facility_id)
    assert isinstance(props, dict)
    return props["free_beds"]


def test_the_public_layer_comes_from_the_replica_and_a_writer_sees_their_write_at_once(
    pair: Pair,
) -> None:
    _replayed(pair)
    scans = _scans(pair, "facilities")
    public = pair.client.get("/public/facilities", params={"limit": 1000})
    assert public.status_code == 200, public.text
    assert _scanned_since(pair, "facilities", scans), "no public read on the replica"
    facility = next(f for f in public.json()["features"] if (f["properties"]["capacity"] or 0) > 1)
    fid, before = facility["id"], facility["properties"]["free_beds"]
    after = 0 if before else 1

    _replay(pair, paused=True)  # the replica now lags behind every write
    try:
        coordinator = pair.auth("coordinator")
        current = pair.client.get(f"/facilities/{fid}", headers=coordinator)
        changed = pair.client.put(
            f"/facilities/{fid}/free-beds",
            json={"free_beds": after},
            headers={**coordinator, "If-Match": current.headers["ETag"]},
        )
        assert changed.status_code == 200, changed.text
        # The writer reads the write at once (the lagging replica is passed over) …
        mine = pair.client.get("/public/facilities", params={"limit": 1000}, headers=coordinator)
        assert _beds(mine.json()["features"], fid) == after
        ogc = pair.client.get(f"/ogc/collections/facilities/items/{fid}", headers=coordinator)
        assert ogc.status_code == 200 and ogc.json()["properties"]["free_beds"] == after
        # … and the public within seconds, although the stalled replica never replays it: its
        # reads go to the primary once the replica trails the sampled primary position.
        deadline = time.monotonic() + 3 * SAMPLE_MAX_AGE
        while True:
            seen = pair.client.get("/public/facilities", params={"limit": 1000})
            if _beds(seen.json()["features"], fid) == after:
                break
            assert time.monotonic() < deadline, "the public kept reading a stalled replica"
            time.sleep(0.2)
        items = pair.client.get("/ogc/collections/public_facilities/items?limit=1000")
        assert _beds(items.json()["features"], fid) == after
        with pair.replica_admin.connect() as conn:
            replayed = conn.execute(
                text("SELECT pg_get_wal_replay_pause_state() = 'paused'")
            ).scalar_one()
        assert replayed, "the replica was still paused: the fresh answer came from the primary"
    finally:
        _replay(pair, paused=False)
    _replayed(pair)
    fresh = pair.client.get("/ogc/collections/public_facilities/items?limit=1000")
    assert _beds(fresh.json()["features"], fid) == after


def test_staff_ogc_items_are_read_on_the_replica_and_audited_on_the_primary(pair: Pair) -> None:
    endpoint = "GET /ogc/collections/sleeping_sites/items"
    before = _audit_count(pair, "api:test-streetworker", endpoint)
    _replayed(pair)
    scans = _scans(pair, "sleeping_sites")
    found = pair.client.get(
        "/ogc/collections/sleeping_sites/items",
        params={"limit": 50},
        headers=pair.auth("streetworker"),
    )
    assert found.status_code == 200 and found.json()["features"], found.text
    assert _scanned_since(pair, "sleeping_sites", scans), "the read did not reach the replica"
    # Exactly one audit row for the read, written on the primary (the replica cannot write).
    assert _audit_count(pair, "api:test-streetworker", endpoint) == before + 1
    with pair.primary_admin.connect() as conn:
        row = conn.execute(
            text(
                "SELECT cardinality(object_ids), outcome FROM audit_log "
                "WHERE actor = 'api:test-streetworker' AND detail->>'endpoint' = :e "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"e": endpoint},
        ).one()
    assert row == (len(found.json()["features"]), "ok")


def test_a_report_is_read_on_the_replica_and_audited_on_the_primary(pair: Pair) -> None:
    def rows() -> int:
        with pair.primary_admin.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE actor = 'api:test-coordinator'")
            ).scalar_one()
            return int(found)

    before = rows()
    _replayed(pair)
    scans = _scans(pair, "visits")
    report = pair.client.get("/reports/2025.json", headers=pair.auth("coordinator"))
    assert report.status_code == 200 and report.json()["tables"], report.text
    assert _scanned_since(pair, "visits", scans), "the report was not read on the replica"
    assert rows() > before, "the report's reads of visit data were not audited on the primary"


def test_map_data_read_on_the_replica_writes_its_audit_rows_on_the_primary(pair: Pair) -> None:
    """The live map's data (sites and visits, each read audited inside the read) through the
    same context the map route uses."""
    app = pair.client.app
    principal = Principal(role="streetworker", name="test-map-reader", user_id=uuid.uuid4())
    ctx = ReadCtx(
        principal=principal,
        engine=app.state.engine,  # type: ignore[attr-defined]
        settings=app.state.settings,  # type: ignore[attr-defined]
        resource="maps_live",
        action="read",
        endpoint="GET /maps/live.html",
        replica=app.state.read_engine,  # type: ignore[attr-defined]
    )
    _replayed(pair)
    with ctx.tx() as tx:
        data = render.gather(tx.session, "live", actor=ctx.actor, role="streetworker")
        on_replica = tx.session.execute(text("SELECT pg_is_in_recovery()")).scalar_one()
    assert on_replica is True and data.sites  # type: ignore[union-attr]
    # The gather's two audit rows (sites, visits) and the route's own row, all on the primary.
    assert _audit_count(pair, ctx.actor, "map:live") == 2
    assert _audit_count(pair, ctx.actor, "GET /maps/live.html") == 1


def test_a_replica_that_does_not_answer_sends_reads_to_the_primary(pair: Pair) -> None:
    app = pair.client.app
    settings = app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"read_database_url": f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/x"}
    )
    with TestClient(create_app(settings)) as client:
        found = client.get("/public/facilities")
        assert found.status_code == 200 and found.json()["features"]
