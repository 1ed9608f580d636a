"""Read queries that return RFC 7946 GeoJSON built by PostGIS, for any layer and field list.

Column names come only from the models (checked here) and from the field lists of
geo_outreach.policy; every value travels as a bound parameter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class Cond:
    """One WHERE fragment over the alias `t`, with its bound parameters."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def eq(column: str, value: Any, *, table: str) -> Cond:
    _column(table, column)
    name = f"eq_{column}"
    return Cond(f't."{column}" = :{name}', {name: value})


def within(bbox: tuple[float, float, float, float], *, table: str) -> Cond:
    """Rows whose geometry meets the lon/lat box (index-assisted by &&)."""
    geom = LAYOUT[table][0]
    if geom is None:
        msg = f"{table} has no geometry to filter by bbox"
        raise ValueError(msg)
    env = "ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)"
    return Cond(
        f't."{geom}" && {env} AND ST_Intersects(t."{geom}", {env})',
        {"bx0": bbox[0], "by0": bbox[1], "bx1": bbox[2], "by1": bbox[3]},
    )


@dataclass(frozen=True)
class Page:
    features: str  # JSON array text, built by PostGIS
    ids: list[uuid.UUID]
    matched: int | None  # rows that match, when counted
    versions: list[int | None] = field(default_factory=list)


def _column(table: str, column: str) -> str:
    if column not in Base.metadata.tables[table].columns:
        msg = f"{table} has no column {column!r}"
        raise ValueError(msg)
    return column


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


def _page_sql(table: str, *, fields: Sequence[str], where: str, features: bool) -> tuple[str, str]:
    """The CTEs `sel` (the page's rows) and `rows` (id, version, item, rn) of one page."""
    geom, order = LAYOUT[table]
    props = _properties(table, fields)
    if features:
        geometry = f'ST_AsGeoJSON(t."{geom}", 7)::json' if geom else "NULL::json"
        item = (
            "json_build_object('type', 'Feature', 'id', t.id, "
            f"'geometry', {geometry}, 'properties', {props})"
        )
    else:
        item = f"(jsonb_build_object('id', t.id) || {props}::jsonb)"
    version = "t.version" if _has_version(table) else "NULL::int"
    ctes = f"""
        sel AS (
            SELECT * FROM {table} t WHERE {where}
            ORDER BY t."{order}", t.id LIMIT :_limit OFFSET :_offset
        ), rows AS (
            SELECT t.id, {version} AS version, {item} AS item,
                   row_number() OVER (ORDER BY t."{order}", t.id) AS rn
            FROM sel t
        )"""
    aggregates = """coalesce(json_agg(item ORDER BY rn), '[]'::json)::text,
               coalesce(array_agg(id ORDER BY rn), '{}'),
               coalesce(array_agg(version ORDER BY rn), '{}')"""
    return ctes, aggregates


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
    """One page of rows as GeoJSON Features (or plain records with `features=False`)."""
    where, params = _where(conds)
    ctes, aggregates = _page_sql(table, fields=fields, where=where, features=features)
    sql = f"WITH {ctes} SELECT {aggregates} FROM rows"
    body, ids, versions = session.execute(
        text(sql), {**params, "_limit": limit, "_offset": offset}
    ).one()
    matched = None
    if count:
        matched = session.execute(
            text(f"SELECT count(*) FROM {table} t WHERE {where}"), params
        ).scalar_one()
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
    ctes, aggregates = _page_sql(table, fields=fields, where=where, features=True)
    sql = f"""
        WITH {ctes}, agg (body, ids, versions) AS (
            SELECT {aggregates} FROM rows
        ), logged AS (
            INSERT INTO audit_log (actor, role, action, layer, object_ids, outcome, detail)
            SELECT :_actor, :_role, :_action, :_layer, agg.ids, 'ok',
                   CAST(:_detail AS jsonb) || jsonb_build_object('returned', cardinality(agg.ids))
            FROM agg
            RETURNING id
        )
        SELECT agg.*, (SELECT count(*) FROM {table} t WHERE {where}), (SELECT id FROM logged)
        FROM agg
        """
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
    return text(sql), values


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
