"""What the field app (/app/) gets for one account: the live map's site rows (drawn in the
browser by the live map's own site layer), facilities with free beds and open-now, the SOS bus
with its next departures, and "my route tonight". Cut to the role by the policy; sites and
visits read are audited (ids and counts only). Plain data: no HTTP here."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.core import policy
from geo_outreach.core.policy import Principal
from geo_outreach.core.vocab import (
    FACILITY_TYPES,
    HAZARDS,
    HELP_KINDS,
    SITE_CATEGORIES,
    SITE_STATUSES,
    Lang,
    label,
)
from geo_outreach.mapping import data as mapdata
from layers import audit
from maps import common, live, streets
from maps.model import BusRoute, FacilityPoint

# Street tiles a phone keeps at login, so a cellar without signal still shows the streets:
# about 5–10 MB of PNG. The route's surroundings come first at every zoom, then the whole area
# zoom level by zoom level while the budget lasts.
PREFETCH_TILES = 600
ROUTE_PAD_DEG = 0.006  # ~0.5 km around the route's stops
# A patrol counts as tonight's from this long before it starts until this long after it ends.
ROUTE_MARGIN = timedelta(hours=12)

_ROUTE_SQL = """
SELECT p.id, p.code, p.kind, p.status, p.planned_start, p.planned_end
FROM patrols p JOIN patrol_members m ON m.patrol_id = p.id
WHERE m.user_id = :user AND p.status <> 'cancelled'
  AND p.planned_end >= :now - CAST(:margin AS interval)
  AND p.planned_start <= :now + CAST(:margin AS interval)
ORDER BY p.planned_start, p.code
LIMIT 1
"""
_STOPS_SQL = """
SELECT s.seq, s.site_id, s.eta, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       ss.code, ss.name, ss.category, ss.estimated_people, ss.hazards, ss.version,
       EXISTS (SELECT 1 FROM visits v WHERE v.patrol_id = s.patrol_id AND v.site_id = s.site_id)
         AS done
FROM patrol_stops s LEFT JOIN sleeping_sites ss ON ss.id = s.site_id
WHERE s.patrol_id = :patrol
ORDER BY s.seq
"""


def _vocab(lang: Lang) -> dict[str, list[list[str]]]:
    return {
        name: [[code, label(vocab, code, lang)] for code in vocab]
        for name, vocab in (
            ("categories", SITE_CATEGORIES),
            ("statuses", SITE_STATUSES),
            ("hazards", HAZARDS),
            ("help", HELP_KINDS),
            ("facility_types", FACILITY_TYPES),
        )
    }


def _facilities(found: list[FacilityPoint], *, now: datetime, lang: Lang) -> list[dict[str, Any]]:
    # Confidential places are never drawn (as on the live map), whoever asks.
    return [
        {
            "code": f.code,
            "name": f.name,
            "lat": f.lat,
            "lon": f.lon,
            "free_beds": f.free_beds,
            "capacity": f.capacity,
            "open": common.facility_open_now(f, now),
            "popup": live.facility_popup(f, now=now, lang=lang),
        }
        for f in found
        if not f.confidential
    ]


def _bus(routes: list[BusRoute], *, now: datetime, lang: Lang) -> list[dict[str, Any]]:
    out = []
    for route in routes:
        stops = []
        for stop in route.stops:
            at = common.next_departure(route, stop, now)
            stops.append(
                {
                    "seq": stop.seq,
                    "name": stop.name,
                    "lat": stop.lat,
                    "lon": stop.lon,
                    "next": common.departure_text(at, now, lang),
                    "next_at": at.isoformat() if at else None,
                }
            )
        out.append(
            {"name": route.name, "line": [[lat, lon] for lon, lat in route.coords], "stops": stops}
        )
    return out


def _route(session: Session, principal: Principal, *, now: datetime) -> dict[str, Any] | None:
    if principal.user_id is None:
        return None
    found = (
        session.execute(
            text(_ROUTE_SQL),
            {
                "user": principal.user_id,
                "now": now,
                "margin": f"{int(ROUTE_MARGIN.total_seconds())} seconds",
            },
        )
        .mappings()
        .first()
    )
    if found is None:
        return None
    route: dict[str, Any] = {
        "patrol_id": str(found["id"]),
        "code": found["code"],
        "kind": found["kind"],
        "start": found["planned_start"].isoformat(),
        "end": found["planned_end"].isoformat(),
        "stops": [],
        "closed": None,
    }
    staff = policy.allowed(principal.role, "sleeping_sites", "read")
    if not staff:
        reason = policy.partner_may_open(
            kind=found["kind"],
            status=found["status"],
            start=found["planned_start"],
            end=found["planned_end"],
            now=now,
            member=True,
        )
        if reason:
            route["closed"] = reason
            return route
    fields = set(policy.fields("patrol_sites", principal.role))
    rows = session.execute(text(_STOPS_SQL), {"patrol": found["id"]}).mappings().all()
    for r in rows:
        stop = {
            "seq": r["seq"],
            "eta": r["eta"].isoformat() if r["eta"] else None,
            "lat": float(r["lat"]),
            "lon": float(r["lon"]),
            "site_id": str(r["site_id"]) if r["site_id"] else None,
        }
        for name in ("code", "name", "category", "estimated_people", "hazards"):
            if name in fields:
                stop[name] = r[name]
        if staff:
            stop["version"] = r["version"]
            stop["done"] = bool(r["done"])
        route["stops"].append(stop)
    site_ids = [uuid.UUID(s["site_id"]) for s in route["stops"] if s["site_id"]]
    audit.record(
        session,
        actor=principal.actor,
        role=principal.role,
        action="read",
        layer="sleeping_sites",
        object_ids=site_ids,
        detail={"purpose": "app:route", "patrol": route["code"], "count": len(site_ids)},
    )
    return route


def app_data(
    session: Session, principal: Principal, *, now: datetime, lang: Lang
) -> dict[str, Any]:
    """Everything the app shows this account; sites only for roles that may read them."""
    staff = policy.allowed(principal.role, "sleeping_sites", "read")
    sites: dict[str, Any] | None = None
    if staff:
        live_data = mapdata.live_data(
            session, actor=principal.actor, role=principal.role, with_districts=False
        )
        sites = live.site_payload(live_data.sites, now=now, lang=lang)
        versions = {
            row[0]: row[1]
            for row in session.execute(text("SELECT id, version FROM sleeping_sites"))
        }
        sites["ids"] = [str(s.id) for s in live_data.sites]
        sites["versions"] = [versions.get(s.id, 1) for s in live_data.sites]
        facilities, routes = live_data.facilities, live_data.routes
    else:
        public = mapdata.public_data(session)
        facilities, routes = public.facilities, public.routes
    return {
        "role": principal.role,
        "name": principal.name,
        "generated_at": now.isoformat(),
        "sites": sites,
        "facilities": _facilities(facilities, now=now, lang=lang),
        "bus": _bus(routes, now=now, lang=lang),
        "route": _route(session, principal, now=now),
        "vocab": _vocab(lang),
        "may": {
            "log_visit": policy.allowed(principal.role, "visits", "create"),
            "edit_sites": policy.allowed(principal.role, "sleeping_sites", "update"),
            "review": policy.allowed(principal.role, "site_changes", "update"),
        },
    }


def _tiles_in(bounds: tuple[float, float, float, float], zoom: int) -> list[tuple[int, int, int]]:
    x0, y0, x1, y1 = streets.tile_range(bounds, zoom)
    return [(zoom, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def prefetch_tiles(
    tiles: streets.TileSet, *, route: dict[str, Any] | None, budget: int = PREFETCH_TILES
) -> list[str]:
    """The street tiles ("z/x/y") a phone should keep: route first, then the area."""
    west, south, east, north = tiles.bounds
    areas: list[tuple[tuple[float, float, float, float], range]] = []
    stops = route["stops"] if route else []
    if stops:
        lons, lats = [s["lon"] for s in stops], [s["lat"] for s in stops]
        # Clipped to the drawn area: there is no tile outside it.
        box = (
            max(west, min(lons) - ROUTE_PAD_DEG),
            max(south, min(lats) - ROUTE_PAD_DEG),
            min(east, max(lons) + ROUTE_PAD_DEG),
            min(north, max(lats) + ROUTE_PAD_DEG),
        )
        if box[0] < box[2] and box[1] < box[3]:
            areas.append((box, range(tiles.max_zoom, tiles.min_zoom - 1, -1)))
    areas.append((tiles.bounds, range(tiles.min_zoom, tiles.max_zoom + 1)))
    chosen: dict[tuple[int, int, int], None] = {}
    for box, zooms in areas:
        for zoom in zooms:
            more = [t for t in _tiles_in(box, zoom) if t not in chosen]
            if len(chosen) + len(more) > budget:
                continue  # this zoom does not fit; a coarser one may
            chosen.update(dict.fromkeys(more))
    return [f"{z}/{x}/{y}" for z, x, y in sorted(chosen)]
