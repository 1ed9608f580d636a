"""The free-beds board (issue 12), through the API on a database of its own: every report of free
beds is kept with who and when, the public list and the public map show a new number on the very
next request (the cached map page is rebuilt), bad input stores nothing, and a confidential
place never reaches a public output nor a caller who may not see it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text

from tests.api_support import Api, api_for

PUBLIC_MAPS = ("/maps/public.html", "/maps/public.en.html", "/maps/public.uk.html")


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


def facility(api: Api, *, confidential: bool = False) -> dict[str, Any]:
    """A public facility with a capacity (or the confidential one)."""
    where = "confidential" if confidential else "public AND NOT confidential AND capacity >= 20"
    with api.engine.connect() as conn:
        row = conn.execute(
            text(
                f"SELECT id::text, code, version, capacity FROM facilities WHERE {where} "
                "ORDER BY code LIMIT 1"
            )
        ).one()
    return {"id": row[0], "code": row[1], "version": row[2], "capacity": row[3]}


def history(api: Api, facility_id: str, role: str = "coordinator") -> Any:
    return api.client.get(f"/facilities/{facility_id}/free-beds", headers=api.headers(role))


def put_beds(api: Api, place: dict[str, Any], value: Any, role: str = "ngo") -> Any:
    current = api.client.get(f"/facilities/{place['id']}", headers=api.headers("coordinator"))
    return api.client.put(
        f"/facilities/{place['id']}/free-beds",
        json={"free_beds": value},
        headers=api.headers(role, **{"If-Match": current.headers["ETag"]}),
    )


def public_beds(api: Api, code: str) -> Any:
    features = api.client.get("/public/facilities", params={"limit": 500}).json()["features"]
    return next(f["properties"]["free_beds"] for f in features if f["properties"]["code"] == code)


def test_each_report_is_kept_newest_first_with_who_and_when(api: Api) -> None:
    place = facility(api)
    start = history(api, place["id"]).json()
    for value, role in ((7, "ngo"), (5, "coordinator"), (5, "admin")):
        assert put_beds(api, place, value, role).status_code == 200
    found = history(api, place["id"])
    assert found.status_code == 200
    rows = found.json()
    assert len(rows) == len(start) + 3  # the same number again is a report too
    assert [(r["free_beds"], r["by"]) for r in rows[:3]] == [
        (5, "api:test-admin"),
        (5, "api:test-coordinator"),
        (7, "api:test-ngo"),
    ]
    assert rows[0]["at"] >= rows[1]["at"] >= rows[2]["at"]


def test_a_change_of_other_fields_adds_no_report(api: Api) -> None:
    place = facility(api)
    before = history(api, place["id"]).json()
    current = api.client.get(f"/facilities/{place['id']}", headers=api.headers("coordinator"))
    patched = api.client.patch(
        f"/facilities/{place['id']}",
        json={"type": "Feature", "properties": {"phone": "+48 58 111 22 33"}},
        headers=api.headers("coordinator", **{"If-Match": current.headers["ETag"]}),
    )
    assert patched.status_code == 200, patched.text
    assert history(api, place["id"]).json() == before


def test_the_public_list_and_map_show_the_new_number_on_the_next_request(api: Api) -> None:
    place = facility(api)
    first = {path: api.client.get(path) for path in PUBLIC_MAPS}
    assert all(r.status_code == 200 for r in first.values())
    for value in (place["capacity"] - 1, 0, 11):
        assert put_beds(api, place, value).status_code == 200
        assert public_beds(api, place["code"]) == value
        for path in PUBLIC_MAPS:
            page = api.client.get(path)
            assert page.status_code == 200
            assert f'data-free-beds="{value}"' in page.text, path
            # The cached page was rebuilt: the old tag no longer matches.
            assert page.headers["ETag"] != first[path].headers["ETag"]


@pytest.mark.parametrize(
    ("value", "fault"),
    [(-1, "free_beds"), (10_001, "free_beds"), ("7", "free_beds"), (None, "free_beds")],
)
def test_bad_numbers_name_the_field_and_store_nothing(api: Api, value: Any, fault: str) -> None:
    place = facility(api)
    before = history(api, place["id"]).json()
    shown = public_beds(api, place["code"])
    response = put_beds(api, place, value)
    assert response.status_code == 422
    assert fault in response.text
    assert history(api, place["id"]).json() == before
    assert public_beds(api, place["code"]) == shown


def test_more_than_the_capacity_is_refused(api: Api) -> None:
    place = facility(api)
    before = history(api, place["id"]).json()
    response = put_beds(api, place, place["capacity"] + 1)
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["problems"]} == {"free_beds"}
    assert history(api, place["id"]).json() == before


def test_a_confidential_place_stays_hidden(api: Api) -> None:
    hidden = facility(api, confidential=True)
    assert put_beds(api, hidden, 1, "coordinator").status_code == 200
    assert history(api, hidden["id"]).json()[0]["free_beds"] == 1
    for role in ("partner", "ngo"):
        assert history(api, hidden["id"], role).status_code == 404
    assert history(api, hidden["id"], "public").status_code == 401
    outputs = [api.client.get("/public/facilities", params={"limit": 500}).text]
    outputs += [api.client.get(path).text for path in PUBLIC_MAPS]
    for body in outputs:
        assert hidden["code"] not in body
        assert hidden["id"] not in body


def test_an_unknown_facility_has_no_history(api: Api) -> None:
    response = history(api, "00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
