"""The bbox read (issue 15): points are matched by their coordinates and the matches are read
once for both the page and the count. The answer must be exactly PostGIS's ST_Intersects
with the closed box, edges included, page by page."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import URL, text
from sqlalchemy.orm import Session

from api import errors
from geo_outreach.core import adb, policy
from geo_outreach.core.errors import DatabaseUnavailable
from geo_outreach.io import exports
from layers import features

FIELDS = policy.fields("sleeping_sites", "coordinator")


def _reference(session: Session, box: tuple[float, float, float, float]) -> list[str]:
    rows = session.execute(
        text(
            "SELECT id::text FROM sleeping_sites "
            "WHERE ST_Intersects(geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)) "
            "ORDER BY code, id"
        ),
        {"x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]},
    ).scalars()
    return list(rows)


def _boxes(session: Session) -> list[tuple[float, float, float, float]]:
    """Boxes whose edges run exactly through sites, so points on every edge are asked about."""
    points = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM sleeping_sites ORDER BY code")
    ).all()
    rng = random.Random(15)
    out = []
    for _ in range(25):
        a, b = rng.sample(points, 2)
        out.append((min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])))
    x, y = points[0]
    out.append((x - 0.001, y - 0.001, x, y))  # the point is the upper right corner
    out.append((x, y, x + 0.001, y + 0.001))  # the lower left corner
    out.append((x + 1e-12, y, x + 0.001, y + 0.001))  # misses the point by a hair
    return out


def test_point_bbox_equals_st_intersects_on_edges(session: Session) -> None:
    boxes = _boxes(session)
    # API boxes have width and height (parse_bbox); pages below get exercised
    assert any(len(_reference(session, b)) > 30 for b in boxes)
    for box in boxes:
        expected = _reference(session, box)
        cond = features.within(box, table="sleeping_sites")
        assert cond.bounded
        got: list[str] = []
        for offset in range(0, max(len(expected), 1), 7):
            page = features.page(
                session, "sleeping_sites", fields=FIELDS, conds=[cond], limit=7, offset=offset
            )
            assert page.matched == len(expected), box
            got += [str(i) for i in page.ids]
        assert got == expected, box
    # the two edge boxes mean what they say: the point on the edge is in, a hair off is out
    first = session.execute(text("SELECT id::text FROM sleeping_sites ORDER BY code LIMIT 1"))
    site = first.scalar_one()
    assert site in _reference(session, boxes[-3])
    assert site in _reference(session, boxes[-2])
    assert site not in _reference(session, boxes[-1])


def test_audited_statement_counts_and_pages_like_the_plain_read(session: Session) -> None:
    box = _boxes(session)[0]
    cond = features.within(box, table="sleeping_sites")
    plain = features.page(session, "sleeping_sites", fields=FIELDS, conds=[cond], limit=5)
    who = features.AuditRow(actor="t", role="coordinator", layer="sleeping_sites", detail={})
    stmt, params = features.audited_page_query(
        "sleeping_sites", fields=FIELDS, conds=[cond], limit=5, audit=who
    )
    body, ids, versions, matched, logged = session.execute(stmt, params).one()
    assert (body, list(ids), list(versions), matched) == (
        plain.features,
        plain.ids,
        plain.versions,
        plain.matched,
    )
    stored = session.execute(
        text("SELECT object_ids, detail->>'returned' FROM audit_log WHERE id = :i"), {"i": logged}
    ).one()
    assert list(stored[0]) == plain.ids and stored[1] == str(len(plain.ids))


def test_polygon_layers_keep_the_polygon_test(session: Session) -> None:
    cond = features.within((18.5, 54.3, 18.7, 54.45), table="areas")
    assert "ST_Intersects" in cond.sql and cond.bounded
    page = features.page(session, "areas", fields=("name",), conds=[cond], limit=500)
    expected = session.execute(
        text(
            "SELECT count(*) FROM areas "
            "WHERE ST_Intersects(geom, ST_MakeEnvelope(18.5, 54.3, 18.7, 54.45, 4326))"
        )
    ).scalar_one()
    assert page.matched == expected == len(page.ids) and expected > 0


def test_unbounded_page_counts_the_whole_layer(session: Session) -> None:
    total = session.execute(text("SELECT count(*) FROM sleeping_sites")).scalar_one()
    page = features.page(session, "sleeping_sites", fields=FIELDS, limit=3, offset=2)
    first = session.execute(
        text("SELECT id FROM sleeping_sites ORDER BY code, id LIMIT 3 OFFSET 2")
    ).scalars()
    assert page.matched == total and page.ids == list(first)


def test_asyncpg_failures_are_the_domains(app_url: URL) -> None:
    """The hot path's driver fails like the sync engine: 503-class errors, no SQL, no values."""

    async def timeout() -> None:
        pool = await adb.make_pool(app_url, statement_timeout_ms=50)
        try:
            with adb.domain_errors():
                await pool.fetchval("SELECT pg_sleep(2), $1::float8", 54.37)
        finally:
            await pool.close()

    with pytest.raises(DatabaseUnavailable, match="took too long") as caught:
        asyncio.run(timeout())
    assert "54.37" not in str(caught.value) and "pg_sleep" not in str(caught.value)

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def away() -> None:
        with adb.domain_errors():
            pool = await adb.make_pool(app_url.set(port=port))
            try:
                await pool.fetchval("SELECT 1")
            finally:
                await pool.close()

    with pytest.raises(DatabaseUnavailable, match="not reachable"):
        asyncio.run(away())


def test_positional_statement_keeps_the_names_in_order() -> None:
    query = adb.positional(text("SELECT CAST(:b AS int) * 10 + CAST(:a AS int) - CAST(:b AS int)"))
    assert query.sql == "SELECT CAST($1 AS int) * 10 + CAST($2 AS int) - CAST($1 AS int)"
    assert query.args({"a": 1, "b": 2, "unused": 3}) == [2, 1]


def test_stored_feature_is_the_live_build_for_every_site(session: Session) -> None:
    """migration 0011's text equals what the read would build, after writes of every kind."""
    # The database's trigger writes exactly staff's properties, in their order (staff's reads
    # take the stored text: layers.features.STORED_FEATURE).
    body = session.execute(
        text("SELECT pg_get_functiondef('geo_outreach_site_feature'::regproc)")
    ).scalar_one()
    props = body[body.index("'properties'") :]
    written = re.findall(r"'(\w+)', NEW\.(\w+)", props)
    assert [k for k, v in written if k == v] == list(policy.SITE_FIELDS_ALL)
    session.execute(text("SET LOCAL timezone = 'Pacific/Chatham'"))  # the trigger writes UTC
    session.execute(
        text(
            "UPDATE sleeping_sites SET access_notes = 'zmiana \"cudzysłów\" \\ ą', "
            "version = version + 1, updated_at = now() "
            "WHERE code IN (SELECT code FROM sleeping_sites ORDER BY code LIMIT 5)"
        )
    )
    session.execute(
        text(
            "UPDATE sleeping_sites SET geom = ST_SetSRID(ST_MakePoint(18.6, 54.4), 4326) "
            "WHERE code = (SELECT max(code) FROM sleeping_sites)"
        )
    )
    session.execute(text("SET LOCAL timezone = 'UTC'"))
    props = ", ".join(f"'{f}', t.{f}" for f in policy.SITE_FIELDS_ALL)
    differ = session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE t.feature_json::jsonb IS DISTINCT FROM "
            "json_build_object('type', 'Feature', 'id', t.id, "
            "'geometry', ST_AsGeoJSON(t.geom, 7)::json, "
            f"'properties', json_build_object({props}))::jsonb) FROM sleeping_sites t"
        )
    ).one()
    assert differ[0] >= 300 and differ[1] == 0
    moved = session.execute(
        text(
            "SELECT feature_json::json->'properties'->>'district' FROM sleeping_sites "
            "WHERE code = (SELECT max(code) FROM sleeping_sites)"
        )
    ).scalar_one()
    assert moved  # site_district ran first: the stored Feature has the new district


def test_other_field_lists_are_built_live(session: Session) -> None:
    box = _boxes(session)[0]
    cond = features.within(box, table="sleeping_sites")
    safety = features.page(
        session, "sleeping_sites", fields=policy.SITE_FIELDS_SAFETY, conds=[cond], limit=3
    )
    full = features.page(session, "sleeping_sites", fields=FIELDS, conds=[cond], limit=3)
    assert safety.ids == full.ids
    for feature in json.loads(safety.features):
        assert set(feature["properties"]) == set(policy.SITE_FIELDS_SAFETY)
    assert [f["id"] for f in json.loads(full.features)] == [str(i) for i in full.ids]


def test_the_stored_feature_is_never_a_field_or_an_export_column(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no column 'feature_json'"):
        features.page(session, "sleeping_sites", fields=("code", "feature_json"), limit=1)
    assert "feature_json" not in features.plain_columns("sleeping_sites")
    out = tmp_path / "sites.csv"
    exports.export_layer(session, "sleeping_sites", out, fmt="csv", actor="t", role="coordinator")
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert "access_notes" in header and "feature_json" not in header


def test_the_hot_paths_driver_errors_answer_like_the_sync_ones() -> None:
    """api/errors.py's table for asyncpg: a refused value 422, the database away 503 with
    Retry-After, any other fault a JSON 500; never the driver's message (SQL, values)."""
    app = FastAPI()
    errors.install(app)
    secret = "SELECT 'Kowalski, piwnica ul. Długa 5'"
    raised: dict[str, BaseException] = {
        "value": asyncpg.CharacterNotInRepertoireError(secret),
        "column": asyncpg.UndefinedColumnError(secret),
        "client": asyncpg.InterfaceError(secret),
        "away": DatabaseUnavailable("the database is not reachable right now"),
    }

    @app.get("/{kind}")
    async def fail(kind: str) -> None:
        raise raised[kind]

    client = TestClient(app, raise_server_exceptions=False)
    expected = {"value": 422, "column": 500, "client": 500, "away": 503}
    for kind, status in expected.items():
        response = client.get(f"/{kind}")
        assert response.status_code == status, kind
        assert response.headers["content-type"] == "application/json"
        assert "Kowalski" not in response.text
    assert client.get("/away").headers["retry-after"] == "5"
