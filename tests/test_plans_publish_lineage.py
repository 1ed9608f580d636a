"""Publishing a re-solved plan replaces the published earlier version of it (issue 12 review):
one night, one set of patrols. The earlier version's patrols still planned are cancelled in the
same transaction (audited, noted "replaced by plan …") and listed in the answer; a plan of
another lineage is left alone; once a patrol of the earlier version has started, publishing
another version is refused (409 naming that plan) and nothing changes. Also the crews' account
list a coordinator may read (GET /plans/crew-accounts) instead of the admin's account list.

Plans run the solver briefly on the real Gdańsk walking network and the demo sites."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text

from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.routing import planner
from tests.api_support import PASSWORD, Api, api_for

SOLVER = 0.3  # seconds per plan: enough for a feasible plan, short for the suite
RETIRED = "sw-retired-lineage"


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as api:
        with db.session_scope(api.engine) as s:
            auth.add_user(s, name=RETIRED, role="streetworker", password=PASSWORD, actor="test")
        yield api


def _scalar(api: Api, sql: str, **params: Any) -> Any:
    with db.session_scope(api.engine) as s:
        return s.execute(text(sql), params).scalar()


def _night() -> dict[str, Any]:
    start = (datetime.now(planner.TZ) + timedelta(hours=1)).replace(second=0, microsecond=0)
    return {
        "mode": "streetwork",
        "day": start.date().isoformat(),
        "start": start.strftime("%H:%M"),
        "end": (start + timedelta(hours=3)).strftime("%H:%M"),
        "teams": 1,
        "seconds": SOLVER,
    }


def _post(api: Api, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.client.post(url, json=body, headers=api.headers("coordinator"))
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def _status(api: Api, patrol_ids: list[str]) -> dict[str, str]:
    with db.session_scope(api.engine) as s:
        rows = s.execute(
            text("SELECT id::text, status FROM patrols WHERE id::text = ANY(:ids)"),
            {"ids": patrol_ids},
        ).all()
    return {str(r[0]): str(r[1]) for r in rows}


def test_a_new_version_replaces_the_published_one_until_it_has_started(api: Api) -> None:
    h = api.headers("coordinator")
    first = _post(api, "/plans", _night())
    second = _post(api, f"/plans/{first['id']}/resolve", {"seed": 2})
    third = _post(api, f"/plans/{second['id']}/resolve", {"seed": 3})
    other = _post(api, "/plans", _night())  # another lineage, the same night
    assert third["parent_id"] == second["id"] and second["parent_id"] == first["id"]

    old = _post(api, f"/plans/{first['id']}/publish")
    old_ids = [p["id"] for p in old["patrols"]]
    assert old["cancelled"] == [] and old["replaced"] == []
    unrelated = [p["id"] for p in _post(api, f"/plans/{other['id']}/publish")["patrols"]]

    # The re-solved version replaces the first: its planned patrols are cancelled, noted and
    # audited; the other lineage's patrols stay planned.
    new = _post(api, f"/plans/{second['id']}/publish")
    new_ids = [p["id"] for p in new["patrols"]]
    assert sorted(new["cancelled"]) == sorted(old_ids) and old_ids
    assert {r["code"] for r in new["replaced"]} == {p["code"] for p in old["patrols"]}
    assert {r["plan_id"] for r in new["replaced"]} == {first["id"]}
    assert set(_status(api, old_ids).values()) == {"cancelled"}
    assert set(_status(api, new_ids + unrelated).values()) == {"planned"}
    note = api.client.get(f"/patrols/{old_ids[0]}", headers=h).json()["properties"]["notes"]
    assert note.endswith(f"replaced by plan {second['id']}")
    audited = _scalar(
        api,
        "SELECT count(*) FROM audit_log WHERE layer = 'patrols' AND action = 'update' "
        "AND detail->>'replaced_by' = :plan AND object_ids @> CAST(:ids AS uuid[])",
        plan=second["id"],
        ids="{" + ",".join(old_ids) + "}",
    )
    assert audited == 1
    # The list says which published version was replaced, and by which.
    listed = {p["id"]: p for p in api.client.get("/plans", headers=h).json()}
    assert listed[first["id"]]["replaced_by"] == second["id"]
    assert listed[second["id"]]["replaced_by"] is None and listed[second["id"]]["published"]
    assert listed[other["id"]]["replaced_by"] is None and listed[third["id"]]["replaced_by"] is None

    # Once the second version's patrol has started, the third version cannot replace it.
    started = api.client.patch(f"/patrols/{new_ids[0]}", json={"status": "in_progress"}, headers=h)
    assert started.status_code == 200, started.text
    refused = api.client.post(f"/plans/{third['id']}/publish", headers=h)
    assert refused.status_code == 409, refused.text
    assert f"plan {second['id']} is already under way" in refused.json()["detail"]
    assert api.client.get(f"/plans/{third['id']}", headers=h).json()["published"] is False
    assert _status(api, new_ids)[new_ids[0]] == "in_progress"
    assert set(_status(api, new_ids[1:]).values()) <= {"planned"}
    made = _scalar(api, "SELECT count(*) FROM patrols WHERE notes LIKE :n", n=f"%{third['id']}%")
    assert made == 0


def test_crew_accounts_for_coordinators(api: Api) -> None:
    """The names a crew may hold, without the admin's account list (and its denied rows)."""
    changed = api.client.patch(
        f"/admin/users/{RETIRED}", json={"active": False}, headers=api.headers("admin")
    )
    assert changed.status_code == 200, changed.text
    denied_before = _scalar(
        api, "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND role = 'coordinator'"
    )
    found = api.client.get("/plans/crew-accounts", headers=api.headers("coordinator"))
    assert found.status_code == 200, found.text
    by_name = {a["name"]: a for a in found.json()}
    assert by_name["test-streetworker"] == {
        "name": "test-streetworker",
        "role": "streetworker",
        "joint_only": False,
    }
    assert by_name["test-coordinator"]["role"] == "coordinator"
    assert by_name["test-partner"]["joint_only"] is True
    assert {"test-admin", "test-ngo", RETIRED}.isdisjoint(by_name)
    assert _scalar(
        api, "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND role = 'coordinator'"
    ) == denied_before  # fmt: skip
    for role in ("streetworker", "partner", "admin", "public"):
        refused = api.client.get("/plans/crew-accounts", headers=api.headers(role))
        assert refused.status_code in (401, 403), role
