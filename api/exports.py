"""Export files built from the policy-filtered GeoJSON: GeoPackage, CSV and GPX (and GeoJSON).

Every file carries the OpenStreetMap attribution: GeoPackage metadata and layer description, a
CSV column, the GPX copyright element, the GeoJSON `attribution` member.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import gpxpy.gpx
import pandas as pd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from api.geojson import ATTRIBUTION
from geo_outreach.core.vocab import OSM_ATTRIBUTION

MEDIA = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "csv": "text/csv; charset=utf-8",
    "gpx": "application/gpx+xml",
}


def frame(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Features → a GeoDataFrame in EPSG:4326 with the feature id as a column; lists as JSON."""
    rows = [{"id": f["id"], **(f.get("properties") or {})} for f in features]
    geoms = [shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None for f in features]
    table = pd.DataFrame(rows if rows else {"id": []})
    for col in table.columns:
        if table[col].map(lambda v: isinstance(v, list | dict)).any():
            table[col] = table[col].map(
                lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
            )
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))


def gpkg(table: gpd.GeoDataFrame, *, layer: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="geo-outreach-export-") as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        has_geometry = bool(table.geometry.notna().any())
        pyogrio.write_dataframe(
            table if has_geometry else pd.DataFrame(table.drop(columns="geometry")),
            path,
            layer=layer,
            driver="GPKG",
            metadata={"attribution": ATTRIBUTION},
            layer_options={"DESCRIPTION": ATTRIBUTION},
        )
        return path.read_bytes()


def csv(table: gpd.GeoDataFrame) -> bytes:
    out = pd.DataFrame(table.drop(columns="geometry"))
    geoms = table.geometry
    if len(table) and geoms.notna().all() and (geoms.geom_type == "Point").all():
        out["lon"] = geoms.x.round(7)
        out["lat"] = geoms.y.round(7)
    elif geoms.notna().any():
        out["wkt"] = geoms.to_wkt(rounding_precision=7)
    out["attribution"] = ATTRIBUTION
    text: str = out.to_csv(index=False)
    return text.encode("utf-8")


def _lines(geom: BaseGeometry) -> list[list[tuple[float, float]]]:
    if geom.geom_type == "LineString":
        return [list(geom.coords)]
    if geom.geom_type == "Polygon":
        return [list(geom.exterior.coords)]
    parts: list[list[tuple[float, float]]] = []
    for part in getattr(geom, "geoms", []):
        parts.extend(_lines(part))
    return parts


def gpx(features: list[dict[str, Any]], *, name: str) -> bytes:
    """Points as waypoints, lines and areas as tracks (one segment per part)."""
    doc = gpxpy.gpx.GPX()
    doc.creator = "geo-outreach"
    doc.name = name
    doc.copyright_author = OSM_ATTRIBUTION.removeprefix("© ")
    doc.copyright_license = "https://opendatacommons.org/licenses/odbl/1-0/"
    doc.description = ATTRIBUTION
    for f in features:
        if not f.get("geometry"):
            continue
        props = f.get("properties") or {}
        label = str(props.get("code") or props.get("name") or f["id"])
        geom = shapely.geometry.shape(f["geometry"])
        if geom.geom_type == "Point":
            doc.waypoints.append(
                gpxpy.gpx.GPXWaypoint(
                    latitude=geom.y,
                    longitude=geom.x,
                    name=label,
                    type=str(props.get("category") or props.get("type") or ""),
                )
            )
            continue
        track = gpxpy.gpx.GPXTrack(name=label)
        for line in _lines(geom):
            segment = gpxpy.gpx.GPXTrackSegment()
            segment.points.extend(gpxpy.gpx.GPXTrackPoint(latitude=y, longitude=x) for x, y in line)
            track.segments.append(segment)
        doc.tracks.append(track)
    return doc.to_xml().encode("utf-8")
