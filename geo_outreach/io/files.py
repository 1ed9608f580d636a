"""Import of layers from GeoJSON, CSV, XLSX, KML/KMZ, GPX, Shapefile and GeoPackage (exports:
geo_outreach.io.exports; observations → sites and visits: geo_outreach.io.observations).

Every row is read and checked first, and every problem is reported with its row, field and
fault. By default an import is all or nothing: only a clean file is written, in one transaction.
With `skip_invalid` the good rows are written and the refused ones go to a report file; with
`dry_run` nothing is written and the result says what would be.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import shapely
from pydantic import BaseModel, ValidationError
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError, RowProblem, ValidationFailed, invalid
from geo_outreach.core.geometry import WGS84, check, promote, to_wgs84
from geo_outreach.io import columns as cols
from geo_outreach.io.readers import Table, option_crs, read_table
from layers import areas, audit, facilities, sites
from layers.base import Base
from layers.models import Area, Facility, SleepingSite
from layers.rules import writable


@dataclass(frozen=True)
class ImportSpec:
    model: type[Base]
    schema: type[BaseModel]
    geometry_type: str
    aliases: Mapping[str, str]  # the layer's one alias table (layers/*.py)
    key: tuple[str, ...]  # natural key used to refuse or update duplicates
    audited: bool = False
    prepare: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    code_prefix: str | None = None  # codes are made for rows without one (SITE-04821)


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
    return values


def _text_code(values: dict[str, Any]) -> dict[str, Any]:
    """A code read as a number (a spreadsheet's 12, a shapefile's 12.0) is the text '12'."""
    code = values.get("code")
    if isinstance(code, float) and code.is_integer():
        values["code"] = str(int(code))
    elif isinstance(code, int):
        values["code"] = str(code)
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
        code_prefix="SITE",
    ),
    "facilities": ImportSpec(
        Facility,
        facilities.FacilityIn,
        facilities.GEOMETRY_TYPE,
        facilities.IMPORT_ALIASES,
        key=("code",),
        prepare=_facility_prepare,
        code_prefix="FAC",
    ),
}
LAYER_ALIASES = {"sites": "sleeping_sites", "districts": "areas"}


@dataclass
class ImportResult:
    """What an import wrote (or, in a dry run, would write)."""

    layer: str
    dry_run: bool = False
    inserted: int = 0
    updated: int = 0
    codes_made: int = 0
    mapped_columns: dict[str, str] = field(default_factory=dict)  # column → field
    ignored_columns: list[str] = field(default_factory=list)
    refused: list[RowProblem] = field(default_factory=list)
    refused_rows: int = 0
    refused_file: Path | None = None
    bounds: tuple[float, float, float, float] | None = None

    def report(self) -> dict[str, Any]:
        """The result as plain JSON (the API's answer); no positions of sleeping sites."""
        out = asdict(self)
        out["refused"] = [asdict(p) for p in self.refused]
        out["refused_file"] = str(self.refused_file) if self.refused_file else None
        if self.layer == "sleeping_sites":
            out["bounds"] = None
        return out


def canonical_layer(name: str, allowed: Mapping[str, Any]) -> str:
    layer = LAYER_ALIASES.get(name, name)
    if layer not in allowed:
        msg = f"unknown layer '{name}'; choose one of: {', '.join(sorted(allowed))}"
        raise invalid("layer", msg)
    return layer


# -- reading and checking, shared with observations -----------------------------------------


@dataclass
class Row:
    number: int  # 1-based, as a person counts features or data lines
    values: dict[str, Any]  # mapped field → value, defaults filled in
    geometry: BaseGeometry | None  # lon/lat, checked; None when it has a fault

    @property
    def label(self) -> str:
        for key in ("code", "name"):
            if self.values.get(key) not in (None, ""):
                return f"{key}={self.values[key]}"
        return ""


@dataclass
class Loaded:
    """A file read, mapped and located: its rows and the problems found so far."""

    source: str
    table: Table
    columns: cols.ColumnMap
    rows: list[Row]
    problems: list[RowProblem]

    def refuse(self, row: Row, field_name: str, fault: str) -> None:
        self.problems.append(RowProblem(row.number, field_name, fault, row.label))


def load(
    path: Path,
    *,
    aliases: Mapping[str, str],
    fields: list[str],
    geometry_type: str,
    service_area: tuple[float, float, float, float],
    crs: str | None,
    mapping: Mapping[str, str] | None,
    defaults: Mapping[str, str] | None,
    source: str | None = None,
) -> Loaded:
    """Read `path`, map its columns onto `fields`, fill defaults, place and check each row."""
    override = option_crs(crs) if crs else None
    given = cols.defaults(defaults or {}, fields=fields)
    table = read_table(path)
    name = source or path.name
    if not table.records:
        msg = f"{name}: no features to import"
        raise GeoOutreachError(msg)
    columns = cols.resolve(table, aliases=aliases, fields=fields, explicit=mapping or {})
    geometries = cols.locate(table, columns, source=name)
    source_crs = override or table.crs or (WGS84 if table.plain else None)
    if source_crs is None:
        msg = f"{name} has no CRS of its own (.prj); give one, e.g. EPSG:2180"
        raise invalid("crs", msg)
    read_faults = dict(table.problems)
    projected = to_wgs84(
        [None if i in read_faults else g for i, g in enumerate(geometries, 1)], source_crs
    )
    loaded = Loaded(name, table, columns, [], [])
    for number, (record, geom) in enumerate(zip(table.records, projected, strict=True), start=1):
        values = {**given, **columns.values(record)}
        row = Row(number, values, None)
        loaded.rows.append(row)
        if number in read_faults:
            fault = read_faults[number]
            loaded.refuse(row, fault.field, fault.fault)
            continue
        problem = check(geom, expected=geometry_type, service_area=service_area)
        if problem:
            loaded.refuse(row, "geometry", problem)
        else:
            assert geom is not None
            row.geometry = promote(geom, geometry_type)
    return loaded


def validate(
    loaded: Loaded,
    row: Row,
    schema: type[BaseModel],
    values: dict[str, Any],
    *,
    strict: bool | None = None,
) -> dict[str, Any] | None:
    """`values` checked by the layer's schema; its faults are the row's problems."""
    try:
        model = schema.model_validate(values, strict=strict)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "row"
            loaded.refuse(row, where, err["msg"])
        return None
    return model.model_dump(mode="json")


def settle(loaded: Loaded, *, skip_invalid: bool) -> set[int]:
    """The numbers of the refused rows; without `skip_invalid` any problem refuses the file."""
    loaded.problems.sort(key=lambda p: p.row)
    if loaded.problems and not skip_invalid:
        raise ValidationFailed(loaded.problems, source=loaded.source)
    return {p.row for p in loaded.problems}


def write_refused(loaded: Loaded, out: Path) -> Path:
    """The refused rows as CSV: their number, their faults and the row as it was in the file
    (its geometry as WKT in the file's CRS), so it can be fixed and imported again."""
    faults: dict[int, list[str]] = {}
    for p in loaded.problems:
        faults.setdefault(p.row, []).append(f"{p.field}: {p.fault}")
    table = loaded.table
    header = ["row", "faults", *table.columns] + ([] if table.plain else [cols.WKT])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for number, found in sorted(faults.items()):
            record = table.records[number - 1]
            line = [number, "; ".join(found), *(record.get(c) for c in table.columns)]
            if table.geometries is not None:
                geom = table.geometries[number - 1]
                line.append(geom.wkt if geom is not None else "")
            writer.writerow(line)
    return out


# -- importing -------------------------------------------------------------------------------


def import_file(
    session: Session,
    layer: str,
    path: Path,
    *,
    actor: str,
    role: str,
    service_area: tuple[float, float, float, float],
    crs: str | None = None,
    kind: str | None = None,
    upsert: bool = False,
    is_demo: bool = False,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    refused_to: Path | None = None,
    source: str | None = None,
) -> ImportResult:
    """Validate every row, then write all of them or none (the caller owns the transaction).

    `actor` and `role` say who imports, for the audit row; `upsert` lets rows update existing
    ones with the same key instead of being refused. `mapping` (column → field) and `defaults`
    (field → value for empty cells) add to the layer's automatic column names. `skip_invalid`
    writes the good rows and the refused ones to `refused_to`; `dry_run` writes nothing.
    `source` names the file in messages (an upload's name) when `path` is a temporary copy.
    """
    layer = canonical_layer(layer, IMPORTS)
    spec = IMPORTS[layer]
    fields = writable(spec.schema)
    loaded = load(
        path,
        aliases=spec.aliases,
        fields=fields,
        geometry_type=spec.geometry_type,
        service_area=service_area,
        crs=crs,
        mapping=mapping,
        defaults=defaults,
        source=source,
    )
    result = ImportResult(
        layer=layer,
        dry_run=dry_run,
        mapped_columns=loaded.columns.fields,
        ignored_columns=loaded.columns.ignored,
    )
    prepared: dict[int, dict[str, Any]] = {}
    options = {"kind": kind}
    for row in loaded.rows:
        values = _text_code(dict(row.values))
        if spec.prepare:
            try:
                values = spec.prepare(values, options)
            except ValueError as exc:
                loaded.refuse(row, "opening_hours", str(exc))
                continue
        prepared[row.number] = values
    if spec.code_prefix:
        result.codes_made = _make_codes(session, spec, loaded, prepared)
    records: list[tuple[Row, dict[str, Any]]] = []
    failed = {p.row for p in loaded.problems}
    for row in loaded.rows:
        if row.number not in prepared:
            continue
        clean = validate(loaded, row, spec.schema, prepared[row.number])
        if clean is not None and row.number not in failed:
            records.append((row, clean))
    existing = _check_keys(session, spec, loaded, records, upsert=upsert, is_demo=is_demo)
    refused = settle(loaded, skip_invalid=skip_invalid)
    records = [(row, clean) for row, clean in records if row.number not in refused]
    result.refused, result.refused_rows = loaded.problems, len(refused)
    for _, clean in records:
        if _key(spec, clean) in existing:
            result.updated += 1
        else:
            result.inserted += 1
    if records:
        minx, miny, maxx, maxy = shapely.GeometryCollection([r.geometry for r, _ in records]).bounds
        result.bounds = (minx, miny, maxx, maxy)
    if dry_run:
        if spec.audited:  # a dry run still looked up stored sites
            _audit(session, actor, role, "import_check", layer, [], loaded.source, result)
        return result
    ids = _write(
        session, spec, records, existing, actor=actor, is_demo=is_demo, source=loaded.source
    )
    if refused and refused_to is not None:
        result.refused_file = write_refused(loaded, refused_to)
    if spec.audited:
        _audit(session, actor, role, "import", layer, ids, loaded.source, result)
    return result


def _key(spec: ImportSpec, clean: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(clean.get(k) for k in spec.key)


def _make_codes(
    session: Session, spec: ImportSpec, loaded: Loaded, prepared: dict[int, dict[str, Any]]
) -> int:
    """Codes for the rows that have none (made from their name and place, see columns)."""
    assert spec.code_prefix
    rows = {row.number: row for row in loaded.rows}
    wanted = {
        n: cols.code_key(v.get("name"), rows[n].geometry)
        for n, v in prepared.items()
        if v.get("code") in (None, "")
    }
    if not wanted:
        return 0
    given = [str(v["code"]) for v in prepared.values() if v.get("code") not in (None, "")]
    codes, problems = cols.make_codes(session, spec.model, spec.code_prefix, wanted, given=given)
    for problem in problems:
        loaded.refuse(rows[problem.row], problem.field, problem.fault)
    for n, code in codes.items():
        prepared[n]["code"] = code
    return len(codes)


def _check_keys(
    session: Session,
    spec: ImportSpec,
    loaded: Loaded,
    records: list[tuple[Row, dict[str, Any]]],
    *,
    upsert: bool,
    is_demo: bool,
) -> dict[tuple[Any, ...], uuid.UUID]:
    """Refuse duplicate keys in the file, and keys already stored unless `upsert`."""
    keys: dict[tuple[Any, ...], int] = {}
    where = "/".join(spec.key)
    for row, clean in records:
        key = _key(spec, clean)
        if key in keys:
            loaded.refuse(row, where, f"duplicate of row {keys[key]} ({', '.join(map(str, key))})")
        else:
            keys[key] = row.number
    existing = _existing(session, spec, list(keys), is_demo=is_demo)
    if existing and not upsert:
        for row, clean in records:
            key = _key(spec, clean)
            if key in existing and keys[key] == row.number:
                fault = f"{', '.join(map(str, key))} already exists (import with upsert to update)"
                loaded.refuse(row, where, fault)
    return existing


def _write(
    session: Session,
    spec: ImportSpec,
    records: list[tuple[Row, dict[str, Any]]],
    existing: Mapping[tuple[Any, ...], uuid.UUID],
    *,
    actor: str,
    is_demo: bool,
    source: str,
) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for row, clean in records:
        assert row.geometry is not None
        # is_demo too: a real record over a demo code is real from now on.
        values = {
            **clean,
            "geom": f"SRID=4326;{row.geometry.wkt}",
            "updated_by": actor,
            "is_demo": is_demo,
        }
        if spec.model is Area:
            values["source"] = source
        stored = existing.get(_key(spec, clean))
        if stored is not None:
            obj = session.get(spec.model, stored)
            assert obj is not None
            for name, value in values.items():
                setattr(obj, name, value)
        else:
            obj = spec.model(**values, created_by=actor)
            session.add(obj)
        session.flush()
        ids.append(obj.id)  # type: ignore[attr-defined]
    return ids


def _audit(
    session: Session,
    actor: str,
    role: str,
    action: str,
    layer: str,
    ids: list[uuid.UUID],
    source: str,
    result: ImportResult,
) -> None:
    detail = {
        "file": source,
        "inserted": result.inserted,
        "updated": result.updated,
        "refused": result.refused_rows,
    }
    audit.record(
        session, actor=actor, role=role, action=action, layer=layer, object_ids=ids, detail=detail
    )


def _existing(
    session: Session, spec: ImportSpec, keys: list[tuple[Any, ...]], *, is_demo: bool
) -> dict[tuple[Any, ...], uuid.UUID]:
    if not keys:
        return {}
    model: Any = spec.model
    columns = [getattr(model, k) for k in spec.key]
    stmt = select(model.id, *columns)
    if spec.key != ("code",):  # codes are unique across demo and real rows; names are not
        stmt = stmt.where(model.is_demo.is_(is_demo))
    found = {tuple(r[1:]): r[0] for r in session.execute(stmt)}
    return {k: found[k] for k in keys if k in found}


# -- counting --------------------------------------------------------------------------------


def count_rows(session: Session) -> dict[str, int]:
    """Rows per table, for summaries and idempotence checks."""
    counts: dict[str, int] = {}
    for table in sorted(Base.metadata.tables):
        counts[table] = session.execute(
            select(func.count()).select_from(Base.metadata.tables[table])
        ).scalar_one()
    return counts
