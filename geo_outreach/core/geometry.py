"""Geometry checks shared by imports and the API: each returns a fault in words, or None."""

from __future__ import annotations

import math

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

WGS84 = CRS.from_epsg(4326)

# Accepted input types per layer geometry type; singles are promoted to multis.
ACCEPTS = {
    "POINT": {"Point"},
    "LINESTRING": {"LineString"},
    "MULTILINESTRING": {"LineString", "MultiLineString"},
    "MULTIPOLYGON": {"Polygon", "MultiPolygon"},
}


def to_wgs84(geoms: list[BaseGeometry | None], source: CRS) -> list[BaseGeometry | None]:
    """Reproject with pyproj, always lon/lat order whatever the CRS's axis order says."""
    if source.equals(WGS84, ignore_axis_order=True):
        return geoms
    transformer = Transformer.from_crs(source, WGS84, always_xy=True)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return [None if g is None else shapely.transform(g, project) for g in geoms]


def coordinate_fault(geom: BaseGeometry) -> str | None:
    coords = shapely.get_coordinates(geom)
    if coords.size == 0:
        return "geometry is empty"
    if not all(math.isfinite(v) for v in coords.ravel()):
        return "a coordinate is NaN or infinite"
    return None


def check(
    geom: BaseGeometry | None,
    *,
    expected: str,
    service_area: tuple[float, float, float, float],
) -> str | None:
    """Why this (lon/lat) geometry cannot be stored in a column of type `expected`, if it can't."""
    if geom is None:
        return "geometry is missing"
    fault = coordinate_fault(geom)
    if fault:
        return fault
    if geom.geom_type not in ACCEPTS[expected]:
        allowed = " or ".join(sorted(ACCEPTS[expected]))
        return f"geometry type is {geom.geom_type}, expected {allowed}"
    if not geom.is_valid:
        return f"invalid geometry: {explain_validity(geom)}"
    minx, miny, maxx, maxy = geom.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        return "coordinates are not longitude/latitude (wrong CRS given or missing?)"
    area = shapely.box(*service_area)
    if not area.contains(geom):
        swapped = shapely.transform(geom, lambda c: c[:, ::-1])
        if area.contains(swapped):
            return "latitude and longitude appear swapped (x must be longitude)"
        lon, lat = geom.representative_point().coords[0]
        return (
            f"outside the service area (lon {service_area[0]}–{service_area[2]}, "
            f"lat {service_area[1]}–{service_area[3]}): at lon {lon:.5f}, lat {lat:.5f}"
        )
    return None


def promote(geom: BaseGeometry, expected: str) -> BaseGeometry:
    """A Polygon stored in a MultiPolygon column becomes a one-part MultiPolygon, and so on."""
    # Our columns are 2-D: drop an elevation (PointZ shapefiles, GPS GeoJSON) here, not in SQL.
    geom = shapely.force_2d(geom)
    if expected == "MULTIPOLYGON" and geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if expected == "MULTILINESTRING" and geom.geom_type == "LineString":
        return shapely.MultiLineString([geom])
    return geom
