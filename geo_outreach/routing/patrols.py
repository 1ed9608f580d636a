"""A patrol after it was planned: the GPS track it actually walked (GPX, checked before it is
stored) and its progress, planned stops against the visits logged on it (issue 12)."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import gpxpy
import gpxpy.gpx
from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from geo_outreach.core.errors import NotFound, ValidationFailed, invalid
from layers.models import Patrol
from layers.rules import EARLIEST, LONGEST_PATROL, latest_now

FIELD = "track"
# A phone's fix wanders: a point this close to the service area still counts as inside it
# (a walk along the beach or the city boundary must not be refused for GPS noise).
AREA_TOLERANCE_M = 100.0
# Areas that make up the service area: the cities and their districts (not ad-hoc areas).
AREA_KINDS = ("city", "district")
# GPX never needs a DTD; refusing one keeps entity expansion and external entities out,
# whichever XML parser gpxpy picks up.
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


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


def _document(body: bytes) -> gpxpy.gpx.GPX:
    if not body.strip():
        raise _refuse("the body is empty: send a GPX document")
    if _DTD.search(body):
        raise _refuse("a document type declaration (DOCTYPE/ENTITY) is not accepted in GPX")
    try:
        xml = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse("not UTF-8 text") from None
    try:
        return gpxpy.parse(xml)
    except Exception as exc:  # the parser's errors vary with the XML library; all mean "no"
        detail = " ".join(str(exc).split())[:160]
        raise _refuse(f"not a GPX document ({detail})") from None


def _point(n: int, raw: gpxpy.gpx.GPXTrackPoint) -> TrackPoint:
    lat, lon = raw.latitude, raw.longitude
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise _refuse(f"point {n}: a coordinate is NaN or infinite")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _refuse(f"point {n}: {lat},{lon} is not latitude/longitude")
    if raw.time is None:
        raise _refuse(f"point {n} at {lat:.5f},{lon:.5f} has no time")
    # GPX times are UTC; a time written without a zone is read as UTC too.
    at = raw.time if raw.time.tzinfo else raw.time.replace(tzinfo=UTC)
    return TrackPoint(n, lon, lat, at)


def parse_track(body: bytes) -> Track:
    """The track points of a GPX document (every <trk>/<trkseg>), in order, each with its time;
    ValidationFailed on the field 'track' naming the point and the fault otherwise."""
    doc = _document(body)
    segments: list[list[TrackPoint]] = []
    n = 0
    for trk in doc.tracks:
        for seg in trk.segments:
            found = []
            for raw in seg.points:
                n += 1
                found.append(_point(n, raw))
            segments.append(found)
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
    body: bytes,
    *,
    actor: str,
    fallback_area: tuple[float, float, float, float],
) -> Track:
    """Check the GPX document and keep it as the patrol's actual track (replacing one sent
    before). Nothing is stored when any check fails."""
    if session.get(Patrol, patrol_id) is None:
        msg = f"no patrol {patrol_id}"
        raise NotFound(msg)
    track = parse_track(body)
    out = first_outside(session, track.points, fallback=fallback_area)
    if out is not None:
        raise _refuse(f"point {out.n} at {out.lat:.5f},{out.lon:.5f} is outside the service area")
    session.execute(
        update(Patrol)
        .where(Patrol.id == patrol_id)
        .values(actual_track=track.ewkt(), updated_at=func.now(), updated_by=actor)
        .execution_options(synchronize_session=False)
    )
    return track


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
    visited_at: datetime | None

    @property
    def visited(self) -> bool:
        return self.visited_at is not None


@dataclass(frozen=True)
class Progress:
    patrol_id: uuid.UUID
    code: str
    status: str
    stops: list[Stop]
    contacts: int  # people met on all the patrol's visits
    has_track: bool

    @property
    def visited(self) -> int:
        return sum(s.visited for s in self.stops)

    @property
    def total(self) -> int:
        return len(self.stops)


def progress(session: Session, patrol_id: uuid.UUID) -> Progress:
    """Planned stops against the visits logged on the patrol (a stop counts as visited when a
    visit of this patrol names its site, as the field app's "done" does)."""
    head = session.execute(text(_PATROL), {"patrol": patrol_id}).first()
    if head is None:
        msg = f"no patrol {patrol_id}"
        raise NotFound(msg)
    rows = session.execute(text(_STOPS), {"patrol": patrol_id}).all()
    stops = [Stop(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
    return Progress(patrol_id, head[0], head[1], stops, int(head[3]), bool(head[2]))
