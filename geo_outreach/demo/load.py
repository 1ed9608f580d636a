"""Load the Gdańsk–Sopot demonstration data set. Every row it writes is marked as demo.

Deterministic and idempotent: ids are UUIDv5 of stable codes and every insert skips rows that
exist, so running it again adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.vocab import LIVE_SITE_STATUSES, OSM_ATTRIBUTION
from geo_outreach.demo.source import DemoBusRoute, DemoSite, demo_sites, demo_sos_bus_route
from geo_outreach.io import files as io
from layers.models import (
    Area,
    Facility,
    Patrol,
    PatrolStop,
    SleepingSite,
    SosBusDuty,
    SosBusRoute,
    SosBusStop,
    Visit,
)

NAMESPACE = uuid.UUID("6f1c1d2e-8a4b-5c3d-9e0f-0a1b2c3d4e5f")
ACTOR = "demo"
TZ = ZoneInfo("Europe/Warsaw")
# Wide enough for the demo's own checks; imports use the configured service area.
DEMO_AREA = (18.0, 54.0, 19.2, 54.8)


def demo_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


@dataclass
class Summary:
    added: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    year: int = 0


def _insert(session: Session, model: Any, rows: list[dict[str, Any]], key: list[str]) -> int:
    """INSERT … ON CONFLICT DO NOTHING; returns how many rows were new."""
    if not rows:
        return 0
    added = 0
    for start in range(0, len(rows), 1000):
        stmt = (
            insert(model)
            .on_conflict_do_nothing(index_elements=key)
            .returning(model.__table__.c[key[0]])
        )
        added += len(session.execute(stmt, rows[start : start + 1000]).all())
    return added


def _ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon:.7f} {lat:.7f})"


# -- areas ------------------------------------------------------------------------------------


def load_areas(session: Session, data_dir: Path) -> int:
    boundaries = data_dir / "boundaries"
    have = session.execute(
        select(func.count()).select_from(Area).where(Area.is_demo.is_(True))
    ).scalar_one()
    if have:
        return 0
    added = 0
    for file, kind in (
        (boundaries / "gdansk-districts" / "Dzielnice.shp", "district"),
        (boundaries / "sopot.geojson", "city"),
    ):
        result = io.import_file(
            session,
            "areas",
            file,
            actor=ACTOR,
            role="demo",
            service_area=DEMO_AREA,
            kind=kind,
            is_demo=True,
        )
        added += result.inserted
    # Gdańsk as a city: the union of its districts, so every site has a city.
    session.execute(
        insert(Area)
        .from_select(
            ["kind", "name", "source", "geom", "is_demo", "created_by", "updated_by"],
            select(
                literal("city"),
                literal("Gdańsk"),
                literal("union of Dzielnice.shp"),
                func.ST_Multi(func.ST_Union(Area.geom)),
                literal(True),
                literal(ACTOR),
                literal(ACTOR),
            ).where(Area.kind == "district", Area.is_demo.is_(True)),
        )
        .on_conflict_do_nothing()
    )
    return added + 1


# -- facilities -------------------------------------------------------------------------------

DAILY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WORKDAYS = ("MO", "TU", "WE", "TH", "FR")


def _hours(days: tuple[str, ...], opens: str, closes: str) -> list[dict[str, str]]:
    return [{"byday": d, "opens_at": opens, "closes_at": closes} for d in days]


# Invented places at plausible spots; names say "demo" so nobody mistakes them for real ones.
FACILITIES: list[dict[str, Any]] = [
    dict(
        code="DEMO-F01",
        name="Ogrzewalnia (demo) – Śródmieście",
        type="ogrzewalnia",
        lon=18.6446,
        lat=54.3455,
        capacity=40,
        free_beds=12,
        public=True,
        address="ul. Przykładowa 1, Gdańsk (demo)",
        phone="+48 58 000 00 01",
        opening_hours=_hours(DAILY, "18:00", "08:00"),
        season_from="10-15",
        season_to="04-15",
    ),
    dict(
        code="DEMO-F02",
        name="Noclegownia (demo) – Wrzeszcz",
        type="noclegownia",
        lon=18.6127,
        lat=54.3801,
        capacity=60,
        free_beds=5,
        public=True,
        address="ul. Przykładowa 2, Gdańsk (demo)",
        phone="+48 58 000 00 02",
        opening_hours=_hours(DAILY, "19:00", "07:00"),
    ),
    dict(
        code="DEMO-F03",
        name="Schronisko (demo) – Oliwa",
        type="schronisko",
        lon=18.5705,
        lat=54.3990,
        capacity=80,
        free_beds=3,
        public=True,
        address="ul. Przykładowa 3, Gdańsk (demo)",
        phone="+48 58 000 00 03",
        opening_hours=_hours(DAILY, "00:00", "24:00"),
    ),
    dict(
        code="DEMO-F04",
        name="Schronisko z usługami opiekuńczymi (demo)",
        type="schronisko_uslugi_opiekuncze",
        lon=18.6262,
        lat=54.3387,
        capacity=30,
        free_beds=1,
        public=True,
        address="ul. Przykładowa 4, Gdańsk (demo)",
        phone="+48 58 000 00 04",
        opening_hours=_hours(DAILY, "00:00", "24:00"),
    ),
    dict(
        code="DEMO-F05",
        name="Jadłodajnia (demo) – Śródmieście",
        type="jadlodajnia",
        lon=18.6521,
        lat=54.3499,
        public=True,
        address="ul. Przykładowa 5, Gdańsk (demo)",
        opening_hours=_hours(WORKDAYS, "12:00", "15:00"),
    ),
    # The planner's default base: teams leave from and return to the MOPS office.
    dict(
        code="DEMO-F09",
        name="MOPS Gdańsk – zespół streetworkerów (demo)",
        type="mops",
        lon=18.6402,
        lat=54.3598,
        public=True,
        address="ul. Przykładowa 11, Gdańsk (demo)",
        phone="+48 58 000 00 11",
        opening_hours=_hours(WORKDAYS, "08:00", "20:00"),
    ),
    dict(
        code="DEMO-F06",
        name="MOPS Sopot (demo)",
        type="mops",
        lon=18.5631,
        lat=54.4412,
        public=True,
        address="ul. Przykładowa 6, Sopot (demo)",
        phone="+48 58 000 00 06",
        opening_hours=_hours(WORKDAYS, "08:00", "16:00"),
    ),
    dict(
        code="DEMO-F07",
        name="Zimowy Punkt Interwencyjny (demo) – Sopot",
        type="zimowy_punkt_interwencyjny",
        lon=18.5688,
        lat=54.4461,
        capacity=15,
        free_beds=6,
        public=True,
        address="ul. Przykładowa 7, Sopot (demo)",
        opening_hours=_hours(DAILY, "20:00", "06:00"),
        season_from="11-01",
        season_to="03-31",
    ),
    dict(
        code="DEMO-F08",
        name="Punkt medyczny (demo)",
        type="punkt_medyczny",
        lon=18.6385,
        lat=54.3553,
        public=True,
        address="ul. Przykładowa 8, Gdańsk (demo)",
        opening_hours=_hours(("TU", "TH"), "16:00", "19:00"),
    ),
    # A shelter for violence survivors: confidential, never on any public output.
    dict(
        code="DEMO-F10",
        name="Schronisko interwencyjne (demo, poufne)",
        type="schronisko",
        lon=18.6198,
        lat=54.3702,
        capacity=12,
        free_beds=2,
        public=False,
        confidential=True,
    ),
]


def load_facilities(session: Session, updated_at: datetime) -> int:
    rows = []
    for spec in FACILITIES:
        row = {k: v for k, v in spec.items() if k not in ("lon", "lat")}
        row.update(
            id=demo_id("facility", spec["code"]),
            geom=_ewkt(spec["lon"], spec["lat"]),
            free_beds_updated_at=updated_at if spec.get("free_beds") is not None else None,
            is_demo=True,
            created_by=ACTOR,
            updated_by=ACTOR,
        )
        rows.append(row)
    return _insert(session, Facility, rows, ["code"])


# -- sites ------------------------------------------------------------------------------------


def load_sites(session: Session, sites: list[DemoSite]) -> int:
    rows = [
        {
            "id": demo_id("site", s.code),
            "code": s.code,
            "name": s.name,
            "category": s.category,
            "status": s.status,
            "estimated_people": s.estimated_people,
            "hazards": list(s.hazards),
            "access_notes": s.access_notes,
            "geom": _ewkt(s.lon, s.lat),
            "is_demo": True,
            "created_by": ACTOR,
            "updated_by": ACTOR,
        }
        for s in sites
    ]
    return _insert(session, SleepingSite, rows, ["code"])


# -- SOS bus ----------------------------------------------------------------------------------


# Every winter, November to March (month-days: the season recurs each year).
BUS_SEASON = ("11-01", "03-31")


def load_sos_bus(session: Session, route: DemoBusRoute, year: int) -> tuple[int, uuid.UUID]:
    route_id = demo_id("sos-bus", route.name)
    line = ", ".join(f"{x:.7f} {y:.7f}" for x, y in route.coords)
    added = _insert(
        session,
        SosBusRoute,
        [
            {
                "id": route_id,
                "name": route.name,
                "season_from": BUS_SEASON[0],
                "season_to": BUS_SEASON[1],
                "geom": f"SRID=4326;LINESTRING({line})",
                "is_demo": True,
                "created_by": ACTOR,
                "updated_by": ACTOR,
            }
        ],
        ["id"],
    )
    stops = [
        {
            "id": demo_id("sos-bus", route.name, stop.seq),
            "route_id": route_id,
            "seq": stop.seq,
            "name": stop.name,
            "arrive_time": time.fromisoformat(stop.arrive),
            "depart_time": time.fromisoformat(stop.depart),
            # No season of their own: the stops run in the route's.
            "geom": _ewkt(stop.lon, stop.lat),
        }
        for stop in route.stops
    ]
    added += _insert(session, SosBusStop, stops, ["id"])
    return added, route_id


def _in_bus_season(day: date) -> bool:
    md = day.strftime("%m-%d")
    return md >= BUS_SEASON[0] or md <= BUS_SEASON[1]


def sos_bus_duties(
    route_id: uuid.UUID, year: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    rows = []
    day = date(year, 1, 1)
    while day.year == year:
        if _in_bus_season(day):
            cold = 1.4 if day.month in (1, 2) else 1.0
            uses = int(rng.poisson(11 * cold))
            rows.append(
                {
                    "id": demo_id("sos-duty", route_id, day),
                    "route_id": route_id,
                    "duty_date": day,
                    "uses": uses,
                    "meals": int(rng.binomial(uses, 0.9)),
                    "clothes": int(rng.poisson(2.5 * cold)),
                    "rides_to_warming_centre": int(rng.poisson(0.8 * cold)),
                    "is_demo": True,
                    "created_by": ACTOR,
                }
            )
        day += timedelta(days=1)
    return rows


# -- patrols and visits -----------------------------------------------------------------------

REFERRAL_TYPES = ("noclegownia", "ogrzewalnia", "schronisko", "schronisko_uslugi_opiekuncze")
NOTES = (
    "Rozmowa, przekazano informację o ofercie pomocy.",
    "Osoba odmówiła pomocy, stan ogólny dobry.",
    "Przekazano ulotkę z numerami telefonów.",
    "Ustalono kolejną wizytę.",
    "Zgłoszono potrzebę odzieży zimowej.",
)
# (kind, how many, agencies choices, months weights, start hour, hours, sites per patrol)
PLAN: list[tuple[str, int, list[list[str]], list[float], int, int, tuple[int, int]]] = [
    (
        "joint",
        77,
        [["mops", "straz_miejska"], ["mops", "policja"]],
        [10, 9, 7, 5, 5, 4, 4, 4, 5, 6, 8, 10],
        18,
        3,
        (3, 6),
    ),
    (
        "streetwork",
        152,
        [["ngo"], ["mops", "ngo"]],
        [4, 4, 8, 12, 15, 16, 16, 16, 13, 9, 5, 4],
        10,
        4,
        (3, 6),
    ),
    (
        "akcja_zima",
        4,
        [["mops", "straz_miejska", "ngo"]],
        [3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        21,
        5,
        (18, 24),
    ),
    (
        "inspection",
        4,
        [["mops", "straz_miejska", "policja"]],
        [0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1],
        9,
        6,
        (15, 25),
    ),
]


def patrols_and_visits(
    sites: list[DemoSite], year: int, rng: np.random.Generator
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """A year of patrols with their stops and visits, of the order of Sopot's 2024 figures."""
    xy = np.array([(s.lon, s.lat) for s in sites])
    live = np.array([s.status in LIVE_SITE_STATUSES for s in sites])
    patrols: list[dict[str, Any]] = []
    stops: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    days = np.array([date(year, 1, 1) + timedelta(days=i) for i in range(365)])
    months = np.array([d.month for d in days])
    for kind, count, agencies, weights, hour, hours, size in PLAN:
        w = np.array([weights[m - 1] for m in months], dtype=float)
        chosen = np.sort(rng.choice(len(days), size=count, replace=False, p=w / w.sum()))
        for n, day_index in enumerate(chosen, start=1):
            day = days[day_index]
            code = f"DEMO-P-{year}-{kind}-{n:03d}"
            pid = demo_id("patrol", code)
            start = datetime.combine(day, time(hour, 0), TZ)
            end = start + timedelta(hours=hours)
            patrols.append(
                {
                    "id": pid,
                    "code": code,
                    "kind": kind,
                    "agencies": agencies[int(rng.integers(len(agencies)))],
                    "planned_start": start,
                    "planned_end": end,
                    "team_size": int(rng.integers(2, 4)),
                    "status": "done",
                    "is_demo": True,
                    "created_by": ACTOR,
                    "updated_by": ACTOR,
                }
            )
            # A walkable cluster: the sites nearest to a random live site.
            centre = xy[int(rng.choice(np.flatnonzero(live)))]
            order = np.argsort(((xy - centre) ** 2).sum(axis=1))
            k = int(rng.integers(size[0], size[1] + 1))
            picked = [i for i in order[: k * 2] if live[i] or rng.random() < 0.2][:k]
            step = timedelta(minutes=int(hours * 60 / (len(picked) + 1)))
            for seq, i in enumerate(picked, start=1):
                site = sites[i]
                at = start + step * seq
                stops.append(
                    {
                        "patrol_id": pid,
                        "seq": seq,
                        "site_id": demo_id("site", site.code),
                        "eta": at,
                        "service_minutes": 15,
                        "geom": _ewkt(site.lon, site.lat),
                    }
                )
                visits.append(_visit(pid, code, seq, site, at, kind, rng))
    return patrols, stops, visits


def _visit(
    pid: uuid.UUID,
    code: str,
    seq: int,
    site: DemoSite,
    at: datetime,
    kind: str,
    rng: np.random.Generator,
) -> dict[str, Any]:
    present = site.estimated_people if site.status in LIVE_SITE_STATUSES else 0
    met = int(rng.binomial(present, 0.6)) if present else int(rng.random() < 0.1)
    winter = at.month in (1, 2, 3, 11, 12)
    aided = int(rng.binomial(met, 0.32))
    referred = int(rng.binomial(met, 0.06))
    help_given = []
    if aided:
        help_given.append("pre_medical_aid")
    if met and (kind == "akcja_zima" or (winter and rng.random() < 0.5)):
        help_given.append("hot_meal")
    if met and winter and rng.random() < 0.3:
        help_given.append("clothes")
    if met and rng.random() < 0.7:
        help_given.append("information")
    if referred:
        help_given.append("referral")
    return {
        "id": demo_id("visit", code, seq),
        "site_id": demo_id("site", site.code),
        "patrol_id": pid,
        "visited_at": at,
        "people_met": met,
        "women_met": int(rng.binomial(met, 0.14)),
        "people_aided": aided,
        "people_referred": referred,
        "help_given": help_given,
        "referral_facility_type": REFERRAL_TYPES[int(rng.integers(len(REFERRAL_TYPES)))]
        if referred
        else None,
        "on_request_of_services": kind == "joint" and rng.random() < 0.12,
        "note": NOTES[int(rng.integers(len(NOTES)))] if met else None,
        "note_sensitive": True,
        "is_demo": True,
        "created_by": ACTOR,
    }


# -- all --------------------------------------------------------------------------------------


def _has_demo(session: Session, model: Any) -> bool:
    return bool(session.execute(select(model.id).where(model.is_demo).limit(1)).first())


def stored_sites(session: Session) -> list[DemoSite]:
    """The demo sites already in the database, in code order (as generated)."""
    rows = session.execute(
        select(
            SleepingSite.code,
            SleepingSite.name,
            SleepingSite.category,
            SleepingSite.status,
            SleepingSite.estimated_people,
            SleepingSite.hazards,
            SleepingSite.access_notes,
            func.ST_X(SleepingSite.geom),
            func.ST_Y(SleepingSite.geom),
        )
        .where(SleepingSite.is_demo)
        .order_by(SleepingSite.code)
    ).all()
    return [
        DemoSite(r[0], r[1], r[2], r[3], r[4], tuple(r[5]), r[6] or "", r[7], r[8], "")
        for r in rows
    ]


PUBLIC_CLEARANCE_M = 220.0  # the 200 m of the public map's privacy rule, plus the jitter


def _near_public_places(route: DemoBusRoute) -> shapely.Geometry:
    """Everything within PUBLIC_CLEARANCE_M of a public facility, a bus stop or the bus route."""
    to_m = Transformer.from_crs(4326, 2180, always_xy=True)
    to_deg = Transformer.from_crs(2180, 4326, always_xy=True)
    places = [
        shapely.Point(f["lon"], f["lat"])
        for f in FACILITIES
        if f.get("public") and not f.get("confidential")
    ]
    places += [shapely.Point(s.lon, s.lat) for s in route.stops]
    places.append(shapely.LineString(route.coords))
    metric = shapely.transform(shapely.GeometryCollection(places), lambda c: np.column_stack(
        to_m.transform(c[:, 0], c[:, 1])))  # fmt: skip
    zone = metric.buffer(PUBLIC_CLEARANCE_M)
    return shapely.transform(zone, lambda c: np.column_stack(to_deg.transform(c[:, 0], c[:, 1])))


def load(
    session: Session,
    *,
    data_dir: Path,
    seed: int,
    year: int,
    log: Callable[[str], None] = lambda _: None,
) -> Summary:
    """Load everything; the caller commits. Safe to run again: it adds only what is missing."""
    if not (data_dir / "osm").is_dir():
        msg = (
            f"shared data not found at {data_dir} (expected osm/, transit/, boundaries/); "
            "set GEO_OUTREACH_DATA_DIR"
        )
        raise GeoOutreachError(msg)
    summary = Summary(year=year)
    log("  areas: Gdańsk districts (EPSG:2177 → 4326) and the Sopot boundary")
    summary.added["areas"] = load_areas(session, data_dir)
    log("  facilities")
    summary.added["facilities"] = load_facilities(session, datetime(year, 12, 31, 20, 0, tzinfo=TZ))
    log("  SOS bus route along the transit streets")
    route = demo_sos_bus_route(data_dir)
    added, route_id = load_sos_bus(session, route, year)
    summary.added["sos_bus"] = added
    log("  sleeping sites from OSM features of the extract")
    # Sites only inside the served cities (the extract reaches into neighbouring communes) and
    # never within 200 m of anything the public map shows, so no public coordinate is near one.
    cities = session.execute(
        select(func.ST_AsBinary(func.ST_Union(Area.geom))).where(
            Area.kind == "city", Area.is_demo.is_(True)
        )
    ).scalar_one()
    # Each generated part is loaded whole or not at all, so a changed generator never mixes
    # with an older demo already in the database.
    if _has_demo(session, SleepingSite):
        sites = stored_sites(session)
        summary.added["sleeping_sites"] = 0
    else:
        allowed = shapely.from_wkb(bytes(cities)).difference(_near_public_places(route))
        sites = demo_sites(data_dir, seed=seed, within=allowed)
        summary.added["sleeping_sites"] = load_sites(session, sites)
    rng = np.random.default_rng(seed)
    duties = sos_bus_duties(route_id, year, rng)
    summary.added["sos_bus_duties"] = _insert(session, SosBusDuty, duties, ["id"])
    log(f"  a year ({year}) of patrols and visits")
    if _has_demo(session, Patrol):
        summary.added.update(patrols=0, patrol_stops=0, visits=0)
    else:
        patrols, stops, visits = patrols_and_visits(sites, year, rng)
        summary.added["patrols"] = _insert(session, Patrol, patrols, ["id"])
        summary.added["patrol_stops"] = _insert(session, PatrolStop, stops, ["patrol_id", "seq"])
        summary.added["visits"] = _insert(session, Visit, visits, ["id"])
    summary.totals = yearly_totals(session, year)
    return summary


def yearly_totals(session: Session, year: int) -> dict[str, int]:
    start = datetime(year, 1, 1, tzinfo=TZ)
    end = datetime(year + 1, 1, 1, tzinfo=TZ)
    in_year = (Visit.visited_at >= start) & (Visit.visited_at < end) & Visit.is_demo.is_(True)
    kinds = dict(
        session.execute(
            select(Patrol.kind, func.count())
            .where(Patrol.planned_start >= start, Patrol.planned_start < end, Patrol.is_demo)
            .group_by(Patrol.kind)
        ).all()
    )
    met, women, aided, referred = session.execute(
        select(
            func.coalesce(func.sum(Visit.people_met), 0),
            func.coalesce(func.sum(Visit.women_met), 0),
            func.coalesce(func.sum(Visit.people_aided), 0),
            func.coalesce(func.sum(Visit.people_referred), 0),
        ).where(in_year)
    ).one()
    duties, uses = session.execute(
        select(func.count(), func.coalesce(func.sum(SosBusDuty.uses), 0)).where(
            SosBusDuty.duty_date >= date(year, 1, 1),
            SosBusDuty.duty_date < date(year + 1, 1, 1),
            SosBusDuty.is_demo,
        )
    ).one()
    return {
        "joint_patrols": kinds.get("joint", 0),
        "streetwork_patrols": kinds.get("streetwork", 0),
        "akcja_zima_patrols": kinds.get("akcja_zima", 0),
        "inspections": kinds.get("inspection", 0),
        "contacts": int(met),
        "women_contacted": int(women),
        "pre_medical_aids": int(aided),
        "people_referred": int(referred),
        "sos_bus_duties": int(duties),
        "sos_bus_uses": int(uses),
    }


def describe(summary: Summary) -> str:
    added = ", ".join(f"{k} {v}" for k, v in summary.added.items())
    t = summary.totals
    return (
        f"demo data (marked as demo; map data {OSM_ATTRIBUTION}):\n"
        f"  added this run: {added}\n"
        f"  year {summary.year}: {t['joint_patrols']} joint patrols, "
        f"{t['streetwork_patrols']} streetwork patrols, "
        f"{t['akcja_zima_patrols']} Akcja Zima nights, "
        f"{t['inspections']} inspections; {t['contacts']} contacts "
        f"({t['women_contacted']} women), {t['pre_medical_aids']} pre-medical aids, "
        f"{t['people_referred']} referrals; SOS bus: {t['sos_bus_duties']} duties, "
        f"{t['sos_bus_uses']} uses"
    )
