"""The HTTP API against the real PostGIS: roles, GeoJSON, ETag / If-Match, Idempotency-Key,
audit, bad input and privacy. The API runs on a database of its own (see api_support)."""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gpxpy
import pyogrio
import pytest
import shapely
from sqlalchemy import URL, text

from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from tests.api_support import PASSWORD, Api, api_for

SITE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [18.6466, 54.3520]},
    "properties": {"code": "API-1", "name": "Pod wiaduktem", "category": "inne"},
}


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


def _scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


@pytest.fixture(scope="module")
def joint_now(api: Api) -> uuid.UUID:
    """A joint patrol happening now, with three sites on its route and the partner on it."""
    now = datetime.now(UTC)
    with db.session_scope(api.engine) as s:
        patrol_id = s.execute(
            text(
                "INSERT INTO patrols (code, kind, agencies, planned_start, planned_end, "
                "created_by, updated_by) VALUES ('JOINT-NOW', 'joint', '{mops,straz_miejska}', "
                ":start, :end, 'test', 'test') RETURNING id"
            ),
            {"start": now - timedelta(hours=1), "end": now + timedelta(hours=2)},
        ).scalar_one()
        s.execute(
            text(
                "INSERT INTO patrol_stops (patrol_id, seq, site_id, geom) "
                "SELECT :p, row_number() OVER (ORDER BY code), id, geom FROM "
                "(SELECT id, code, geom FROM sleeping_sites ORDER BY code LIMIT 3) x"
            ),
            {"p": patrol_id},
        )
        auth.assign_patrol(s, name="test-partner", patrol_code="JOINT-NOW", actor="test")
    return uuid.UUID(str(patrol_id))


# -- auth -------------------------------------------------------------------------------------


def test_login_refuses_a_wrong_password(api: Api) -> None:
    response = api.client.post("/auth/token", json={"name": "test-admin", "password": "nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    stored = _scalar(api, "SELECT password_hash FROM users WHERE name = 'test-admin'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    token = api.tokens["coordinator"]
    hashes = _scalar(api, "SELECT string_agg(token_hash, ',') FROM api_tokens")
    assert token not in hashes
    assert auth.token_digest(token, secret=api.settings.secret_key) in hashes.split(",")


def test_login_is_rate_limited(api: Api) -> None:
    with db.session_scope(api.engine) as s:
        auth.add_user(s, name="rate-limited", role="ngo", password=PASSWORD, actor="test")
    limit = api.settings.login_max_failures
    codes = [
        api.client.post("/auth/token", json={"name": "rate-limited", "password": "bad"}).status_code
        for _ in range(limit)
    ]
    assert codes == [401] * limit
    # Now even the right password is refused until the window passes.
    blocked = api.client.post("/auth/token", json={"name": "rate-limited", "password": PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= api.settings.login_window_seconds
    # Refused tries are not written (so they cannot extend the lock).
    attempts = _scalar(api, "SELECT count(*) FROM login_attempts WHERE name = 'rate-limited'")
    assert attempts == limit


def test_an_expired_token_is_refused(api: Api) -> None:
    past = datetime.now(UTC) - timedelta(minutes=api.settings.token_ttl_minutes + 5)
    issued = auth.login(
        api.engine,
        name="test-coordinator",
        password=PASSWORD,
        client="test",
        settings=api.settings,
        now=past,
    )
    response = api.client.get("/sites", headers={"Authorization": f"Bearer {issued.token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_logout_revokes_the_token(api: Api) -> None:
    response = api.client.post(
        "/auth/token", json={"name": "test-streetworker", "password": PASSWORD}
    )
    token = response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/auth/me", headers=headers).json()["role"] == "streetworker"
    assert api.client.post("/auth/logout", headers=headers).status_code == 204
    assert api.client.get("/auth/me", headers=headers).status_code == 401


# -- reading ----------------------------------------------------------------------------------


def test_public_gets_the_public_layer_and_nothing_else(api: Api) -> None:
    facilities = api.client.get("/public/facilities?limit=1000")
    assert facilities.status_code == 200
    assert facilities.headers["content-type"] == "application/geo+json"
    expected = _scalar(api, "SELECT count(*) FROM facilities WHERE public AND NOT confidential")
    assert facilities.json()["numberMatched"] == expected == len(facilities.json()["features"])
    stops = api.client.get("/public/sos-bus/stops")
    assert stops.status_code == 200
    assert len(stops.json()["features"]) == _scalar(api, "SELECT count(*) FROM sos_bus_stops")
    for path in (
        "/sites",
        "/visits",
        "/patrols",
        "/facilities",
        "/areas",
        "/exports/sleeping_sites",
    ):
        assert api.client.get(path).status_code == 401, path


def test_coordinator_gets_sites_as_rfc7946(api: Api) -> None:
    response = api.client.get("/sites?limit=1000", headers=api.headers("coordinator"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    doc = response.json()
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert doc["numberMatched"] == _scalar(api, "SELECT count(*) FROM sleeping_sites")
    minx, miny, maxx, maxy = api.settings.service_area
    for feature in doc["features"]:
        assert feature["type"] == "Feature" and uuid.UUID(feature["id"])
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert minx <= lon <= maxx and miny <= lat <= maxy  # lon first, as RFC 7946 says
        assert set(feature["properties"]) >= {"code", "category", "status", "hazards"}
    one = doc["features"][0]
    x, y = _scalar_row(
        api, "SELECT ST_X(geom), ST_Y(geom) FROM sleeping_sites WHERE id = :i", i=one["id"]
    )
    assert one["geometry"]["coordinates"] == pytest.approx([x, y], abs=1e-7)


def _scalar_row(api: Api, sql: str, **params: Any) -> tuple[Any, ...]:
    with db.session_scope(api.engine) as s:
        return tuple(s.execute(text(sql), params).one())


def test_bbox_filter_and_paging(api: Api) -> None:
    box = (18.60, 54.34, 18.66, 54.38)
    expected = _scalar(
        api,
        "SELECT count(*) FROM sleeping_sites WHERE ST_Intersects(geom, "
        "ST_MakeEnvelope(:a, :b, :c, :d, 4326))",
        a=box[0],
        b=box[1],
        c=box[2],
        d=box[3],
    )
    assert expected > 10
    bbox = ",".join(map(str, box))
    seen: list[str] = []
    url: str | None = f"/sites?bbox={bbox}&limit=7"
    while url:
        page = api.client.get(url, headers=api.headers("streetworker")).json()
        assert page["numberMatched"] == expected
        seen.extend(f["id"] for f in page["features"])
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == expected


def test_hard_limits(api: Api) -> None:
    h = api.headers("coordinator")
    too_many = api.client.get(f"/sites?limit={api.settings.api_page_max + 1}", headers=h)
    assert too_many.status_code == 422
    assert too_many.json()["problems"][0]["field"] == "limit"
    huge = api.client.get("/sites?bbox=17.9,54.0,19.3,54.9", headers=h)
    assert huge.status_code == 422 and huge.json()["problems"][0]["field"] == "bbox"
    swapped = api.client.get("/sites?bbox=54.34,18.60,54.38,18.66", headers=h)
    assert swapped.status_code == 422 and "swapped" in swapped.json()["problems"][0]["fault"]
    big = api.client.post(
        "/sites",
        content=b'{"pad": "' + b"x" * (api.settings.api_body_max_bytes + 1) + b'"}',
        headers=api.headers("coordinator", **{"content-type": "application/json"}),
    )
    assert big.status_code == 413


def test_partner_has_no_standing_site_layer(api: Api, joint_now: uuid.UUID) -> None:
    h = api.headers("partner")
    assert api.client.get("/sites", headers=h).status_code == 403
    assert api.client.get("/ogc/collections/sleeping_sites/items", headers=h).status_code == 403
    assert api.client.get("/exports/sleeping_sites", headers=h).status_code == 403
    # The joint patrol it is on, during it: the route's sites, safety fields only.
    response = api.client.get(f"/patrols/{joint_now}/sites", headers=h)
    assert response.status_code == 200, response.text
    feats = response.json()["features"]
    assert len(feats) == 3
    for f in feats:
        assert set(f["properties"]) == {"code", "category", "estimated_people", "hazards"}
    patrols = api.client.get("/patrols", headers=h).json()
    assert [f["id"] for f in patrols["features"]] == [str(joint_now)]
    assert "notes" not in patrols["features"][0]["properties"]


def test_partner_sees_nothing_outside_its_patrol_or_time(api: Api, joint_now: uuid.UUID) -> None:
    h = api.headers("partner")
    with db.session_scope(api.engine) as s:
        past = s.execute(
            text(
                "SELECT p.code, p.id FROM patrols p WHERE p.kind = 'joint' AND "
                "EXISTS (SELECT 1 FROM patrol_stops ps WHERE ps.patrol_id = p.id) "
                "AND p.planned_end < now() ORDER BY p.code LIMIT 2"
            )
        ).all()
        auth.assign_patrol(s, name="test-partner", patrol_code=past[0][0], actor="test")
    finished = api.client.get(f"/patrols/{past[0][1]}/sites", headers=h)
    assert finished.status_code == 403 and "during" in finished.json()["detail"]
    not_mine = api.client.get(f"/patrols/{past[1][1]}/sites", headers=h)
    assert not_mine.status_code == 403 and "not assigned" in not_mine.json()["detail"]
    assert api.client.get(f"/patrols/{past[1][1]}", headers=h).status_code == 403
    # Its route passes the sites: after the patrol a partner gets neither the patrol nor its line.
    assert api.client.get(f"/patrols/{past[0][1]}", headers=h).status_code in (403, 404)
    listed = api.client.get("/patrols", headers=h).json()["features"]
    assert [f["properties"]["code"] for f in listed] == ["JOINT-NOW"]
    ogc = api.client.get("/ogc/collections/patrols/items", headers=h).json()["features"]
    assert [f["properties"]["code"] for f in ogc] == ["JOINT-NOW"]


def test_confidential_facilities_only_for_staff(api: Api) -> None:
    hidden = _scalar(api, "SELECT count(*) FROM facilities WHERE confidential")
    total = _scalar(api, "SELECT count(*) FROM facilities")
    assert hidden >= 1
    for role, expected in (
        ("coordinator", total),
        ("ngo", total - hidden),
        ("partner", total - hidden),
    ):
        got = api.client.get("/facilities", headers=api.headers(role)).json()["numberMatched"]
        assert got == expected, role


# -- writing ----------------------------------------------------------------------------------


def test_site_create_read_update_with_etags(api: Api) -> None:
    h = api.headers("streetworker")
    created = api.client.post("/sites", json=SITE, headers=h)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    site_id = created.json()["id"]
    assert created.headers["location"] == f"/sites/{site_id}"
    assert created.json()["properties"]["district"] == "Śródmieście"  # derived by the trigger
    got = api.client.get(f"/sites/{site_id}", headers=h)
    assert got.headers["etag"] == '"1"'
    change = {"properties": {"estimated_people": 4, "hazards": ["fire"]}}
    missing = api.client.patch(f"/sites/{site_id}", json=change, headers=h)
    assert missing.status_code == 428
    ok = api.client.patch(f"/sites/{site_id}", json=change, headers={**h, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    assert ok.json()["properties"]["estimated_people"] == 4
    stale = api.client.patch(f"/sites/{site_id}", json=change, headers={**h, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2 and stale.headers["etag"] == '"2"'
    replaced = {**SITE, "properties": {**SITE["properties"], "name": "Nowa nazwa"}}
    put = api.client.put(f"/sites/{site_id}", json=replaced, headers={**h, "If-Match": '"2"'})
    assert put.status_code == 200 and put.headers["etag"] == '"3"'
    row = _scalar_row(
        api, "SELECT name, estimated_people, version FROM sleeping_sites WHERE id = :i", i=site_id
    )
    assert row == ("Nowa nazwa", 0, 3)


def test_idempotency_key_replays_give_one_row(api: Api) -> None:
    body = {**SITE, "properties": {**SITE["properties"], "code": "API-IDEM"}}
    h = api.headers("coordinator", **{"Idempotency-Key": "k-" + uuid.uuid4().hex})
    answers = [api.client.post("/sites", json=body, headers=h) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
    assert _scalar(api, "SELECT count(*) FROM sleeping_sites WHERE code = 'API-IDEM'") == 1
    other = {**body, "properties": {**body["properties"], "name": "inna"}}
    reused = api.client.post("/sites", json=other, headers=h)
    assert reused.status_code == 422
    assert reused.json()["problems"][0]["field"] == "Idempotency-Key"


def test_visits_are_append_only(api: Api) -> None:
    site_id = _scalar(api, "SELECT id::text FROM sleeping_sites ORDER BY code LIMIT 1")
    visit = {
        "site_id": site_id,
        "visited_at": "2026-01-15T22:30:00+01:00",
        "people_met": 2,
        "women_met": 1,
        "help_given": ["hot_meal"],
        "note": "rozmowa o noclegowni",
    }
    h = api.headers("streetworker", **{"Idempotency-Key": "visit-" + uuid.uuid4().hex})
    first = api.client.post("/visits", json=visit, headers=h)
    again = api.client.post("/visits", json=visit, headers=h)
    assert first.status_code == again.status_code == 201
    visit_id = first.json()["id"]
    assert again.json()["id"] == visit_id
    assert _scalar(api, "SELECT count(*) FROM visits WHERE id = :i", i=visit_id) == 1
    for method in ("patch", "delete"):
        response = getattr(api.client, method)(f"/visits/{visit_id}", headers=h)
        assert response.status_code == 405, method
    # PUT stores a visit made on a phone once (issue 11); it never changes a stored one.
    changed = {**visit, "people_met": 9}
    assert api.client.put(f"/visits/{visit_id}", json=changed, headers=h).status_code == 409
    listed = api.client.get(f"/visits?site_id={site_id}&limit=1000", headers=h).json()
    assert visit_id in {v["id"] for v in listed["visits"]}


def test_free_beds_update(api: Api) -> None:
    fid, capacity, version = _scalar_row(
        api,
        "SELECT id::text, capacity, version FROM facilities WHERE NOT confidential "
        "AND capacity > 2 ORDER BY code LIMIT 1",
    )
    h = api.headers("ngo")
    ok = api.client.put(
        f"/facilities/{fid}/free-beds",
        json={"free_beds": 2},
        headers={**h, "If-Match": f'"{version}"'},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["properties"]["free_beds"] == 2
    too_many = api.client.put(
        f"/facilities/{fid}/free-beds",
        json={"free_beds": capacity + 1},
        headers={**h, "If-Match": ok.headers["etag"]},
    )
    assert too_many.status_code == 422
    assert too_many.json()["problems"][0]["field"] == "free_beds"
    assert (
        api.client.put(
            f"/facilities/{fid}/free-beds",
            json={"free_beds": 1},
            headers=api.headers("partner", **{"If-Match": '"1"'}),
        ).status_code
        == 403
    )


# -- bad input --------------------------------------------------------------------------------


def _post_raw(api: Api, body: str) -> Any:
    return api.client.post(
        "/sites",
        content=body.encode(),
        headers=api.headers("coordinator", **{"content-type": "application/json"}),
    )


@pytest.mark.parametrize(
    ("change", "field", "fault"),
    [
        ({"geometry": {"type": "Point", "coordinates": [54.352, 18.6466]}}, "geometry", "swapped"),
        ({"geometry": {"type": "Point", "coordinates": [21.01, 52.23]}}, "geometry", "outside"),
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[18.6, 54.3]]]}},
            "geometry.type",
            "Point",
        ),
        (
            {"geometry": {"type": "Point", "coordinates": [18.6]}},
            "geometry.coordinates",
            "at least 2",
        ),
        ({"properties": {**SITE["properties"], "version": 7}}, "properties.version", "Extra"),
        (
            {"properties": {**SITE["properties"], "created_by": "x"}},
            "properties.created_by",
            "Extra",
        ),
        ({"properties": {**SITE["properties"], "public": True}}, "properties.public", "Extra"),
        (
            {"properties": {**SITE["properties"], "category": "hotel"}},
            "properties.category",
            "hotel",
        ),
        (
            {"properties": {**SITE["properties"], "access_notes": "x" * 2001}},
            "properties.access_notes",
            "2000",
        ),
        (
            {"properties": {**SITE["properties"], "estimated_people": -1}},
            "properties.estimated_people",
            "0",
        ),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    api: Api, change: dict[str, Any], field: str, fault: str
) -> None:
    before = _scalar(api, "SELECT count(*) FROM sleeping_sites")
    body = {**SITE, **change}
    response = api.client.post("/sites", json=body, headers=api.headers("coordinator"))
    assert response.status_code == 422, response.text
    payload = response.json()
    if "problems" in payload:
        found = [(p["field"], p["fault"]) for p in payload["problems"]]
    else:
        found = [(".".join(str(x) for x in e["loc"][1:]), e["msg"]) for e in payload["detail"]]
    assert any(f == field and fault in msg for f, msg in found), found
    assert _scalar(api, "SELECT count(*) FROM sleeping_sites") == before


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinite_coordinates_are_refused(api: Api, value: str) -> None:
    before = _scalar(api, "SELECT count(*) FROM sleeping_sites")
    props = json.dumps({**SITE["properties"], "code": "API-NAN"})
    body = f'{{"type": "Feature", "geometry": {{"type": "Point", "coordinates": [{value}, 54.35]}}, "properties": {props}}}'
    response = _post_raw(api, body)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert problems == [{"field": "geometry", "fault": "a coordinate is NaN or infinite"}]
    assert _scalar(api, "SELECT count(*) FROM sleeping_sites") == before


# -- audit ------------------------------------------------------------------------------------


def _audit_rows(api: Api, site_id: str) -> list[tuple[Any, ...]]:
    with db.session_scope(api.engine) as s:
        return [
            tuple(r)
            for r in s.execute(
                text(
                    "SELECT actor, role, action, outcome, detail->>'endpoint' FROM audit_log "
                    "WHERE object_ids @> ARRAY[CAST(:s AS uuid)] AND layer = 'sleeping_sites' "
                    "ORDER BY id"
                ),
                {"s": site_id},
            )
        ]


def test_each_request_leaves_its_audit_row(api: Api) -> None:
    site_id = _scalar(api, "SELECT id::text FROM sleeping_sites ORDER BY code DESC LIMIT 1")
    before = _audit_rows(api, site_id)
    version = _scalar(api, "SELECT version FROM sleeping_sites WHERE id = :i", i=site_id)
    calls = [
        ("get", f"/sites/{site_id}", "coordinator", {}, ("read", "ok")),
        ("get", f"/sites/{site_id}", "partner", {}, ("read", "denied")),
        ("get", f"/sites/{site_id}", "public", {}, ("read", "denied")),
        (
            "get",
            f"/ogc/collections/sleeping_sites/items/{site_id}",
            "streetworker",
            {},
            ("read", "ok"),
        ),
        (
            "patch",
            f"/sites/{site_id}",
            "streetworker",
            {"json": {"properties": {"estimated_people": 1}}},
            ("update", "refused"),
        ),
        (
            "patch",
            f"/sites/{site_id}",
            "streetworker",
            {"json": {"properties": {"estimated_people": 1}}, "if_match": str(version)},
            ("update", "ok"),
        ),
        (
            "patch",
            f"/sites/{site_id}",
            "streetworker",
            {"json": {"properties": {"estimated_people": 1}}, "if_match": str(version)},
            ("update", "stale"),
        ),
    ]
    for method, path, role, kwargs, _ in calls:
        headers = api.headers(role)
        if "if_match" in kwargs:
            headers["If-Match"] = f'"{kwargs.pop("if_match")}"'
        getattr(api.client, method)(path, headers=headers, **kwargs)
        # An anonymous refusal is counted and written per minute (issue 10): write it now.
        api.client.app.state.refusals.flush(api.engine)  # type: ignore[attr-defined]
    after = _audit_rows(api, site_id)
    new = after[len(before) :]
    assert len(new) == len(calls)
    for (method, path, role, _, (action, outcome)), row in zip(calls, new, strict=True):
        actor = "anonymous" if role == "public" else f"api:test-{role}"
        assert row[:4] == (actor, role, action, outcome), (method, path, row)
        assert row[4].startswith(method.upper() + " ")
    listing = api.client.get(
        f"/admin/sites/{site_id}/access?limit=1000", headers=api.headers("admin")
    )
    assert listing.status_code == 200
    actors = {(e["actor"], e["outcome"]) for e in listing.json()["entries"]}
    assert {
        ("api:test-coordinator", "ok"),
        ("api:test-partner", "denied"),
        ("anonymous", "denied"),
    } <= actors
    assert (
        api.client.get(
            f"/admin/sites/{site_id}/access", headers=api.headers("coordinator")
        ).status_code
        == 403
    )


def test_audit_holds_ids_never_coordinates_or_notes(api: Api) -> None:
    api.client.get("/sites?limit=1000", headers=api.headers("coordinator"))
    api.client.get("/visits?limit=1000", headers=api.headers("coordinator"))
    with db.session_scope(api.engine) as s:
        details = s.execute(
            text("SELECT string_agg(detail::text, ' ') FROM audit_log")
        ).scalar_one()
        coords = s.execute(
            text(
                "SELECT ST_X(geom)::numeric(10,4)::text, ST_Y(geom)::numeric(10,4)::text FROM sleeping_sites"
            )
        ).all()
        notes = [
            n for (n,) in s.execute(text("SELECT DISTINCT note FROM visits WHERE note IS NOT NULL"))
        ]
    assert not any(x in details and y in details for x, y in coords)
    assert notes and not any(n in details for n in notes)


def test_app_role_cannot_rewrite_the_audit_log(api: Api) -> None:
    from sqlalchemy.exc import ProgrammingError

    for statement in (
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with (
            pytest.raises(ProgrammingError, match="permission denied"),
            db.session_scope(api.engine) as s,
        ):
            s.execute(text(statement))


# -- privacy ----------------------------------------------------------------------------------


def _site_coordinates(api: Api) -> set[tuple[float, float]]:
    with db.session_scope(api.engine) as s:
        rows = s.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM sleeping_sites")).all()
    # Rounded to 6 decimals (~0.1 m): any rendering of the point carries at least these.
    return {(round(x, 6), round(y, 6)) for x, y in rows}


def _pairs(body: str) -> set[tuple[float, float]]:
    """Every two neighbouring decimal numbers in a text, in both orders (GPX puts lat first)."""
    numbers = [round(float(n), 6) for n in re.findall(r"-?\d{1,3}\.\d{5,}", body)]
    pairs = set(itertools.pairwise(numbers))
    return pairs | {(b, a) for a, b in pairs}


def _as_text(response: Any) -> str:
    if response.headers.get("content-type", "").startswith("application/geopackage"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.gpkg"
            path.write_bytes(response.content)
            frame = pyogrio.read_dataframe(path)
            return frame.to_json(default=str) if len(frame) else ""  # dates stay typed
    return str(response.text)


def test_public_cannot_reach_a_sleeping_site_coordinate(api: Api, joint_now: uuid.UUID) -> None:
    spec = api.client.get("/openapi.json").json()
    site_id = _scalar(api, "SELECT id::text FROM sleeping_sites ORDER BY code LIMIT 1")
    values = {
        "site_id": site_id,
        "feature_id": site_id,
        "patrol_id": str(joint_now),
        "facility_id": site_id,
        "visit_id": site_id,
        "alert_id": site_id,
        "ref": "AAAA-BBBB-CCCC",
        "change_id": site_id,
        "name": "nobody-by-this-name",
        "layer": "facilities",
        "stop_id": site_id,
        "year": "2025",
        "plan_id": site_id,
        "team": "1",
    }
    bodies: list[str] = []
    reached = 0
    for path, ops in spec["paths"].items():
        if "get" not in ops:
            continue
        url = path.format(**values)
        formats = ["geojson", "gpkg", "csv", "gpx"] if path.startswith("/exports/") else [None]
        for fmt in formats:
            response = api.client.get(url, params={"format": fmt} if fmt else None)
            if response.status_code == 200:
                reached += 1
                bodies.append(_as_text(response))
    assert reached >= 10  # the public layer, OGC landing pages, health, docs
    seen = set().union(*(_pairs(b) for b in bodies))
    assert len(seen) > 10  # public facilities and bus stops were read
    assert _site_coordinates(api) & seen == set()
    # The same check finds the coordinates where they are allowed: it has teeth.
    staff = api.client.get("/exports/sleeping_sites?format=gpx", headers=api.headers("coordinator"))
    assert len(_site_coordinates(api) & _pairs(staff.text)) >= 290
    assert "sleeping_sites" not in json.dumps(api.client.get("/ogc/collections").json())


def test_docs_need_no_cdn(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text and "https://" not in page.text
    asset = api.client.get("/static/docs/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000


def test_exports_carry_attribution(api: Api) -> None:
    h = api.headers("coordinator")
    for fmt in ("geojson", "csv", "gpx", "gpkg"):
        response = api.client.get(f"/exports/sleeping_sites?format={fmt}", headers=h)
        assert response.status_code == 200, (fmt, response.text[:200])
        if fmt == "gpkg":
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "export.gpkg"
                path.write_bytes(response.content)
                info = pyogrio.read_info(path)
                frame = pyogrio.read_dataframe(path)
            assert "OpenStreetMap contributors" in json.dumps(
                info.get("layer_metadata") or info.get("dataset_metadata") or {}
            )
            assert len(frame) == _scalar(api, "SELECT count(*) FROM sleeping_sites")
            assert shapely.get_num_geometries(frame.geometry.values).min() == 1
        else:
            assert "OpenStreetMap contributors" in response.text
    visits = api.client.get("/exports/visits?format=csv", headers=h)
    assert visits.status_code == 200 and ",note," not in visits.text.splitlines()[0]
    assert api.client.get("/exports/visits?format=gpx", headers=h).status_code == 422


def test_plans_return_routes_with_gpx(api: Api) -> None:
    body = {
        "mode": "streetwork",
        "day": "2026-01-15",
        "start": "20:00",
        "end": "23:00",
        "teams": 1,
        "seconds": 0.5,
    }
    assert api.client.post("/plans", json=body).status_code == 401
    assert api.client.post("/plans", json=body, headers=api.headers("partner")).status_code == 403
    response = api.client.post("/plans", json=body, headers=api.headers("coordinator"))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["plan"]["type"] == "FeatureCollection" and out["plan"]["features"]
    assert "OpenStreetMap contributors" in out["attribution"]
    ((_team, doc),) = out["gpx"].items()
    parsed = gpxpy.parse(doc)
    stops = [f for f in out["plan"]["features"] if f["geometry"]["type"] == "Point"]
    assert parsed.waypoints and len(parsed.waypoints) >= 1 and stops


def test_maps_are_rendered_in_memory_with_their_assets_and_tiles(api: Api) -> None:
    page = api.client.get("/maps/public.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="pl"' in html and "© OpenStreetMap contributors" in html
    with api.engine.connect() as conn:
        codes = set(conn.execute(text("SELECT code FROM sleeping_sites")).scalars())
    assert not [c for c in codes if c in html]
    assets = re.findall(r'(?:src|href)="(assets/[^"]+)"', html)
    assert assets
    for rel in assets:
        got = api.client.get(f"/maps/{rel}")
        assert got.status_code == 200, rel
        assert not [c for c in codes if c in got.text]
    tiles = list(Path(api.client.app.state.map_tiles.directory).glob("14/*/*.png"))
    z, x, y = tiles[0].parts[-3], tiles[0].parts[-2], tiles[0].stem
    tile = api.client.get(f"/maps/tiles/{z}/{x}/{y}.png")
    assert tile.status_code == 200 and tile.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert api.client.get("/maps/assets/..%2Fsecret").status_code == 404
    assert api.client.get("/maps/tiles/14/1/1.png").status_code == 404
    en = api.client.get("/maps/public.en.html").text
    assert '<html lang="en"' in en
    # The live map is for outreach staff only; the public gets 401, a partner 403.
    assert api.client.get("/maps/live.html").status_code == 401
    assert api.client.get("/maps/live.html", headers=api.headers("partner")).status_code == 403
    live = api.client.get("/maps/live.html", headers=api.headers("streetworker"))
    assert live.status_code == 200 and "DEMO-0001" in live.text


def test_a_refused_token_and_a_refused_map_leave_audit_rows(api: Api) -> None:
    api.client.app.state.refusals.flush(api.engine)  # type: ignore[attr-defined]
    before = _scalar(api, "SELECT count(*) FROM audit_log WHERE outcome = 'denied'")
    bad = api.client.get("/sites", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert api.client.get("/maps/live.html", headers=api.headers("partner")).status_code == 403
    # A refused token is counted and written per minute (issue 10): write the count now.
    api.client.app.state.refusals.flush(api.engine)  # type: ignore[attr-defined]
    rows = _scalar(api, "SELECT count(*) FROM audit_log WHERE outcome = 'denied'")
    assert rows == before + 2
    assert _scalar(api, "SELECT count(*) FROM audit_log WHERE actor LIKE '%invalid-token%'") >= 1


def test_a_nul_character_is_refused_without_echo(api: Api) -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [18.61, 54.36]},
        "properties": {
            "code": "NUL-1",
            "name": "x\\u0000y",
            "category": "inne",
            "access_notes": "SECRET NOTE",
        },
    }
    response = api.client.post(
        "/sites",
        content=json.dumps(feature).replace("\\\\u0000", "\\u0000"),
        headers={**api.headers("coordinator"), "content-type": "application/geo+json"},
    )
    assert response.status_code == 422
    assert "SECRET" not in response.text and "18.61" not in response.text
    assert _scalar(api, "SELECT count(*) FROM sleeping_sites WHERE code = 'NUL-1'") == 0
