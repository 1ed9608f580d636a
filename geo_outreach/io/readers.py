"""Files → tables: GeoJSON, CSV, XLSX, KML/KMZ, GPX waypoints, Shapefile, GeoPackage.

A reader only reads: it returns the file's own columns, records and (when the format has one)
geometry. Which column means what is decided afterwards (geo_outreach.io.columns), the same way
for every format. GDAL (through pyogrio) reads every format but GeoJSON and CSV: those two are
read here so that a broken feature or a bad number is reported with its row.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo_outreach.core.errors import GeoOutreachError, RowProblem, invalid
from geo_outreach.core.geometry import WGS84

FORMATS = "GeoJSON, CSV, XLSX, KML/KMZ, GPX, Shapefile or GeoPackage"
# Columns GDAL's KML drivers make from KML's own elements: styling, not the user's data.
KML_STRUCTURE = frozenset(
    {"id", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude", "visibility"}
    | {"drawOrder", "icon", "snippet"}
)
FOLDER = "folder"  # the column that says which KML folder (My Maps layer) a placemark is in


@dataclass
class Table:
    """A file as read: its columns in order, one record per row, and the rows' geometry.

    `geometries` is None for a plain table (CSV, XLSX): positions are then in its columns.
    `crs` is None when the file does not say. Rows are numbered from 1 as a person counts them.
    """

    columns: list[str]
    records: list[dict[str, Any]]
    geometries: list[BaseGeometry | None] | None
    crs: CRS | None
    problems: dict[int, RowProblem] = field(default_factory=dict)

    @property
    def plain(self) -> bool:
        return self.geometries is None


def option_crs(value: str) -> CRS:
    """The caller's `crs`: a fault names that field."""
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        msg = f"'{value}' is not a coordinate reference system pyproj knows ({exc})"
        raise invalid("crs", msg) from None


def read_table(path: Path) -> Table:
    if not path.is_file():
        msg = f"{path}: no such file"
        raise GeoOutreachError(msg)
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return _read_geojson(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    if suffix in (".xlsx", ".ods"):
        return _read_sheet(path)
    if suffix in (".kml", ".kmz"):
        return _read_kml(path)
    if suffix == ".gpx":
        return _read_ogr(path, layer="waypoints")
    return _read_ogr(path)


def _read_geojson(path: Path) -> Table:
    try:
        # Python's json accepts NaN/Infinity, so such coordinates reach the checks and are named.
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid JSON: {exc}"
        raise GeoOutreachError(msg) from None
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        msg = f"{path}: not a GeoJSON FeatureCollection or Feature"
        raise GeoOutreachError(msg)
    features = doc.get("features") if doc["type"] == "FeatureCollection" else [doc]
    if not isinstance(features, list):
        msg = f"{path}: 'features' must be a list"
        raise GeoOutreachError(msg)
    file_crs = WGS84
    legacy = (doc.get("crs") or {}).get("properties", {}).get("name")
    if legacy:  # pre-RFC 7946 files may name another CRS
        try:
            file_crs = CRS.from_user_input(legacy)
        except CRSError as exc:
            msg = f"{path}: its 'crs' member '{legacy}' is not a CRS pyproj knows ({exc})"
            raise GeoOutreachError(msg) from None
    table = Table([], [], [], file_crs)
    assert table.geometries is not None
    for i, feature in enumerate(features, start=1):
        props: Any = feature.get("properties") if isinstance(feature, dict) else None
        geometry: BaseGeometry | None = None
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            table.problems[i] = RowProblem(i, "feature", "not a GeoJSON Feature")
            props = {}
        elif not isinstance(props or {}, dict):
            table.problems[i] = RowProblem(i, "properties", "must be an object")
            props = {}
        else:
            props = dict(props or {})
            raw = feature.get("geometry")
            if raw is not None:
                try:
                    geometry = shapely.geometry.shape(raw)
                except Exception as exc:  # shapely raises several types for malformed input
                    fault = f"malformed geometry: {exc}"
                    table.problems[i] = RowProblem(i, "geometry", fault)
        table.records.append(props)
        table.geometries.append(geometry)
        table.columns.extend(k for k in props if k not in table.columns)
    return table


def _read_csv(path: Path) -> Table:
    with path.open(newline="", encoding="utf-8-sig") as f:
        head = f.read(8192)
        f.seek(0)
        try:  # spreadsheets in Poland save CSV with ';' (the comma is the decimal sign)
            dialect: Any = csv.Sniffer().sniff(head.splitlines()[0] if head else "", ",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(f, dialect=dialect)
        columns = list(reader.fieldnames or [])
        records = [dict(r) for r in reader]
    return Table(columns, records, None, None)


def _read_sheet(path: Path) -> Table:
    """The first sheet of a workbook, through GDAL's XLSX/ODS driver (a header row is found)."""
    try:
        frame = pyogrio.read_dataframe(path, layer=0, read_geometry=False)
    except Exception as exc:  # GDAL's own messages are clear; keep them
        msg = f"{path}: cannot read ({exc})"
        raise GeoOutreachError(msg) from None
    columns = [str(c) for c in frame.columns]
    return Table(columns, _records(frame), None, None)


def _read_kml(path: Path) -> Table:
    """Every folder (a Google My Maps layer) of a KML or KMZ, the folder's name in `folder`."""
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:
        msg = f"{path}: cannot read ({exc})"
        raise GeoOutreachError(msg) from None
    tables = [_read_ogr(path, layer=name) for name in layers]
    columns = [FOLDER] if len(layers) > 1 else []
    records: list[dict[str, Any]] = []
    geometries: list[BaseGeometry | None] = []
    for name, part in zip(layers, tables, strict=True):
        columns.extend(c for c in part.columns if c not in columns and c not in KML_STRUCTURE)
        for record in part.records:
            kept = {k: v for k, v in record.items() if k not in KML_STRUCTURE}
            records.append({FOLDER: name, **kept} if len(layers) > 1 else kept)
        geometries.extend(part.geometries or [])
    return Table(columns, records, geometries, WGS84)  # KML is always WGS 84


def _read_ogr(path: Path, *, layer: str | int | None = None) -> Table:
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # GDAL's own messages are clear; keep them
        msg = f"{path}: cannot read ({exc})"
        raise GeoOutreachError(msg) from None
    file_crs = CRS.from_user_input(frame.crs) if frame.crs is not None else None
    attrs = frame.drop(columns=frame.geometry.name)
    # Columns empty in every row (GPX's many optional elements) are not the user's data.
    attrs = attrs.dropna(axis=1, how="all")
    geometries: list[BaseGeometry | None] = list(frame.geometry)
    return Table([str(c) for c in attrs.columns], _records(attrs), geometries, file_crs)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in r.items()} for r in frame.to_dict("records")]


def plain(value: Any) -> Any:
    """A cell as a Python value: NaN/NaT → None, numpy numbers → int/float, timestamps →
    datetime (a date when it has no time of day and no zone, as spreadsheets store dates)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        stamp = value.to_pydatetime()
        if stamp.tzinfo is None and stamp.time() == dt.time(0):
            return stamp.date()
        return stamp
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
