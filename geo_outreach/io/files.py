"""Import and export of layers: GeoJSON, CSV, Shapefile, GeoPackage.

Imports are all or nothing: every row is read and checked first, every problem is reported with
its row, field and fault, and only a clean file is written, in one transaction.
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely
from pydantic import BaseModel, ValidationError
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError, RowProblem, ValidationFailed
from geo_outreach.core.geometry import WGS84, check, promote, to_wgs84
from geo_outreach.core.vocab import OSM_ATTRIBUTION
from layers import areas, audit, facilities, sites
from layers.base import Base
from layers.models import (
    Area,
    Facility,
    Patrol,
    SleepingSite,
    SosBusRoute,
    SosBusStop,
    Visit,
)

LON_NAMES = ("lon", "lng", "longitude", "x", "dlugosc")
LAT_NAMES = ("lat", "latitude", "y", "szerokosc")
WKT_NAMES = ("wkt", "geometry", "geom")


@dataclass(frozen=True)
class ImportSpec:
    model: type[Base]
    schema: type[BaseModel]
    geometry_type: str
    aliases: dict[str, str]
    key: tuple[str, ...]  # natural key used to refuse or update duplicates
    audited: bool = False
    prepare: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None


def _facility_prepare(values: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    hours = values.get("opening_hours")
    if isinstance(hours, str):
        values["opening_hours"] = facilities.parse_hours(hours)
    for flag in ("public", "confidential"):
        if isinstance(values.get(flag), str):
            values[flag] = values[flag].strip().lower() in ("1", "true", "tak", "yes", "t")
    return values


def _area_prepare(values: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    if options.get("kind") and "kind" not in values:
        values["kind"] = options["kind"]
    if isinstance(values.get("code"), int | float):
        values["code"] = str(int(values["code"]))
    return values


IMPORTS: dict[str, ImportSpec] = {
    "areas": ImportSpec(
        Area,
        areas.AreaIn,
        areas.GEOMETRY_TYPE,
        areas.IMPORT_ALIASES,
        key=("kind", "name"),
        prepare=_area_prepare,
    ),
    "sleeping_sites": ImportSpec(
        SleepingSite,
        sites.SiteIn,
        sites.GEOMETRY_TYPE,
        sites.IMPORT_ALIASES,
        key=("code",),
        audited=True,
    ),
    "facilities": ImportSpec(
        Facility,
        facilities.FacilityIn,
        facilities.GEOMETRY_TYPE,
        {
            **{f: f for f in facilities.FacilityIn.model_fields},
            "nazwa": "name",
            "typ": "type",
            "adres": "address",
            "telefon": "phone",
            "miejsca": "capacity",
            "wolne_miejsca": "free_beds",
            "godziny": "opening_hours",
        },
        key=("code",),
        prepare=_facility_prepare,
    ),
}
LAYER_ALIASES = {"sites": "sleeping_sites", "districts": "areas"}


@dataclass
class RawRow:
    number: int  # 1-based, as a person counts features or data lines
    properties: dict[str, Any]
    geometry: BaseGeometry | None
    problem: RowProblem | None = None


@dataclass
class ImportResult:
    layer: str
    inserted: int = 0
    updated: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    bounds: tuple[float, float, float, float] | None = None


def canonical_layer(name: str, allowed: dict[str, Any]) -> str:
    layer = LAYER_ALIASES.get(name, name)
    if layer not in allowed:
        msg = f"unknown layer '{name}'; choose one of: {', '.join(sorted(allowed))}"
        raise GeoOutreachError(msg)
    return layer


# -- reading ---------------------------------------------------------------------------------


def read_rows(path: Path, *, crs: str | None = None) -> tuple[list[RawRow], CRS]:
    if not path.exists():
        msg = f"{path}: no such file"
        raise GeoOutreachError(msg)
    suffix = path.suffix.lower()
    override = _parse_crs(crs) if crs else None
    if suffix in (".geojson", ".json"):
        rows, file_crs = _read_geojson(path)
        return rows, override or file_crs
    if suffix == ".csv":
        return _read_csv(path), override or WGS84
    return _read_ogr(path, override)


def _parse_crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        msg = f"--crs '{value}' is not a coordinate reference system pyproj knows ({exc})"
        raise GeoOutreachError(msg) from None


def _read_geojson(path: Path) -> tuple[list[RawRow], CRS]:
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
        file_crs = _parse_crs(legacy)
    rows: list[RawRow] = []
    for i, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rows.append(RawRow(i, {}, None, RowProblem(i, "feature", "not a GeoJSON Feature")))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            rows.append(RawRow(i, {}, None, RowProblem(i, "properties", "must be an object")))
            continue
        label = _label(props, feature)
        geometry: BaseGeometry | None = None
        problem = None
        raw = (feature or {}).get("geometry")
        if raw is not None:
            try:
                geometry = shapely.geometry.shape(raw)
            except Exception as exc:  # shapely raises several types for malformed input
                problem = RowProblem(i, "geometry", f"malformed geometry: {exc}", label)
        rows.append(RawRow(i, dict(props), geometry, problem))
    return rows, file_crs


def _label(props: dict[str, Any], feature: Any = None) -> str:
    for key in ("code", "kod", "name", "nazwa", "NAZWA", "id"):
        if props.get(key) not in (None, ""):
            return f"{key}={props[key]}"
    if isinstance(feature, dict) and feature.get("id") is not None:
        return f"id={feature['id']}"
    return ""


def _read_csv(path: Path) -> list[RawRow]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = {h.lower(): h for h in reader.fieldnames or []}
        lon_col = next((header[n] for n in LON_NAMES if n in header), None)
        lat_col = next((header[n] for n in LAT_NAMES if n in header), None)
        wkt_col = next((header[n] for n in WKT_NAMES if n in header), None)
        if not wkt_col and not (lon_col and lat_col):
            msg = (
                f"{path}: CSV needs longitude and latitude columns (one of {', '.join(LON_NAMES)} "
                f"and one of {', '.join(LAT_NAMES)}) or a WKT column; found {', '.join(header)}"
            )
            raise GeoOutreachError(msg)
        rows: list[RawRow] = []
        for i, record in enumerate(reader, start=1):
            props = {k: v for k, v in record.items() if k not in (lon_col, lat_col, wkt_col)}
            label = _label(props)
            geometry: BaseGeometry | None = None
            problem = None
            if wkt_col:
                try:
                    geometry = shapely.from_wkt(record[wkt_col])
                except shapely.errors.GEOSException as exc:
                    problem = RowProblem(i, wkt_col, f"not WKT: {exc}", label)
            else:
                assert lon_col and lat_col
                xy: list[float] = []
                for col in (lon_col, lat_col):
                    try:
                        xy.append(float(str(record[col]).replace(",", ".")))
                    except ValueError:
                        problem = RowProblem(i, col, f"'{record[col]}' is not a number", label)
                        break
                if problem is None:
                    geometry = shapely.Point(xy)
            rows.append(RawRow(i, props, geometry, problem))
    return rows


def _read_ogr(path: Path, override: CRS | None) -> tuple[list[RawRow], CRS]:
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL's own messages are clear; keep them
        msg = f"{path}: cannot read ({exc})"
        raise GeoOutreachError(msg) from None
    file_crs = override or (CRS.from_user_input(frame.crs) if frame.crs is not None else None)
    if file_crs is None:
        msg = f"{path}: the file has no CRS (.prj); give one with --crs, e.g. --crs EPSG:2180"
        raise GeoOutreachError(msg)
    rows: list[RawRow] = []
    attrs = frame.drop(columns=frame.geometry.name)
    for i, (record, geom) in enumerate(
        zip(attrs.to_dict("records"), frame.geometry, strict=True), start=1
    ):
        props = {k: (None if _is_nan(v) else v) for k, v in record.items()}
        rows.append(RawRow(i, props, geom, None))
    return rows, file_crs


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


# -- importing -------------------------------------------------------------------------------


def import_file(
    session: Session,
    layer: str,
    path: Path,
    *,
    actor: str,
    service_area: tuple[float, float, float, float],
    crs: str | None = None,
    kind: str | None = None,
    upsert: bool = False,
    is_demo: bool = False,
) -> ImportResult:
    """Validate every row, then write all of them or none (the caller owns the transaction)."""
    layer = canonical_layer(layer, IMPORTS)
    spec = IMPORTS[layer]
    rows, source_crs = read_rows(path, crs=crs)
    if not rows:
        msg = f"{path}: no features to import"
        raise GeoOutreachError(msg)
    result = ImportResult(layer=layer)
    known = {a.lower() for a in spec.aliases}
    seen_columns = {k for row in rows for k in row.properties}
    result.ignored_columns = sorted(c for c in seen_columns if c.lower() not in known)

    projected = to_wgs84([None if r.problem else r.geometry for r in rows], source_crs)
    problems: list[RowProblem] = []
    records: list[tuple[RawRow, dict[str, Any], BaseGeometry]] = []
    options = {"kind": kind}
    for row, geom in zip(rows, projected, strict=True):
        label = _label(row.properties)
        if row.problem:
            problems.append(row.problem)
            continue
        fault = check(geom, expected=spec.geometry_type, service_area=service_area)
        if fault:
            problems.append(RowProblem(row.number, "geometry", fault, label))
        values = {
            spec.aliases[k.lower()]: v
            for k, v in row.properties.items()
            if k.lower() in spec.aliases and v not in (None, "")
        }
        if spec.prepare:
            try:
                values = spec.prepare(values, options)
            except ValueError as exc:
                problems.append(RowProblem(row.number, "opening_hours", str(exc), label))
                continue
        try:
            clean = spec.schema.model_validate(values).model_dump(mode="json")
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append(RowProblem(row.number, where, err["msg"], label))
            continue
        if not fault and geom is not None:
            records.append((row, clean, promote(geom, spec.geometry_type)))

    keys: dict[tuple[Any, ...], int] = {}
    for row, clean, _ in records:
        key = tuple(clean.get(k) for k in spec.key)
        if key in keys:
            problems.append(
                RowProblem(
                    row.number,
                    "/".join(spec.key),
                    f"duplicate of row {keys[key]} ({', '.join(map(str, key))})",
                    _label(row.properties),
                )
            )
        keys[key] = row.number
    existing = _existing(session, spec, list(keys), is_demo=is_demo)
    if existing and not upsert:
        for row, clean, _ in records:
            key = tuple(clean.get(k) for k in spec.key)
            if key in existing:
                problems.append(
                    RowProblem(
                        row.number,
                        "/".join(spec.key),
                        f"{', '.join(map(str, key))} already exists (use --upsert to update it)",
                        _label(row.properties),
                    )
                )
    if problems:
        problems.sort(key=lambda p: p.row)
        raise ValidationFailed(problems, source=str(path))

    ids: list[uuid.UUID] = []
    for _, clean, geom in records:
        key = tuple(clean.get(k) for k in spec.key)
        # is_demo too: a real record over a demo code is real from now on.
        values = {**clean, "geom": f"SRID=4326;{geom.wkt}", "updated_by": actor, "is_demo": is_demo}
        if layer == "areas":
            values["source"] = path.name
        if key in existing:
            obj = session.get(spec.model, existing[key])
            assert obj is not None
            for name, value in values.items():
                setattr(obj, name, value)
            result.updated += 1
        else:
            obj = spec.model(**values, created_by=actor)
            session.add(obj)
            result.inserted += 1
        session.flush()
        ids.append(obj.id)  # type: ignore[attr-defined]
    if spec.audited:
        audit.record(
            session,
            actor=actor,
            role="cli",
            action="import",
            layer=layer,
            object_ids=ids,
            detail={"file": path.name, "inserted": result.inserted, "updated": result.updated},
        )
    minx, miny, maxx, maxy = shapely.GeometryCollection([g for _, _, g in records]).bounds
    result.bounds = (minx, miny, maxx, maxy)
    return result


def _existing(
    session: Session, spec: ImportSpec, keys: list[tuple[Any, ...]], *, is_demo: bool
) -> dict[tuple[Any, ...], uuid.UUID]:
    if not keys:
        return {}
    model: Any = spec.model
    cols = [getattr(model, k) for k in spec.key]
    stmt = select(model.id, *cols)
    if spec.key != ("code",):  # codes are unique across demo and real rows; names are not
        stmt = stmt.where(model.is_demo.is_(is_demo))
    found = {tuple(r[1:]): r[0] for r in session.execute(stmt)}
    return {k: found[k] for k in keys if k in found}


# -- exporting -------------------------------------------------------------------------------

EXPORTS: dict[str, type[Base]] = {
    "areas": Area,
    "sleeping_sites": SleepingSite,
    "facilities": Facility,
    "patrols": Patrol,
    "sos_bus_routes": SosBusRoute,
    "sos_bus_stops": SosBusStop,
    "visits": Visit,
}
AUDITED = {"sleeping_sites", "visits", "patrols"}
FORMATS = ("geojson", "gpkg", "csv")
LICENCE = f"Map data {OSM_ATTRIBUTION} (ODbL 1.0) where derived from OpenStreetMap"


def export_layer(
    session: Session,
    layer: str,
    out: Path,
    *,
    fmt: str,
    actor: str,
    include_sensitive: bool = False,
) -> int:
    """Write one layer to `out` and return the feature count; sensitive notes only on request."""
    layer = canonical_layer(layer, EXPORTS)
    if fmt not in FORMATS:
        msg = f"unknown format '{fmt}'; choose one of: {', '.join(FORMATS)}"
        raise GeoOutreachError(msg)
    model: Any = EXPORTS[layer]
    table = model.__table__
    geom_cols = [c.name for c in table.columns if c.type.__class__.__name__ == "Geometry"]
    geom_col = geom_cols[0] if geom_cols else None
    props = [c.name for c in table.columns if c.name not in geom_cols]
    if layer == "visits" and not include_sensitive:
        props.remove("note")
    out.parent.mkdir(parents=True, exist_ok=True)
    count: int
    ids: list[uuid.UUID]
    if fmt == "geojson":
        count, ids = _export_geojson(session, table.name, props, geom_col, out)
    else:
        count, ids = _export_frame(session, table.name, props, geom_col, out, fmt)
    if layer in AUDITED:
        audit.record(
            session,
            actor=actor,
            role="cli",
            action="export",
            layer=layer,
            object_ids=ids,
            detail={"format": fmt, "features": count, "sensitive": include_sensitive},
        )
    return count


def _export_geojson(
    session: Session, table: str, props: list[str], geom_col: str | None, out: Path
) -> tuple[int, list[uuid.UUID]]:
    # The feature JSON is built by PostGIS; Python only wraps it.
    cols = ", ".join(f'"{c}"' for c in props)
    geom = f'ST_AsGeoJSON("{geom_col}", 7)::json' if geom_col else "NULL::json"
    sql = text(
        f"""
        SELECT id, json_build_object(
            'type', 'Feature',
            'id', id,
            'geometry', {geom},
            'properties', to_jsonb(t) - 'id' - {"'" + geom_col + "'" if geom_col else "'_'"}
        )::text
        FROM (SELECT {cols}{', "' + geom_col + '"' if geom_col else ""} FROM {table}) t
        ORDER BY 1
        """
    )
    rows = session.execute(sql).all()
    with out.open("w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","attribution":')
        f.write(json.dumps(LICENCE, ensure_ascii=False))
        f.write(',"features":[')
        f.write(",".join(r[1] for r in rows))
        f.write("]}\n")
    return len(rows), [r[0] for r in rows if isinstance(r[0], uuid.UUID)]


def _export_frame(
    session: Session, table: str, props: list[str], geom_col: str | None, out: Path, fmt: str
) -> tuple[int, list[uuid.UUID]]:
    cols = ", ".join(f'"{c}"' for c in props)
    conn = session.connection()
    if geom_col:
        frame = gpd.read_postgis(
            f'SELECT {cols}, "{geom_col}" AS geometry FROM {table} ORDER BY 1',
            conn,
            geom_col="geometry",
        )
    else:
        import pandas as pd

        frame = pd.read_sql_query(text(f"SELECT {cols} FROM {table} ORDER BY 1"), conn)
    ids = [v for v in frame["id"] if isinstance(v, uuid.UUID)]
    for col in frame.columns:
        if col == "geometry":
            continue
        if frame[col].map(lambda v: isinstance(v, list | dict | uuid.UUID)).any():
            frame[col] = frame[col].map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, default=str)
                    if isinstance(v, list | dict)
                    else (str(v) if v is not None else None)
                )
            )
    if fmt == "gpkg":
        if out.exists():
            out.unlink()
        if geom_col:
            pyogrio.write_dataframe(
                frame,
                out,
                layer=str(table),
                driver="GPKG",
                metadata={"attribution": LICENCE},
                layer_options={"DESCRIPTION": LICENCE},
            )
        else:
            pyogrio.write_dataframe(
                gpd.GeoDataFrame(frame),
                out,
                layer=str(table),
                driver="GPKG",
                metadata={"attribution": LICENCE},
            )
    else:
        if geom_col:
            points = frame.geometry.geom_type == "Point"
            if points.all():
                frame["lon"] = frame.geometry.x.round(7)
                frame["lat"] = frame.geometry.y.round(7)
            else:
                frame["wkt"] = frame.geometry.to_wkt(rounding_precision=7)
            frame = frame.drop(columns="geometry")
        frame["attribution"] = LICENCE
        frame.to_csv(out, index=False)
    return len(frame), ids


def count_rows(session: Session) -> dict[str, int]:
    """Rows per table, for summaries and idempotence checks."""
    counts: dict[str, int] = {}
    for table in sorted(Base.metadata.tables):
        counts[table] = session.execute(
            select(func.count()).select_from(Base.metadata.tables[table])
        ).scalar_one()
    return counts
