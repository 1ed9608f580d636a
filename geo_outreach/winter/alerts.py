"""Public alerts: someone who may be freezing, reported by a passer-by, and their triage.

The public sends where (a pin, the phone's position, or an address as typed), when, what was
seen and, if they like, a contact; never a name or a photo (the schema refuses any other
field). They get an unguessable reference code, and by it only the status. Coordinators see
each alert matched to known sites within `alert_match_metres` and to the nearest of tonight's
routes, and turn it into a new site, a visit request on a route, or close it with an outcome.
Every read and decision of staff is audited (ids and counts only). Positions, addresses,
descriptions and contacts are removed after `alert_keep_days` (`purge_alert_positions`).
"""

from __future__ import annotations

import secrets
import threading
import time as clock
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import shapely
from geoalchemy2 import Geography
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Float, cast, func, select, update
from sqlalchemy.orm import Session

from geo_outreach.accounts.users import client_key
from geo_outreach.core.errors import Conflict, NotFound, invalid
from geo_outreach.core.geometry import check
from geo_outreach.core.i18n import LANGS, N_, Lang
from geo_outreach.core.policy import RateLimited
from geo_outreach.core.settings import Settings
from layers import audit, writes
from layers.alerts import ALERT_STATUSES, PublicAlert
from layers.models import Patrol, PatrolStop, SleepingSite

# What the reporter reads by code (Polish msgids, see geo_outreach.core.i18n).
STATUS_LABELS: dict[str, str] = {
    "received": N_("zgłoszenie przyjęte"),
    "team_sent": N_("zespół wysłany"),
    "person_found": N_("osoba odnaleziona"),
    "not_found": N_("nie odnaleziono osoby"),
    "no_action": N_("nie wymaga działania"),
}
assert tuple(STATUS_LABELS) == ALERT_STATUSES
OUTCOMES = ("person_found", "not_found", "no_action")
REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud on a phone
REF_PATTERN = r"^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$"
REF_PATTERN_ANY_CASE = r"^[2-9A-HJ-NP-Za-hj-np-z]{4}(-[2-9A-HJ-NP-Za-hj-np-z]{4}){2}$"
MAX_AGE = timedelta(days=7)  # an alert about a night long past helps nobody tonight
Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class AlertIn(BaseModel):
    """What the public form sends. Unknown fields (a name, a photo …) are refused."""

    model_config = ConfigDict(extra="forbid")

    lon: float | None = Field(default=None, description="a pin or the phone's position")
    lat: float | None = None
    position_source: Literal["pin", "device", "address"] = "pin"
    address: Text | None = Field(default=None, max_length=300, description="as typed")
    seen_at: datetime | None = Field(default=None, description="when; default: now")
    description: Text = Field(min_length=3, max_length=1000, description="what was seen")
    contact: Text | None = Field(default=None, max_length=200, description="optional")
    lang: Lang = "pl"
    # A field people never see (hidden by the form's CSS): a bot fills it in.
    website: str | None = Field(default=None, max_length=300)


@dataclass(frozen=True)
class Received:
    ref: str
    stored: bool  # False for a honeypot hit: answered the same, stored nothing


def new_ref() -> str:
    raw = "".join(secrets.choice(REF_ALPHABET) for _ in range(12))  # 60 bits
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _position(data: AlertIn, settings: Settings) -> str | None:
    if (data.lon is None) != (data.lat is None):
        msg = "give both lon and lat (a pin or the phone's position), or neither"
        raise invalid("lon" if data.lon is None else "lat", msg)
    if data.lon is None or data.lat is None:
        if not data.address:
            msg = "say where: a pin on the map, your phone's position, or an address"
            raise invalid("address", msg)
        if data.position_source != "address":
            msg = f"'{data.position_source}' needs lon and lat; without them use 'address'"
            raise invalid("position_source", msg)
        return None
    point = shapely.Point(data.lon, data.lat)
    fault = check(point, expected="POINT", service_area=settings.service_area)
    if fault:
        raise invalid("position", fault)
    return f"SRID=4326;{point.wkt}"


def _seen_at(data: AlertIn, settings: Settings, now: datetime) -> datetime:
    if data.seen_at is None:
        return now
    if data.seen_at.tzinfo is None:
        msg = "needs a time zone offset, e.g. 2026-01-15T21:30:00+01:00"
        raise invalid("seen_at", msg)
    if data.seen_at > now + timedelta(minutes=settings.clock_skew_minutes):
        msg = "is in the future"
        raise invalid("seen_at", msg)
    if data.seen_at < now - MAX_AGE:
        msg = f"is more than {MAX_AGE.days} days ago; call 112 if someone is in danger now"
        raise invalid("seen_at", msg)
    return data.seen_at


def receive(session: Session, data: AlertIn, *, settings: Settings) -> Received:
    """Store a public alert and answer its reference code (nothing stored for a bot)."""
    if data.website:  # the honeypot: same answer, so the bot learns nothing
        return Received(new_ref(), stored=False)
    geom = _position(data, settings)
    seen = _seen_at(data, settings, datetime.now(UTC))
    ref = new_ref()
    session.add(
        PublicAlert(
            ref=ref,
            seen_at=seen,
            geom=geom,
            position_source=data.position_source if geom else "address",
            address=data.address or None,
            description=data.description,
            contact=data.contact or None,
            lang=data.lang,
        )
    )
    session.flush()
    return Received(ref, stored=True)


def status_of(session: Session, ref: str) -> tuple[str, Lang]:
    """The status (and the reporter's language) of one alert: nothing else leaves."""
    row = session.execute(
        select(PublicAlert.status, PublicAlert.lang).where(PublicAlert.ref == ref.upper())
    ).first()
    if row is None:
        msg = f"no alert with reference {ref!r}"
        raise NotFound(msg)
    lang: Lang = next((x for x in LANGS if x == row[1]), "pl")  # the CHECK allows only these
    return str(row[0]), lang


# -- abuse limit: per client address (an IPv6 client by its /64), in memory -----------------


class RateLimiter:
    """At most `limit` alerts per key in any `window` seconds. In memory, O(1) per request: a
    flood costs no database work, so nothing else slows. Per server process."""

    def __init__(self, *, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, address: str, *, now: float | None = None) -> None:
        """Count one request, or raise RateLimited (with the seconds to wait)."""
        at = clock.monotonic() if now is None else now
        key = client_key(address)
        with self._lock:
            if len(self._hits) > 10_000:  # forget addresses whose window has passed
                self._hits = {k: q for k, q in self._hits.items() if q and q[-1] > at - self.window}
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= at - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                wait = max(1, int(hits[0] + self.window - at) + 1)
                msg = f"too many alerts from this address: at most {self.limit} a minute"
                raise RateLimited(msg, retry_after=wait)
            hits.append(at)


# -- triage (coordinators) ----------------------------------------------------------------------


def _geog(value: Any) -> Any:
    return cast(value, Geography(srid=4326))


def _where(alert: PublicAlert) -> Any:
    """The alert's position as a geography, read in the query (never sent back and forth)."""
    return _geog(select(PublicAlert.geom).where(PublicAlert.id == alert.id).scalar_subquery())


def tonight_window(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """Tonight for route matching: from today's noon to tomorrow's noon, local time."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(tz))
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    start = noon if local >= noon else noon - timedelta(days=1)
    return start, start + timedelta(days=1)


def _matches(session: Session, alert: PublicAlert, settings: Settings) -> dict[str, Any]:
    if alert.geom is None:
        return {"sites": [], "route": None}
    here = _where(alert)
    distance = cast(func.ST_Distance(_geog(SleepingSite.geom), here), Float)
    sites = session.execute(
        select(
            SleepingSite.id,
            SleepingSite.code,
            SleepingSite.name,
            SleepingSite.status,
            SleepingSite.estimated_people,
            distance,
        )
        .where(func.ST_DWithin(_geog(SleepingSite.geom), here, settings.alert_match_metres))
        .order_by(distance)
        .limit(10)
    ).all()
    start, end = tonight_window(datetime.now(UTC), settings.timezone)
    route_distance = cast(func.ST_Distance(_geog(Patrol.planned_route), here), Float)
    route = session.execute(
        select(Patrol.id, Patrol.code, Patrol.planned_start, Patrol.planned_end, route_distance)
        .where(
            Patrol.planned_route.is_not(None),
            Patrol.status.in_(("planned", "in_progress")),
            Patrol.planned_start < end,
            Patrol.planned_end > start,
            func.ST_DWithin(_geog(Patrol.planned_route), here, settings.alert_route_metres),
        )
        .order_by(route_distance)
        .limit(1)
    ).first()
    return {
        "sites": [
            {
                "site_id": str(r[0]),
                "code": r[1],
                "name": r[2],
                "status": r[3],
                "estimated_people": r[4],
                "distance_m": round(r[5], 1),
            }
            for r in sites
        ],
        "route": None
        if route is None
        else {
            "patrol_id": str(route[0]),
            "code": route[1],
            "planned_start": route[2].isoformat(),
            "planned_end": route[3].isoformat(),
            "distance_m": round(route[4], 1),
        },
    }


def _view(session: Session, alert: PublicAlert, settings: Settings) -> dict[str, Any]:
    lonlat = None
    if alert.geom is not None:
        row = session.execute(select(func.ST_X(alert.geom), func.ST_Y(alert.geom))).one()
        lonlat = [round(float(row[0]), 6), round(float(row[1]), 6)]
    return {
        "id": str(alert.id),
        "ref": alert.ref,
        "received_at": alert.received_at.isoformat(),
        "seen_at": alert.seen_at.isoformat(),
        "position": lonlat,
        "position_source": alert.position_source,
        "address": alert.address,
        "description": alert.description,
        "contact": alert.contact,
        "lang": alert.lang,
        "status": alert.status,
        "decision": alert.decision,
        "site_id": str(alert.site_id) if alert.site_id else None,
        "patrol_id": str(alert.patrol_id) if alert.patrol_id else None,
        "decided_at": alert.decided_at.isoformat() if alert.decided_at else None,
        "matches": _matches(session, alert, settings),
    }


def _audit_read(
    session: Session, views: list[dict[str, Any]], *, actor: str, role: str, endpoint: str
) -> None:
    """The sites the matches show are site data: that read is recorded (the alerts' own read is
    recorded by the caller, the API's audited transaction)."""
    site_ids = {m["site_id"] for v in views for m in v["matches"]["sites"]}
    if site_ids:  # the matches show site data: that read is recorded too
        audit.record(
            session, actor=actor, role=role, action="read", layer="sleeping_sites",
            object_ids=sorted(uuid.UUID(s) for s in site_ids),
            detail={"endpoint": endpoint, "purpose": "alert matching", "sites": len(site_ids)},
        )  # fmt: skip


def queue(
    session: Session,
    settings: Settings,
    *,
    actor: str,
    role: str,
    open_only: bool = True,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The review queue: open alerts (or all), oldest first, each with its matches."""
    stmt = select(PublicAlert).where(PublicAlert.purged_at.is_(None))
    if open_only:
        stmt = stmt.where(PublicAlert.decision.is_distinct_from("closed"))
    alerts = session.scalars(stmt.order_by(PublicAlert.received_at).limit(limit)).all()
    views = [_view(session, a, settings) for a in alerts]
    _audit_read(session, views, actor=actor, role=role, endpoint="GET /alerts")
    return views


def _alert(session: Session, alert_id: uuid.UUID, *, lock: bool = False) -> PublicAlert:
    stmt = select(PublicAlert).where(PublicAlert.id == alert_id)
    found = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if found is None:
        msg = f"no alert {alert_id}"
        raise NotFound(msg)
    return found


def one(
    session: Session, alert_id: uuid.UUID, settings: Settings, *, actor: str, role: str
) -> dict[str, Any]:
    view = _view(session, _alert(session, alert_id), settings)
    _audit_read(session, [view], actor=actor, role=role, endpoint="GET /alerts/{alert_id}")
    return view


class NewSiteIn(BaseModel):
    """The site a coordinator makes of an alert, at the alert's position."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    category: str
    estimated_people: int = Field(default=1, ge=0, le=500)
    hazards: list[str] = Field(default_factory=list)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["new_site", "visit_request", "close"]
    site: NewSiteIn | None = Field(default=None, description="new_site: the site to create")
    patrol_id: uuid.UUID | None = Field(
        default=None, description="visit_request: the route; default the nearest tonight"
    )
    site_id: uuid.UUID | None = Field(
        default=None, description="visit_request: the site to visit; default the alert's"
    )
    outcome: Literal["person_found", "not_found", "no_action"] | None = Field(
        default=None, description="close: what the reporter sees"
    )


def _new_site(
    session: Session, alert: PublicAlert, data: DecisionIn, *, settings: Settings, actor: str
) -> uuid.UUID:
    if data.site is None:
        msg = "new_site needs the site (code, name, category …)"
        raise invalid("site", msg)
    if alert.geom is None:
        msg = "the alert has no position (only an address): make the site in the site layer"
        raise invalid("action", msg)
    lon, lat = session.execute(select(func.ST_X(alert.geom), func.ST_Y(alert.geom))).one()
    feature = writes.SiteFeatureIn.model_validate(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
            "properties": data.site.model_dump(),
        }
    )
    site_id = writes.create_feature(
        session, writes.SITES, feature, actor=actor, service_area=settings.service_area
    )
    return site_id


def _visit_request(
    session: Session, alert: PublicAlert, data: DecisionIn, settings: Settings
) -> tuple[uuid.UUID, uuid.UUID | None]:
    patrol_id = data.patrol_id
    if patrol_id is None:
        route = _matches(session, alert, settings)["route"]
        if route is None:
            msg = "no route of tonight passes near the alert: name the patrol"
            raise invalid("patrol_id", msg)
        patrol_id = uuid.UUID(route["patrol_id"])
    patrol = session.get(Patrol, patrol_id, with_for_update=True)
    if patrol is None:
        msg = f"no patrol {patrol_id}"
        raise invalid("patrol_id", msg)
    site_id = data.site_id or alert.site_id
    if site_id is None:
        near = _matches(session, alert, settings)["sites"]
        site_id = uuid.UUID(near[0]["site_id"]) if near else None
    if site_id is not None:
        geom = session.scalar(select(SleepingSite.geom).where(SleepingSite.id == site_id))
        if geom is None:
            msg = f"no site {site_id}"
            raise invalid("site_id", msg)
    elif alert.geom is not None:
        geom = alert.geom
    else:
        msg = "the alert has no position and no site: name the site to visit"
        raise invalid("site_id", msg)
    last = session.scalar(select(func.max(PatrolStop.seq)).where(PatrolStop.patrol_id == patrol_id))
    session.add(
        PatrolStop(
            patrol_id=patrol_id, seq=(last or 0) + 1, site_id=site_id, service_minutes=20,
            geom=geom,
        )
    )  # fmt: skip
    session.flush()
    return patrol_id, site_id


def decide(
    session: Session,
    alert_id: uuid.UUID,
    data: DecisionIn,
    *,
    settings: Settings,
    actor: str,
    role: str,
) -> dict[str, Any]:
    """A coordinator's decision on an alert; each is audited with the ids it touched."""
    alert = _alert(session, alert_id, lock=True)
    if alert.decision == "closed":
        msg = f"alert {alert_id} is closed ({alert.status}); open a new one if needed"
        raise Conflict(msg)
    if data.action == "new_site":
        alert.site_id = _new_site(session, alert, data, settings=settings, actor=actor)
        alert.decision = "new_site"
        audit.record(
            session, actor=actor, role=role, action="create", layer="sleeping_sites",
            object_ids=[alert.site_id], detail={"from": "public alert"},
        )  # fmt: skip
    elif data.action == "visit_request":
        alert.patrol_id, site_id = _visit_request(session, alert, data, settings)
        alert.site_id = alert.site_id or site_id
        alert.decision, alert.status = "visit_request", "team_sent"
        audit.record(
            session, actor=actor, role=role, action="update", layer="patrols",
            object_ids=[alert.patrol_id], detail={"from": "public alert", "stop": "added"},
        )  # fmt: skip
    else:
        if data.outcome is None:
            msg = f"close needs the outcome the reporter sees: one of {', '.join(OUTCOMES)}"
            raise invalid("outcome", msg)
        alert.decision, alert.status = "closed", data.outcome
    alert.decided_at, alert.decided_by = datetime.now(UTC), actor
    session.flush()
    return {
        "id": str(alert.id),
        "status": alert.status,
        "decision": alert.decision,
        "site_id": str(alert.site_id) if alert.site_id else None,
        "patrol_id": str(alert.patrol_id) if alert.patrol_id else None,
    }


# -- retention ------------------------------------------------------------------------------------


def purge_positions(session: Session, *, older_than_days: int) -> list[uuid.UUID]:
    """Blank the position, address, description and contact of alerts received more than
    `older_than_days` ago (the status stays, for the reporter); the ids purged. Not audited
    here: the callers write one row for the whole run."""
    if older_than_days < 1:
        msg = f"must be at least 1, got {older_than_days}"
        raise invalid("older_than_days", msg)
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    return list(
        session.scalars(
            update(PublicAlert)
            .where(PublicAlert.received_at < cutoff, PublicAlert.purged_at.is_(None))
            .values(geom=None, address=None, description=None, contact=None, purged_at=func.now())
            .returning(PublicAlert.id)
            .execution_options(synchronize_session=False)
        ).all()
    )


def purge_alert_positions(session: Session, older_than_days: int = 90) -> int:
    """`purge_positions` on its own, with its audit row; returns how many alerts were purged."""
    ids = purge_positions(session, older_than_days=older_than_days)
    audit.record(
        session, actor="retention", role="system", action="purge", layer="public_alerts",
        object_ids=ids, detail={"older_than_days": older_than_days, "alerts": len(ids)},
    )  # fmt: skip
    return len(ids)
