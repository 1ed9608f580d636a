"""A patrol after it was planned: the GPS track it actually walked (GPX, checked before it is
stored) and its progress, planned stops against the visits logged on it (issue 12)."""

from __future__ import annotations

import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from geo_outreach.core.errors import NotFound, ValidationFailed, invalid
from layers.models import Patrol
from layers.patrols import locked
from layers.rules import EARLIEST, LONGEST_PATROL, latest_now

FIELD = "track"
# A phone's fix wanders: a point this close to the service area still counts as inside it
# (a walk along the beach or the city boundary must not be refused for GPS noise).
AREA_TOLERANCE_M = 100.0
# Areas that make up the service area: the cities and their districts (not ad-hoc areas).
AREA_KINDS = ("city", "district")
# GPX never needs a DTD; refusing one keeps entity expansion and external entities out.
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# The namespaces of GPX 1.0 and 1.1, and none (hand-written files often leave it out).
GPX_NAMESPACES = ("http://www.topografix.com/GPX/1/1", "http://www.topografix.com/GPX/1/0", "")
# A night's walk logged every second is about 43,000 points; more is not one patrol.
MAX_TRACK_POINTS = 50_000
# A track may start this long before the planned start (the team sets off early) and end this
# long after the planned end (patrols run late in winter); outside that it is another walk.
TRACK_EARLY = timedelta(hours=2)
TRACK_LATE = timedelta(hours=6)


@dataclass(frozen=True)
class TrackPoint:
    n: int  # 1-based, over the whole document
    lon: float
    lat: float
    time: datetime


@dataclass(frozen=True)
class Track:
    segments: list[list[TrackPoint]]

    @property
    def points(self) -> list[TrackPoint]:
        return [p for seg in self.segments for p in seg]

    def ewkt(self) -> str:
        """The segments of two or more points as one MULTILINESTRING."""
        lines = ", ".join(
            "(" + ", ".join(f"{p.lon:.7f} {p.lat:.7f}" for p in seg) + ")"
            for seg in self.segments
            if len(seg) >= 2
        )
        return f"SRID=4326;MULTILINESTRING({lines})"


def _refuse(fault: str) -> ValidationFailed:
    return invalid(FIELD, fault)


def _not_gpx(detail: str) -> ValidationFailed:
    return _refuse(f"not a GPX document ({' '.join(detail.split())[:160]})")


def _document(body: bytes) -> ET.Element:
    """The parsed document: ElementTree's expat, linear in the body and without process-wide
    effects (a GPX library registered the upload's namespace prefixes globally, and scanned for
    them with a regular expression quadratic in the body)."""
    if not body.strip():
        raise _refuse("the body is empty: send a GPX document")
    if _DTD.search(body):
        raise _refuse("a document type declaration (DOCTYPE/ENTITY) is not accepted in GPX")
    try:
        xml = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse("not UTF-8 text") from None
    try:
        # Safe here: a DTD was refused above, so there is no entity to expand or fetch.
        return ET.fromstring(xml)  # noqa: S314
    except ET.ParseError as exc:
        raise _not_gpx(str(exc)) from None


def _namespace(root: ET.Element) -> str:
    ns, _, local = root.tag[1:].rpartition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "gpx":
        raise _not_gpx(f"the root element is <{local}>, not <gpx>")
    if ns not in GPX_NAMESPACES:
        raise _not_gpx(f"the namespace {ns} is not GPX 1.0 or 1.1")
    return f"{{{ns}}}" if ns else ""


def _number(n: int, raw: ET.Element, name: str) -> float:
    value = raw.get(name)
    try:
        return float(value or "")
    except ValueError:
        raise _not_gpx(f"point {n}: {name} '{(value or '')[:20]}' is not a number") from None


def _time(n: int, raw: ET.Element, ns: str, where: str) -> datetime:
    found = raw.findtext(f"{ns}time")
    if found is None or not found.strip():
        raise _refuse(f"point {n} at {where} has no time")
    try:
        at = datetime.fromisoformat(found.strip())
    except ValueError:
        raise _refuse(f"point {n}: time '{found.strip()[:40]}' is not an ISO 8601 time") from None
    # GPX times are UTC; a time written without a zone is read as UTC too.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _point(n: int, raw: ET.Element, ns: str) -> TrackPoint:
    lat, lon = _number(n, raw, "lat"), _number(n, raw, "lon")
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise _refuse(f"point {n}: a coordinate is NaN or infinite")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _refuse(f"point {n}: {lat},{lon} is not latitude/longitude")
    return TrackPoint(n, lon, lat, _time(n, raw, ns, f"{lat:.5f},{lon:.5f}"))


def _segments(root: ET.Element, ns: str) -> Iterator[list[ET.Element]]:
    for trk in root.iterfind(f"{ns}trk"):
        for seg in trk.iterfind(f"{ns}trkseg"):
            yield seg.findall(f"{ns}trkpt")


def parse_track(body: bytes) -> Track:
    """The track points of a GPX 1.0/1.1 document (every <trk>/<trkseg>), in order, each with
    its time; ValidationFailed on the field 'track' naming the point and the fault otherwise."""
    root = _document(body)
    ns = _namespace(root)
    segments: list[list[TrackPoint]] = []
    n = 0
    for raw_points in _segments(root, ns):
        if n + len(raw_points) > MAX_TRACK_POINTS:
            raise _refuse(f"more than {MAX_TRACK_POINTS} track points")
        segments.append([_point(n + i, raw, ns) for i, raw in enumerate(raw_points, 1)])
        n += len(raw_points)
    track = Track(segments)
    points = track.points
    if len(points) < 2:
        raise _refuse(f"needs at least 2 track points (<trk><trkseg><trkpt>); found {len(points)}")
    if not any(len(seg) >= 2 for seg in segments):
        raise _refuse("no track segment has 2 or more points")
    _check_times(points)
    return track


def _check_times(points: list[TrackPoint]) -> None:
    for before, after in pairwise(points):
        if after.time < before.time:
            raise _refuse(f"time of point {after.n} is before point {before.n}")
    first, last = points[0], points[-1]
    if first.time < EARLIEST:
        raise _refuse(f"time of point {first.n} is before {EARLIEST:%Y-%m-%d}")
    if last.time > latest_now():
        raise _refuse(f"time of point {last.n} is in the future")
    if last.time - first.time > LONGEST_PATROL:
        raise _refuse(f"the track spans more than {LONGEST_PATROL} (one patrol is one shift)")


def check_for_patrol(track: Track, patrol: Patrol) -> None:
    """A cancelled patrol walked nothing; a track's times stay near its planned window."""
    if patrol.status == "cancelled":
        raise invalid("status", "the patrol was cancelled: a cancelled patrol takes no track")
    first, last = track.points[0], track.points[-1]
    if first.time < patrol.planned_start - TRACK_EARLY:
        at = f"{patrol.planned_start.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        raise _refuse(
            f"time of point {first.n} is more than {_hours(TRACK_EARLY)} before the patrol's "
            f"planned start ({at})"
        )
    if last.time > patrol.planned_end + TRACK_LATE:
        at = f"{patrol.planned_end.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        raise _refuse(
            f"time of point {last.n} is more than {_hours(TRACK_LATE)} after the patrol's "
            f"planned end ({at})"
        )


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def first_outside(
    session: Session, points: list[TrackPoint], *, fallback: tuple[float, float, float, float]
) -> TrackPoint | None:
    """The first point outside the service area: the union of the cities and districts in
    `areas` (with AREA_TOLERANCE_M), or the `fallback` box when no area is loaded."""
    params: dict[str, Any] = {
        "lons": [p.lon for p in points],
        "lats": [p.lat for p in points],
        "kinds": list(AREA_KINDS),
        "tolerance": AREA_TOLERANCE_M,
        "x0": fallback[0],
        "y0": fallback[1],
        "x1": fallback[2],
        "y1": fallback[3],
    }
    # Covered points are settled by the (cheap, planar) ST_Covers; only the rest are measured.
    index = session.execute(
        text(
            """
            WITH area AS (
                SELECT coalesce(
                    (SELECT ST_Union(geom) FROM areas WHERE kind = ANY(:kinds)),
                    ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
                ) AS g
            ), pts AS (
                SELECT n, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS p
                FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
                     WITH ORDINALITY AS u(lon, lat, n)
            ), outside AS (
                SELECT n, p FROM pts, area WHERE NOT ST_Covers(area.g, pts.p)
            )
            SELECT n FROM outside, area
            WHERE NOT ST_DWithin(area.g::geography, outside.p::geography, :tolerance)
            ORDER BY n LIMIT 1
            """
        ),
        params,
    ).scalar()
    return None if index is None else points[int(index) - 1]


def store_track(
    session: Session,
    patrol_id: uuid.UUID,
    track: Track,
    *,
    actor: str,
    fallback_area: tuple[float, float, float, float],
) -> None:
    """Keep a parsed track (parse_track, before the transaction) as the patrol's actual track,
    replacing one sent before. Nothing is stored when any check fails."""
    patrol = locked(session, patrol_id)  # its status may change meanwhile
    check_for_patrol(track, patrol)
    out = first_outside(session, track.points, fallback=fallback_area)
    if out is not None:
        raise _refuse(f"point {out.n} at {out.lat:.5f},{out.lon:.5f} is outside the service area")
    session.execute(
        update(Patrol)
        .where(Patrol.id == patrol_id)
        .values(actual_track=track.ewkt(), updated_at=func.now(), updated_by=actor)
        .execution_options(synchronize_session=False)
    )


# -- progress -----------------------------------------------------------------------------------

_STOPS = """
SELECT s.seq, s.site_id, coalesce(ss.code, f.code), coalesce(ss.name, f.name), s.eta,
       (SELECT min(v.visited_at) FROM visits v
        WHERE v.patrol_id = s.patrol_id AND v.site_id = s.site_id) AS visited_at
FROM patrol_stops s
LEFT JOIN sleeping_sites ss ON ss.id = s.site_id
LEFT JOIN facilities f ON f.id = s.facility_id
WHERE s.patrol_id = :patrol
ORDER BY s.seq
"""
_PATROL = """
SELECT p.code, p.status, p.actual_track IS NOT NULL,
       (SELECT coalesce(sum(v.people_met), 0) FROM visits v WHERE v.patrol_id = p.id)
FROM patrols p WHERE p.id = :patrol
"""


@dataclass(frozen=True)
class Stop:
    seq: int
    site_id: uuid.UUID | None
    code: str | None
    name: str | None
    eta: datetime | None
    visited: bool
    visited_at: datetime | None  # None too when the reader may not read visits


@dataclass(frozen=True)
class Progress:
    patrol_id: uuid.UUID
    code: str
    status: str
    stops: list[Stop]
    contacts: int | None  # people met on all the patrol's visits; None: may not read visits
    has_track: bool

    @property
    def visited(self) -> int:
        return sum(s.visited for s in self.stops)

    @property
    def total(self) -> int:
        return len(self.stops)


def progress(session: Session, patrol_id: uuid.UUID, *, visit_details: bool) -> Progress:
    """Planned stops against the visits logged on the patrol (a stop counts as visited when a
    visit of this patrol names its site, as the field app's "done" does). Without
    `visit_details` (a reader who may not read visits) only whether each stop was visited:
    no visit times, no count of people met."""
    head = session.execute(text(_PATROL), {"patrol": patrol_id}).first()
    if head is None:
        msg = f"no patrol {patrol_id}"
        raise NotFound(msg)
    rows = session.execute(text(_STOPS), {"patrol": patrol_id}).all()
    stops = [
        Stop(r[0], r[1], r[2], r[3], r[4], r[5] is not None, r[5] if visit_details else None)
        for r in rows
    ]
    contacts = int(head[3]) if visit_details else None
    return Progress(patrol_id, head[0], head[1], stops, contacts, bool(head[2]))
