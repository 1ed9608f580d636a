"""The solver core: a small, explicit VRP with time windows and prizes, solved by PyVRP.

The problem is plain numpy data built elsewhere (the planner from the street network, the
benchmarks from Solomon/VRPLIB files); this module only turns it into PyVRP's ProblemData,
solves within a time budget and reads the routes back with their schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyvrp import Client, Depot, Location, ProblemData, SolveParams, VehicleType, solve
from pyvrp.constants import MAX_VALUE
from pyvrp.stop import MaxIterations, MaxRuntime

from geo_outreach.core.errors import GeoOutreachError

HORIZON = 10**9  # "no limit" for windows and durations, far below PyVRP's overflow guard
# An arc a team may not take: PyVRP's own value for a missing edge of a routing profile.
FORBIDDEN = MAX_VALUE


@dataclass(frozen=True)
class Site:
    """A place to visit: its location index in the matrices and its constraints (seconds)."""

    location: int
    service: int = 0
    tw_early: int = 0
    tw_late: int = HORIZON
    demand: int = 0
    prize: int = 0
    required: bool = True
    # Indices into Problem.teams that may serve it; None: any team.
    teams: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Team:
    start: int  # location index of the depot it leaves from
    end: int
    tw_early: int = 0  # shift start
    tw_late: int = HORIZON  # back by
    max_duration: int = HORIZON
    capacity: int = 0  # 0: no capacity constraint
    count: int = 1


@dataclass(frozen=True)
class Problem:
    duration: NDArray[np.int64]  # [i, j] travel seconds between locations
    cost: NDArray[np.int64]  # [i, j] what the solver minimises (distance or time)
    sites: list[Site]
    teams: list[Team]
    xy: NDArray[np.float64] | None = None  # coordinates, for PyVRP's neighbourhoods/plots


@dataclass(frozen=True)
class RouteResult:
    team: int  # index into Problem.teams (expanded: one per vehicle)
    sites: list[int]  # indices into Problem.sites, in visiting order
    arrive: list[int]  # start of service at each site (seconds)
    start: int  # departure from the depot
    end: int  # return to the depot
    cost: int


@dataclass(frozen=True)
class Solution:
    routes: list[RouteResult]
    unplanned: list[int]  # indices into Problem.sites
    cost: int
    feasible: bool
    iterations: int = 0
    notes: list[str] = field(default_factory=list)


def _check(problem: Problem) -> None:
    n = problem.duration.shape[0]
    if problem.duration.shape != (n, n) or problem.cost.shape != (n, n):
        msg = f"matrices must be square and equal: {problem.duration.shape}, {problem.cost.shape}"
        raise GeoOutreachError(msg)
    if not problem.teams:
        msg = "at least one team is needed"
        raise GeoOutreachError(msg)
    for i, s in enumerate(problem.sites):
        if not 0 <= s.location < n:
            msg = f"site {i}: location {s.location} outside the matrix (size {n})"
            raise GeoOutreachError(msg)
        if s.tw_early > s.tw_late:
            msg = f"site {i}: time window opens ({s.tw_early}) after it closes ({s.tw_late})"
            raise GeoOutreachError(msg)
        if s.teams is not None and not all(0 <= t < len(problem.teams) for t in s.teams):
            msg = f"site {i}: teams {s.teams} outside 0..{len(problem.teams) - 1}"
            raise GeoOutreachError(msg)


def _profiles(
    problem: Problem, idx: NDArray[np.int64], first_site: int
) -> tuple[list[Any], list[Any]]:
    """Distance and duration matrices, one routing profile per team when some site is kept for
    some teams: in team t's profile every arc into or out of a site t may not serve is missing
    (PyVRP's way of saying a vehicle type cannot visit a client)."""
    sub = np.ix_(idx, idx)
    cost, duration = problem.cost[sub], problem.duration[sub]
    if all(s.teams is None for s in problem.sites):
        return [_int_matrix(cost)], [_int_matrix(duration)]
    distances, durations = [], []
    for t in range(len(problem.teams)):
        barred = [
            first_site + k
            for k, s in enumerate(problem.sites)
            if s.teams is not None and t not in s.teams
        ]
        own_cost, own_duration = cost.copy(), duration.copy()
        for m in (own_cost, own_duration):
            m[barred, :] = FORBIDDEN
            m[:, barred] = FORBIDDEN
            m[barred, barred] = 0
        distances.append(_int_matrix(own_cost))
        durations.append(_int_matrix(own_duration))
    return distances, durations


def to_pyvrp(problem: Problem) -> tuple[ProblemData, list[int]]:
    """PyVRP data: depots first (one per distinct team start/end location), then the sites.

    Returns the data and, per expanded vehicle, the index of its Team.
    """
    _check(problem)
    depot_locs = sorted({t.start for t in problem.teams} | {t.end for t in problem.teams})
    depot_of = {loc: i for i, loc in enumerate(depot_locs)}
    order = depot_locs + [s.location for s in problem.sites]
    idx = np.asarray(order)
    xy = problem.xy if problem.xy is not None else np.zeros((problem.duration.shape[0], 2))
    locations = [Location(x=float(xy[i, 0]), y=float(xy[i, 1])) for i in order]
    depots = [Depot(location=i) for i in range(len(depot_locs))]
    use_capacity = any(t.capacity for t in problem.teams)
    clients = [
        Client(
            location=len(depot_locs) + k,
            delivery=[s.demand] if use_capacity else [],
            service_duration=s.service,
            tw_early=s.tw_early,
            tw_late=s.tw_late,
            prize=s.prize,
            required=s.required,
        )
        for k, s in enumerate(problem.sites)
    ]
    distances, durations = _profiles(problem, idx, len(depot_locs))
    vehicle_types = [
        VehicleType(
            num_available=t.count,
            capacity=[t.capacity] if use_capacity else [],
            start_depot=depot_of[t.start],
            end_depot=depot_of[t.end],
            tw_early=t.tw_early,
            tw_late=t.tw_late,
            shift_duration=t.max_duration,
            profile=ti if len(distances) > 1 else 0,
        )
        for ti, t in enumerate(problem.teams)
    ]
    team_of_vehicle = [ti for ti, t in enumerate(problem.teams) for _ in range(t.count)]
    data = ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=distances,
        duration_matrices=durations,
    )
    return data, team_of_vehicle


def _int_matrix(values: NDArray[np.int64]) -> Any:
    # PyVRP's stubs type matrices loosely; it wants C-contiguous int64.
    return np.ascontiguousarray(values, dtype=np.int64)


def solve_problem(
    problem: Problem, *, seconds: float, seed: int = 1, iterations: int | None = None
) -> Solution:
    """Solve within `seconds` of wall time, or exactly `iterations` iterations when given:
    the same seed and iteration count always give the same answer, whatever the machine's load.
    """
    data, _ = to_pyvrp(problem)
    stop = MaxIterations(iterations) if iterations else MaxRuntime(seconds)
    result = solve(
        data,
        stop=stop,
        seed=seed,
        collect_stats=False,
        display=False,
        params=SolveParams(),
    )
    best = result.best
    routes: list[RouteResult] = []
    planned: set[int] = set()
    for route in best.routes():
        visits: list[int] = []
        arrive: list[int] = []
        for activity in route:
            if activity.is_client():
                visits.append(int(activity.idx))
                arrive.append(int(activity.start_time))
        planned.update(visits)
        routes.append(
            RouteResult(
                team=int(route.vehicle_type()),
                sites=visits,
                arrive=arrive,
                start=int(route.start_time()),
                end=int(route.end_time()),
                cost=int(route.distance_cost()),
            )
        )
    unplanned = [i for i in range(len(problem.sites)) if i not in planned]
    return Solution(
        routes=routes,
        unplanned=unplanned,
        cost=int(best.distance_cost()),
        feasible=bool(best.is_feasible()),
        iterations=int(result.num_iterations),
    )
