"""The API served by `geo-outreach serve` on loopback: 100 concurrent writers with If-Match, concurrent
Idempotency-Key replays, and GDAL's OGC API Features driver (through pyogrio)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyogrio
import pytest
from sqlalchemy import URL, text

from geo_outreach.core import db
from tests.api_support import Api, api_for, live_server

WRITERS = 100


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def base(api: Api) -> Iterator[str]:
    with live_server(api) as url:
        yield url


def _one(api: Api, sql: str, **params: object) -> tuple[object, ...]:
    with db.session_scope(api.engine) as s:
        return tuple(s.execute(text(sql), params).one())


def test_concurrent_writers_lose_no_update(api: Api, base: str) -> None:
    site_id, people0, version0 = _one(
        api, "SELECT id::text, estimated_people, version FROM sleeping_sites ORDER BY code LIMIT 1"
    )
    assert isinstance(people0, int) and isinstance(version0, int)
    headers = api.headers("streetworker")
    start = threading.Barrier(WRITERS)

    def writer(_: int) -> list[int]:
        statuses: list[int] = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            start.wait()
            for _attempt in range(3):
                got = client.get(f"/sites/{site_id}")
                assert got.status_code == 200
                people = got.json()["properties"]["estimated_people"]
                change = {"properties": {"estimated_people": people + 1}}
                sent = client.patch(
                    f"/sites/{site_id}", json=change, headers={"If-Match": got.headers["etag"]}
                )
                statuses.append(sent.status_code)
                if sent.status_code == 200:
                    break
        return statuses

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(writer, range(WRITERS)))
    statuses = [s for r in results for s in r]
    assert set(statuses) <= {200, 412}, statuses
    successes = statuses.count(200)
    assert successes >= 1
    print(f"{WRITERS} writers: {successes} writes succeeded, {statuses.count(412)} got 412")
    people, version = _one(
        api, "SELECT estimated_people, version FROM sleeping_sites WHERE id = :i", i=site_id
    )
    # Every successful write moved the version once and its increment survived.
    assert version == version0 + successes
    assert people == people0 + successes
    audited = _one(
        api,
        "SELECT count(*) FILTER (WHERE outcome = 'ok'), count(*) FILTER (WHERE outcome = 'stale') "
        "FROM audit_log WHERE action = 'update' AND object_ids @> ARRAY[CAST(:i AS uuid)]",
        i=site_id,
    )
    assert audited == (successes, statuses.count(412))


def test_concurrent_idempotent_posts_make_one_row(api: Api, base: str) -> None:
    key = "burst-" + uuid.uuid4().hex
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [18.6101, 54.3799]},
        "properties": {"code": "LIVE-IDEM", "name": "Pod mostem", "category": "inne"},
    }
    headers = api.headers("coordinator", **{"Idempotency-Key": key})
    start = threading.Barrier(10)

    def post(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            start.wait()
            response = client.post("/sites", json=body)
            return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(post, range(10)))
    assert {status for status, _ in answers} == {201}
    assert len({site for _, site in answers}) == 1
    (count,) = _one(api, "SELECT count(*) FROM sleeping_sites WHERE code = 'LIVE-IDEM'")
    assert count == 1


@pytest.fixture
def gdal_token() -> Iterator[None]:
    yield
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})


def test_gdal_oapif_reads_sites_with_a_coordinator_token(
    api: Api, base: str, gdal_token: None
) -> None:
    # GDAL sends "Authorization: Bearer …" with these two options.
    pyogrio.set_gdal_config_options(
        {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": api.tokens["coordinator"]}
    )
    layers = {name for name, _ in pyogrio.list_layers(f"OAPIF:{base}/ogc")}
    assert {"sleeping_sites", "facilities", "public_facilities", "areas"} <= layers
    frame = pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer="sleeping_sites")
    (count,) = _one(api, "SELECT count(*) FROM sleeping_sites")
    assert len(frame) == count
    assert set(frame.geometry.geom_type) == {"Point"}
    minx, miny, maxx, maxy = frame.total_bounds
    area = api.settings.service_area
    assert area[0] <= minx and maxx <= area[2] and area[1] <= miny and maxy <= area[3]


def test_gdal_oapif_without_a_token_sees_only_the_public_layer(api: Api, base: str) -> None:
    layers = {name for name, _ in pyogrio.list_layers(f"OAPIF:{base}/ogc")}
    assert layers == {"public_facilities", "sos_bus_routes", "sos_bus_stops"}
    with pytest.raises(pyogrio.errors.DataSourceError, match="401"):
        pyogrio.read_dataframe(f"OAPIF:{base}/ogc/collections/sleeping_sites")
    assert httpx.get(f"{base}/ogc/collections/sleeping_sites/items").status_code == 401
    partner = api.headers("partner")
    assert (
        httpx.get(f"{base}/ogc/collections/sleeping_sites/items", headers=partner).status_code
        == 403
    )
