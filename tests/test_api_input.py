"""Issue 10, defects 1, 4, 6, 7 and 8: what the API accepts, and what the database lets through
behind it. Each refusal names the field and leaves no row behind."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo_outreach.core import db, migrate, pgserver
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.core.settings import Settings
from geo_outreach.io import files as io
from tests.api_support import Api, api_for

NEPTUNE = (18.65316, 54.34856)  # Długi Targ
OLIWA = (18.5594, 54.4116)  # the cathedral
SITE: dict[str, Any] = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": list(NEPTUNE)},
    "properties": {"name": "Przy fontannie", "category": "inne"},
}
FACILITY: dict[str, Any] = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": list(NEPTUNE)},
    "properties": {"name": "Punkt", "type": "ogrzewalnia", "capacity": 10},
}


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def _one(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).one()


def _rows(api: Api) -> tuple[int, ...]:
    """Row counts and version sums of every table a write may touch."""
    return tuple(
        _one(
            api,
            "SELECT (SELECT count(*) FROM sleeping_sites), (SELECT sum(version) FROM sleeping_sites),"
            " (SELECT count(*) FROM facilities), (SELECT sum(version) FROM facilities),"
            " (SELECT count(*) FROM visits), (SELECT count(*) FROM site_status_history)",
        )
    )


def _fields(response: Any) -> list[str]:
    """The fields a 422 names, as dotted paths without 'body'."""
    body = response.json()
    if "problems" in body:
        return [p["field"] for p in body["problems"]]
    return [".".join(str(p) for p in e["loc"] if p != "body") for e in body["detail"]]


def _site(code: str, **props: Any) -> dict[str, Any]:
    return {**SITE, "properties": {**SITE["properties"], "code": code, **props}}


def _a_site(api: Api) -> tuple[str, int]:
    site_id, version = _one(
        api, "SELECT id::text, version FROM sleeping_sites ORDER BY code LIMIT 1"
    )
    return site_id, version


def _visit(api: Api, **fields: Any) -> dict[str, Any]:
    site_id, _ = _a_site(api)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return {"site_id": site_id, "visited_at": at, "people_met": 1, **fields}


# -- defect 1: times ------------------------------------------------------------------------


def _now_plus(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    "visited_at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1999-12-31T23:59:59+00:00",
        "2000-01-01T00:30:00+01:00",  # 1999 in UTC
        "far future",
    ],
)
def test_visit_times_out_of_range_are_refused(api: Api, visited_at: str) -> None:
    if visited_at == "far future":
        visited_at = _now_plus(minutes=20)  # past the 10 minutes of clock skew allowed
    before = _rows(api)
    response = api.client.post(
        "/visits", json=_visit(api, visited_at=visited_at), headers=api.headers("streetworker")
    )
    assert response.status_code == 422, response.text
    assert _fields(response) == ["visited_at"]
    assert _rows(api) == before


def test_a_nul_in_a_site_filter_is_refused_by_name(api: Api) -> None:
    for query in ("district=%00", "bbox=18.55,54.37,18.56,54.38&district=a%00b"):
        response = api.client.get(f"/sites?{query}", headers=api.headers("coordinator"))
        assert response.status_code == 422, response.text
        assert _fields(response) == ["district"]


def test_visit_times_in_range_are_kept(api: Api) -> None:
    for visited_at in ("2000-01-01T00:00:00+00:00", _now_plus(minutes=5)):
        response = api.client.post(
            "/visits", json=_visit(api, visited_at=visited_at), headers=api.headers("streetworker")
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        (
            "INSERT INTO visits (site_id, visited_at, created_by) "
            "SELECT id, '0001-01-01T00:00:00+14:00', 't' FROM sleeping_sites LIMIT 1",
            "ck_visits_visited_at",
        ),
        (
            "INSERT INTO visits (site_id, visited_at, created_by) "
            "SELECT id, now() + interval '2 days', 't' FROM sleeping_sites LIMIT 1",
            "ck_visits_visited_at",
        ),
        (
            "INSERT INTO patrols (code, kind, planned_start, planned_end, created_by, updated_by) "
            "VALUES ('T-OLD', 'joint', '1970-01-01T20:00Z', '1970-01-01T23:00Z', 't', 't')",
            "ck_patrols_planned_times",
        ),
        (
            "INSERT INTO patrols (code, kind, planned_start, planned_end, created_by, updated_by) "
            "VALUES ('T-LONG', 'joint', now(), now() + interval '3 days', 't', 't')",
            "ck_patrols_planned_times",
        ),
        (
            "INSERT INTO sos_bus_duties (route_id, duty_date, created_by) "
            "SELECT id, '1900-01-01', 't' FROM sos_bus_routes LIMIT 1",
            "ck_sos_bus_duties_duty_date",
        ),
        (
            "UPDATE facilities SET free_beds_updated_at = '0001-01-01T00:00Z' "
            "WHERE id = (SELECT id FROM facilities LIMIT 1)",
            "ck_facilities_free_beds_updated_at",
        ),
    ],
)
def test_database_refuses_times_out_of_range(
    session: Session, statement: str, constraint: str
) -> None:
    """The same rule as a CHECK: nothing that writes past the API can store one either."""
    with pytest.raises(IntegrityError, match=constraint):
        session.execute(text(statement))


TIME_CHECKS = [
    "ck_visits_visited_at",
    "ck_site_status_history_changed_at",
    "ck_sleeping_sites_last_visit_at",
    "ck_facilities_free_beds_updated_at",
    "ck_patrols_planned_times",
    "ck_patrol_stops_eta",
    "ck_sos_bus_duties_duty_date",
]


def test_demo_times_lie_within_the_checks(session: Session) -> None:
    """The demo loaded under the new CHECKs, and each is validated (not left NOT VALID)."""
    found = dict(
        session.execute(
            text("SELECT conname, convalidated FROM pg_constraint WHERE conname = ANY(:names)"),
            {"names": TIME_CHECKS},
        ).all()
    )
    assert found == dict.fromkeys(TIME_CHECKS, True)
    assert session.execute(text("SELECT count(*) FROM visits WHERE is_demo")).scalar_one() > 100


# -- defect 4: vocabularies, and no row data in the server's log ----------------------------


@pytest.mark.parametrize(
    ("method", "path", "role", "body", "field"),
    [
        (
            "post",
            "/visits",
            "streetworker",
            {"referral_facility_type": "hotel"},
            "referral_facility_type",
        ),
        ("post", "/visits", "streetworker", {"help_given": ["massage"]}, "help_given.0"),
        ("post", "/sites", "streetworker", {"category": "hotel"}, "properties.category"),
        ("post", "/sites", "streetworker", {"status": "gone"}, "properties.status"),
        ("post", "/sites", "streetworker", {"hazards": ["lions"]}, "properties.hazards.0"),
        ("patch", "/sites/{site}", "streetworker", {"category": "hotel"}, "properties.category"),
        ("patch", "/sites/{site}", "streetworker", {"status": "gone"}, "properties.status"),
        ("patch", "/sites/{site}", "streetworker", {"hazards": ["lions"]}, "properties.hazards.0"),
        ("post", "/facilities", "coordinator", {"type": "hotel"}, "properties.type"),
        (
            "post",
            "/facilities",
            "coordinator",
            {"opening_hours": [{"byday": "XX", "opens_at": "20:00", "closes_at": "08:00"}]},
            "properties.opening_hours.0.byday",
        ),
        ("patch", "/facilities/{facility}", "coordinator", {"type": "hotel"}, "properties.type"),
    ],
)
def test_every_enumerated_field_is_checked_by_the_api(
    api: Api, method: str, path: str, role: str, body: dict[str, Any], field: str
) -> None:
    site_id, site_version = _a_site(api)
    facility_id, facility_version = _one(
        api, "SELECT id::text, version FROM facilities ORDER BY code LIMIT 1"
    )
    headers = api.headers(role)
    if path == "/visits":
        payload = _visit(api, **body)
    elif path == "/sites":
        payload = _site(f"E-{uuid.uuid4().hex[:8]}", **body)
    elif path == "/facilities":
        payload = {**FACILITY, "properties": {**FACILITY["properties"], "code": "E-F", **body}}
    else:
        payload = {"properties": body}
        version = site_version if "{site}" in path else facility_version
        headers["If-Match"] = f'"{version}"'
    before = _rows(api)
    url = path.format(site=site_id, facility=facility_id)
    response = api.client.request(method.upper(), url, json=payload, headers=headers)
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert _rows(api) == before


def _log_text(cluster: LocalPostgres) -> str:
    logs = [cluster.data_dir / "server.log", *sorted((cluster.data_dir / "log").glob("*"))]
    return "".join(p.read_text(errors="replace") for p in logs if p.is_file())


def test_server_log_keeps_no_row_data(cluster: LocalPostgres, session: Session) -> None:
    """A constraint violation carrying a note, written as the app role past the API."""
    assert session.execute(text("SHOW log_error_verbosity")).scalar_one() == "terse"
    marker = uuid.uuid4().hex
    note = f"{marker} śpi pod mostem z psem Burkiem"
    site_id = session.execute(text("SELECT id FROM sleeping_sites LIMIT 1")).scalar_one()
    with pytest.raises(IntegrityError, match="ck_visits_referral_type"):
        session.execute(
            text(
                "INSERT INTO visits (site_id, visited_at, referral_facility_type, note, created_by)"
                " VALUES (:s, now(), 'hotel', :note, 'test')"
            ),
            {"s": site_id, "note": note},
        )
    deadline = time.monotonic() + 10
    log = _log_text(cluster)
    while "ck_visits_referral_type" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = _log_text(cluster)
    assert "ck_visits_referral_type" in log, "the refusal itself should be logged"
    for part in (marker, "pod mostem", "Burkiem", "Failing row"):
        assert part not in log, part


def test_existing_clusters_get_the_log_settings(tmp_path: Path) -> None:
    conf = tmp_path / "postgresql.conf"
    conf.write_text("log_error_verbosity = 'verbose'\n")
    pg = LocalPostgres(tmp_path)
    assert pg._ensure_log_privacy() is True
    assert pg._ensure_log_privacy() is False  # once
    lines = conf.read_text().splitlines()
    settings = dict(line.split(" = ", 1) for line in lines if " = " in line)
    assert settings["log_error_verbosity"] == "'terse'"  # the later line wins in PostgreSQL
    assert lines.index("log_error_verbosity = 'terse'") > lines.index(
        "log_error_verbosity = 'verbose'"
    )
    assert set(pgserver.LOG_PRIVACY) <= set(settings)


# -- defect 6: If-Match with digits that are not ASCII --------------------------------------


def send_raw(api: Api, method: str, url: str, *, body: Any, headers: dict[str, bytes]) -> Any:
    """A request whose header bytes reach the app as sent (TestClient re-encodes them as UTF-8,
    so a latin-1 '¹' would arrive as 'Â¹'); the ASGI transport passes raw bytes, like uvicorn."""

    # json.dumps as Python's client would: NaN and Infinity included (httpx refuses them).
    content = json.dumps(body).encode()
    sent = {**headers, "Content-Type": b"application/json"}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, url, content=content, headers=sent)

    return asyncio.run(send())


# Header bytes are read as latin-1, whose ¹ ² ³ pass str.isdigit() but not int().
@pytest.mark.parametrize("tag", ['"¹"', "²", '"3¹"', '"³"'])
def test_if_match_takes_ascii_digits_only(api: Api, tag: str) -> None:
    site_id, _ = _a_site(api)
    facility_id = _one(api, "SELECT id::text FROM facilities WHERE NOT confidential LIMIT 1")[0]
    before = _rows(api)
    for method, url, body, role in (
        ("PATCH", f"/sites/{site_id}", {"properties": {"estimated_people": 1}}, "streetworker"),
        ("PUT", f"/facilities/{facility_id}/free-beds", {"free_beds": 1}, "ngo"),
    ):
        headers = {k: v.encode() for k, v in api.headers(role).items()}
        headers["If-Match"] = tag.encode("latin-1")
        response = send_raw(api, method, url, body=body, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert _fields(response) == ["If-Match"]
    assert _rows(api) == before


# -- defect 7: strict types in JSON ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "role", "change", "field"),
    [
        (
            "post",
            "/sites",
            "streetworker",
            {"geometry": {"type": "Point", "coordinates": ["18.65", "54.35"]}},
            "geometry.coordinates.0",
        ),
        (
            "post",
            "/sites",
            "streetworker",
            {"geometry": {"type": "Point", "coordinates": [True, 54.35]}},
            "geometry.coordinates.0",
        ),
        (
            "post",
            "/sites",
            "streetworker",
            {"properties": {"estimated_people": "3"}},
            "properties.estimated_people",
        ),
        (
            "post",
            "/sites",
            "streetworker",
            {"properties": {"estimated_people": True}},
            "properties.estimated_people",
        ),
        ("post", "/sites", "streetworker", {"properties": {"name": 12}}, "properties.name"),
        ("put", "/facilities/{facility}/free-beds", "ngo", {"free_beds": True}, "free_beds"),
        ("put", "/facilities/{facility}/free-beds", "ngo", {"free_beds": "2"}, "free_beds"),
        ("put", "/facilities/{facility}/free-beds", "ngo", {"free_beds": 2.0}, "free_beds"),
        ("post", "/facilities", "coordinator", {"properties": {"public": 1}}, "properties.public"),
        (
            "post",
            "/facilities",
            "coordinator",
            {"properties": {"capacity": "10"}},
            "properties.capacity",
        ),
        (
            "patch",
            "/facilities/{facility}",
            "coordinator",
            {"properties": {"capacity": "10"}},
            "properties.capacity",
        ),
        (
            "patch",
            "/sites/{site}",
            "streetworker",
            {"properties": {"estimated_people": "4"}},
            "properties.estimated_people",
        ),
        ("post", "/visits", "streetworker", {"visited_at": 1767225600}, "visited_at"),
        ("post", "/visits", "streetworker", {"visited_at": "1767225600"}, "visited_at"),
        ("post", "/visits", "streetworker", {"people_met": "2"}, "people_met"),
        ("post", "/visits", "streetworker", {"people_met": True}, "people_met"),
        ("post", "/visits", "streetworker", {"note_sensitive": "false"}, "note_sensitive"),
    ],
)
def test_wrong_json_types_are_refused_not_coerced(
    api: Api, method: str, path: str, role: str, change: dict[str, Any], field: str
) -> None:
    site_id, site_version = _a_site(api)
    facility_id, facility_version = _one(
        api, "SELECT id::text, version FROM facilities WHERE NOT confidential ORDER BY code LIMIT 1"
    )
    headers = api.headers(role)
    if path == "/visits":
        payload = _visit(api, **change)
    elif path == "/sites":
        base = _site(f"T-{uuid.uuid4().hex[:8]}")
        payload = {**base, **change}
        if "properties" in change:
            payload["properties"] = {**base["properties"], **change["properties"]}
    elif path == "/facilities":
        props = {**FACILITY["properties"], "code": f"T-{uuid.uuid4().hex[:8]}"}
        payload = {**FACILITY, "properties": {**props, **change["properties"]}}
    else:
        payload = change
        version = site_version if "{site}" in path else facility_version
        headers["If-Match"] = f'"{version}"'
    before = _rows(api)
    url = path.format(site=site_id, facility=facility_id)
    response = api.client.request(method.upper(), url, json=payload, headers=headers)
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    assert _rows(api) == before


def test_csv_imports_still_read_text_as_numbers(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Strict types are for JSON bodies; a CSV file has only text (and a district column, which
    is ignored: the district comes from the areas)."""
    path = tmp_path / "sites.csv"
    path.write_text(
        "code,nazwa,kategoria,osoby,dzielnica,lon,lat\n"
        f"CSV-1,Przy fontannie,park / skwer,3,Oliwa,{NEPTUNE[0]},{NEPTUNE[1]}\n"
    )
    result = io.import_file(
        session,
        "sites",
        path,
        actor="test",
        role="test",
        service_area=settings.service_area,
        crs="EPSG:4326",
    )
    assert result.inserted == 1 and "dzielnica" in result.ignored_columns
    people, district = session.execute(
        text("SELECT estimated_people, district FROM sleeping_sites WHERE code = 'CSV-1'")
    ).one()
    assert people == 3
    assert district == _district_of(session, NEPTUNE) != "Oliwa"


# -- defect 8: district is server-managed ---------------------------------------------------


def _district_of(session: Session, point: tuple[float, float]) -> str:
    name: str = session.execute(
        text(
            "SELECT name FROM areas WHERE kind = 'district' "
            "AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
        ),
        {"x": point[0], "y": point[1]},
    ).scalar_one()
    return name


def test_district_sent_by_a_client_is_refused(api: Api) -> None:
    before = _rows(api)
    for method, url, body, extra in (
        ("POST", "/sites", _site("D-SENT", district="Oliwa"), {}),
        ("PATCH", "/sites/{site}", {"properties": {"district": "Oliwa"}}, {"If-Match": "version"}),
    ):
        site_id, version = _a_site(api)
        headers = {**api.headers("streetworker"), **extra}
        if "If-Match" in headers:
            headers["If-Match"] = f'"{version}"'
        response = api.client.request(method, url.format(site=site_id), json=body, headers=headers)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert [d["loc"][1:] for d in detail] == [["properties", "district"]]
        assert "server-managed" in detail[0]["msg"]
    assert _rows(api) == before


def test_district_is_derived_on_create_and_when_the_point_moves(api: Api) -> None:
    with db.session_scope(api.engine) as s:
        centre, oliwa = _district_of(s, NEPTUNE), _district_of(s, OLIWA)
    assert centre != oliwa
    h = api.headers("streetworker")
    created = api.client.post("/sites", json=_site("D-1"), headers=h)
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["district"] == centre
    site_id = created.json()["id"]
    # A replacement (PUT) carries no district: it stays derived, not emptied.
    put = api.client.put(
        f"/sites/{site_id}", json=_site("D-1", name="Inna"), headers={**h, "If-Match": '"1"'}
    )
    assert put.status_code == 200, put.text
    assert put.json()["properties"]["district"] == centre
    moved = api.client.patch(
        f"/sites/{site_id}",
        json={"geometry": {"type": "Point", "coordinates": list(OLIWA)}},
        headers={**h, "If-Match": put.headers["etag"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["properties"]["district"] == oliwa
    stored = _one(api, "SELECT district FROM sleeping_sites WHERE id = :i", i=site_id)[0]
    assert stored == oliwa


def test_migration_keeps_old_bad_rows_and_checks_new_ones(scratch: tuple[URL, URL]) -> None:
    """A database hit by defect 1 still upgrades: the visit stays (it is the record), the CHECK
    is left NOT VALID for an admin to finish, and new rows are checked at once."""
    admin, _ = scratch
    migrate.upgrade(admin, "0002")
    engine = create_engine(admin)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sleeping_sites (code, name, category, district, created_by, "
                    "updated_by, geom) VALUES ('OLD-1', 'x', 'inne', 'Wpisana ręcznie', 't', 't', "
                    "ST_SetSRID(ST_MakePoint(18.65316, 54.34856), 4326))"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO visits (site_id, visited_at, created_by) SELECT id, "
                    "'0001-01-01T00:00:00+14:00', 't' FROM sleeping_sites WHERE code = 'OLD-1'"
                )
            )
        migrate.upgrade(admin)
        with engine.begin() as conn:
            valid = dict(
                conn.execute(
                    text("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'c'")
                ).all()
            )
            assert valid["ck_visits_visited_at"] is False
            assert valid["ck_patrols_planned_times"] is True
            assert conn.execute(text("SELECT count(*) FROM visits")).scalar_one() == 1
            # No areas in this database: the hand-written district is not kept; last_visit_at is
            # derived again from the visits within the bounds (none here).
            site = conn.execute(text("SELECT district, last_visit_at FROM sleeping_sites")).one()
            assert tuple(site) == (None, None)
        with pytest.raises(IntegrityError, match="ck_visits_visited_at"), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO visits (site_id, visited_at, created_by) "
                    "SELECT id, '0001-01-01T00:00:00Z', 't' FROM sleeping_sites"
                )
            )
    finally:
        engine.dispose()
