"""Partner statistics from the visit log: districts or coarser, a quarter or longer, suppressed
by the disclosure rules of ``geo_outreach.core.privacy`` before anything leaves the service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.core.privacy import (
    LEVELS,
    MEASURES,
    UNKNOWN_AREA,
    SuppressedTable,
    aggregate_by_period,
    period_labels,
    suppress_table,
)
from geo_outreach.core.vocab import Lang
from geo_outreach.reports.tables import t
from layers import audit


def district_quarter_counts(
    session: Session,
    *,
    year: int,
    actor: str,
    role: str,
    measure: str = "people_met",
    period: str = "quarter",
    level: str = "district",
    timezone: str = "Europe/Warsaw",
) -> SuppressedTable:
    """Visit figures by district (or city) × quarter (or half-year, year), suppressed for
    publication. The read of visit data is audited."""
    if measure not in MEASURES:
        msg = f"measure: '{measure}' is not one of {', '.join(MEASURES)}"
        raise ValueError(msg)
    if level not in LEVELS:
        msg = f"level: '{level}' is finer than allowed or unknown; use one of {', '.join(LEVELS)}"
        raise ValueError(msg)
    period_labels(year, period)  # refuses a period shorter than a quarter
    tz = ZoneInfo(timezone)
    # The site's district column holds its district, or its city where there are no districts.
    area = "COALESCE(s.district, :unknown)" if level == "district" else "COALESCE(c.name, :unknown)"
    city_join = (
        ""
        if level == "district"
        else """
        LEFT JOIN LATERAL (
            SELECT a.name FROM areas a
            WHERE a.kind = 'city' AND ST_Intersects(a.geom, s.geom)
            ORDER BY a.is_demo, a.name LIMIT 1
        ) c ON true"""
    )
    query = text(
        f"""
        SELECT {area} AS area,
               EXTRACT(MONTH FROM v.visited_at AT TIME ZONE :tz)::int AS month,
               {MEASURES[measure]} AS n
        FROM visits v
        LEFT JOIN sleeping_sites s ON s.id = v.site_id{city_join}
        WHERE v.visited_at >= :start AND v.visited_at < :end
        GROUP BY 1, 2
        """
    )
    rows = session.execute(
        query,
        {
            "unknown": UNKNOWN_AREA,
            "tz": timezone,
            "start": datetime(year, 1, 1, tzinfo=tz),
            "end": datetime(year + 1, 1, 1, tzinfo=tz),
        },
    ).all()
    audit.record(
        session,
        actor=actor,
        role=role,
        action="statistics",
        layer="visits",
        detail={"year": year, "measure": measure, "period": period, "level": level},
    )
    return suppressed_by_period(
        ((str(a), int(m), int(n)) for a, m, n in rows), year=year, period=period
    )


def suppressed_by_period(
    records: Iterable[tuple[str, int, int]], *, year: int, period: str
) -> SuppressedTable:
    """(row, month, count) → rows × periods with every period, suppressed for publication."""
    table = aggregate_by_period(records, year=year, period=period)
    if not table:
        labels = period_labels(year, period)
        return suppress_table(pd.DataFrame(columns=labels, dtype=int))
    return suppress_table(table)


# -- the partner report: every figure through the disclosure rules ------------------------------

# The visit measures by district × quarter, then the SOS bus's by route × quarter.
VISIT_MEASURES = ("visits", "people_met", "women_met", "people_referred")
SOS_MEASURES = ("duties", "uses", "meals", "clothes", "rides_to_warming_centre")
_SOS_SQL = {
    "duties": "count(*)",
    "uses": "sum(d.uses)",
    "meals": "sum(d.meals)",
    "clothes": "sum(d.clothes)",
    "rides_to_warming_centre": "sum(d.rides_to_warming_centre)",
}


@dataclass(frozen=True)
class PartnerTable:
    key: str  # visits.people_met, sos_bus.uses …
    measure: str  # a code of reports.tables.TEXT
    row_kind: str  # district | city | route
    table: SuppressedTable


@dataclass(frozen=True)
class PartnerReport:
    year: int
    period: str
    level: str
    tables: tuple[PartnerTable, ...]


def sos_bus_quarter_counts(
    session: Session, *, year: int, measure: str, period: str = "quarter"
) -> SuppressedTable:
    """One SOS bus measure by route × quarter (or longer), suppressed like the visit figures."""
    if measure not in _SOS_SQL:
        msg = f"measure: '{measure}' is not one of {', '.join(_SOS_SQL)}"
        raise ValueError(msg)
    rows = session.execute(
        text(
            f"""
            SELECT r.name, EXTRACT(MONTH FROM d.duty_date)::int AS month, {_SOS_SQL[measure]}
            FROM sos_bus_duties d JOIN sos_bus_routes r ON r.id = d.route_id
            WHERE d.duty_date >= :first AND d.duty_date < :after
            GROUP BY 1, 2
            """
        ),
        {"first": date(year, 1, 1), "after": date(year + 1, 1, 1)},
    ).all()
    return suppressed_by_period(
        ((str(r), int(m), int(n)) for r, m, n in rows), year=year, period=period
    )


def partner_report(
    session: Session,
    *,
    year: int,
    actor: str,
    role: str,
    period: str = "quarter",
    level: str = "district",
    timezone: str = "Europe/Warsaw",
) -> PartnerReport:
    """The coalition's figures of a year: visit measures by district (or city) × quarter (or
    longer) and the SOS bus's by route, each table suppressed (1–9 and secondary). The reads
    of visit data are audited by `district_quarter_counts`."""
    found = [
        PartnerTable(
            key=f"visits.{measure}",
            measure=measure,
            row_kind=level,
            table=district_quarter_counts(
                session,
                year=year,
                actor=actor,
                role=role,
                measure=measure,
                period=period,
                level=level,
                timezone=timezone,
            ),
        )
        for measure in VISIT_MEASURES
    ]
    found += [
        PartnerTable(
            key=f"sos_bus.{measure}",
            measure=measure,
            row_kind="route",
            table=sos_bus_quarter_counts(session, year=year, measure=measure, period=period),
        )
        for measure in SOS_MEASURES
    ]
    return PartnerReport(year=year, period=period, level=level, tables=tuple(found))


def report_json(report: PartnerReport, *, lang: Lang = "pl") -> dict[str, Any]:
    """The partner report as JSON: suppressed cells (and totals) are null; which rule hid a
    cell is not said (that a cell was small is itself a disclosure)."""
    return {
        "year": report.year,
        "audience": "partner",
        "level": report.level,
        "period": report.period,
        "rules": {
            "suppressed": "counts 1-9, and further cells so that none can be derived from "
            "the published totals",
            "areas": "districts or coarser",
            "periods": "a quarter or longer",
        },
        "tables": [
            {
                "key": p.key,
                "title": t(p.measure, lang),
                "rows_are": p.row_kind,
                "rows": list(p.table.rows),
                "columns": list(p.table.columns),
                "cells": [list(row) for row in p.table.cells],
                "row_totals": list(p.table.row_totals),
                "column_totals": list(p.table.column_totals),
                "grand_total": p.table.grand_total,
            }
            for p in report.tables
        ],
    }
