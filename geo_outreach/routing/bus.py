"""The SOS bus: its stop times, which sleeping sites lie within walking reach of each stop, and
which transit stops along its route would reach more people.

Outputs hold counts per stop, never site positions. They are still internal (for the bus crew
and the coordinators): a count of 1 next to a named stop places a person, so nothing here is
published or given to partners.
"""

from __future__ import annotations

import csv
import html
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.i18n import Lang, translator
from geo_outreach.core.vocab import LIVE_SITE_STATUSES, OSM_ATTRIBUTION
from geo_outreach.routing import network as nw
from layers import audit
from layers.models import SleepingSite, SosBusRoute, SosBusStop
from maps import common
from maps.model import BusRoute

STOPS_FILE = Path("transit/trojmiasto-stops.geojson")


@dataclass(frozen=True)
class StopReach:
    seq: int | None  # None for a suggested stop
    name: str
    arrive: str
    depart: str
    on_network: bool  # inside the walking network's extract
    sites: int
    people: int


@dataclass(frozen=True)
class Coverage:
    route: str
    walk_minutes: float
    stops: list[StopReach]
    covered_sites: int
    covered_people: int
    suggestions: list[StopReach]
    attribution: str = OSM_ATTRIBUTION


def departures(routes: list[BusRoute], *, now: datetime) -> dict[uuid.UUID, datetime | None]:
    """Each stop's next departure after `now` (in now's zone) within its yearly season."""
    return {
        stop.id: common.next_departure(route, stop, now)
        for route in routes
        for stop in route.stops
        if stop.id is not None
    }


def _reach(
    net: nw.Network, stop_nodes: np.ndarray, site_nodes: np.ndarray, limit_s: float
) -> np.ndarray:
    """[stop, site] True when the site is within `limit_s` walking of the stop."""
    points = np.concatenate([stop_nodes, site_nodes])
    k = stop_nodes.size
    matrix = nw.travel_matrix(net, points, sources=k)
    return matrix.seconds[:, k:] <= limit_s


def coverage(
    session: Session,
    *,
    pbf: Path,
    cache_dir: Path | None,
    actor: str,
    role: str,
    data_dir: Path | None = None,
    walk_minutes: float = 10.0,
    suggestions: int = 3,
    progress: Callable[[str], None] = lambda _: None,
) -> Coverage:
    route = session.execute(
        select(SosBusRoute.id, SosBusRoute.name, func.ST_AsBinary(SosBusRoute.geom)).order_by(
            SosBusRoute.name
        )
    ).first()
    if route is None:
        msg = "no SOS bus route stored; load one (geo-outreach demo loads the demo route)"
        raise GeoOutreachError(msg)
    stops = session.execute(
        select(
            SosBusStop.seq,
            SosBusStop.name,
            SosBusStop.arrive_time,
            SosBusStop.depart_time,
            func.ST_X(SosBusStop.geom),
            func.ST_Y(SosBusStop.geom),
        )
        .where(SosBusStop.route_id == route[0])
        .order_by(SosBusStop.seq)
    ).all()
    sites = session.execute(
        select(
            SleepingSite.id,
            func.ST_X(SleepingSite.geom),
            func.ST_Y(SleepingSite.geom),
            SleepingSite.estimated_people,
        ).where(SleepingSite.status.in_(LIVE_SITE_STATUSES))
    ).all()
    audit.record(
        session,
        actor=actor,
        role=role,
        action="read",
        layer="sleeping_sites",
        object_ids=[s[0] for s in sites],
        detail={"purpose": "sos-bus coverage", "sites": len(sites)},
    )
    progress("walking network …")
    net = nw.load_network(pbf, "walk", cache_dir=cache_dir)
    site_snap = nw.snap(net, np.array([s[1] for s in sites]), np.array([s[2] for s in sites]))
    site_ok = site_snap.metres <= 300
    people = np.array([s[3] for s in sites])[site_ok]
    stop_snap = nw.snap(net, np.array([s[4] for s in stops]), np.array([s[5] for s in stops]))
    stop_ok = stop_snap.metres <= 150
    limit = walk_minutes * 60
    progress(f"sites within {walk_minutes:g} min walk of {len(stops)} stops …")
    reach = _reach(net, stop_snap.node[stop_ok], site_snap.node[site_ok], limit)
    rows: list[StopReach] = []
    k = 0
    covered = np.zeros(int(site_ok.sum()), dtype=bool)
    for stop, ok in zip(stops, stop_ok, strict=True):
        if ok:
            hit = reach[k]
            covered |= hit
            k += 1
        rows.append(
            StopReach(
                seq=stop[0],
                name=stop[1],
                arrive=stop[2].strftime("%H:%M"),
                depart=stop[3].strftime("%H:%M"),
                on_network=bool(ok),
                sites=int(hit.sum()) if ok else 0,
                people=int(people[hit].sum()) if ok else 0,
            )
        )
    progress("transit stops along the route that would reach more people …")
    ideas = _suggest(
        net,
        shapely.from_wkb(bytes(route[2])),
        (data_dir or pbf.parent.parent) / STOPS_FILE,
        site_snap.node[site_ok],
        people,
        covered,
        limit,
        suggestions,
        taken={r.name for r in rows},
    )
    return Coverage(
        route=route[1],
        walk_minutes=walk_minutes,
        stops=rows,
        covered_sites=int(covered.sum()),
        covered_people=int(people[covered].sum()),
        suggestions=ideas,
    )


def _suggest(
    net: nw.Network,
    line: shapely.Geometry,
    stops_file: Path,
    site_nodes: np.ndarray,
    people: np.ndarray,
    covered: np.ndarray,
    limit_s: float,
    count: int,
    *,
    taken: set[str],
) -> list[StopReach]:
    """Greedy: the real transit stops within 150 m of the route that add the most people."""
    if not stops_file.exists() or count <= 0:
        return []
    features = json.loads(stops_file.read_text(encoding="utf-8"))["features"]
    xy = np.array([f["geometry"]["coordinates"][:2] for f in features])
    names = [str(f["properties"].get("name", "")) for f in features]
    near = shapely.dwithin(line, shapely.points(xy), 150 / 111_000)
    idx = [i for i in np.flatnonzero(near) if names[i] not in taken]
    if not idx:
        return []
    snap = nw.snap(net, xy[idx, 0], xy[idx, 1])
    ok = snap.metres <= 150
    idx = [i for i, good in zip(idx, ok, strict=True) if good]
    if not idx:
        return []
    uniq_nodes, first = np.unique(snap.node[ok], return_index=True)
    idx = [idx[i] for i in first]
    reach = _reach(net, uniq_nodes, site_nodes, limit_s)
    out: list[StopReach] = []
    have = covered.copy()
    for _ in range(count):
        gain = (reach & ~have).astype(int) @ people
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        hit = reach[best] & ~have
        have |= reach[best]
        out.append(
            StopReach(None, names[idx[best]], "", "", True, int(hit.sum()), int(people[hit].sum()))
        )
    return out


def describe(c: Coverage) -> str:
    lines = [f"{c.route}: within {c.walk_minutes:g} min walk of its stops"]
    for s in c.stops:
        where = "" if s.on_network else " (outside the walking network's extract)"
        lines.append(
            f"  {s.seq}. {s.name} {s.arrive}–{s.depart}: {s.sites} sites, {s.people} people{where}"
        )
    lines.append(f"  together: {c.covered_sites} sites, {c.covered_people} people")
    for s in c.suggestions:
        lines.append(f"  suggestion: add a stop at {s.name}: +{s.sites} sites, +{s.people} people")
    return "\n".join(lines)


def write_coverage(c: Coverage, out: Path, *, lang: Lang = "pl") -> list[Path]:
    """sos-bus.json (data, field names), the stop table as CSV and a page, the last two in `lang`
    (texts from the catalogue)."""
    tr = translator(lang)
    _ = tr.gettext
    out.mkdir(parents=True, exist_ok=True)
    js = out / "sos-bus.json"
    js.write_text(json.dumps(asdict(c), ensure_ascii=False, indent=1), encoding="utf-8")
    table = out / "sos-bus-przystanki.csv"
    head = [
        tr.pgettext("CSV column", "kolejnosc"),
        tr.pgettext("CSV column", "przystanek"),
        tr.pgettext("CSV column", "przyjazd"),
        tr.pgettext("CSV column", "odjazd"),
        tr.pgettext("CSV column", "miejsca"),
        tr.pgettext("CSV column", "osoby"),
        tr.pgettext("CSV column", "uwagi"),
    ]
    off_network = _("poza zasięgiem danych sieci pieszej")
    proposed = _("proponowany nowy przystanek")
    with table.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(head)
        for s in c.stops:
            w.writerow([s.seq, s.name, s.arrive, s.depart, s.sites, s.people,
                        "" if s.on_network else off_network])  # fmt: skip
        for s in c.suggestions:
            w.writerow(["", s.name, "", "", s.sites, s.people, proposed])
    e = html.escape
    rows = "".join(
        f"<tr><td>{s.seq}</td><td>{e(s.name)}</td><td>{s.arrive}</td><td>{s.depart}</td>"
        f"<td>{s.sites}</td><td>{s.people}</td></tr>"
        for s in c.stops
    )
    # Counts are written without a plural noun in en/uk ("sites +3"); Polish keeps its wording.
    gain = _("+%(sites)d miejsc, +%(people)d osób")
    ideas = "".join(
        f"<li>{e(s.name)}: {e(gain % {'sites': s.sites, 'people': s.people})}</li>"
        for s in c.suggestions
    )
    none = _("brak")
    summary = _(
        "Miejsca niemieszkalne w zasięgu %(minutes)s min pieszo od przystanków: "
        "%(sites)d miejsc, %(people)d osób."
    ) % {
        "minutes": f"{c.walk_minutes:g}",
        "sites": c.covered_sites,
        "people": c.covered_people,
    }
    header = "".join(
        f"<th>{e(h)}</th>"
        for h in (
            _("Nr"),
            _("Przystanek"),
            tr.pgettext("bus stop", "Przyjazd"),
            _("Odjazd"),
            _("Miejsca"),
            _("Osoby"),
        )
    )
    internal = _("Dokument wewnętrzny – nie publikować.")
    proposals = _("Propozycje przystanków")
    credit = _("Dane mapy %(attribution)s") % {"attribution": c.attribution}
    page = out / "sos-bus.html"
    page.write_text(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(c.route)}</title></head><body><h1>{e(c.route)}</h1>"
        f"<p><strong>{e(internal)}</strong></p><p>{e(summary)}</p>"
        f"<table border=1><tr>{header}</tr>{rows}</table>"
        f"<h2>{e(proposals)}</h2><ul>{ideas or f'<li>{e(none)}</li>'}</ul>"
        f"<footer><small>{e(credit)}</small></footer></body></html>",
        encoding="utf-8",
    )
    return [js, table, page]
