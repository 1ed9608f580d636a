"""An independent check of a plan: it recomputes the schedule from travel times it is given and
never asks the solver. Any violation is returned in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from geo_outreach.core.plan import Plan

Point = tuple[float, float]


def check_plan(
    plan: Plan,
    *,
    travel_s: Callable[[Point, Point], float],
    mandatory: set[str] = frozenset(),  # type: ignore[assignment]
    late_by: dict[str, datetime] | None = None,
    tolerance_s: float = 2.0,
) -> list[str]:
    """Violations of time windows, the shift, travel times, duplicates and coverage."""
    problems: list[str] = []
    slack = timedelta(seconds=tolerance_s)
    seen: dict[str, str] = {}
    for r in plan.routes:
        if r.depart < plan.window_start - slack:
            problems.append(f"{r.name} leaves at {r.depart:%H:%M:%S}, before the shift")
        if r.back > plan.window_end + slack:
            problems.append(f"{r.name} is back at {r.back:%H:%M:%S}, after the shift ends")
        at: Point = r.start
        clock = r.depart.astimezone(UTC)  # add durations in UTC: a DST night is not 24 h
        for s in r.stops:
            if s.code in seen:
                problems.append(f"{s.code} is visited by {seen[s.code]} and {r.name}")
            seen[s.code] = r.name
            earliest = clock + timedelta(seconds=travel_s(at, (s.lon, s.lat)))
            if s.arrive + slack < earliest:
                problems.append(
                    f"{r.name} stop {s.seq} ({s.code}): arrives {s.arrive:%H:%M:%S} but cannot "
                    f"be there before {earliest:%H:%M:%S}"
                )
            if late_by and s.code in late_by and s.arrive > late_by[s.code] + slack:
                problems.append(f"{s.code}: arrives {s.arrive:%H:%M} after its window closes")
            if s.depart < s.arrive + timedelta(minutes=s.service_minutes) - timedelta(minutes=1):
                problems.append(f"{s.code}: leaves before its service time is over")
            clock = max(s.depart.astimezone(UTC), earliest + (s.depart - s.arrive))
            at = (s.lon, s.lat)
        home = clock + timedelta(seconds=travel_s(at, r.end))
        if r.stops and r.back + slack < home:
            problems.append(
                f"{r.name}: back at {r.back:%H:%M:%S}, cannot be before {home:%H:%M:%S}"
            )
    left = {x.code for x in plan.left_out}
    for code in sorted(mandatory - set(seen) - left):
        problems.append(f"{code} must be visited but is neither in a route nor left out")
    return problems
