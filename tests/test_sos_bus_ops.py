"""The SOS bus in the office console (issue 12), through the API on a database of its own: the
duty log (201, 409 for a second evening, 422 naming the field, nothing stored), the yearly report's
SOS figures moved by exactly a duty's numbers, the timetable and its changes, and the season that
recurs every year: public stops carry their next departure in December of any year."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import URL, create_engine, text

from api.routes import layers as layer_routes
from geo_outreach.core import migrate
from maps import common
from maps.model import BusRoute, BusStop
from tests.api_support import Api, api_for

TZ = ZoneInfo("Europe/Warsaw")
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


def duties_stored(api: Api) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM sos_bus_duties")).scalar_one())


def post_duty(api: Api, body: dict[str, Any], role: str = "coordinator") -> Any:
    return api.client.post("/sos-bus/duties", json=body, headers=api.headers(role))


def fault_fields(response: Any) -> set[str]:
    """The fields a 422 names (pydantic's loc, or the domain's problems)."""
    body = response.json()
    if "problems" in body:
        return {p["field"] for p in body["problems"]}
    return {str(e["loc"][-1]) for e in body["detail"]}


def sos_figures(api: Api, year: int) -> dict[str, int]:
    """The report's SOS bus row values for `year` ("–", no log that year, read as 0)."""
    report = api.client.get(f"/reports/{year}.json", headers=api.headers("coordinator"))
    assert report.status_code == 200, report.text
    table = next(t for t in report.json()["tables"] if t["key"] == "04_sos_bus")
    column = table["header"].index(str(year)) - 1
    return {row["code"]: row["values"][column] or 0 for row in table["rows"]}


# -- the duty log --------------------------------------------------------------------------------


def test_a_duty_is_logged_once_and_listed(api: Api) -> None:
    day = TODAY - timedelta(days=3)
    body = {"duty_date": day.isoformat(), "uses": 14, "meals": 12, "clothes": 3,
            "rides_to_warming_centre": 2, "notes": "mróz, dużo osób przy dworcu"}  # fmt: skip
    created = post_duty(api, body)
    assert created.status_code == 201, created.text
    duty = created.json()
    assert {k: duty[k] for k in body} == body
    assert duty["route"] and duty["created_by"] == "api:test-coordinator"
    again = post_duty(api, {**body, "uses": 1})
    assert again.status_code == 409
    assert day.isoformat() in again.json()["detail"]
    listed = api.client.get(
        "/sos-bus/duties", params={"year": day.year}, headers=api.headers("coordinator")
    )
    assert listed.status_code == 200
    mine = [d for d in listed.json() if d["duty_date"] == day.isoformat()]
    assert [d["uses"] for d in mine] == [14]  # the refused second entry changed nothing


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"uses": -1}, "uses"),
        ({"meals": -5}, "meals"),
        ({"rides_to_warming_centre": -1}, "rides_to_warming_centre"),
        ({"duty_date": "1999-12-31"}, "duty_date"),
        ({"duty_date": (TODAY - timedelta(days=800)).isoformat()}, "duty_date"),
        ({"duty_date": (TODAY + timedelta(days=5)).isoformat()}, "duty_date"),
        ({"duty_date": "31.12.2026"}, "duty_date"),
        ({"route": "no such bus"}, "route"),
        ({"tips": 3}, "tips"),
    ],
)
def test_bad_duties_name_the_field_and_store_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    before = duties_stored(api)
    body = {"duty_date": (TODAY - timedelta(days=4)).isoformat(), "uses": 3, **change}
    response = post_duty(api, body)
    assert response.status_code == 422, response.text
    assert field in fault_fields(response)
    assert duties_stored(api) == before


def test_only_coordinators_keep_the_log(api: Api) -> None:
    body = {"duty_date": (TODAY - timedelta(days=5)).isoformat(), "uses": 1}
    for role in ("streetworker", "partner", "ngo", "admin"):
        assert post_duty(api, body, role).status_code == 403
        listed = api.client.get("/sos-bus/duties", headers=api.headers(role))
        assert listed.status_code == 403
    assert post_duty(api, body, "public").status_code == 401


def test_a_duty_raises_the_reports_sos_figures_by_exactly_its_numbers(api: Api) -> None:
    day = TODAY - timedelta(days=6)
    before = sos_figures(api, day.year)
    numbers = {"uses": 17, "meals": 15, "clothes": 4, "rides_to_warming_centre": 3}
    created = post_duty(api, {"duty_date": day.isoformat(), **numbers})
    assert created.status_code == 201, created.text
    after = sos_figures(api, day.year)
    assert after["duties"] == before["duties"] + 1
    for name, value in numbers.items():
        assert after[name] == before[name] + value, name


# -- the timetable -------------------------------------------------------------------------------


def timetable(api: Api) -> list[dict[str, Any]]:
    response = api.client.get("/sos-bus/stops", headers=api.headers("coordinator"))
    assert response.status_code == 200
    stops: list[dict[str, Any]] = response.json()
    return stops


def test_timetable_lists_every_stop_in_order_with_the_yearly_season(api: Api) -> None:
    stops = timetable(api)
    assert len(stops) >= 3
    assert [s["seq"] for s in stops] == sorted(s["seq"] for s in stops)
    # The demo's season recurs every winter: 1 November to 31 March, on the route.
    assert {(s["route_season_from"], s["route_season_to"]) for s in stops} == {("11-01", "03-31")}
    assert all(s["arrive_time"] <= s["depart_time"] for s in stops)


def test_a_stop_change_is_kept_and_shown_to_the_public(api: Api) -> None:
    stop = timetable(api)[-1]
    change = {"arrive_time": "22:10", "depart_time": "22:35", "season_from": "12-01",
              "season_to": "02-28"}  # fmt: skip
    response = api.client.patch(
        f"/sos-bus/stops/{stop['id']}", json=change, headers=api.headers("coordinator")
    )
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in change} == change
    public = api.client.get("/public/sos-bus/stops").json()["features"]
    shown = next(f for f in public if f["id"] == stop["id"])["properties"]
    assert shown["depart_time"].startswith("22:35")
    assert (shown["season_from"], shown["season_to"]) == ("12-01", "02-28")
    # Back to the route's season: null for both.
    back = api.client.patch(
        f"/sos-bus/stops/{stop['id']}",
        json={"season_from": None, "season_to": None},
        headers=api.headers("coordinator"),
    )
    assert back.status_code == 200
    assert back.json()["season_from"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"depart_time": "25:00"}, "depart_time"),
        ({"arrive_time": "evening"}, "arrive_time"),
        ({"arrive_time": None}, "arrive_time"),
        ({"season_from": "13-01", "season_to": "03-31"}, "season_from"),
        ({"season_from": "11-01", "season_to": "02-30"}, "season_to"),
        ({"season_from": "11-01"}, "season_to"),
        ({"platform": "B"}, "platform"),
    ],
)
def test_bad_stop_changes_name_the_field_and_store_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    before = timetable(api)
    response = api.client.patch(
        f"/sos-bus/stops/{before[0]['id']}", json=change, headers=api.headers("coordinator")
    )
    assert response.status_code == 422, response.text
    assert field in response.text
    assert timetable(api) == before


def test_an_unknown_stop_is_not_found(api: Api) -> None:
    response = api.client.patch(
        "/sos-bus/stops/00000000-0000-0000-0000-000000000000",
        json={"depart_time": "20:00"},
        headers=api.headers("coordinator"),
    )
    assert response.status_code == 404


# -- the season recurs every year ----------------------------------------------------------------


def public_stops_at(api: Api, monkeypatch: pytest.MonkeyPatch, now: datetime) -> list[Any]:
    monkeypatch.setattr(layer_routes, "bus_clock", lambda zone: now.astimezone(ZoneInfo(zone)))
    response = api.client.get("/public/sos-bus/stops")
    assert response.status_code == 200
    return [f["properties"] for f in response.json()["features"]]


@pytest.mark.parametrize("year", [2026, 2031, 2042])
def test_in_december_of_any_year_public_stops_show_a_next_departure(
    api: Api, monkeypatch: pytest.MonkeyPatch, year: int
) -> None:
    now = datetime(year, 12, 10, 17, 0, tzinfo=TZ)
    stops = public_stops_at(api, monkeypatch, now)
    assert stops
    for stop in stops:
        at = datetime.fromisoformat(stop["next_departure"])
        assert at.utcoffset() == timedelta(hours=1)  # Warsaw winter time
        assert now < at < now + timedelta(days=1)
        assert at.strftime("%H:%M:%S") == stop["depart_time"][:8]


def test_out_of_season_the_next_departure_is_the_first_winter_evening(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2031, 7, 1, 12, 0, tzinfo=TZ)
    for stop in public_stops_at(api, monkeypatch, now):
        at = datetime.fromisoformat(stop["next_departure"])
        assert at.date() == date(2031, 11, 1)


def test_next_departure_wraps_the_new_year_and_follows_the_stop() -> None:
    stop = BusStop(1, "Dworzec", 18.6, 54.37, datetime(2031, 1, 1, 23, 40).time(),
                   datetime(2031, 1, 1, 0, 20).time())  # fmt: skip
    route = BusRoute("Linia SOS", "11-01", "03-31", [], [stop])
    # 00:20 belongs to the evening before: the night of 31 March runs to 1 April 00:20 …
    night = datetime(2031, 3, 31, 23, 0, tzinfo=TZ)
    assert common.next_departure(route, stop, night) == datetime(2031, 4, 1, 0, 20, tzinfo=TZ)
    # … and the next one is on the first evening of the next season.
    after = datetime(2031, 4, 1, 1, 0, tzinfo=TZ)
    assert common.next_departure(route, stop, after) == datetime(2031, 11, 2, 0, 20, tzinfo=TZ)
    # New Year's Eve: the season goes on into January.
    eve = datetime(2031, 12, 31, 23, 0, tzinfo=TZ)
    assert common.next_departure(route, stop, eve) == datetime(2032, 1, 1, 0, 20, tzinfo=TZ)
    # A stop's own season replaces the route's.
    short = BusStop(2, "Plac", 18.6, 54.37, stop.arrive, stop.depart, "12-01", "12-31")
    assert common.next_departure(route, short, after) == datetime(2031, 12, 2, 0, 20, tzinfo=TZ)


# -- the migration -------------------------------------------------------------------------------


def test_migration_turns_dated_seasons_into_yearly_ones(scratch: tuple[URL, URL]) -> None:
    admin, _ = scratch
    migrate.upgrade(admin, "0008")
    engine = create_engine(admin)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sos_bus_routes (name, season_start, season_end, geom, "
                    "created_by, updated_by) VALUES ('R', '2025-11-01', '2026-03-31', "
                    "ST_GeomFromText('LINESTRING(18.6 54.4, 18.7 54.4)', 4326), 't', 't')"
                )
            )
        migrate.upgrade(admin, "0009")
        with engine.connect() as conn:
            season = conn.execute(text("SELECT season_from, season_to FROM sos_bus_routes")).one()
        assert tuple(season) == ("11-01", "03-31")
        migrate.downgrade(admin, "0008")
        with engine.connect() as conn:
            start, end = conn.execute(
                text("SELECT season_start, season_end FROM sos_bus_routes")
            ).one()
        assert (start.month, start.day, end.month, end.day) == (11, 1, 3, 31)
        assert end.year == start.year + 1
    finally:
        engine.dispose()
