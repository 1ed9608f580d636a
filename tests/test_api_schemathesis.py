"""The OpenAPI spec drives two tests: a role × endpoint matrix (every operation, every role,
against the access rules written out below), and schemathesis for each role with no 5xx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import URL, text

from api.app import create_app
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.settings import Settings
from tests.api_support import PASSWORD, Api, api_for, live_server, login

ROLES = ("public", "streetworker", "coordinator", "partner", "ngo", "admin")
# Who may call what, as the issue states it (independent of geo_outreach.policy).
EVERYONE = set(ROLES)
NAMED = EVERYONE - {"public"}
STAFF = {"streetworker", "coordinator"}
OPEN = {"login", "landing", "conformance", "collections", "health", "health_live", "health_ready"}
RULES: list[tuple[set[str], set[str]]] = [
    (EVERYONE, OPEN),
    (NAMED, {"me", "logout"}),
    (
        STAFF,
        {"list_sites", "get_site", "create_site", "replace_site", "patch_site"}
        | {"list_visits", "get_visit", "create_visit"}
        | {"ogc_collection_sleeping_sites", "ogc_items_sleeping_sites", "ogc_item_sleeping_sites"},
    ),
    (STAFF | {"partner"}, {"list_patrols", "get_patrol", "patrol_sites"}),
    (STAFF | {"partner"}, {"ogc_collection_patrols", "ogc_items_patrols", "ogc_item_patrols"}),
    (NAMED, {"list_facilities", "get_facility", "list_areas", "export_areas"}),
    (NAMED, {"ogc_collection_facilities", "ogc_items_facilities", "ogc_item_facilities"}),
    (NAMED, {"ogc_collection_areas", "ogc_items_areas", "ogc_item_areas"}),
    ({"coordinator", "admin"}, {"create_facility", "replace_facility", "patch_facility"}),
    ({"coordinator", "admin", "ngo"}, {"set_free_beds"}),
    ({"coordinator", "admin"}, {"export_facilities"}),
    ({"coordinator"}, {"export_sleeping_sites", "export_visits", "export_patrols"}),
    ({"admin"}, {"site_access", "site_access_by_code"}),
    ({"admin"}, {"redact_visit", "redact_site"}),
    ({"coordinator"}, {"create_plan"}),
    # Issue 12: stored plans (re-solve, compare, publish, sheet, GPX, map) for coordinators.
    (
        {"coordinator"},
        {"list_plans", "compare_plans", "get_plan", "resolve_plan", "publish_plan"}
        | {"plan_sheet", "plan_team_gpx", "plan_map", "crew_accounts"},
    ),
    (STAFF, {"map_live"}),
    ({"coordinator"}, {"map_planner"}),
    (EVERYONE, {"map_public", "map_public_en", "map_public_uk"}),
    (
        EVERYONE,
        {"public_facilities", "public_sos_bus_routes", "public_sos_bus_stops"}
        | {"export_public_facilities", "export_sos_bus_routes", "export_sos_bus_stops"},
    ),
    # Issue 11: the field app, offline replays and the review of site changes made offline.
    (EVERYONE, {"session_state"}),
    (NAMED, {"end_browser_session"}),
    (STAFF | {"partner"}, {"data"}),
    (STAFF, {"put_visit", "put_site_change", "list_site_changes"}),
    ({"coordinator"}, {"accept_site_change", "reject_site_change"}),
    ({"admin"}, {"revoke_user"}),
    # Issue 13: file imports (dry run first).
    ({"coordinator", "admin"}, {"import_upload"}),
    # Issue 14: anyone alerts the teams and reads a status by code; coordinators triage.
    (EVERYONE, {"send_alert", "alert_status"}),
    ({"coordinator"}, {"alert_queue", "alert_one", "alert_decision", "winter_nights"}),
    # Issue 12: the SOS bus's duty log and timetable, free-beds history, the yearly report
    # (internal by default: a partner may ask only for ?audience=partner).
    ({"coordinator"}, {"add_sos_bus_duty", "list_sos_bus_duties"}),
    ({"coordinator"}, {"list_sos_bus_stops", "patch_sos_bus_stop"}),
    (NAMED, {"free_beds_history"}),
    ({"coordinator", "admin"}, {"report_json", "report_html"}),
    # Issue 12: patrols in the office console (a partner reads the progress of its own joint
    # patrol while it runs), who is on a patrol, and the accounts.
    ({"coordinator"}, {"update_patrol", "put_patrol_track"}),
    (STAFF | {"partner"}, {"patrol_progress"}),
    ({"coordinator", "admin"}, {"patrol_members", "set_patrol_members"}),
    ({"admin"}, {"list_accounts", "create_account", "update_account"}),
    (
        EVERYONE,
        {
            f"ogc_{kind}_{c}"
            for kind in ("collection", "items", "item")
            for c in ("public_facilities", "sos_bus_routes", "sos_bus_stops")
        },
    ),
]
ALLOWED: dict[str, set[str]] = {op: roles for roles, ops in RULES for op in ops}


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        yield api


@pytest.fixture(scope="module")
def ids(api: Api) -> dict[str, str]:
    """Real ids for path parameters; the partner is on a joint patrol happening now."""
    now = datetime.now(UTC)
    with db.session_scope(api.engine) as s:
        patrol = s.execute(
            text(
                "INSERT INTO patrols (code, kind, agencies, planned_start, planned_end, "
                "created_by, updated_by) VALUES ('MATRIX-NOW', 'joint', '{straz_miejska}', "
                ":a, :b, 't', 't') RETURNING id::text"
            ),
            {"a": now - timedelta(hours=1), "b": now + timedelta(hours=3)},
        ).scalar_one()
        auth.assign_patrol(s, name="test-partner", patrol_code="MATRIX-NOW", actor="test")
        one = {
            table: s.execute(text(f"SELECT id::text FROM {table} ORDER BY 1 LIMIT 1")).scalar_one()
            for table in ("sleeping_sites", "facilities", "visits", "areas", "sos_bus_stops")
        }
    return {
        "site_id": one["sleeping_sites"],
        "facility_id": one["facilities"],
        "visit_id": one["visits"],
        "patrol_id": patrol,
        "alert_id": str(uuid.uuid4()),  # none stored: a 404 for whoever may ask
        "ref": "AAAA-BBBB-CCCC",
        "change_id": str(uuid.uuid4()),
        "name": "nobody-by-this-name",
        "layer": "facilities",
        "stop_id": one["sos_bus_stops"],
        "year": "2025",
        "plan_id": str(uuid.uuid4()),  # none stored: a 404 for whoever may ask
        "team": "1",
    }


def _feature_id(path: str, ids: dict[str, str], api: Api) -> str:
    collection = path.split("/")[3]
    table = {"public_facilities": "facilities"}.get(collection, collection)
    with db.session_scope(api.engine) as s:
        where = "WHERE public AND NOT confidential" if collection == "public_facilities" else ""
        if collection == "patrols":
            return ids["patrol_id"]
        return str(
            s.execute(text(f"SELECT id::text FROM {table} {where} ORDER BY 1 LIMIT 1")).scalar_one()
        )


def test_role_endpoint_matrix(api: Api, ids: dict[str, str]) -> None:
    spec = api.client.get("/openapi.json").json()
    operations = [
        (method, path, op["operationId"])
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]
    assert {op for _, _, op in operations} == set(ALLOWED), "every operation needs a rule"
    # Fresh tokens: the logout call revokes the one it carries.
    tokens = {r: login(api.client, f"test-{r}", PASSWORD) for r in ROLES if r != "public"}
    checked = 0
    for method, path, op in operations:
        values = {
            **ids,
            "feature_id": _feature_id(path, ids, api) if "{feature_id}" in path else "",
        }
        url = path.format(**values)
        for role in ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role != "public" else {}
            kwargs: dict[str, Any] = {"headers": headers}
            if method in ("post", "put", "patch"):
                kwargs["json"] = {}
            response = api.client.request(method.upper(), url, **kwargs)
            if role in ALLOWED[op]:
                assert response.status_code not in (401, 403), (op, role, response.text[:200])
            else:
                expected = 401 if role == "public" else 403
                assert response.status_code == expected, (op, role, response.status_code)
            checked += 1
            ends_token = op in ("logout", "end_browser_session")
            if ends_token and role != "public" and response.status_code == 204:
                tokens[role] = login(api.client, f"test-{role}", PASSWORD)
    assert checked == len(operations) * len(ROLES)


@pytest.fixture(scope="module")
def base(api: Api, ids: dict[str, str]) -> Iterator[str]:
    with live_server(api) as url:
        yield url


# The spec as the app publishes it (building the app connects to nothing); calls go to the
# live server, so each request runs in a real process against the real database.
# Logging out would revoke the role's token for the rest of the run; a plan runs the solver
# for up to 30 s per call (tests/test_api.py covers POST /plans).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    operation_id=["logout", "end_browser_session", "revoke_user", "create_plan", "map_planner"]
)


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, api: Api, base: str) -> None:
    # Each generated request is sent once per role: one generation, six callers.
    for role in ROLES:
        response = case.call(base_url=base, headers=api.headers(role), timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
