"""Partner statistics from the visit log: districts or coarser, a quarter or longer, suppressed
by the disclosure rules of ``geo_outreach.core.privacy`` before anything leaves the service."""

from __future__ import annotations

from datetime import datetime
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
    labels = period_labels(year, period)
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
    table = aggregate_by_period(
        ((str(a), int(m), int(n)) for a, m, n in rows), year=year, period=period
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="statistics",
        layer="visits",
        detail={"year": year, "measure": measure, "period": period, "level": level},
    )
    if not table:
        return suppress_table(pd.DataFrame(columns=labels, dtype=int))
    return suppress_table(table)
