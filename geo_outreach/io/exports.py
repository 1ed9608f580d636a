"""The one export engine: rows of a layer → GeoJSON, GeoPackage, CSV or GPX bytes.

The CLI (`export_layer`, a whole table to a file) and the API (a role's rows and fields, as a
download) both call `export`. Which rows and fields go out is the caller's (its policy); what a
file looks like is decided here, once. Every file carries the OpenStreetMap attribution: the
GeoJSON `attribution` member, GeoPackage metadata and layer description, a CSV column, the GPX
copyright element.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import geopandas as gpd
import gpxpy.gpx
import pandas as pd
import pyogrio
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import invalid
from geo_outreach.core.vocab import OSM_ATTRIBUTION
from geo_outreach.io.files import canonical_layer
from layers import audit, features
from layers.features import Cond

FORMATS = ("geojson", "gpkg", "csv", "gpx")
MEDIA = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "csv": "text/csv; charset=utf-8",
    "gpx": "application/gpx+xml",
}
ATTRIBUTION = f"Map data {OSM_ATTRIBUTION} (ODbL 1.0) where derived from OpenStreetMap"
ODBL = "https://opendatacommons.org/licenses/odbl/1-0/"
EVERY_ROW = 2**63 - 1  # LIMIT's ceiling (bigint): a whole table
# Exports of these hold people's data: the CLI's are audited here, the API's by its requests.
AUDITED = frozenset({"sleeping_sites", "visits", "patrols"})


@dataclass(frozen=True)
class Exported:
    """A finished file and the ids of the rows in it (for the caller's audit row)."""

    body: bytes
    ids: list[uuid.UUID]
    fmt: str
    name: str

    @property
    def media_type(self) -> str:
        return MEDIA[self.fmt]

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.fmt}"


def check_format(table: str, fmt: str) -> None:
    """Refuse a format this engine does not write, or GPX for a layer without geometry."""
    if fmt not in FORMATS:
        msg = f"'{fmt}' is not one of: {', '.join(FORMATS)}"
        raise invalid("format", msg)
    if fmt == "gpx" and features.LAYOUT[table][0] is None:
        ok = ", ".join(f for f in FORMATS if f != "gpx")
        msg = f"{table} have no geometry; use {ok}"
        raise invalid("format", msg)


def export(
    session: Session,
    table: str,
    *,
    fmt: str,
    fields: Sequence[str],
    conds: Sequence[Cond] = (),
    limit: int = EVERY_ROW,
    name: str | None = None,
) -> Exported:
    """The rows of `table` matching `conds` (in the layer's order), with the id and `fields`."""
    check_format(table, fmt)
    name = name or table
    if fmt == "geojson":
        page = features.page(session, table, fields=fields, conds=conds, limit=limit, count=False)
        return Exported(_geojson(page.features), page.ids, fmt, name)
    # Which rows: the same query as every read; their typed columns (dates stay dates) next.
    chosen = features.page(
        session, table, fields=(), conds=conds, limit=limit, count=False, features=False
    )
    frame = _frame(session, table, fields, chosen.ids)
    if fmt == "gpkg":
        body = _gpkg(frame, layer=name)
    elif fmt == "csv":
        body = _csv(frame)
    else:
        body = _gpx(frame, name=name)
    return Exported(body, chosen.ids, fmt, name)


def export_layer(
    session: Session,
    layer: str,
    out: Path,
    *,
    fmt: str,
    actor: str,
    role: str,
    include_sensitive: bool = False,
) -> int:
    """A whole layer to the file `out` (the CLI's export); returns the feature count.

    Visit notes go out only on request; sites, visits and patrols are audited as `actor`/`role`.
    """
    table = canonical_layer(layer, features.LAYOUT)
    geom = features.LAYOUT[table][0]
    hidden = {"id", geom}
    if table == "visits" and not include_sensitive:
        hidden.add("note")
    fields = [c for c in features.plain_columns(table) if c not in hidden]
    done = export(session, table, fmt=fmt, fields=fields)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(done.body)
    if table in AUDITED:
        audit.record(
            session,
            actor=actor,
            role=role,
            action="export",
            layer=table,
            object_ids=done.ids,
            detail={"format": fmt, "features": len(done.ids), "sensitive": include_sensitive},
        )
    return len(done.ids)


# -- the formats -------------------------------------------------------------------------------


def _geojson(features_json: str) -> bytes:
    # The feature array is PostGIS's (7 decimals); Python only wraps it.
    head = json.dumps({"type": "FeatureCollection", "attribution": ATTRIBUTION}, ensure_ascii=False)
    return (head[:-1] + ',"features":' + features_json + "}\n").encode("utf-8")


def _frame(
    session: Session, table: str, fields: Sequence[str], ids: list[uuid.UUID]
) -> gpd.GeoDataFrame:
    """The rows `ids`, in that order, as a typed GeoDataFrame in EPSG:4326; lists as JSON."""
    geom = features.LAYOUT[table][0]
    known = features.plain_columns(table)
    for f in fields:  # column names come from the models only
        if f not in known:
            msg = f"{table} has no column {f!r}"
            raise ValueError(msg)
    cols = ", ".join(["t.id", *(f't."{f}"' for f in fields)])
    shape = f', t."{geom}" AS geometry' if geom else ""
    sql = text(
        f"SELECT {cols}{shape} FROM {table} t "
        "JOIN unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS o(id, n) ON o.id = t.id "
        "ORDER BY o.n"
    )
    conn = session.connection()
    if geom:
        frame = gpd.read_postgis(sql, conn, geom_col="geometry", params={"ids": ids})
        frame = frame.set_crs(4326, allow_override=True)
    else:
        plain = pd.read_sql_query(sql, conn, params={"ids": ids})
        frame = gpd.GeoDataFrame(plain, geometry=gpd.GeoSeries([None] * len(plain), crs=4326))
    for col in frame.columns:
        if col != "geometry" and frame[col].dtype == object:
            frame[col] = frame[col].map(_plain)
    return frame


def _plain(value: Any) -> Any:
    """A value every format can hold: lists and objects as JSON, ids and clock times as text."""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, uuid.UUID | time | Decimal) or (
        isinstance(value, date) and not isinstance(value, datetime)
    ):
        return str(value)
    return value


def _gpkg(frame: gpd.GeoDataFrame, *, layer: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="geo-outreach-export-") as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        has_geometry = bool(frame.geometry.notna().any())
        pyogrio.write_dataframe(
            frame if has_geometry else pd.DataFrame(frame.drop(columns="geometry")),
            path,
            layer=layer,
            driver="GPKG",
            metadata={"attribution": ATTRIBUTION},
            layer_options={"DESCRIPTION": ATTRIBUTION},
        )
        return path.read_bytes()


def _csv(frame: gpd.GeoDataFrame) -> bytes:
    out = pd.DataFrame(frame.drop(columns="geometry"))
    geoms = frame.geometry
    if len(frame) and geoms.notna().all() and (geoms.geom_type == "Point").all():
        out["lon"] = geoms.x.round(7)
        out["lat"] = geoms.y.round(7)
    elif geoms.notna().any():
        out["wkt"] = geoms.to_wkt(rounding_precision=7)
    out["attribution"] = ATTRIBUTION
    body: str = out.to_csv(index=False)
    return body.encode("utf-8")


def _lines(geom: BaseGeometry) -> list[list[tuple[float, float]]]:
    if geom.geom_type == "LineString":
        return [list(geom.coords)]
    if geom.geom_type == "Polygon":
        return [list(geom.exterior.coords)]
    parts: list[list[tuple[float, float]]] = []
    for part in getattr(geom, "geoms", []):
        parts.extend(_lines(part))
    return parts


def _first_text(props: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next((v for k in keys if isinstance(v := props.get(k), str) and v), "")


def _gpx(frame: gpd.GeoDataFrame, *, name: str) -> bytes:
    """Points as waypoints, lines and areas as tracks (one segment per part)."""
    doc = gpxpy.gpx.GPX()
    doc.creator = "geo-outreach"
    doc.name = name
    doc.copyright_author = OSM_ATTRIBUTION.removeprefix("© ")
    doc.copyright_license = ODBL
    doc.description = ATTRIBUTION
    for row in frame.itertuples(index=False):
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        props = row._asdict()
        label = _first_text(props, ("code", "name")) or str(props["id"])
        if geom.geom_type == "Point":
            kind = _first_text(props, ("category", "type"))
            doc.waypoints.append(
                gpxpy.gpx.GPXWaypoint(latitude=geom.y, longitude=geom.x, name=label, type=kind)
            )
            continue
        track = gpxpy.gpx.GPXTrack(name=label)
        for line in _lines(geom):
            segment = gpxpy.gpx.GPXTrackSegment()
            segment.points.extend(gpxpy.gpx.GPXTrackPoint(latitude=y, longitude=x) for x, y in line)
            track.segments.append(segment)
        doc.tracks.append(track)
    return doc.to_xml().encode("utf-8")
