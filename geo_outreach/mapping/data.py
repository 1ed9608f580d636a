"""Plain data for the map builders, read from PostGIS.

Reading sites or visits writes an audit row (ids and counts only). The public map's data comes
from `public_data`, which never touches sleeping_sites, visits or patrols: what it does not read
it cannot leak.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from geo_outreach.core.vocab import LIVE_SITE_STATUSES
from layers import audit
from maps.model import (
    BusRoute,
    BusStop,
    District,
    FacilityPoint,
    LiveData,
    PublicData,
    SitePoint,
    VisitSummary,
)

RECENT_VISITS = 3
# ~5 m: district outlines for orientation, not for surveying.
DISTRICT_SIMPLIFY_DEG = 0.00005

_FACILITY_SQL = """
SELECT code, name, type, ST_X(geom) AS lon, ST_Y(geom) AS lat, address, phone, capacity,
       free_beds, free_beds_updated_at, opening_hours, season_from, season_to, public,
       confidential
FROM facilities
{where}
ORDER BY name, code
"""


def _facilities(session: Session, *, public_only: bool) -> list[FacilityPoint]:
    where = "WHERE public AND NOT confidential" if public_only else ""
    rows = session.execute(text(_FACILITY_SQL.format(where=where))).mappings().all()
    return [
        FacilityPoint(
            code=r["code"],
            name=r["name"],
            type=r["type"],
            lon=float(r["lon"]),
            lat=float(r["lat"]),
            address=r["address"],
            phone=r["phone"],
            capacity=r["capacity"],
            free_beds=r["free_beds"],
            free_beds_updated_at=r["free_beds_updated_at"],
            opening_hours=tuple(r["opening_hours"] or ()),
            season_from=r["season_from"],
            season_to=r["season_to"],
            public=bool(r["public"]),
            confidential=bool(r["confidential"]),
        )
        for r in rows
    ]


def bus_routes(session: Session) -> list[BusRoute]:
    """SOS bus routes with their stops in order (public data: times, places, yearly season)."""
    routes = (
        session.execute(
            text(
                "SELECT id, name, season_from, season_to, ST_AsGeoJSON(geom, 6) AS line "
                "FROM sos_bus_routes ORDER BY name"
            )
        )
        .mappings()
        .all()
    )
    stops: dict[uuid.UUID, list[BusStop]] = defaultdict(list)
    for r in session.execute(
        text(
            "SELECT id, route_id, seq, name, ST_X(geom) AS lon, ST_Y(geom) AS lat, arrive_time, "
            "depart_time, season_from, season_to FROM sos_bus_stops ORDER BY route_id, seq"
        )
    ).mappings():
        stops[r["route_id"]].append(
            BusStop(
                seq=r["seq"],
                name=r["name"],
                lon=float(r["lon"]),
                lat=float(r["lat"]),
                arrive=r["arrive_time"],
                depart=r["depart_time"],
                season_from=r["season_from"],
                season_to=r["season_to"],
                id=r["id"],
            )
        )
    return [
        BusRoute(
            name=r["name"],
            season_from=r["season_from"],
            season_to=r["season_to"],
            coords=[(float(x), float(y)) for x, y in json.loads(r["line"])["coordinates"]],
            stops=stops.get(r["id"], []),
        )
        for r in routes
    ]


def districts(session: Session) -> list[District]:
    rows = session.execute(
        text(
            "SELECT d.name, c.name AS city, "
            "ST_AsGeoJSON(ST_SimplifyPreserveTopology(d.geom, :tol), 5) AS geometry "
            "FROM areas d LEFT JOIN LATERAL ("
            "  SELECT name FROM areas c WHERE c.kind = 'city' "
            "  AND ST_Intersects(c.geom, ST_PointOnSurface(d.geom)) LIMIT 1) c ON true "
            "WHERE d.kind = 'district' ORDER BY d.name"
        ),
        {"tol": DISTRICT_SIMPLIFY_DEG},
    ).mappings()
    return [
        District(name=r["name"], city=r["city"], geometry=json.loads(r["geometry"])) for r in rows
    ]


def _recent_visits(
    session: Session, *, per_site: int
) -> tuple[dict[uuid.UUID, list[VisitSummary]], list[uuid.UUID]]:
    rows = session.execute(
        text(
            "SELECT id, site_id, visited_at, people_met, help_given FROM ("
            "  SELECT id, site_id, visited_at, people_met, help_given, row_number() OVER ("
            "    PARTITION BY site_id ORDER BY visited_at DESC, id) AS rn"
            "  FROM visits WHERE site_id IS NOT NULL) v "
            "WHERE rn <= :k ORDER BY site_id, visited_at DESC"
        ),
        {"k": per_site},
    ).mappings()
    by_site: dict[uuid.UUID, list[VisitSummary]] = defaultdict(list)
    ids: list[uuid.UUID] = []
    for r in rows:
        ids.append(r["id"])
        by_site[r["site_id"]].append(
            VisitSummary(
                visited_at=r["visited_at"],
                people_met=r["people_met"],
                help_given=tuple(r["help_given"] or ()),
            )
        )
    return by_site, ids


def live_data(
    session: Session, *, actor: str, role: str = "cli", with_districts: bool = True
) -> LiveData:
    """Everything the streetworker's live map shows. Audited: sites and visits are read."""
    visits, visit_ids = _recent_visits(session, per_site=RECENT_VISITS)
    rows = session.execute(
        text(
            "SELECT id, code, name, category, status, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
            "estimated_people, hazards, last_visit_at, district "
            "FROM sleeping_sites ORDER BY code"
        )
    ).mappings()
    sites = [
        SitePoint(
            id=r["id"],
            code=r["code"],
            name=r["name"],
            category=r["category"],
            status=r["status"],
            lon=float(r["lon"]),
            lat=float(r["lat"]),
            estimated_people=r["estimated_people"],
            hazards=tuple(r["hazards"] or ()),
            last_visit_at=r["last_visit_at"],
            district=r["district"],
            recent_visits=tuple(visits.get(r["id"], ())),
        )
        for r in rows
    ]
    audit.record(
        session,
        actor=actor,
        role=role,
        action="read",
        layer="sleeping_sites",
        object_ids=[s.id for s in sites],
        detail={"purpose": "map:live", "count": len(sites)},
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="read",
        layer="visits",
        object_ids=visit_ids,
        detail={"purpose": "map:live", "count": len(visit_ids), "fields": "date,people,help"},
    )
    return LiveData(
        sites=sites,
        facilities=_facilities(session, public_only=False),
        routes=bus_routes(session),
        districts=districts(session) if with_districts else [],
    )


def heat_points(
    session: Session, *, actor: str, role: str = "cli", purpose: str = "map:planner"
) -> list[tuple[float, float, int]]:
    """(lon, lat, people) of occupied sites, for an aggregated heat layer. Audited."""
    rows = session.execute(
        text(
            "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, estimated_people "
            "FROM sleeping_sites WHERE status = ANY(:live) "
            "AND estimated_people > 0 ORDER BY code"
        ),
        {"live": list(LIVE_SITE_STATUSES)},
    ).all()
    audit.record(
        session,
        actor=actor,
        role=role,
        action="read",
        layer="sleeping_sites",
        object_ids=[r[0] for r in rows],
        detail={"purpose": purpose, "count": len(rows), "fields": "location,people"},
    )
    return [(float(r[1]), float(r[2]), int(r[3])) for r in rows]


def public_data(session: Session) -> PublicData:
    """Public facilities (never confidential ones) and the SOS bus: nothing about sites."""
    return PublicData(facilities=_facilities(session, public_only=True), routes=bus_routes(session))


# What the public map shows, as a fingerprint of the rows' versions: PostgreSQL gives every
# inserted or updated row version a new xmin (the writing transaction), and a deletion changes
# the count. So any write (free beds, a facility made public or confidential, a new season or
# stop) changes it, whoever made it, with no trigger or `updated_at` discipline to rely on, and
# it reads no row data (no geometry to serialise): well under a millisecond.
_PUBLIC_VERSION_SQL = """
SELECT concat_ws('/',
  (SELECT count(*) || ':' || md5(coalesce(string_agg(xmin::text, ',' ORDER BY id), ''))
     FROM facilities WHERE public AND NOT confidential),
  (SELECT count(*) || ':' || md5(coalesce(string_agg(xmin::text, ',' ORDER BY id), ''))
     FROM sos_bus_routes),
  (SELECT count(*) || ':' || md5(coalesce(string_agg(xmin::text, ',' ORDER BY id), ''))
     FROM sos_bus_stops))
"""


def public_version(session: Session | Connection) -> str:
    """A fingerprint of the public map's data: equal fingerprints, equal `public_data`."""
    return str(session.execute(text(_PUBLIC_VERSION_SQL)).scalar_one())
