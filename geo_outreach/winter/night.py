"""The winter check: tonight's forecast decides; a cold night is recorded once, with tonight's
list, a proposed plan for the configured teams, and a notice to every coordinator (in the app
and by e-mail).

Idempotent per night: the night's row is inserted first (unique per date, ON CONFLICT DO
NOTHING), so a second run — or a second server — finds it and changes nothing except sending
an e-mail that earlier failed. E-mails go out after the commit: a slow or absent mail server
never holds the database transaction, and a failure is written on the notice.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo_outreach.core import db
from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.i18n import Lang, translator
from geo_outreach.core.settings import Settings
from geo_outreach.routing import planner
from geo_outreach.winter import forecast as fc
from layers import audit
from layers.accounts import User
from layers.models import Patrol
from layers.winter import WinterNight, WinterNotice

Action = Literal["none", "recorded", "already"]
# Exit codes of `geo-outreach winter check`: what was decided (errors are 1, usage 2).
EXIT = {None: 0, "cold": 3, "akcja-zima": 4}


def levels_of(settings: Settings) -> fc.Levels:
    return fc.Levels(
        akcja_zima_below=settings.winter_akcja_zima_below,
        cold_below=settings.winter_cold_below,
        cold_wind_kmh=settings.winter_cold_wind_kmh,
        cold_precipitation_mm=settings.winter_cold_precipitation_mm,
    )


@dataclass
class Outcome:
    decision: fc.Decision
    action: Action
    night_id: uuid.UUID | None = None
    sites: int = 0
    vulnerable: int = 0
    people: int = 0
    teams: int = 0
    patrol_codes: list[str] = field(default_factory=list)
    extra_teams: int = 0
    plan_note: str | None = None
    notified: int = 0
    emailed: int = 0
    email_failures: list[str] = field(default_factory=list)  # account: error
    without_email: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT[self.decision.level]

    def lines(self) -> list[str]:
        d = self.decision
        day = f"{d.night.day:%Y-%m-%d}"
        if d.level is None:
            return [f"night of {day}: no action — {d.reason}"]
        head = f"night of {day}: {d.level} — {d.reason}"
        if self.action == "already":
            return [
                head,
                f"  already decided earlier (night {self.night_id}): nothing changed",
                *self._mail_lines(),
            ]
        out = [
            head,
            f"  tonight's list: {self.sites} active site(s) with {self.people} people, "
            f"{self.vulnerable} most vulnerable first",
        ]
        if self.patrol_codes:
            out.append(
                f"  proposal for {self.teams} team(s), stored once as planned patrols: "
                + ", ".join(self.patrol_codes)
            )
        if self.extra_teams:
            out.append(f"  to cover every site: {self.extra_teams} more team(s) needed")
        if self.plan_note:
            out.append(f"  no proposal: {self.plan_note}")
        out.append(f"  coordinators notified in the app: {self.notified}")
        return out + self._mail_lines()

    def _mail_lines(self) -> list[str]:
        out = []
        if self.emailed:
            out.append(f"  e-mails sent: {self.emailed}")
        if self.without_email:
            out.append(f"  coordinators without an e-mail address: {self.without_email}")
        out += [f"  e-mail failed: {f}" for f in self.email_failures]
        return out


@dataclass(frozen=True)
class _Mail:
    notice_id: int
    user: str
    to: str


def _record(
    session: Session,
    decision: fc.Decision,
    *,
    source: str,
    settings: Settings,
    actor: str,
    progress: Callable[[str], None],
) -> Outcome:
    night, level = decision.night, decision.level
    assert level is not None and decision.threshold is not None
    row = session.execute(
        pg_insert(WinterNight)
        .values(
            night=night.day,
            level=level,
            reason=decision.reason,
            source=source,
            min_temperature=night.min_temperature,
            min_apparent=night.min_apparent,
            max_wind_kmh=night.max_wind_kmh,
            precipitation_mm=night.precipitation_mm,
            teams=settings.winter_teams,
            decided_by=actor,
        )
        .on_conflict_do_nothing(index_elements=["night"])
        .returning(WinterNight.id)
    ).scalar_one_or_none()
    if row is None:
        found = session.scalar(select(WinterNight.id).where(WinterNight.night == night.day))
        return Outcome(decision, "already", night_id=found)
    outcome = Outcome(decision, "recorded", night_id=row, teams=settings.winter_teams)
    req = planner.PlanRequest(
        mode="akcja-zima",
        teams=settings.winter_teams,
        start=settings.winter_shift_start,
        end=settings.winter_shift_end,
        day=night.day,
        temperature=night.min_temperature,
        threshold=decision.threshold,  # the level reached is the rule the plan runs under
        seconds=settings.winter_solver_seconds,
    )
    # Tonight's list: every active site with people, the most vulnerable first.
    listed = sorted(
        planner.candidates(session, req), key=lambda c: (not c.vulnerable, -c.people, c.code)
    )
    audit.record(
        session,
        actor=actor,
        role="winter",
        action="read",
        layer="sleeping_sites",
        object_ids=[c.id for c in listed if c.id is not None],
        detail={"purpose": "winter check: tonight's list", "sites": len(listed)},
    )
    outcome.sites = len(listed)
    outcome.vulnerable = sum(c.vulnerable for c in listed)
    outcome.people = sum(c.people for c in listed)
    patrol_ids: list[uuid.UUID] = []
    try:
        with session.begin_nested():  # a failed plan leaves the night and its list recorded
            plan = planner.make_plan(
                session,
                req,
                pbf=settings.pbf,
                cache_dir=settings.cache_dir,
                actor=actor,
                role="winter",
                progress=progress,
            )
            patrol_ids = planner.store_plan(session, plan, actor=actor, role="winter")
        outcome.extra_teams = plan.extra_teams_needed
    except GeoOutreachError as exc:
        outcome.plan_note = str(exc)
    if patrol_ids:
        codes = session.execute(
            select(Patrol.id, Patrol.code).where(Patrol.id.in_(patrol_ids))
        ).all()
        by_id = dict(codes)
        outcome.patrol_codes = [by_id[i] for i in patrol_ids]
    session.execute(
        update(WinterNight)
        .where(WinterNight.id == row)
        .values(
            site_ids=[c.id for c in listed if c.id is not None],
            vulnerable=outcome.vulnerable,
            people=outcome.people,
            patrol_ids=patrol_ids,
            extra_teams_needed=outcome.extra_teams,
            plan_note=outcome.plan_note,
        )
    )
    audit.record(
        session,
        actor=actor,
        role="winter",
        action="create",
        layer="winter_nights",
        object_ids=[row, *patrol_ids],
        detail={"level": level, "sites": outcome.sites, "routes": len(patrol_ids)},
    )
    coordinators = session.scalars(
        select(User.id).where(User.role == "coordinator", User.active.is_(True))
    ).all()
    for user_id in coordinators:
        session.execute(
            pg_insert(WinterNotice)
            .values(night_id=row, user_id=user_id)
            .on_conflict_do_nothing(constraint="uq_winter_notices_night")
        )
    outcome.notified = len(coordinators)
    return outcome


def _unsent(session: Session, night_id: uuid.UUID) -> tuple[list[_Mail], int]:
    rows = session.execute(
        select(WinterNotice.id, User.name, User.email)
        .join(User, User.id == WinterNotice.user_id)
        .where(WinterNotice.night_id == night_id, WinterNotice.emailed_at.is_(None))
        .order_by(User.name)
    ).all()
    mails = [_Mail(r[0], r[1], r[2]) for r in rows if r[2]]
    return mails, sum(1 for r in rows if not r[2])


def _message(outcome: Outcome, settings: Settings, to: str, *, lang: Lang = "pl") -> EmailMessage:
    """The e-mail to one coordinator, in `lang` (texts from the catalogue; Polish by default)."""
    tr = translator(lang)
    _ = tr.gettext
    d = outcome.decision
    night = f"{d.night.day:%Y-%m-%d}"
    if d.level == "akcja-zima":
        level = tr.pgettext("winter level", "Akcja Zima")
    else:
        level = tr.pgettext("winter level", "zimna noc")
    subject = _("%(level)s: noc %(night)s") % {"level": level, "night": night}
    msg = EmailMessage()
    msg["Subject"] = f"[geo-outreach] {subject}"
    msg["From"] = settings.smtp_from
    msg["To"] = to
    # Counts only: an e-mail leaves our systems, so it names no site and no position.
    forecast = _("Prognoza na noc %(night)s: %(reason)s.")
    body = [forecast % {"night": night, "reason": d.reason}, ""]
    if outcome.action == "recorded":
        listed = _(
            "Lista na dziś: %(sites)d miejsc, %(people)d osób, "
            "%(vulnerable)d najbardziej narażonych na początku."
        )
        body.append(
            listed
            % {"sites": outcome.sites, "people": outcome.people, "vulnerable": outcome.vulnerable}
        )
        if outcome.patrol_codes:
            proposal = _("Propozycja tras dla %(teams)d zespołów zapisana jako patrole.")
            body.append(proposal % {"teams": outcome.teams})
        if outcome.extra_teams:
            # The planner's own note, word for word.
            more = _("Do objęcia wszystkich miejsc potrzeba jeszcze %(n)d zespołów.")
            body.append(more % {"n": outcome.extra_teams})
    base = settings.public_url.rstrip("/")
    console = _("Szczegóły w konsoli biura: %(url)s") % {"url": f"{base}/winter/nights"}
    body += ["", console]
    msg.set_content("\n".join(body))
    return msg


def _send(outcome: Outcome, settings: Settings, mails: list[_Mail]) -> dict[int, str | None]:
    """One e-mail per coordinator over one SMTP connection; the error per notice, or None."""
    result: dict[int, str | None] = {}
    if not mails:
        return result
    if not settings.smtp_host:
        return {m.notice_id: "no SMTP server configured (GEO_OUTREACH_SMTP_HOST)" for m in mails}
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            for m in mails:
                try:
                    smtp.send_message(_message(outcome, settings, m.to))
                    result[m.notice_id] = None
                except smtplib.SMTPException as exc:
                    result[m.notice_id] = f"{type(exc).__name__}: {exc}"[:500]
    except (OSError, smtplib.SMTPException) as exc:
        for m in mails:
            result.setdefault(m.notice_id, f"{type(exc).__name__}: {exc}"[:500])
    return result


def run_check(
    engine: Engine,
    settings: Settings,
    *,
    forecast: fc.Forecast,
    day: date,
    actor: str,
    progress: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Decide tonight from the forecast; when a level is reached, record the night once (list,
    proposal, notices) and e-mail the coordinators who were not e-mailed yet."""
    levels = levels_of(settings)
    decision = fc.decide(fc.tonight(forecast, day, levels), levels)
    if decision.level is None:
        return Outcome(decision, "none")
    with db.session_scope(engine) as session:
        outcome = _record(
            session, decision, source=forecast.source, settings=settings, actor=actor,
            progress=progress,
        )  # fmt: skip
        assert outcome.night_id is not None
        mails, outcome.without_email = _unsent(session, outcome.night_id)
    sent = _send(outcome, settings, mails)
    if sent:
        with db.session_scope(engine) as session:
            for notice_id, error in sent.items():
                values: dict[str, object] = (
                    {"emailed_at": datetime.now(UTC), "email_error": None}
                    if error is None
                    else {"email_error": error}
                )
                session.execute(
                    update(WinterNotice).where(WinterNotice.id == notice_id).values(**values)
                )
    by_notice = {m.notice_id: m.user for m in mails}
    outcome.emailed = sum(1 for e in sent.values() if e is None)
    outcome.email_failures = [f"{by_notice[n]}: {e}" for n, e in sent.items() if e is not None]
    return outcome


def next_run(now: datetime, hour: int) -> datetime:
    """The next time the server checks the forecast: today at `hour`, or tomorrow if past."""
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else (at + timedelta(days=1)).replace(hour=hour)


def scheduled_check(engine: Engine, settings: Settings) -> Outcome:
    """What `serve` runs each day at winter_check_hour (the forecast from forecast_url)."""
    if not settings.forecast_url:
        msg = "no forecast configured (GEO_OUTREACH_FORECAST_URL)"
        raise GeoOutreachError(msg)
    data = fc.load(settings.forecast_url, timeout=settings.forecast_timeout_seconds)
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    return run_check(engine, settings, forecast=data, day=today, actor="serve:winter-check")


# -- the office console's view -----------------------------------------------------------------


def nights_for(
    session: Session, *, user_id: uuid.UUID | None, limit: int = 30
) -> list[dict[str, object]]:
    """The recent cold nights, newest first, each with the caller's notice (ids and counts)."""
    nights = session.scalars(
        select(WinterNight).order_by(WinterNight.night.desc()).limit(limit)
    ).all()
    notices = {
        n.night_id: n
        for n in session.scalars(
            select(WinterNotice).where(
                WinterNotice.user_id == user_id, WinterNotice.night_id.in_([x.id for x in nights])
            )
        )
    }
    codes = dict(
        session.execute(
            select(Patrol.id, Patrol.code).where(
                Patrol.id.in_([p for x in nights for p in x.patrol_ids])
            )
        ).all()
    )
    out: list[dict[str, object]] = []
    for x in nights:
        notice = notices.get(x.id)
        out.append(
            {
                "id": str(x.id),
                "night": x.night.isoformat(),
                "level": x.level,
                "reason": x.reason,
                "source": x.source,
                "min_temperature": x.min_temperature,
                "min_apparent": x.min_apparent,
                "sites": len(x.site_ids),
                "vulnerable": x.vulnerable,
                "people": x.people,
                "teams": x.teams,
                "proposal": [{"patrol_id": str(p), "code": codes.get(p)} for p in x.patrol_ids],
                "extra_teams_needed": x.extra_teams_needed,
                "plan_note": x.plan_note,
                "decided_at": x.decided_at.isoformat(),
                "notice": None
                if notice is None
                else {
                    "created_at": notice.created_at.isoformat(),
                    "emailed_at": notice.emailed_at.isoformat() if notice.emailed_at else None,
                    "email_error": notice.email_error,
                },
            }
        )
    return out
