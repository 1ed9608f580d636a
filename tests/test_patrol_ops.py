"""Patrols in the office console (issue 12), through the API on a database of its own: status
changes along the allowed transitions only, the first visit starting a planned patrol (from the
API and from the field app's sync), the actual GPX track checked before it is stored, progress
(planned stops against visits, contacts) with the partner rule, and the patrol's members.
Every refusal names its field and stores nothing; every change leaves an audit row."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text

from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.errors import ValidationFailed
from geo_outreach.routing import patrols as patrol_ops
from tests.api_support import PASSWORD, Api, api_for

GPX = {"Content-Type": "application/gpx+xml"}
# Gdańsk, Śródmieście: from the Main Station along Wały Jagiellońskie to Długi Targ.
GDANSK = [(54.35586, 18.64433), (54.35401, 18.64690), (54.35175, 18.64905), (54.34870, 18.65300)]
KRAKOW = [(50.06143, 19.93658), (50.06050, 19.93790), (50.05960, 19.93900)]
GDYNIA = (54.51890, 18.53050)  # inside the configured box, outside Gdańsk's and Sopot's areas


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


def scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


def make_patrol(
    api: Api, *, kind: str = "joint", stops: int = 3, hours: float = 1, length: float = 3
) -> str:
    """A planned patrol that started `hours` ago and lasts `length` hours, with `stops` site
    stops (active sites in code order)."""
    now = datetime.now(UTC)
    start = now - timedelta(hours=hours)
    code = f"T-{uuid.uuid4().hex[:8]}"
    with db.session_scope(api.engine) as s:
        patrol_id = s.execute(
            text(
                "INSERT INTO patrols (code, kind, agencies, planned_start, planned_end, "
                "created_by, updated_by) VALUES (:code, :kind, '{mops}', :a, :b, 't', 't') "
                "RETURNING id::text"
            ),
            {"code": code, "kind": kind, "a": start, "b": start + timedelta(hours=length)},
        ).scalar_one()
        s.execute(
            text(
                "INSERT INTO patrol_stops (patrol_id, seq, site_id, eta, geom) "
                "SELECT :p, row_number() OVER (ORDER BY code), id, :eta, geom FROM "
                "(SELECT id, code, geom FROM sleeping_sites WHERE status = 'active' "
                " ORDER BY code LIMIT :n) x"
            ),
            {"p": patrol_id, "n": stops, "eta": now},
        )
    return str(patrol_id)


def status_of(api: Api, patrol_id: str) -> str:
    return str(scalar(api, "SELECT status FROM patrols WHERE id = :p", p=patrol_id))


def fault(response: Any, field: str) -> str:
    """The fault a 422 names for `field` (ours: `problems`; pydantic's: `detail` with loc)."""
    assert response.status_code == 422, response.text
    body = response.json()
    for p in body.get("problems", []):
        if p["field"] == field:
            return str(p["fault"])
    for d in body["detail"] if isinstance(body["detail"], list) else []:
        if field in [str(x) for x in d["loc"]]:
            return str(d["msg"])
    raise AssertionError(f"{field} not named in {body}")


def audit_rows(api: Api, patrol_id: str, action: str) -> list[tuple[Any, ...]]:
    with db.session_scope(api.engine) as s:
        return list(
            s.execute(
                text(
                    "SELECT outcome, detail FROM audit_log WHERE layer = 'patrols' "
                    "AND action = :a AND object_ids @> ARRAY[CAST(:p AS uuid)] ORDER BY id"
                ),
                {"a": action, "p": patrol_id},
            ).all()
        )


def patch(api: Api, patrol_id: str, body: dict[str, Any], role: str = "coordinator") -> Any:
    return api.client.patch(f"/patrols/{patrol_id}", json=body, headers=api.headers(role))


# -- status ---------------------------------------------------------------------------------


def test_status_moves_only_along_the_allowed_transitions(api: Api) -> None:
    patrol = make_patrol(api)
    refused = patch(api, patrol, {"status": "done"})
    assert "planned patrol cannot become done" in fault(refused, "status")
    assert status_of(api, patrol) == "planned"
    started = patch(api, patrol, {"status": "in_progress"})
    assert started.status_code == 200, started.text
    assert started.json()["properties"]["status"] == "in_progress"
    assert started.headers["content-type"].startswith("application/geo+json")
    assert "cannot become planned" in fault(patch(api, patrol, {"status": "planned"}), "status")
    assert patch(api, patrol, {"status": "done"}).json()["properties"]["status"] == "done"
    assert "final" in fault(patch(api, patrol, {"status": "cancelled"}), "status")
    assert status_of(api, patrol) == "done"
    # The same status again is no change, not a fault (a console may send it twice).
    assert patch(api, patrol, {"status": "done"}).status_code == 200
    other = make_patrol(api)
    assert patch(api, other, {"status": "cancelled"}).json()["properties"]["status"] == "cancelled"
    assert "final" in fault(patch(api, other, {"status": "in_progress"}), "status")
    running = make_patrol(api)
    assert patch(api, running, {"status": "in_progress"}).status_code == 200
    assert patch(api, running, {"status": "cancelled"}).status_code == 200
    # Each change and each refusal is in the audit log, with the status it set.
    rows = audit_rows(api, patrol, "update")
    assert [r[0] for r in rows].count("refused") == 3
    assert [r[1].get("status") for r in rows if r[0] == "ok"][:2] == ["in_progress", "done"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "finished"}, "status"),
        ({"status": None}, "status"),
        ({"agencies": ["mops", "army"]}, "agencies"),
        ({"agencies": None}, "agencies"),
        ({"notes": "x" * 4001}, "notes"),
        ({"planned_start": "2026-12-01T20:00:00+01:00"}, "planned_start"),
    ],
)
def test_bad_patrol_changes_name_the_field_and_store_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    patrol = make_patrol(api)
    before = scalar(api, "SELECT row_to_json(p)::text FROM patrols p WHERE id = :p", p=patrol)
    assert fault(patch(api, patrol, body), field)
    after = scalar(api, "SELECT row_to_json(p)::text FROM patrols p WHERE id = :p", p=patrol)
    assert after == before


def test_agencies_and_notes_are_changed(api: Api) -> None:
    patrol = make_patrol(api)
    body = {"agencies": ["mops", "policja", "mops"], "notes": "Wspólnie z KMP, radiowóz 12."}
    done = patch(api, patrol, body)
    assert done.status_code == 200, done.text
    props = done.json()["properties"]
    assert props["agencies"] == ["mops", "policja"]
    assert props["notes"] == body["notes"]
    assert patch(api, patrol, {"notes": None}).json()["properties"]["notes"] is None
    by = scalar(api, "SELECT updated_by FROM patrols WHERE id = :p", p=patrol)
    assert by == "api:test-coordinator"
    assert patch(api, patrol, {"status": "done"}, role="streetworker").status_code == 403
    assert patch(api, patrol, {"status": "done"}, role="public").status_code == 401
    unknown = patch(api, str(uuid.uuid4()), {"notes": "x"})
    assert unknown.status_code == 404


# -- the first visit starts a planned patrol ---------------------------------------------------


def visit(patrol_id: str, site_id: str | None, people: int) -> dict[str, Any]:
    return {
        "patrol_id": patrol_id,
        "site_id": site_id,
        "visited_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "people_met": people,
    }


def first_site(api: Api, patrol_id: str, seq: int = 1) -> str:
    found = scalar(
        api, "SELECT site_id::text FROM patrol_stops WHERE patrol_id = :p AND seq = :s",
        p=patrol_id, s=seq,
    )  # fmt: skip
    return str(found)


def test_the_first_visit_starts_a_planned_patrol(api: Api) -> None:
    h = api.headers("streetworker")
    by_api = make_patrol(api, kind="streetwork")
    posted = api.client.post("/visits", json=visit(by_api, first_site(api, by_api), 2), headers=h)
    assert posted.status_code == 201, posted.text
    assert status_of(api, by_api) == "in_progress"
    # The field app's sync stores a visit under the phone's id: the same rule applies.
    by_phone = make_patrol(api, kind="streetwork")
    url = f"/visits/{uuid.uuid4()}"
    put = api.client.put(url, json=visit(by_phone, first_site(api, by_phone), 1), headers=h)
    assert put.status_code == 201, put.text
    assert status_of(api, by_phone) == "in_progress"
    assert scalar(api, "SELECT updated_by FROM patrols WHERE id = :p", p=by_phone) == (
        "api:test-streetworker"
    )
    # Only a planned patrol is started: a done one stays done.
    finished = make_patrol(api, kind="streetwork")
    for step in ("in_progress", "done"):
        assert patch(api, finished, {"status": step}).status_code == 200
    late = api.client.post("/visits", json=visit(finished, None, 1), headers=h)
    assert late.status_code == 201
    assert status_of(api, finished) == "done"
    # A refused visit starts nothing.
    waiting = make_patrol(api, kind="streetwork")
    bad = {**visit(waiting, first_site(api, waiting), 1), "women_met": 3}
    assert api.client.post("/visits", json=bad, headers=h).status_code == 422
    assert status_of(api, waiting) == "planned"


# -- the actual track -------------------------------------------------------------------------


def gpx(points: list[tuple[float, float]], *, start: datetime | None = None, step: int = 60,
        times: list[datetime | None] | None = None) -> str:  # fmt: skip
    start = start or datetime.now(UTC) - timedelta(hours=1)
    stamps = times or [start + timedelta(seconds=step * i) for i in range(len(points))]
    pts = "".join(
        f'<trkpt lat="{lat}" lon="{lon}">'
        + (f"<time>{t.strftime('%Y-%m-%dT%H:%M:%SZ')}</time>" if t else "")
        + "</trkpt>"
        for (lat, lon), t in zip(points, stamps, strict=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><name>patrol</name><trkseg>{pts}</trkseg></trk></gpx>"
    )


def put_track(api: Api, patrol_id: str, body: str | bytes, **headers: str) -> Any:
    return api.client.put(
        f"/patrols/{patrol_id}/track",
        content=body,
        headers=api.headers("coordinator", **(headers or GPX)),
    )


def test_a_good_track_is_stored_as_the_actual_track(api: Api) -> None:
    patrol = make_patrol(api)
    stored = put_track(api, patrol, gpx(GDANSK))
    assert stored.status_code == 200, stored.text
    assert stored.json()["id"] == patrol
    kind, points, length = (
        scalar(api, f"SELECT {q} FROM patrols WHERE id = :p", p=patrol)
        for q in (
            "GeometryType(actual_track)",
            "ST_NPoints(actual_track)",
            "ST_Length(actual_track::geography)",
        )
    )
    assert (kind, points) == ("MULTILINESTRING", len(GDANSK))
    assert 900 < length < 1500  # the station to Długi Targ, about a kilometre
    first = scalar(
        api, "SELECT ST_AsText(ST_StartPoint(ST_GeometryN(actual_track, 1))) FROM patrols "
        "WHERE id = :p", p=patrol,
    )  # fmt: skip
    assert first == f"POINT({GDANSK[0][1]} {GDANSK[0][0]})"
    # Sent again (text/xml this time), it replaces the first one.
    again = put_track(api, patrol, gpx(GDANSK[:2]), **{"Content-Type": "text/xml"})
    assert again.status_code == 200
    assert scalar(api, "SELECT ST_NPoints(actual_track) FROM patrols WHERE id = :p", p=patrol) == 2
    assert [r[0] for r in audit_rows(api, patrol, "update")] == ["ok", "ok"]


def _now() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (gpx(KRAKOW), GPX, "point 1 at 50.06143,19.93658 is outside the service area"),
        (gpx([*GDANSK, GDYNIA]), GPX, "point 5 at 54.51890,18.53050 is outside the service area"),
        (
            gpx(GDANSK, times=[_now(), _now() + timedelta(minutes=2), _now() + timedelta(minutes=1), _now() + timedelta(minutes=3)]),
            GPX,
            "time of point 3 is before point 2",
        ),
        (gpx(GDANSK, times=[_now(), _now(), None, _now()]), GPX, "point 3 at 54.35175,18.64905 has no time"),
        (gpx(GDANSK[:1]), GPX, "needs at least 2 track points"),
        (gpx(GDANSK, start=datetime.now(UTC) + timedelta(days=2)), GPX, "is in the future"),
        (gpx(GDANSK, start=_now() - timedelta(hours=40), step=10 * 3600), GPX, "spans more than"),
        ("<gpx><trk><trkseg><trkpt lat='54.35' lon='18.64'>", GPX, "not a GPX document"),
        ("this is not XML at all", GPX, "not a GPX document"),
        ('<gpx><trk><trkseg><trkpt lat="north" lon="18.6"/></trkseg></trk></gpx>', GPX, "not a GPX document"),
        (
            '<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            "<gpx><trk><trkseg></trkseg></trk></gpx>",
            GPX,
            "document type declaration",
        ),
        (b"\xff\xfe<gpx/>", GPX, "not UTF-8"),
        ("", GPX, "the body is empty"),
        (gpx(GDANSK), {"Content-Type": "application/json"}, "send the GPX document as"),
    ],
    ids=[
        "krakow", "gdynia-point", "times-out-of-order", "time-missing", "one-point", "future",
        "longer-than-a-shift", "cut-off-xml", "not-xml", "bad-latitude", "doctype", "not-utf8",
        "empty", "json-content-type",
    ],
)  # fmt: skip
def test_a_bad_track_names_its_fault_and_stores_nothing(
    api: Api, body: str | bytes, headers: dict[str, str], expected: str
) -> None:
    patrol = make_patrol(api)
    assert put_track(api, patrol, gpx(GDANSK)).status_code == 200
    before = scalar(api, "SELECT ST_AsEWKT(actual_track) FROM patrols WHERE id = :p", p=patrol)
    refused = put_track(api, patrol, body, **headers)
    assert expected in fault(refused, "track")
    after = scalar(api, "SELECT ST_AsEWKT(actual_track) FROM patrols WHERE id = :p", p=patrol)
    assert after == before
    assert audit_rows(api, patrol, "update")[-1][0] == "refused"


def test_a_track_needs_a_coordinator_and_a_patrol(api: Api) -> None:
    patrol = make_patrol(api)
    for role, code in (("public", 401), ("streetworker", 403), ("partner", 403), ("admin", 403)):
        sent = api.client.put(
            f"/patrols/{patrol}/track", content=gpx(GDANSK), headers=api.headers(role, **GPX)
        )
        assert sent.status_code == code, role
    assert put_track(api, str(uuid.uuid4()), gpx(GDANSK)).status_code == 404
    assert scalar(api, "SELECT actual_track IS NULL FROM patrols WHERE id = :p", p=patrol)


def registered() -> dict[str, str]:
    """The process-wide namespace prefixes of ElementTree (register_namespace writes there)."""
    return dict(vars(ET)["_namespace_map"])


def _ns_gpx(points: list[tuple[float, float]], *, version: str, extra: str = "") -> str:
    """A track in the GPX `version` namespace ("" for none), with `extra` on the root."""
    doc = gpx(points)
    xmlns = f'xmlns="http://www.topografix.com/GPX/{version}"' if version else ""
    root = f'<gpx version="{version.replace("/", ".") or "1.1"}" creator="test" {xmlns} {extra}>'
    return doc.replace(doc[doc.index("<gpx ") : doc.index("<trk>")], root)


@pytest.mark.parametrize("version", ["1/1", "1/0", ""], ids=["gpx-1.1", "gpx-1.0", "no-namespace"])
def test_a_track_is_read_in_any_gpx_namespace_and_registers_none(api: Api, version: str) -> None:
    patrol = make_patrol(api)
    # Real GPS loggers declare extension namespaces; the upload picks none of them process-wide.
    extra = " ".join(f'xmlns:ext{i}="urn:test:ext{i}"' for i in range(50))
    before = registered()
    stored = put_track(api, patrol, _ns_gpx(GDANSK, version=version, extra=extra))
    assert stored.status_code == 200, stored.text
    assert scalar(api, "SELECT ST_NPoints(actual_track) FROM patrols WHERE id = :p", p=patrol) == 4
    assert registered() == before


def test_an_xmlns_bomb_is_refused_and_registers_nothing(api: Api) -> None:
    patrol = make_patrol(api)
    before = registered()
    for body in (
        b"<gpx>" + b" xmlns" * 40_000,
        b"<gpx" + b"".join(b' xmlns:b%d="urn:b%d"' % (i, i) for i in range(8_000)) + b" xmlns:b1",
    ):
        assert "not a GPX document" in fault(put_track(api, patrol, body), "track")
    assert registered() == before
    assert scalar(api, "SELECT actual_track IS NULL FROM patrols WHERE id = :p", p=patrol)
    assert [r[0] for r in audit_rows(api, patrol, "update")] == ["refused", "refused"]


def test_a_track_has_at_most_max_track_points() -> None:
    at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    point = f'<trkpt lat="54.355" lon="18.644"><time>{at}</time></trkpt>'
    body = f"<gpx><trk><trkseg>{point * (patrol_ops.MAX_TRACK_POINTS + 1)}</trkseg></trk></gpx>"
    with pytest.raises(ValidationFailed) as refused:
        patrol_ops.parse_track(body.encode())
    assert [(p.field, p.fault) for p in refused.value.problems] == [
        ("track", f"more than {patrol_ops.MAX_TRACK_POINTS} track points")
    ]
    ok = f"<gpx><trk><trkseg>{point * patrol_ops.MAX_TRACK_POINTS}</trkseg></trk></gpx>"
    assert len(patrol_ops.parse_track(ok.encode()).points) == patrol_ops.MAX_TRACK_POINTS


def test_track_times_stay_near_the_planned_window(api: Api) -> None:
    now = datetime.now(UTC)
    patrol = make_patrol(api, hours=1, length=3)  # planned from an hour ago
    early = now - timedelta(hours=1) - patrol_ops.TRACK_EARLY - timedelta(minutes=5)
    assert "before the patrol's planned start" in fault(
        put_track(api, patrol, gpx(GDANSK, start=early)), "track"
    )
    ended = make_patrol(api, hours=10, length=2)  # ended 8 h ago: a track from an hour ago is late
    assert "after the patrol's planned end" in fault(put_track(api, ended, gpx(GDANSK)), "track")
    # A patrol that ran a few hours late still gets its track.
    late = make_patrol(api, hours=5, length=2)
    assert put_track(api, late, gpx(GDANSK)).status_code == 200
    assert scalar(api, "SELECT actual_track IS NULL FROM patrols WHERE id = :p", p=patrol)
    assert scalar(api, "SELECT actual_track IS NULL FROM patrols WHERE id = :p", p=ended)


def test_a_cancelled_patrol_takes_no_track(api: Api) -> None:
    patrol = make_patrol(api)
    assert patch(api, patrol, {"status": "cancelled"}).status_code == 200
    assert "cancelled" in fault(put_track(api, patrol, gpx(GDANSK)), "status")
    assert scalar(api, "SELECT actual_track IS NULL FROM patrols WHERE id = :p", p=patrol)
    assert audit_rows(api, patrol, "update")[-1][0] == "refused"


# -- progress ---------------------------------------------------------------------------------


def progress(api: Api, patrol_id: str, role: str = "coordinator") -> Any:
    return api.client.get(f"/patrols/{patrol_id}/progress", headers=api.headers(role))


def test_progress_counts_the_visits_against_the_planned_stops(api: Api) -> None:
    patrol = make_patrol(api, stops=3)
    empty = progress(api, patrol)
    assert empty.status_code == 200, empty.text
    assert (empty.json()["visited"], empty.json()["total"], empty.json()["contacts"]) == (0, 3, 0)
    h = api.headers("streetworker")
    for seq, people in ((1, 2), (3, 3)):
        sent = api.client.post("/visits", json=visit(patrol, first_site(api, patrol, seq), people), headers=h)  # fmt: skip
        assert sent.status_code == 201, sent.text
    # A second visit at a visited stop counts its people, not another stop.
    again = api.client.post("/visits", json=visit(patrol, first_site(api, patrol, 1), 1), headers=h)
    assert again.status_code == 201
    assert put_track(api, patrol, gpx(GDANSK)).status_code == 200
    body = progress(api, patrol).json()
    assert body["patrol_id"] == patrol and body["status"] == "in_progress"
    assert (body["visited"], body["total"], body["contacts"], body["has_track"]) == (2, 3, 6, True)
    assert [s["seq"] for s in body["stops"]] == [1, 2, 3]
    assert [s["visited"] for s in body["stops"]] == [True, False, True]
    assert body["stops"][1]["visited_at"] is None and body["stops"][0]["visited_at"]
    with db.session_scope(api.engine) as s:
        found = s.execute(
            text(
                "SELECT id::text, code FROM sleeping_sites WHERE id IN "
                "(SELECT site_id FROM patrol_stops WHERE patrol_id = :p)"
            ),
            {"p": patrol},
        ).all()
    codes = {r[0]: r[1] for r in found}
    assert all(codes[s["site_id"]] == s["code"] and s["name"] for s in body["stops"])
    # The read is audited with the sites it showed.
    with db.session_scope(api.engine) as s:
        ids = s.execute(
            text(
                "SELECT object_ids::text[] FROM audit_log WHERE layer = 'patrols' AND action = "
                "'read' AND detail->>'endpoint' = 'GET /patrols/{patrol_id}/progress' "
                "AND object_ids[1] = CAST(:p AS uuid) ORDER BY id DESC LIMIT 1"
            ),
            {"p": patrol},
        ).scalar_one()
    assert set(ids) == {patrol, *codes}


def test_progress_for_partners_only_on_their_joint_patrol_during_it(api: Api) -> None:
    joint = make_patrol(api, kind="joint")
    with db.session_scope(api.engine) as s:
        code = s.execute(text("SELECT code FROM patrols WHERE id = :p"), {"p": joint}).scalar_one()
        auth.assign_patrol(s, name="test-partner", patrol_code=code, actor="test")
    sent = api.client.post(
        "/visits", json=visit(joint, first_site(api, joint), 2), headers=api.headers("streetworker")
    )
    assert sent.status_code == 201, sent.text
    mine = progress(api, joint, role="partner")
    assert mine.status_code == 200, mine.text
    assert all(s["name"] is None and s["code"] for s in mine.json()["stops"])  # safety fields
    # A partner may not read visits: which stop was done, but not when, nor how many people.
    assert [s["visited"] for s in mine.json()["stops"]] == [True, False, False]
    assert all(s["visited_at"] is None for s in mine.json()["stops"])
    assert mine.json()["contacts"] is None and mine.json()["visited"] == 1
    staff = progress(api, joint, role="streetworker").json()
    assert staff["contacts"] == 2 and staff["stops"][0]["visited_at"]
    assert progress(api, make_patrol(api), role="partner").status_code == 403  # not on it
    earlier = make_patrol(api, kind="joint", hours=30, length=2)  # ended 28 h ago
    with db.session_scope(api.engine) as s:
        code = s.execute(
            text("SELECT code FROM patrols WHERE id = :p"), {"p": earlier}
        ).scalar_one()
        auth.assign_patrol(s, name="test-partner", patrol_code=code, actor="test")
    refused = progress(api, earlier, role="partner")
    assert refused.status_code == 403 and "during" in refused.json()["detail"]
    assert progress(api, joint, role="streetworker").status_code == 200
    assert progress(api, joint, role="ngo").status_code == 403
    assert progress(api, joint, role="admin").status_code == 403
    assert progress(api, joint, role="public").status_code == 401
    assert progress(api, str(uuid.uuid4())).status_code == 404


# -- members ----------------------------------------------------------------------------------


def members(api: Api, patrol_id: str) -> list[str]:
    with db.session_scope(api.engine) as s:
        return list(
            s.execute(
                text(
                    "SELECT u.name FROM patrol_members m JOIN users u ON u.id = m.user_id "
                    "WHERE m.patrol_id = :p ORDER BY u.name"
                ),
                {"p": patrol_id},
            ).scalars()
        )


def put_members(api: Api, patrol_id: str, names: list[str], role: str = "coordinator") -> Any:
    return api.client.put(
        f"/patrols/{patrol_id}/members", json={"members": names}, headers=api.headers(role)
    )


@pytest.fixture(scope="module")
def gone(api: Api) -> str:
    """A streetworker account that was switched off."""
    with db.session_scope(api.engine) as s:
        user = auth.add_user(s, name="sw-gone", role="streetworker", password=PASSWORD, actor="t")
        user.active = False
    return "sw-gone"


def test_members_are_set_and_listed(api: Api) -> None:
    joint = make_patrol(api, kind="joint")
    team = ["test-streetworker", "test-partner", "test-coordinator"]
    done = put_members(api, joint, team)
    assert done.status_code == 200, done.text
    assert [m["name"] for m in done.json()["members"]] == sorted(team)
    partner = next(m for m in done.json()["members"] if m["name"] == "test-partner")
    assert (partner["role"], partner["agency"]) == ("partner", "straz_miejska")
    assert members(api, joint) == sorted(team)
    # The whole team each time: the partner leaves, by the admin this time.
    assert put_members(api, joint, ["test-streetworker"], role="admin").status_code == 200
    assert members(api, joint) == ["test-streetworker"]
    listed = api.client.get(f"/patrols/{joint}/members", headers=api.headers("admin"))
    assert [m["name"] for m in listed.json()["members"]] == ["test-streetworker"]
    with db.session_scope(api.engine) as s:
        rows = (
            s.execute(
                text(
                    "SELECT detail FROM audit_log WHERE layer = 'patrols' AND action = 'update' "
                    "AND detail->>'endpoint' = 'PUT /patrols/{patrol_id}/members' "
                    "AND object_ids = ARRAY[CAST(:p AS uuid)] ORDER BY id"
                ),
                {"p": joint},
            )
            .scalars()
            .all()
        )
    assert [(r["added"], r["removed"]) for r in rows] == [
        (team, []),
        ([], ["test-coordinator", "test-partner"]),
    ]


@pytest.mark.parametrize(
    ("names", "kind", "expected"),
    [
        (["test-streetworker", "nobody-here"], "joint", "no account 'nobody-here'"),
        (["sw-gone"], "joint", "'sw-gone' is deactivated"),
        (["test-admin"], "joint", "only streetworker, coordinator, partner"),
        (["test-ngo"], "joint", "only streetworker, coordinator, partner"),
        (["test-partner"], "streetwork", "partners join joint patrols only"),
    ],
)
def test_bad_members_are_named_and_nothing_changes(
    api: Api, gone: str, names: list[str], kind: str, expected: str
) -> None:
    patrol = make_patrol(api, kind=kind)
    assert put_members(api, patrol, ["test-coordinator"]).status_code == 200
    assert expected in fault(put_members(api, patrol, names), "members")
    assert members(api, patrol) == ["test-coordinator"]


def test_members_need_a_coordinator_or_an_admin(api: Api) -> None:
    patrol = make_patrol(api)
    for role, code in (("public", 401), ("streetworker", 403), ("partner", 403), ("ngo", 403)):
        assert put_members(api, patrol, ["test-partner"], role=role).status_code == code, role
    assert members(api, patrol) == []
    bad = api.client.put(
        f"/patrols/{patrol}/members", json={"members": "test-partner"}, headers=api.headers("admin")
    )
    assert fault(bad, "members")
    assert put_members(api, str(uuid.uuid4()), ["test-partner"]).status_code == 404
