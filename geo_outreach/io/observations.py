"""Observations (a count night, a streetworker's tally sheet) → sleeping sites and their visits.

Each observation is a date, a people count and a position, in any CRS. Observations are matched
to the nearest stored site within `radius` metres first; the rest are grouped into new sites:
the observation with the most others within the radius becomes a site and takes them all,
then the next (ties broken by position), so the grouping does not depend on the order of the
rows. A new site stands at that observation, so every observation of it lies within the radius
and a re-run matches them all. Each observation becomes one visit of its site; a visit's id is
derived from the observation itself (time, place, count), so a re-run adds nothing.

Distances are in metres on an azimuthal equidistant projection centred on the service area
(exact from its centre, within 0.1 % over a city).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from geo_outreach.core.errors import RowProblem, invalid
from geo_outreach.core.settings import get_settings
from geo_outreach.core.vocab import SITE_CATEGORIES
from geo_outreach.io.files import Loaded, Row, load, settle, validate, write_refused
from layers import audit, sites, visits
from layers.models import SleepingSite, Visit
from layers.rules import OneOf

LAYER = "observations"
CODE_PREFIX = "OBS"  # sites made from observations: OBS-0001, OBS-0002, …
DEFAULT_CATEGORY = "inne"
# The fields an observation's columns map to (a visit's); `set` may also give the category of
# the sites the import makes.
FIELDS = ["visited_at", "people_met", "note"]
MAX_RADIUS_M = 1000.0
# Visit ids of observations: uuid5 in this namespace (fixed forever: changing it re-adds all).
NAMESPACE = uuid.UUID("1f0c6f5e-5b1e-4f0a-9a57-6d3c1c0b7a21")


@dataclass
class ObservationsResult:
    """What an observations import wrote (or, in a dry run, would write)."""

    layer: str = LAYER
    dry_run: bool = False
    observations: int = 0
    sites_created: int = 0
    sites_matched: int = 0
    visits_written: int = 0
    visits_present: int = 0  # already stored by an earlier run of the same observations
    mapped_columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    refused: list[RowProblem] = field(default_factory=list)
    refused_rows: int = 0
    refused_file: Path | None = None

    def report(self) -> dict[str, Any]:
        out = asdict(self)
        out["refused"] = [asdict(p) for p in self.refused]
        out["refused_file"] = str(self.refused_file) if self.refused_file else None
        return out


@dataclass
class _Observation:
    row: Row
    visited_at: datetime
    people: int
    note: str | None
    lon: float
    lat: float
    visit_id: uuid.UUID = NAMESPACE
    site: int = -1  # index into the sites


@dataclass
class _Site:
    lon: float
    lat: float
    id: uuid.UUID | None = None  # stored sites have one; new ones get theirs when written
    code: str = ""
    latest: _Observation | None = None


def import_observations(
    session: Session,
    path: Path,
    *,
    actor: str,
    role: str,
    service_area: tuple[float, float, float, float],
    crs: str | None = None,
    radius: float = 50.0,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    refused_to: Path | None = None,
    source: str | None = None,
) -> ObservationsResult:
    """Observations → sites (matched or created) and one visit each; a re-run adds nothing.

    `radius` is the ground distance in metres within which observations are one site. The
    other options are those of geo_outreach.io.files.import_file.
    """
    if not 1.0 <= radius <= MAX_RADIUS_M:
        msg = f"must be between 1 and {MAX_RADIUS_M:.0f} metres"
        raise invalid("radius", msg)
    given = dict(defaults or {})
    category = _category(given.pop("category", DEFAULT_CATEGORY))
    loaded = load(
        path,
        aliases=visits.IMPORT_ALIASES,
        fields=FIELDS,
        geometry_type="POINT",
        service_area=service_area,
        crs=crs,
        mapping=mapping,
        defaults=given,
        source=source,
    )
    observations = _observations(loaded)
    refused = settle(loaded, skip_invalid=skip_invalid)
    observations = [o for o in observations if o.row.number not in refused]
    result = ObservationsResult(
        dry_run=dry_run,
        observations=len(observations),
        mapped_columns=loaded.columns.fields,
        ignored_columns=loaded.columns.ignored,
        refused=loaded.problems,
        refused_rows=len(refused),
    )
    _visit_ids(observations)
    stored = _stored_sites(session, observations, radius, service_area)
    site_list = cluster(observations, stored, radius=radius, service_area=service_area)
    matched = sorted({o.site for o in observations if o.site < len(stored)})
    new = [s for i, s in enumerate(site_list) if i >= len(stored)]
    present = _present(session, [o.visit_id for o in observations])
    fresh = [o for o in observations if o.visit_id not in present]
    result.sites_created, result.sites_matched = len(new), len(matched)
    result.visits_written, result.visits_present = len(fresh), len(present)
    matched_ids = [i for i in (site_list[n].id for n in matched) if i is not None]
    if dry_run:
        _audit(session, actor, role, "import_check", "sleeping_sites", matched_ids, loaded, result)
        return result
    _write_sites(session, new, category=category, actor=actor)
    _write_visits(session, fresh, site_list, actor=actor)
    if refused and refused_to is not None:
        result.refused_file = write_refused(loaded, refused_to)
    created = [i for i in (s.id for s in new) if i is not None]
    _audit(session, actor, role, "import", "sleeping_sites", created + matched_ids, loaded, result)
    _audit(session, actor, role, "import", "visits", [o.visit_id for o in fresh], loaded, result)
    return result


# -- reading ---------------------------------------------------------------------------------


def _category(given: str) -> str:
    """The category of the sites this import makes (checked as a site's), a `set` default."""
    try:
        return OneOf(SITE_CATEGORIES).check(given)
    except ValueError as exc:
        raise invalid("set", f"category: {exc}") from None


def _observations(loaded: Loaded) -> list[_Observation]:
    zone = ZoneInfo(get_settings().timezone)
    out: list[_Observation] = []
    for row in loaded.rows:
        values = dict(row.values)
        if "visited_at" in values:
            try:
                values["visited_at"] = _when(values["visited_at"], zone)
            except ValueError as exc:
                loaded.refuse(row, "visited_at", str(exc))
                continue
        # Checked by the visits' own schema (times 2000-01-01 … now); the site comes later.
        clean = validate(
            loaded, row, visits.VisitIn, {**values, "site_id": NAMESPACE}, strict=False
        )
        if clean is None or row.geometry is None:
            continue
        point: Any = row.geometry
        out.append(
            _Observation(
                row,
                datetime.fromisoformat(clean["visited_at"]),
                int(clean["people_met"]),
                clean["note"],
                float(point.x),
                float(point.y),
            )
        )
    return out


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")


def _when(value: Any, zone: ZoneInfo) -> datetime:
    """A cell as an aware time: a date alone is its local midnight; a time without a zone is
    local (the settings' time zone); 15.01.2026 is read as Polish spreadsheets write it."""
    if isinstance(value, str):
        text = value.strip()
        dotted = _DOTTED.fullmatch(text)
        if dotted:
            text = f"{dotted[3]}-{int(dotted[2]):02d}-{int(dotted[1]):02d}"
        if not _DAY.match(text):
            msg = f"'{value}' is not a date like 2026-01-15 or 2026-01-15T22:30"
            raise ValueError(msg)
        try:
            value = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
        except ValueError as exc:
            msg = f"'{value}' is not a date: {exc}"
            raise ValueError(msg) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=zone)
    msg = f"'{value}' is not a date like 2026-01-15"
    raise ValueError(msg)


def _visit_ids(observations: list[_Observation]) -> None:
    """Each observation's visit id, from what it is (not from its row number): the same
    observation in a longer or reordered file keeps its id; identical ones are counted."""
    seen: dict[str, int] = {}
    for o in observations:
        key = f"{o.visited_at.isoformat()}|{o.lon:.6f}|{o.lat:.6f}|{o.people}"
        seen[key] = seen.get(key, 0) + 1
        digest = hashlib.blake2b(f"{key}|{seen[key]}".encode(), digest_size=16).hexdigest()
        o.visit_id = uuid.uuid5(NAMESPACE, digest)


# -- grouping --------------------------------------------------------------------------------


def metric(service_area: tuple[float, float, float, float]) -> Transformer:
    """lon/lat → metres on the ground, centred on the service area."""
    lon0 = (service_area[0] + service_area[2]) / 2
    lat0 = (service_area[1] + service_area[3]) / 2
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    return Transformer.from_crs(CRS.from_epsg(4326), local, always_xy=True)


def cluster(
    observations: list[_Observation],
    stored: list[_Site],
    *,
    radius: float,
    service_area: tuple[float, float, float, float],
) -> list[_Site]:
    """Give each observation its site (`.site`): the nearest stored one within `radius`, else a
    new one. Returns the stored sites followed by the new ones."""
    sites_out = list(stored)
    if not observations:
        return sites_out
    to_m = metric(service_area)
    x, y = to_m.transform(
        np.array([o.lon for o in observations]), np.array([o.lat for o in observations])
    )
    points = np.column_stack([x, y])
    free = np.ones(len(observations), dtype=bool)
    if stored:
        sx, sy = to_m.transform(
            np.array([s.lon for s in stored]), np.array([s.lat for s in stored])
        )
        distance, nearest = cKDTree(np.column_stack([sx, sy])).query(
            points, distance_upper_bound=radius
        )
        hit = np.isfinite(distance)
        for i in np.flatnonzero(hit):
            observations[i].site = int(nearest[i])
        free &= ~hit
    todo = np.flatnonzero(free)
    if len(todo):
        tree = cKDTree(points[todo])
        counts = tree.query_ball_point(points[todo], radius, return_length=True)
        # Densest first; ties by position (rounded to cm), so the row order does not matter.
        rounded = np.round(points[todo], 2)
        order = np.lexsort((rounded[:, 1], rounded[:, 0], -counts))
        open_ = np.ones(len(todo), dtype=bool)
        for seed in order:
            if not open_[seed]:
                continue
            members = [m for m in tree.query_ball_point(points[todo[seed]], radius) if open_[m]]
            open_[members] = False
            first = observations[todo[seed]]
            sites_out.append(_Site(first.lon, first.lat))
            for m in members:
                observations[todo[m]].site = len(sites_out) - 1
    for o in observations:
        site = sites_out[o.site]
        if site.latest is None or (o.visited_at, o.row.number) > (
            site.latest.visited_at,
            site.latest.row.number,
        ):
            site.latest = o
    return sites_out


def _stored_sites(
    session: Session,
    observations: list[_Observation],
    radius: float,
    service_area: tuple[float, float, float, float],
) -> list[_Site]:
    """The real (not demo) sites near the observations, in a stable order."""
    if not observations:
        return []
    lons = [o.lon for o in observations]
    lats = [o.lat for o in observations]
    pad_lat = radius / 111_000 * 1.5
    pad_lon = pad_lat / max(np.cos(np.radians(max(abs(min(lats)), abs(max(lats))))), 0.1)
    box = func.ST_MakeEnvelope(
        min(lons) - pad_lon, min(lats) - pad_lat, max(lons) + pad_lon, max(lats) + pad_lat, 4326
    )
    geom = SleepingSite.geom
    stmt = (
        select(SleepingSite.id, SleepingSite.code, func.ST_X(geom), func.ST_Y(geom))
        .where(SleepingSite.is_demo.is_(False), SleepingSite.geom.op("&&")(box))
        .order_by(SleepingSite.code)
    )
    found = session.execute(stmt)
    return [_Site(float(lon), float(lat), id_, code) for id_, code, lon, lat in found]


def _present(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    ids_param = bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
    stmt = select(Visit.id).where(Visit.id == func.any(ids_param))
    return set(session.scalars(stmt, {"ids": ids}))


# -- writing ---------------------------------------------------------------------------------


def _write_sites(session: Session, new: list[_Site], *, category: str, actor: str) -> None:
    """The new sites, numbered after the highest OBS- code stored, in one flush."""
    if not new:
        return
    stmt = select(SleepingSite.code).where(SleepingSite.code.like(f"{CODE_PREFIX}-%"))
    tails = [code.split("-", 1)[1] for code in session.scalars(stmt)]
    last = max((int(t) for t in tails if t.isdigit()), default=0)
    records = []
    for n, site in enumerate(new, start=last + 1):
        site.code = f"{CODE_PREFIX}-{n:04d}"
        people = site.latest.people if site.latest else 0
        values = sites.SiteIn.model_validate(
            {
                "code": site.code,
                "name": f"{site.code} (z obserwacji)",
                "category": category,
                "estimated_people": people,
            }
        ).model_dump()
        point = f"SRID=4326;POINT({site.lon!r} {site.lat!r})"
        records.append(SleepingSite(**values, geom=point, created_by=actor, updated_by=actor))
    session.add_all(records)
    session.flush()
    for site, record in zip(new, records, strict=True):
        site.id = record.id


def _write_visits(
    session: Session, fresh: list[_Observation], sites_out: list[_Site], *, actor: str
) -> None:
    """One visit per observation, as one multi-row INSERT (the visits' schema checked each)."""
    rows = [
        {
            "id": o.visit_id,
            "site_id": sites_out[o.site].id,
            "visited_at": o.visited_at,
            "people_met": o.people,
            "note": o.note,
            "created_by": actor,
        }
        for o in fresh
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(Visit), rows[start : start + 5000])


def _audit(
    session: Session,
    actor: str,
    role: str,
    action: str,
    layer: str,
    ids: list[uuid.UUID],
    loaded: Loaded,
    result: ObservationsResult,
) -> None:
    detail = {
        "file": loaded.source,
        "observations": result.observations,
        "sites_created": result.sites_created,
        "sites_matched": result.sites_matched,
        "visits_written": result.visits_written,
        "refused": result.refused_rows,
    }
    audit.record(
        session, actor=actor, role=role, action=action, layer=layer, object_ids=ids, detail=detail
    )
