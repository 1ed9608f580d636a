"""`geo-outreach winter check` end to end: a recorded Open-Meteo forecast, a database of its own
(migrated, demo loaded), and a local SMTP server (aiosmtpd) started by the test.

−12 °C tonight: the decision is printed, the night is recorded with its list and a proposal
stored once, and each coordinator gets one e-mail; a second run changes nothing. +3 °C: no
action, exit 0, and the output says why. The office console lists the night to coordinators only.
"""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import URL, Engine, func, select, text

from api.app import create_app
from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.winter import forecast as fc
from geo_outreach.winter import night
from layers.models import Patrol
from layers.winter import WinterNight, WinterNotice
from tests.api_support import (
    PASSWORD,
    add_accounts,
    free_port,
    login,
    own_database,
    settings_for,
)
from tests.conftest import cli_env, run_cli
from tests.test_winter_forecast import open_meteo, two_days

TZ = ZoneInfo("Europe/Warsaw")
COORDINATORS = {"test-coordinator": "koordynator@mops.example", "koord-2": "k2@mops.example"}


@dataclass
class Inbox:
    """What the local SMTP server received."""

    messages: list[tuple[list[str], email.message.Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(raw)))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def database(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[tuple[URL, URL, Engine]]:
    with own_database(admin_url, app_url, data_dir) as (admin, app):
        engine = db.make_engine(app)
        add_accounts(engine)
        with db.session_scope(engine) as session:
            auth.add_user(
                session, name="koord-2", role="coordinator", password=PASSWORD, actor="test"
            )
            for name, address in COORDINATORS.items():
                auth.set_email(session, name=name, email=address)
            # A streetworker with an address is not a coordinator: no notice, no e-mail.
            auth.set_email(session, name="test-streetworker", email="sw@mops.example")
        try:
            yield admin, app, engine
        finally:
            engine.dispose()


def tonight() -> date:
    return datetime.now(TZ).date()


def forecast_file(tmp_path: Path, day: date, night_min: float, name: str) -> Path:
    doc = open_meteo(two_days(night_min), start=datetime.combine(day, datetime.min.time()))
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def env_for(admin: URL, app: URL, smtp_port: int) -> dict[str, str]:
    env = cli_env(admin, app)
    env.update(
        GEO_OUTREACH_SMTP_HOST="127.0.0.1",
        GEO_OUTREACH_SMTP_PORT=str(smtp_port),
        GEO_OUTREACH_SMTP_FROM="geo-outreach@mops.example",
        GEO_OUTREACH_WINTER_TEAMS="3",
        GEO_OUTREACH_WINTER_SOLVER_SECONDS="1",
    )
    return env


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "nights": conn.scalar(select(func.count()).select_from(WinterNight)) or 0,
            "notices": conn.scalar(select(func.count()).select_from(WinterNotice)) or 0,
            "patrols": conn.scalar(select(func.count()).select_from(Patrol)) or 0,
        }


def test_a_cold_night_is_prepared_once_and_coordinators_are_told(
    database: tuple[URL, URL, Engine], smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    admin, app, engine = database
    inbox, port = smtp
    day = tonight()
    path = forecast_file(tmp_path, day, -12.0, "cold.json")
    before = counts(engine)
    first = run_cli(
        "winter", "check", "--forecast", str(path), "--date", day.isoformat(),
        env=env_for(admin, app, port),
    )  # fmt: skip
    assert first.returncode == 4, first.stdout + first.stderr  # 4: Akcja Zima
    out = first.stdout
    assert f"night of {day:%Y-%m-%d}: akcja-zima — minimum -12.0 °C" in out
    assert "below the Akcja Zima level -10 °C" in out
    assert "proposal for 3 team(s), stored once as planned patrols: PLAN-" in out
    assert "coordinators notified in the app: 2" in out and "e-mails sent: 2" in out

    after = counts(engine)
    assert after["nights"] == before["nights"] + 1
    assert after["notices"] == before["notices"] + 2
    with engine.connect() as conn:
        row = conn.execute(select(WinterNight).where(WinterNight.night == day)).one()
        listed = conn.execute(
            text(
                "SELECT count(*), sum(estimated_people) FROM sleeping_sites "
                "WHERE status = 'active' AND estimated_people > 0"
            )
        ).one()
        first_sites = conn.execute(
            text(
                "SELECT estimated_people, hazards FROM sleeping_sites s "
                "JOIN unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS x(id, n) ON x.id = s.id "
                "ORDER BY x.n"
            ),
            {"ids": row.site_ids},
        ).all()
    # Tonight's list: every active site with people, the most vulnerable first.
    assert len(row.site_ids) == listed[0] and row.people == listed[1]
    vulnerable = [
        p >= 3 or bool({"cold_exposure", "carbon_monoxide"} & set(h)) for p, h in first_sites
    ]
    assert vulnerable == sorted(vulnerable, reverse=True) and row.vulnerable == sum(vulnerable)
    assert row.level == "akcja-zima" and row.min_temperature == -12.0
    assert len(row.patrol_ids) == after["patrols"] - before["patrols"] >= 1
    assert row.source == "file cold.json"

    # One e-mail per coordinator, to their own address, naming no site.
    assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == sorted(COORDINATORS.values())
    for _, message in inbox.messages:
        assert "Akcja Zima" in message["Subject"] and message["From"] == "geo-outreach@mops.example"
        body = message.get_payload(decode=True).decode()
        assert f"{len(row.site_ids)} miejsc" in body and "/winter/nights" in body
        assert "DEMO-" not in body  # no site code or name leaves by e-mail

    # The second run: the night is found, nothing changes, nobody is e-mailed again.
    second = run_cli(
        "winter", "check", "--forecast", str(path), "--date", day.isoformat(),
        env=env_for(admin, app, port),
    )  # fmt: skip
    assert second.returncode == 4, second.stdout + second.stderr
    assert "already decided earlier" in second.stdout and "nothing changed" in second.stdout
    assert counts(engine) == after
    assert len(inbox.messages) == 2

    # The office console: coordinators see the night and their notice; others are refused.
    with TestClient(create_app(settings_for(admin, app))) as client:
        token = login(client, "koord-2")
        nights = client.get("/winter/nights", headers={"Authorization": f"Bearer {token}"})
        assert nights.status_code == 200, nights.text
        shown = next(n for n in nights.json() if n["night"] == day.isoformat())
        assert shown["level"] == "akcja-zima" and len(shown["proposal"]) == len(row.patrol_ids)
        assert shown["notice"]["emailed_at"] is not None and shown["notice"]["email_error"] is None
        assert "position" not in json.dumps(shown) and "lon" not in shown
        for role in ("streetworker", "partner", "ngo", "admin"):
            other = login(client, f"test-{role}")
            refused = client.get("/winter/nights", headers={"Authorization": f"Bearer {other}"})
            assert refused.status_code == 403, role
        assert client.get("/winter/nights").status_code == 401


def test_a_mild_night_does_nothing_and_says_why(
    database: tuple[URL, URL, Engine], smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    admin, app, engine = database
    inbox, port = smtp
    day = tonight() + timedelta(days=1)
    path = forecast_file(tmp_path, day, 3.0, "mild.json")
    before, mails = counts(engine), len(inbox.messages)
    done = run_cli(
        "winter", "check", "--forecast", str(path), "--date", day.isoformat(),
        env=env_for(admin, app, port),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"night of {day:%Y-%m-%d}: no action — minimum 3.0 °C" in done.stdout
    assert "not below 0 °C (cold) nor -10 °C (Akcja Zima): no level reached" in done.stdout
    assert counts(engine) == before and len(inbox.messages) == mails


def test_bad_input_is_named_and_stores_nothing(
    database: tuple[URL, URL, Engine], smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    admin, app, engine = database
    before = counts(engine)
    env = env_for(admin, app, smtp[1])
    missing = run_cli("winter", "check", "--forecast", str(tmp_path / "none.json"), env=env)
    assert (
        missing.returncode == 1 and "--forecast: file none.json: cannot be read" in missing.stderr
    )
    path = forecast_file(tmp_path, tonight(), -12.0, "f.json")
    wrong = run_cli("winter", "check", "--forecast", str(path), "--date", "15.01.2026", env=env)
    assert wrong.returncode == 1 and "--date '15.01.2026' is not a date" in wrong.stderr
    far = run_cli("winter", "check", "--forecast", str(path), "--date", "2020-01-01", env=env)
    assert (
        far.returncode == 1 and "--date: " in far.stderr and "no hours for the night" in far.stderr
    )
    assert counts(engine) == before


def test_an_unreachable_mail_server_is_written_on_the_notice(
    database: tuple[URL, URL, Engine], tmp_path: Path
) -> None:
    """The night is still recorded; the failure is on each notice and in the output."""
    admin, app, engine = database
    day = tonight() + timedelta(days=2)
    settings = settings_for(admin, app, smtp_host="127.0.0.1", smtp_port=free_port())
    data = fc.parse(
        open_meteo(
            two_days(-3.0), start=datetime.combine(day, datetime.min.time()), wind=[30.0] * 48
        ),
        source="file windy.json",
    )
    outcome = night.run_check(
        engine, settings.model_copy(update={"winter_solver_seconds": 0.5}), forecast=data,
        day=day, actor="test",
    )  # fmt: skip
    assert outcome.decision.level == "cold" and outcome.exit_code == 3
    assert outcome.emailed == 0 and len(outcome.email_failures) == 2
    assert any("e-mail failed: koord-2: ConnectionRefusedError" in line for line in outcome.lines())
    with engine.connect() as conn:
        errors = conn.scalars(
            select(WinterNotice.email_error)
            .join(WinterNight, WinterNight.id == WinterNotice.night_id)
            .where(WinterNight.night == day)
        ).all()
    assert len(errors) == 2 and all(e and "ConnectionRefusedError" in e for e in errors)


def test_the_server_checks_daily_at_the_configured_hour(
    database: tuple[URL, URL, Engine], tmp_path: Path
) -> None:
    admin, app, engine = database
    now = datetime(2026, 1, 15, 9, 30, tzinfo=TZ)
    assert night.next_run(now, 14) == datetime(2026, 1, 15, 14, 0, tzinfo=TZ)
    assert night.next_run(now, 6) == datetime(2026, 1, 16, 6, 0, tzinfo=TZ)
    # Across the spring DST change the job still runs at 14:00 local time.
    spring = datetime(2026, 3, 28, 15, 0, tzinfo=TZ)
    assert night.next_run(spring, 14) == datetime(2026, 3, 29, 14, 0, tzinfo=TZ)

    mild = forecast_file(tmp_path, tonight(), 3.0, "served.json")
    settings = settings_for(admin, app, forecast_url=str(mild), winter_check_hour=14)
    outcome = night.scheduled_check(engine, settings)  # what the job runs each day
    assert outcome.action == "none" and "no level reached" in outcome.decision.reason
    with TestClient(create_app(settings)) as client:
        job = client.app.state.winter_job  # type: ignore[attr-defined]
        assert job is not None and not job.done()  # waiting for 14:00 inside the server
    assert job.cancelled() or job.done()
    with TestClient(create_app(settings_for(admin, app))) as client:
        assert client.app.state.winter_job is None  # type: ignore[attr-defined]  # no forecast
