"""Public alerts through the API, on a database of its own: sending (limits, size, honeypot,
refused fields), the reporter's status by code and nothing else, no change to any public output,
the coordinators' triage (matched to a known site and tonight's nearest route; new site, visit
request, close) with every read and decision audited, and the 90-day purge."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL, func, select, text

from api.app import create_app
from geo_outreach.core import db
from geo_outreach.winter import alerts
from layers.models import AuditEntry, Patrol, PatrolStop, PublicAlert
from tests.api_support import Api, api_for, login

PUBLIC_OUTPUTS = (
    "/maps/public.html",
    "/maps/public.en.html",
    "/maps/public.uk.html",
    "/public/facilities",
    "/public/sos-bus/routes",
    "/public/sos-bus/stops",
    "/ogc",
    "/ogc/collections",
    "/ogc/collections/public_facilities/items",
    "/ogc/collections/sos_bus_routes/items",
    "/ogc/collections/sos_bus_stops/items",
)


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


@pytest.fixture(scope="module")
def known_site(api: Api) -> dict[str, Any]:
    """An active demo site with people: the alert is sent ~40 m north of it."""
    with api.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, code, ST_X(geom), ST_Y(geom) FROM sleeping_sites "
                "WHERE status = 'active' AND estimated_people > 0 ORDER BY code LIMIT 1"
            )
        ).one()
    return {"id": str(row[0]), "code": row[1], "lon": row[2], "lat": row[3]}


def near(site: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "lon": round(site["lon"], 6),
        "lat": round(site["lat"] + 0.00036, 6),  # ~40 m north
        "position_source": "pin",
        "description": "Mężczyzna leży na ławce, nie reaguje na wołanie.",
        **extra,
    }


def client_at(api: Api, address: str) -> TestClient:
    """A client whose connection comes from `address` (the limit counts by it)."""
    return TestClient(api.client.app, client=(address, 40000))


def alert_count(api: Api) -> int:
    with api.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(PublicAlert)) or 0


def send(api: Api, body: dict[str, Any], address: str = "198.51.100.7") -> Any:
    with client_at(api, address) as c:
        return c.post("/public/alerts", json=body)


def test_an_alert_is_received_and_its_status_shows_nothing_else(
    api: Api, known_site: dict[str, Any]
) -> None:
    sent = send(api, near(known_site, contact="+48 600 000 000", lang="en"))
    assert sent.status_code == 201, sent.text
    ref = sent.json()["ref"]
    assert sent.json() == {"ref": ref, "status": "received", "status_url": f"/public/alerts/{ref}"}
    status = api.client.get(f"/public/alerts/{ref.lower()}")
    assert status.status_code == 200
    assert status.json() == {"ref": ref, "status": "received", "label": "received"}
    page = api.client.get(f"/public/alerts/{ref}?lang=uk", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "повідомлення прийнято" in page.text and ref in page.text
    for secret in ("ławce", "600 000", f"{known_site['lon']:.4f}", known_site["code"]):
        assert secret not in page.text and secret not in status.text
    unknown = api.client.get("/public/alerts/AAAA-BBBB-CCCC")
    assert unknown.status_code == 404
    assert api.client.get("/public/alerts/not-a-code").status_code == 422


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"name": "Jan Kowalski"}, "name", 422),
        ({"photo": "data:image/png;base64,AAAA"}, "photo", 422),
        ({"lon": None, "lat": None}, "address", 422),
        ({"lat": None}, "lat", 422),
        ({"lon": 21.0, "lat": 52.2}, "position", 422),  # Warsaw: outside the service area
        ({"lon": 54.37, "lat": 18.64}, "position", 422),  # swapped
        ({"seen_at": "2030-01-01T20:00:00+01:00"}, "seen_at", 422),
        ({"seen_at": "2026-01-01T20:00:00"}, "seen_at", 422),  # no offset
        ({"description": "x" * 1001}, "description", 422),
        ({"contact": "y" * 201}, "contact", 422),
    ],
)
def test_bad_alerts_are_refused_naming_the_field(
    api: Api, known_site: dict[str, Any], change: dict[str, Any], field: str, status: int
) -> None:
    before = alert_count(api)
    body = {k: v for k, v in {**near(known_site), **change}.items() if v is not None}
    answer = send(api, body, address=f"203.0.113.{len(field) + 10}")
    assert answer.status_code == status, answer.text
    assert field in answer.text
    assert alert_count(api) == before


def test_size_limit_and_honeypot(api: Api, known_site: dict[str, Any]) -> None:
    before = alert_count(api)
    with client_at(api, "203.0.113.50") as c:
        big = c.post(
            "/public/alerts",
            content=json.dumps(near(known_site, address="a" * 9000)),
            headers={"Content-Type": "application/json"},
        )
        assert big.status_code == 413
        bot = c.post("/public/alerts", json=near(known_site, website="http://spam.example"))
        assert bot.status_code == 201 and "ref" in bot.json()  # answered like anyone
        assert api.client.get(f"/public/alerts/{bot.json()['ref']}").status_code == 404
    assert alert_count(api) == before


def test_an_address_alone_is_enough(api: Api) -> None:
    sent = send(
        api,
        {"position_source": "address", "address": "Gdańsk, ul. Długa 1, brama",
         "description": "Osoba śpi w bramie, jest bardzo zimno."},
        address="203.0.113.60",
    )  # fmt: skip
    assert sent.status_code == 201, sent.text


def test_public_outputs_do_not_change_when_alerts_are_added(
    api: Api, known_site: dict[str, Any]
) -> None:
    def snapshot() -> dict[str, bytes]:
        out = {}
        for path in PUBLIC_OUTPUTS:
            got = api.client.get(path)
            assert got.status_code == 200, (path, got.text[:200])
            # A collection's timeStamp says when it was read, not what it holds.
            out[path] = re.sub(rb'"timeStamp": "[^"]*"', b'"timeStamp": ""', got.content)
        return out

    before = snapshot()
    refs = [
        send(
            api, near(known_site, description=f"Alert numer {i} przy ławce"), f"192.0.2.{i}"
        ).json()["ref"]
        for i in range(1, 6)
    ]
    after = snapshot()
    assert after == before  # byte for byte
    shown = b"".join(after.values()).decode("utf-8", errors="replace")
    for ref in refs:
        assert ref not in shown
    assert "Alert numer" not in shown and "public_alerts" not in shown
    # The page carries the (static) form, which posts to the API.
    page = after["/maps/public.html"].decode()
    assert 'id="go-alert"' in page and 'action="../public/alerts"' in page
    # Partners and every other role never see alerts: no collection, no export, no queue.
    for role in ("partner", "streetworker", "ngo", "admin"):
        headers = api.headers(role)
        assert api.client.get("/alerts", headers=headers).status_code == 403, role
        listing = api.client.get("/ogc/collections", headers=headers).text
        assert "alert" not in listing.lower(), role
    coordinator = api.headers("coordinator")
    assert api.client.get("/exports/public_alerts", headers=coordinator).status_code in (404, 422)
    assert api.client.get("/alerts").status_code == 401


def _tonight_route(api: Api, site: dict[str, Any]) -> uuid.UUID:
    """A planned route of tonight passing ~70 m west of the alert."""
    now = datetime.now(UTC)
    lon, lat = site["lon"] - 0.001, site["lat"] + 0.00036
    with db.session_scope(api.engine) as session:
        patrol = Patrol(
            code=f"TEST-ROUTE-{uuid.uuid4().hex[:6]}", kind="akcja_zima", agencies=["mops"],
            planned_start=now + timedelta(minutes=30), planned_end=now + timedelta(hours=4),
            status="planned", created_by="test", updated_by="test",
            planned_route=f"SRID=4326;LINESTRING({lon} {lat - 0.01}, {lon} {lat + 0.01})",
        )  # fmt: skip
        session.add(patrol)
        session.flush()
        session.add(PatrolStop(patrol_id=patrol.id, seq=1, geom=f"SRID=4326;POINT({lon} {lat})"))
        return patrol.id


def _audit_rows(api: Api, layer: str, object_id: str) -> list[AuditEntry]:
    with db.session_scope(api.engine) as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.layer == layer, AuditEntry.object_ids.contains([uuid.UUID(object_id)])
            )
        ).all()
        session.expunge_all()
        return list(rows)


def test_triage_matches_decides_and_the_reporter_sees_the_outcome(
    api: Api, known_site: dict[str, Any]
) -> None:
    route = _tonight_route(api, known_site)
    ref = send(api, near(known_site, description="Kobieta siedzi skulona, drży."), "192.0.2.77")
    ref = ref.json()["ref"]
    coordinator = api.headers("coordinator")
    queue = api.client.get("/alerts", headers=coordinator)
    assert queue.status_code == 200, queue.text
    alert = next(a for a in queue.json() if a["ref"] == ref)
    assert alert["matches"]["sites"][0]["site_id"] == known_site["id"]
    assert 30 < alert["matches"]["sites"][0]["distance_m"] < 50
    assert alert["matches"]["route"]["patrol_id"] == str(route)
    assert 50 < alert["matches"]["route"]["distance_m"] < 90
    # Every read is audited: the alerts, and the sites the matches show.
    assert _audit_rows(api, "public_alerts", alert["id"])
    assert any(r.detail.get("purpose") == "alert matching"
               for r in _audit_rows(api, "sleeping_sites", known_site["id"]))  # fmt: skip

    # A visit request on the nearest route of tonight: the team is sent.
    decided = api.client.post(
        f"/alerts/{alert['id']}/decision", json={"action": "visit_request"}, headers=coordinator
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["patrol_id"] == str(route) and decided.json()["status"] == "team_sent"
    with api.engine.connect() as conn:
        stops = conn.execute(
            select(PatrolStop.seq, PatrolStop.site_id).where(PatrolStop.patrol_id == route)
        ).all()
    assert sorted(stops)[-1] == (2, uuid.UUID(known_site["id"]))
    assert api.client.get(f"/public/alerts/{ref}").json()["status"] == "team_sent"

    # Closed with an outcome: the reporter sees it, and nothing else.
    closed = api.client.post(
        f"/alerts/{alert['id']}/decision",
        json={"action": "close", "outcome": "person_found"},
        headers=coordinator,
    )
    assert closed.status_code == 200 and closed.json()["status"] == "person_found"
    seen = api.client.get(f"/public/alerts/{ref}?lang=pl", headers={"Accept": "text/html"})
    assert "osoba odnaleziona" in seen.text
    assert "Kobieta" not in seen.text and known_site["code"] not in seen.text
    again = api.client.post(
        f"/alerts/{alert['id']}/decision",
        json={"action": "close", "outcome": "not_found"},
        headers=coordinator,
    )
    assert again.status_code == 409
    decisions = [r for r in _audit_rows(api, "public_alerts", alert["id"]) if r.action == "update"]
    assert [r.detail["decision"] for r in decisions if r.outcome == "ok"] == [
        "visit_request",
        "close",
    ]
    assert any(r.outcome != "ok" for r in decisions)  # the refused third decision too
    assert alert["id"] not in [
        a["id"] for a in api.client.get("/alerts", headers=coordinator).json()
    ]


def test_a_new_site_from_an_alert(api: Api, known_site: dict[str, Any]) -> None:
    body = near(known_site, description="Namiot w zaroślach, ktoś w środku kaszle.")
    body["lat"] = round(known_site["lat"] - 0.004, 6)  # ~450 m south: no known site there
    ref = send(api, body, "192.0.2.88").json()["ref"]
    coordinator = api.headers("coordinator")
    alert = next(
        a for a in api.client.get("/alerts", headers=coordinator).json() if a["ref"] == ref
    )
    missing = api.client.post(
        f"/alerts/{alert['id']}/decision", json={"action": "new_site"}, headers=coordinator
    )
    assert missing.status_code == 422 and "site" in missing.text
    made = api.client.post(
        f"/alerts/{alert['id']}/decision",
        json={"action": "new_site", "site": {"code": "ALERT-1", "name": "Namiot w zaroślach",
                                              "category": "las", "estimated_people": 1}},
        headers=coordinator,
    )  # fmt: skip
    assert made.status_code == 200, made.text
    site_id = made.json()["site_id"]
    with api.engine.connect() as conn:
        where = conn.execute(
            text("SELECT ST_Y(geom), status FROM sleeping_sites WHERE id = :id"), {"id": site_id}
        ).one()
    assert where[0] == pytest.approx(body["lat"]) and where[1] == "active"
    assert any(r.action == "create" for r in _audit_rows(api, "sleeping_sites", site_id))
    refused = api.client.post(
        f"/alerts/{alert['id']}/decision", json={"action": "close"}, headers=coordinator
    )
    assert refused.status_code == 422 and "outcome" in refused.text


def test_a_hundred_alerts_from_one_address_in_a_minute(
    api: Api, known_site: dict[str, Any]
) -> None:
    """The limit refuses the excess with 429 before any database work; others are unaffected."""
    limit = api.settings.alert_rate_per_minute
    before = alert_count(api)
    with client_at(api, "2001:db8:1:2::15") as flood:
        codes = []
        for i in range(100):
            # Other hosts of the same /64 count as the same client.
            codes.append(flood.post("/public/alerts", json=near(known_site)).status_code)
            if i == 50:
                with client_at(api, "2001:db8:1:2::99") as same64:
                    assert same64.post("/public/alerts", json=near(known_site)).status_code == 429
        last = flood.post("/public/alerts", json=near(known_site))
    assert codes[:limit] == [201] * limit and codes[limit:] == [429] * (100 - limit)
    assert int(last.headers["Retry-After"]) >= 1 and "at most" in last.json()["detail"]
    assert alert_count(api) == before + limit
    # Nothing else is held back: another address, the public page, a coordinator.
    assert send(api, near(known_site), "192.0.2.200").status_code == 201
    assert api.client.get("/maps/public.html").status_code == 200
    assert api.client.get("/alerts", headers=api.headers("coordinator")).status_code == 200


def test_positions_are_removed_after_ninety_days(api: Api, known_site: dict[str, Any]) -> None:
    ref = send(api, near(known_site, address="pod mostem"), "192.0.2.99").json()["ref"]
    with db.session_scope(api.engine) as session:
        session.execute(
            text(
                "UPDATE public_alerts SET received_at = now() - interval '91 days' WHERE ref = :r"
            ),
            {"r": ref},
        )
        assert alerts.purge_alert_positions(session, older_than_days=90) >= 1
        assert alerts.purge_alert_positions(session, older_than_days=90) == 0  # once
    with api.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT geom, address, description, contact, purged_at, status "
                "FROM public_alerts WHERE ref = :r"
            ),
            {"r": ref},
        ).one()
    assert row[:4] == (None, None, None, None) and row[4] is not None
    assert api.client.get(f"/public/alerts/{ref}").json()["status"] == row[5]
    newer = api.client.get("/alerts", headers=api.headers("coordinator")).json()
    assert ref not in [a["ref"] for a in newer]  # purged alerts leave the queue


def test_the_form_page_and_status_page_in_every_language(api: Api) -> None:
    for name, word in (("public.html", "Wyślij zgłoszenie"), ("public.en.html", "Send the alert"),
                       ("public.uk.html", "Надіслати повідомлення")):  # fmt: skip
        page = api.client.get(f"/maps/{name}").text
        assert word in page and 'name="website"' in page and 'aria-live="polite"' in page
        assert '<script src="assets/alert-form.' in page
    css = api.client.get("/public/alert-form.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    with TestClient(create_app(api.settings)) as fresh:  # a second server: its own counters
        token = login(fresh, "test-coordinator")
        assert fresh.get("/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
