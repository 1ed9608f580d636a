"""Which column of a file means which field: automatic names, the caller's map and defaults,
positions in columns, and codes made for rows that have none.

Names are compared folded (`fold`): case, Polish letters and punctuation do not matter, so
`LATITUDE`, `Szerokość geograficzna` and `szerokosc_geograficzna` are the same column name.
The names a layer understands are its one alias table (IMPORT_ALIASES in layers/*.py); the
position columns, common to every layer, are here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError, RowProblem, invalid
from geo_outreach.io.readers import Table

LON, LAT, WKT = "lon", "lat", "wkt"
# Position columns of plain tables (CSV, XLSX), folded.
POSITION_ALIASES = {
    **dict.fromkeys(
        ("lon", "lng", "long", "longitude", "x", "dlugosc", "dlugosc_geograficzna", "dl"), LON
    ),
    **dict.fromkeys(("lat", "latitude", "y", "szerokosc", "szerokosc_geograficzna", "szer"), LAT),
    **dict.fromkeys(("wkt", "geometry", "geom", "the_geom", "wkt_geom", "geometria"), WKT),
}
CODE_DIGITS = 5  # FAC-04821: a made code is the prefix and a number of this many digits


def fold(name: str) -> str:
    """A column name as it is compared: lower case, ASCII letters, '_' between words."""
    text = unicodedata.normalize("NFKD", name.replace("ł", "l").replace("Ł", "L"))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def pairs(items: Iterable[str], *, field: str) -> dict[str, str]:
    """'SRC=DEST' items (the caller's `map` or `set`) as a dict; a malformed one names `field`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"'{item}' is not NAME=VALUE"
            raise invalid(field, msg)
        out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class ColumnMap:
    """The file's columns that are used (column → field) and the ones that are not."""

    fields: dict[str, str]
    ignored: list[str]

    def values(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record's mapped values, empty cells left out (a default may fill them)."""
        return {
            f: record[c]
            for c, f in self.fields.items()
            if f not in (LON, LAT, WKT) and record.get(c) not in (None, "")
        }

    def column(self, field: str) -> str | None:
        return next((c for c, f in self.fields.items() if f == field), None)


def resolve(
    table: Table,
    *,
    aliases: Mapping[str, str],
    fields: Sequence[str],
    explicit: Mapping[str, str],
) -> ColumnMap:
    """Map the table's columns: the caller's `explicit` map first, then a column named like the
    field, then the layer's aliases; of several columns for one field the first is used."""
    targets = set(fields) | ({LON, LAT, WKT} if table.plain else set())
    chosen: dict[str, tuple[int, int, str]] = {}  # field → (preference, position, column)
    for src, dest in explicit.items():
        column = _find_column(table.columns, src)
        if dest not in targets:
            ok = ", ".join(sorted(targets))
            msg = f"'{dest}' is not a field to import into; choose one of: {ok}"
            raise invalid("map", msg)
        chosen[dest] = (0, table.columns.index(column), column)
    taken = {c for _, _, c in chosen.values()}
    known = {**aliases, **(POSITION_ALIASES if table.plain else {})}
    for position, column in enumerate(table.columns):
        name = fold(column)
        target = known.get(name)
        if column in taken or target is None or target not in targets:
            continue
        candidate = (1 if name == target else 2, position, column)
        if target not in chosen or candidate < chosen[target]:
            chosen[target] = candidate
    mapping = {column: dest for dest, (_, _, column) in chosen.items()}
    ordered = {c: mapping[c] for c in table.columns if c in mapping}
    return ColumnMap(ordered, [c for c in table.columns if c not in mapping])


def _find_column(columns: Sequence[str], name: str) -> str:
    if name in columns:
        return name
    matches = [c for c in columns if fold(c) == fold(name)]
    if len(matches) != 1:
        msg = f"'{name}' is not a column of the file; its columns: {', '.join(columns)}"
        raise invalid("map", msg)
    return matches[0]


def defaults(given: Mapping[str, str], *, fields: Sequence[str]) -> dict[str, str]:
    """The caller's defaults for empty or missing values, checked against the fields."""
    for name in given:
        if name not in fields:
            msg = f"'{name}' is not a field to import into; choose one of: {', '.join(fields)}"
            raise invalid("set", msg)
    return dict(given)


# -- positions in columns --------------------------------------------------------------------


def locate(table: Table, columns: ColumnMap, *, source: str) -> list[BaseGeometry | None]:
    """The rows' geometry: the file's own, or made from position columns of a plain table
    (a bad number or WKT becomes the row's problem, named by its column)."""
    if table.geometries is not None:
        return table.geometries
    lon, lat, wkt = columns.column(LON), columns.column(LAT), columns.column(WKT)
    if not wkt and not (lon and lat):
        msg = (
            f"{source} needs longitude and latitude columns (such as lon/lat, x/y, "
            f"długość/szerokość) or a WKT column; its columns: {', '.join(table.columns)}. "
            "Name them with map, e.g. COLUMN=lon"
        )
        raise invalid("map", msg)
    out: list[BaseGeometry | None] = []
    for i, record in enumerate(table.records, start=1):
        geometry: BaseGeometry | None = None
        try:
            if wkt:
                geometry = shapely.from_wkt(str(record[wkt] or ""))
            else:
                assert lon and lat
                geometry = shapely.Point(_number(record[lon], lon), _number(record[lat], lat))
        except _CellFault as fault:
            table.problems.setdefault(i, RowProblem(i, fault.column, fault.fault))
        except shapely.errors.GEOSException as exc:
            table.problems.setdefault(i, RowProblem(i, str(wkt), f"not WKT: {exc}"))
        out.append(geometry)
    return out


class _CellFault(Exception):
    def __init__(self, column: str, fault: str) -> None:
        self.column, self.fault = column, fault


def _number(value: Any, column: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    if value is None or not str(value).strip():
        raise _CellFault(column, "is empty")
    try:
        return float(str(value).strip().replace(",", "."))  # 54,35 as Polish spreadsheets write it
    except ValueError:
        raise _CellFault(column, f"'{value}' is not a number") from None


# -- codes made for rows without one ---------------------------------------------------------


def code_key(name: Any, geometry: BaseGeometry | None) -> str:
    """What a made code is derived from: the row's name and its place to about 10 m, so it
    does not depend on the row's position in the file or on the other rows."""
    where = ""
    if geometry is not None and not geometry.is_empty:
        point = geometry.centroid
        where = f"{point.x:.4f},{point.y:.4f}"
    return f"{fold(str(name or ''))}|{where}"


def make_codes(
    session: Session,
    model: Any,
    prefix: str,
    wanted: Mapping[int, str],
    *,
    given: Iterable[str],
) -> tuple[dict[int, str], list[RowProblem]]:
    """Codes like SITE-04821 for rows (number → code_key) that have none.

    The number comes from a hash of the key; a code already used is passed over, except by the
    record of the same name (the one a re-import with upsert updates), so the same file always
    gets the same codes. Two rows with the same key are the same place: the second is refused.
    """
    taken = set(given)
    stmt = select(model.code, model.name).where(model.code.like(f"{prefix}-%"))
    stored = {code: fold(name) for code, name in session.execute(stmt)}
    codes: dict[int, str] = {}
    problems: list[RowProblem] = []
    first: dict[str, int] = {}
    space = 10**CODE_DIGITS
    for row, key in sorted(wanted.items(), key=lambda item: (item[1], item[0])):
        if key in first:
            fault = f"no code, and the same name and place as row {first[key]}: give codes"
            problems.append(RowProblem(row, "code", fault))
            continue
        first[key] = row
        name = key.split("|", 1)[0]
        n = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) % space
        for _ in range(space):
            code = f"{prefix}-{n:0{CODE_DIGITS}d}"
            if code not in taken and stored.get(code, name) == name:
                break
            n = (n + 1) % space
        else:
            msg = f"every {prefix}- code is used"
            raise GeoOutreachError(msg)
        taken.add(code)
        codes[row] = code
    return codes, problems
