"""Read queries that return RFC 7946 GeoJSON built by PostGIS, for any layer and field list.

Column names come only from the models (checked here) and from the field lists of
geo_outreach.policy; every value travels as a bound parameter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from geo_outreach.core import policy
from layers.models import Base

# table -> (geometry column or None, ordering column)
LAYOUT: dict[str, tuple[str | None, str]] = {
    "sleeping_sites": ("geom", "code"),
    "facilities": ("geom", "code"),
    "patrols": ("planned_route", "planned_start"),
    "visits": (None, "visited_at"),
    "areas": ("geom", "name"),
    "sos_bus_routes": ("geom", "name"),
    "sos_bus_stops": ("geom", "seq"),
}


# table -> (column holding each row's Feature as JSON text, the properties it carries). A read
# asking for exactly these joins the stored text; any other field list is built per request.
STORED_FEATURE: dict[str, tuple[str, tuple[str, ...]]] = {
    "sleeping_sites": ("feature_json", policy.SITE_FIELDS_ALL),
}


@dataclass(frozen=True)
class Cond:
    """One WHERE fragment over the alias `t`, with its bound parameters."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    # True for a condition that bounds the matches (a bbox): they are then read once, and
    # both counted and paged from that one read. Without a bound, the page comes from the
    # ordering index and the count from its own scan (a whole-table read is never held).
    bounded: bool = False


def eq(column: str, value: Any, *, table: str) -> Cond:
    _column(table, column)
    name = f"eq_{column}"
    return Cond(f't."{column}" = :{name}', {name: value})


def within(bbox: tuple[float, float, float, float], *, table: str) -> Cond:
    """Rows whose geometry meets the lon/lat box (closed), found through the GiST index."""
    geom = LAYOUT[table][0]
    if geom is None:
        msg = f"{table} has no geometry to filter by bbox"
        raise ValueError(msg)
    env = "ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)"
    params = {"bx0": bbox[0], "by0": bbox[1], "bx1": bbox[2], "by1": bbox[3]}
    if _geometry_type(table, geom) == "POINT":
        # For a point, "meets the closed box" is its coordinates between the edges: the same
        # answer as ST_Intersects, at a fraction of the cost per row (no polygon test).
        exact = f't."{geom}" && {env} AND ST_X(t."{geom}") BETWEEN :bx0 AND :bx1 '
        exact += f'AND ST_Y(t."{geom}") BETWEEN :by0 AND :by1'
        return Cond(exact, params, bounded=True)
    return Cond(f't."{geom}" && {env} AND ST_Intersects(t."{geom}", {env})', params, bounded=True)


@cache
def _geometry_type(table: str, column: str) -> str:
    kind = getattr(Base.metadata.tables[table].columns[column].type, "geometry_type", "")
    return str(kind).upper()


@dataclass(frozen=True)
class Page:
    features: str  # JSON array text, built by PostGIS
    ids: list[uuid.UUID]
    matched: int | None  # rows that match, when counted
    versions: list[int | None] = field(default_factory=list)


def _column(table: str, column: str) -> str:
    columns = Base.metadata.tables[table].columns
    if column not in columns or columns[column].info.get("derived"):
        msg = f"{table} has no column {column!r}"
        raise ValueError(msg)
    return column


def plain_columns(table: str) -> list[str]:
    """The table's own columns, in order: not the copies kept for reading (info "derived")."""
    return [c.name for c in Base.metadata.tables[table].columns if not c.info.get("derived")]


def _properties(table: str, fields: Sequence[str]) -> str:
    if not fields:
        return "'{}'::json"
    pairs = ", ".join(f"'{_column(table, f)}', t.\"{f}\"" for f in fields)
    return f"json_build_object({pairs})"


def _where(conds: Sequence[Cond]) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    for c in conds:
        clash = set(params) & set(c.params)
        if clash:
            msg = f"parameter names used twice: {sorted(clash)}"
            raise ValueError(msg)
        params.update(c.params)
    sql = " AND ".join(f"({c.sql})" for c in conds) or "TRUE"
    return sql, params


def _page_sql(
    table: str, *, fields: Sequence[str], where: str, bounded: bool, features: bool
) -> tuple[str, str, str]:
    """The CTEs `sel` (the page's rows) and `rows` (id, version, item, rn) of one page, the
    aggregates over `rows`, and the count of all matches."""
    geom, order = LAYOUT[table]
    props = _properties(table, fields)
    stored = STORED_FEATURE.get(table)
    # JSON text joined as text: no JSON object built, and none parsed again, per row.
    body = "'[' || coalesce(string_agg(item, ',' ORDER BY rn), '') || ']'"
    if features and stored is not None and tuple(fields) == stored[1]:
        item = f't."{stored[0]}"'
    elif features:
        geometry = f'ST_AsGeoJSON(t."{geom}", 7)::json' if geom else "NULL::json"
        item = (
            "json_build_object('type', 'Feature', 'id', t.id, "
            f"'geometry', {geometry}, 'properties', {props})::text"
        )
    else:
        item = f"(jsonb_build_object('id', t.id) || {props}::jsonb)"
        body = "coalesce(json_agg(item ORDER BY rn), '[]'::json)::text"
    version = "t.version" if _has_version(table) else "NULL::int"
    if bounded:
        # One index scan: the page and the count both come from the matches read once. Only
        # their row addresses and sort keys are kept; the page's rows are fetched again by
        # address (same statement, same snapshot: the same row versions).
        pick = f"""hits AS MATERIALIZED (
            SELECT t.ctid AS tid, t."{order}" AS k, t.id FROM {table} t WHERE {where}
        ), picked AS (
            SELECT tid, k, id FROM hits ORDER BY k, id LIMIT :_limit OFFSET :_offset
        ), sel AS (
            SELECT t.* FROM picked p JOIN {table} t ON t.ctid = p.tid
        )"""
        count = "(SELECT count(*) FROM hits)"
    else:
        pick = f"""sel AS (
            SELECT * FROM {table} t WHERE {where}
            ORDER BY t."{order}", t.id LIMIT :_limit OFFSET :_offset
        )"""
        count = f"(SELECT count(*) FROM {table} t WHERE {where})"
    ctes = f"""
        {pick}, rows AS (
            SELECT t.id, {version} AS version, {item} AS item,
                   row_number() OVER (ORDER BY t."{order}", t.id) AS rn
            FROM sel t
        )"""
    aggregates = f"""{body},
               coalesce(array_agg(id ORDER BY rn), '{{}}'),
               coalesce(array_agg(version ORDER BY rn), '{{}}')"""
    return ctes, aggregates, count


def page(
    session: Session,
    table: str,
    *,
    fields: Sequence[str],
    conds: Sequence[Cond] = (),
    limit: int,
    offset: int = 0,
    count: bool = True,
    features: bool = True,
) -> Page:
    """One page of rows as GeoJSON Features (or plain records with `features=False`), and the
    count of all matches: one statement."""
    where, params = _where(conds)
    bounded = any(c.bounded for c in conds)
    ctes, aggregates, counted = _page_sql(
        table, fields=fields, where=where, bounded=bounded, features=features
    )
    sql = f"WITH {ctes} SELECT {aggregates}, {counted if count else 'NULL::bigint'} FROM rows"
    body, ids, versions, matched = session.execute(
        text(sql), {**params, "_limit": limit, "_offset": offset}
    ).one()
    return Page(features=body, ids=list(ids), matched=matched, versions=list(versions))


@dataclass(frozen=True)
class AuditRow:
    """Who reads, for the audit row written by the same statement as the read."""

    actor: str
    role: str
    layer: str
    detail: dict[str, Any]
    action: str = "read"


def audited_page_query(
    table: str,
    *,
    fields: Sequence[str],
    conds: Sequence[Cond] = (),
    limit: int,
    offset: int = 0,
    audit: AuditRow,
) -> tuple[TextClause, dict[str, Any]]:
    """One statement that reads a page (features, ids, versions, the match count) and writes
    its audit row: executed alone (autocommit), the row is committed when the answer arrives,
    and a failed read writes no "ok" row. Columns: body, ids, versions, matched, audit id."""
    where, params = _where(conds)
    stmt = _audited_statement(table, tuple(fields), where, any(c.bounded for c in conds))
    values = {
        **params,
        "_limit": limit,
        "_offset": offset,
        "_actor": audit.actor,
        "_role": audit.role,
        "_action": audit.action,
        "_layer": audit.layer,
        "_detail": json.dumps(audit.detail),
    }
    return stmt, values


@lru_cache(maxsize=128)
def _audited_statement(
    table: str, fields: tuple[str, ...], where: str, bounded: bool
) -> TextClause:
    # Built and parsed once per shape (table, role's fields, filters); the values vary.
    ctes, aggregates, counted = _page_sql(
        table, fields=fields, where=where, bounded=bounded, features=True
    )
    return text(f"""
        WITH {ctes}, agg (body, ids, versions) AS (
            SELECT {aggregates} FROM rows
        ), logged AS (
            INSERT INTO audit_log (actor, role, action, layer, object_ids, outcome, detail)
            SELECT :_actor, :_role, :_action, :_layer, agg.ids, 'ok',
                   CAST(:_detail AS jsonb) || jsonb_build_object('returned', cardinality(agg.ids))
            FROM agg
            RETURNING id
        )
        SELECT agg.*, {counted}, (SELECT id FROM logged)
        FROM agg
        """)


def one(
    session: Session,
    table: str,
    object_id: uuid.UUID,
    *,
    fields: Sequence[str],
    conds: Sequence[Cond] = (),
    features: bool = True,
) -> tuple[str, int | None] | None:
    """One row as a Feature (JSON text) and its version, or None when not there / not visible."""
    found = page(
        session,
        table,
        fields=fields,
        conds=[*conds, Cond("t.id = :_id", {"_id": object_id})],
        limit=1,
        count=False,
        features=features,
    )
    if not found.ids:
        return None
    # A one-element array: keep its element.
    return found.features.strip()[1:-1], found.versions[0]


def _has_version(table: str) -> bool:
    return "version" in Base.metadata.tables[table].columns
