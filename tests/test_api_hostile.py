"""Hostile input for every write endpoint (issue 10), as property tests: hypothesis puts dates at
the edges, Unicode digits, strings for numbers, booleans for integers, NaN, huge numbers, long
texts and nested values into one field of an otherwise valid body (or into If-Match).

Properties: no answer is a server error; a value of the wrong JSON type is always refused (422);
and a refused request writes no row (row counts and version sums are compared around it)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from sqlalchemy import URL

from api.app import create_app
from geo_outreach.core.settings import Settings
from tests.api_support import Api, api_for, live_server
from tests.test_api_input import NEPTUNE, _one, _rows, send_raw

RUNS = settings(
    max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

UNICODE_DIGITS = ["¹", "²", "³", "٣", "３", "߃", "১", "𝟛", "Ⅲ", "½"]
EDGE_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999+14:00",
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:00:00+01:00",
    "2026-02-30T22:00:00+01:00",
    "2026-01-15T22:00:00",
    "2026-01-15",
    "２０２６-01-15T22:00:00+01:00",
    "2026-01-15T22:00:00+25:00",
    "1767225600",
    "-1",
    "infinity",
    "now",
]


def _unicode_number() -> st.SearchStrategy[str]:
    return st.lists(
        st.sampled_from(UNICODE_DIGITS + list("0123456789")), min_size=1, max_size=6
    ).map("".join)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# Any JSON value a hostile client might send where one value is expected.
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 500, 501, 10_000, 10_001, 2**31, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 2.0, -0.0, 1e308, 18.65, 54.35]),
    st.text(max_size=40),
    _unicode_number(),
    st.sampled_from(EDGE_TIMES),
    st.sampled_from(["", " ", "\x00", "'; DROP TABLE visits; --", "x" * 5000]),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(1, 400).map(_nested),
)


def _kind_ok(kind: str, value: Any) -> bool:
    """Whether a value has the JSON type a field takes (its content may still be refused)."""
    nullable = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        return nullable
    return {
        "int": type(value) is int,
        "number": type(value) in (int, float),
        "str": type(value) is str,
        "bool": type(value) is bool,
        "list": type(value) is list,
    }[kind]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {site} / {facility} are filled with a real id
    role: str
    body: Callable[[], dict[str, Any]]
    fields: dict[tuple[str | int, ...], str]  # where a hostile value may go → its JSON type
    versioned: str | None = None  # the table whose version If-Match carries


def _site() -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(NEPTUNE)},
        "properties": {
            "code": f"H-{uuid.uuid4().hex[:10]}",
            "name": "Pod mostem",
            "category": "inne",
            "estimated_people": 1,
            "hazards": ["fire"],
        },
    }


def _facility() -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(NEPTUNE)},
        "properties": {
            "code": f"H-{uuid.uuid4().hex[:10]}",
            "name": "Punkt",
            "type": "ogrzewalnia",
            "capacity": 10,
            "free_beds": 2,
            "public": False,
        },
    }


GEOMETRY: dict[tuple[str | int, ...], str] = {
    ("geometry", "coordinates"): "list",
    ("geometry", "coordinates", 0): "number",
    ("geometry", "coordinates", 1): "number",
}
ENDPOINTS = [
    Endpoint(
        "POST",
        "/sites",
        "streetworker",
        _site,
        {
            **GEOMETRY,
            ("properties", "code"): "str",
            ("properties", "name"): "str",
            ("properties", "category"): "str",
            ("properties", "estimated_people"): "int",
            ("properties", "hazards"): "list",
            ("properties", "access_notes"): "str?",
        },
    ),
    Endpoint(
        "PATCH",
        "/sites/{site}",
        "coordinator",
        lambda: {"properties": {"estimated_people": 2, "status": "active"}},
        {
            ("properties", "estimated_people"): "int?",
            ("properties", "status"): "str?",
            ("properties", "hazards"): "list?",
        },
        versioned="sleeping_sites",
    ),
    Endpoint(
        "POST",
        "/facilities",
        "coordinator",
        _facility,
        {
            **GEOMETRY,
            ("properties", "type"): "str",
            ("properties", "capacity"): "int?",
            ("properties", "free_beds"): "int?",
            ("properties", "public"): "bool",
            ("properties", "opening_hours"): "list",
            ("properties", "season_from"): "str?",
        },
    ),
    Endpoint(
        "PATCH",
        "/facilities/{facility}",
        "coordinator",
        lambda: {"properties": {"address": "ul. Długa 1"}},
        {
            ("properties", "capacity"): "int?",
            ("properties", "type"): "str?",
            ("properties", "confidential"): "bool?",
        },
        versioned="facilities",
    ),
    Endpoint(
        "PUT",
        "/facilities/{facility}/free-beds",
        "ngo",
        lambda: {"free_beds": 1},
        {("free_beds",): "int"},
        versioned="facilities",
    ),
]


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def ids(api: Api) -> dict[str, str]:
    site = _one(api, "SELECT id::text FROM sleeping_sites ORDER BY code LIMIT 1")[0]
    facility = _one(
        api, "SELECT id::text FROM facilities WHERE NOT confidential AND capacity >= 2 LIMIT 1"
    )[0]
    return {"site": site, "facility": facility}


def _visit_body(api: Api, ids: dict[str, str]) -> dict[str, Any]:
    return {
        "site_id": ids["site"],
        "visited_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "people_met": 2,
        "women_met": 1,
        "help_given": ["hot_meal"],
        "referral_facility_type": "noclegownia",
        "note": "hostile test",
    }


VISIT_FIELDS: dict[tuple[str | int, ...], str] = {
    ("site_id",): "str",
    ("visited_at",): "str",
    ("people_met",): "int",
    ("women_met",): "int",
    ("people_referred",): "int",
    ("help_given",): "list",
    ("referral_facility_type",): "str?",
    ("on_request_of_services",): "bool",
    ("note",): "str?",
    ("note_sensitive",): "bool",
}


def _put(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The body with `value` at `path` (a deep copy: the base stays as it was)."""
    out = copy.deepcopy(body)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _call(api: Api, method: str, url: str, role: str, body: Any, if_match: bytes | None) -> Any:
    headers = {k: v.encode() for k, v in api.headers(role).items()}
    if if_match is not None:
        headers["If-Match"] = if_match
    return send_raw(api, method, url, body=body, headers=headers)


def _version(api: Api, table: str, object_id: str) -> int:
    version: int = _one(api, f"SELECT version FROM {table} WHERE id = :i", i=object_id)[0]
    return version


def _check(api: Api, response: Any, before: tuple[int, ...], *, must_refuse: bool) -> None:
    assert response.status_code < 500, response.text[:300]
    if must_refuse:
        assert response.status_code == 422, response.text[:300]
    if response.status_code >= 400:
        assert _rows(api) == before, "a refused request wrote a row"


def test_the_base_bodies_are_accepted(api: Api, ids: dict[str, str]) -> None:
    """The control: without a hostile value each body is stored, so refusals below are real."""
    for ep in ENDPOINTS:
        object_id = ids["site"] if "{site}" in ep.path else ids["facility"]
        tag = f'"{_version(api, ep.versioned, object_id)}"'.encode() if ep.versioned else None
        response = _call(api, ep.method, ep.path.format(**ids), ep.role, ep.body(), tag)
        assert response.status_code in (200, 201), (ep.path, response.text)
    visit = _call(api, "POST", "/visits", "streetworker", _visit_body(api, ids), None)
    assert visit.status_code == 201, visit.text


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda ep: f"{ep.method} {ep.path}")
@RUNS
@given(data=st.data())
def test_hostile_field_values(api: Api, ids: dict[str, str], ep: Endpoint, data: Any) -> None:
    path = data.draw(st.sampled_from(sorted(ep.fields, key=str)), label="field")
    value = data.draw(HOSTILE, label="value")
    body = _put(ep.body(), path, value)
    object_id = ids["site"] if "{site}" in ep.path else ids["facility"]
    tag = f'"{_version(api, ep.versioned, object_id)}"'.encode() if ep.versioned else None
    before = _rows(api)
    response = _call(api, ep.method, ep.path.format(**ids), ep.role, body, tag)
    _check(api, response, before, must_refuse=not _kind_ok(ep.fields[path], value))


@RUNS
@given(data=st.data())
def test_hostile_visit_values(api: Api, ids: dict[str, str], data: Any) -> None:
    path = data.draw(st.sampled_from(sorted(VISIT_FIELDS, key=str)), label="field")
    value = data.draw(HOSTILE, label="value")
    body = _put(_visit_body(api, ids), path, value)
    before = _rows(api)
    response = _call(api, "POST", "/visits", "streetworker", body, None)
    wrong = not _kind_ok(VISIT_FIELDS[path], value)
    if path == ("visited_at",) and isinstance(value, str) and value in EDGE_TIMES:
        wrong = True  # every edge time above is out of range, malformed or without an offset
    _check(api, response, before, must_refuse=wrong)


OFFSETS = st.sampled_from([timezone(timedelta(hours=h)) for h in (-12, -1, 0, 1, 2, 14)])


@RUNS
@given(
    at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=OFFSETS,
    )
    | st.datetimes(
        min_value=datetime(1999, 12, 30), max_value=datetime(2000, 1, 2), timezones=OFFSETS
    )
    | st.integers(-30, 30).map(lambda m: datetime.now(UTC) + timedelta(minutes=m))
)
def test_visit_times_are_kept_only_in_range(api: Api, ids: dict[str, str], at: datetime) -> None:
    body = {**_visit_body(api, ids), "visited_at": at.isoformat()}
    before = _rows(api)
    response = _call(api, "POST", "/visits", "streetworker", body, None)
    latest = datetime.now(UTC) + timedelta(minutes=api.settings.clock_skew_minutes)
    if abs(at - latest) < timedelta(minutes=1):
        _check(api, response, before, must_refuse=False)  # too close to the clock to say
        return
    in_range = datetime(2000, 1, 1, tzinfo=UTC) <= at <= latest
    assert response.status_code == (201 if in_range else 422), (at, response.text[:300])
    if not in_range:
        assert _rows(api) == before


HEADER_VALUES = st.one_of(
    _unicode_number().map(lambda s: f'"{s}"'),
    st.sampled_from(['W/"1"', '"', '""', "*", '"1", "2"', '"-1"', '"1e3"', '" 1"', "9" * 40]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=20),
)


@pytest.mark.parametrize("ep", [e for e in ENDPOINTS if e.versioned], ids=lambda e: e.path)
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(tag=HEADER_VALUES)
def test_hostile_if_match(api: Api, ids: dict[str, str], ep: Endpoint, tag: str) -> None:
    before = _rows(api)
    # Bytes as a client sends them: latin-1 where it can (header bytes are read as latin-1).
    raw = tag.encode("latin-1") if max(map(ord, tag), default=0) < 256 else tag.encode()
    response = _call(api, ep.method, ep.path.format(**ids), ep.role, ep.body(), raw)
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        assert _rows(api) == before


@pytest.mark.parametrize(
    ("what", "raw"),
    [
        ("nested 100 000 deep", b'{"free_beds": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("nested objects", b'{"free_beds": ' + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"}"),
        ("a huge integer", b'{"free_beds": 1' + b"0" * 4000 + b"}"),
        ("a long text", b'{"free_beds": "' + b"9" * 200_000 + b'"}'),
        ("over the size limit", b'{"free_beds": 1, "x": "' + b"x" * 400_000 + b'"}'),
        ("many keys", json.dumps({f"k{i}": i for i in range(20_000)}).encode()),
        ("not JSON", b"\xff\xfe{free_beds: 1"),
        ("NaN", b'{"free_beds": NaN}'),
    ],
)
def test_huge_and_nested_bodies(api: Api, ids: dict[str, str], what: str, raw: bytes) -> None:
    before = _rows(api)
    url = f"/facilities/{ids['facility']}/free-beds"
    headers = {
        **api.headers("ngo"),
        "If-Match": f'"{_version(api, "facilities", ids["facility"])}"',
        "Content-Type": "application/json",
    }
    response = api.client.put(url, content=raw, headers=headers)
    assert 400 <= response.status_code < 500, (what, response.status_code)
    assert _rows(api) == before


# -- schemathesis, stateful: call sequences per role ----------------------------------------

ROLES = ("public", "streetworker", "coordinator", "partner", "ngo", "admin")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SCENARIOS = 25
# Logging out (or a lost-phone revocation) would end the role's session for the rest of the run;
# a plan runs the solver for seconds per call (tests/test_api.py covers POST /plans).
SCHEMA = (
    schemathesis.openapi.from_dict(create_app(Settings()).openapi())
    .exclude(operation_id=["logout", "end_browser_session", "create_plan", "map_planner"])
    .exclude(func=lambda ctx: "revoke" in (ctx.operation.definition.raw.get("operationId") or ""))
)


@pytest.fixture(scope="module")
def base(api: Api) -> Iterator[str]:
    with live_server(api) as url:
        yield url


@pytest.mark.parametrize("role", ROLES)
def test_stateful_sequences_per_role(api: Api, base: str, role: str) -> None:
    """Chains of calls linked by the ids they return (links inferred from the schema and from
    Location headers), as each role: no 5xx, and a refused write leaves every count as it was."""
    headers = api.headers(role)
    calls: list[tuple[str, str, int]] = []

    class AsRole(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base, "headers": headers, "timeout": 30}

        def before_call(self, case: Any) -> None:
            self.rows_before = _rows(api)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            calls.append((case.method.upper(), case.path, response.status_code))
            if case.method.upper() in WRITES and response.status_code >= 400:
                assert _rows(api) == self.rows_before, f"{case.method} {case.path} wrote a row"

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    AsRole.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
    assert len(calls) >= SCENARIOS, "each scenario makes calls"
    if role == "public":
        # Chains start from what creates ids, none of which the public may call: it is enough
        # that nothing got through to staff data (the refused-write rows are checked above).
        assert all(code >= 400 for m, p, code in calls if p.startswith(("/sites", "/visits")))
        return
    assert any(code < 300 for _, _, code in calls), (
        "some calls get through (valid ids chained)",
        sorted({(m, p, c) for m, p, c in calls})[:40],
    )
