"""Solution quality of the planner's solver core against OR-Tools and the best-known cost.

    .venv/bin/python benchmarks/vrp_quality.py ../shared/data/vrp/C101.txt --seconds 10

Reads a Solomon .txt or VRPLIB .vrp/.tsp instance, solves it with `vrp.solve_problem` (PyVRP)
and with a standard OR-Tools routing model at the same wall-clock budget, both on the same
integer matrices, then recomputes both route sets' costs in the instance's own convention
(`instances.evaluate`) and prints one JSON line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

# Run as a script from anywhere: the repository root makes `benchmarks` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import instances
from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.routing import vrp


@dataclass(frozen=True)
class Run:
    routes: list[list[int]]  # instance nodes per route
    wall: float  # seconds, model building included
    status: str
    iterations: int | None = None


def solve_ours(problem: vrp.Problem, *, seconds: float, seed: int) -> Run:
    started = time.perf_counter()
    solution = vrp.solve_problem(problem, seconds=seconds, seed=seed)
    wall = time.perf_counter() - started
    status = "feasible" if solution.feasible else "infeasible"
    routes = [[problem.sites[i].location for i in r.sites] for r in solution.routes if r.sites]
    return Run(routes, wall, status, solution.iterations)


def first_solution(problem: vrp.Problem, choice: str) -> str:
    """OR-Tools' start heuristic. `auto`: its best on the shared set at 10 s. Path-cheapest-arc
    finds no feasible start on R101/RC101 within 10 s; parallel insertion does, but is worse
    without time windows (X-n101-k25, kroA100).
    """
    if choice != "auto":
        return choice
    windows = any(s.tw_early > 0 or s.tw_late < vrp.HORIZON for s in problem.sites)
    return "PARALLEL_CHEAPEST_INSERTION" if windows else "PATH_CHEAPEST_ARC"


def solve_ortools(problem: vrp.Problem, *, seconds: float, first: str) -> Run:
    """The textbook OR-Tools VRPTW model: arc costs, capacity and time dimensions, GLS."""
    started = time.perf_counter()
    depots = sorted({t.start for t in problem.teams} | {t.end for t in problem.teams})
    order = depots + [s.location for s in problem.sites]  # OR-Tools node -> matrix location
    sub = np.ix_(order, order)
    cost = problem.cost[sub]
    services = np.array([0] * len(depots) + [s.service for s in problem.sites], dtype=np.int64)
    # Time transit from i to j: service at i, then the drive (OR-Tools' convention).
    travel = problem.duration[sub] + services[:, None]
    teams = [t for t in problem.teams for _ in range(t.count)]
    starts = [depots.index(t.start) for t in teams]
    ends = [depots.index(t.end) for t in teams]
    manager = pywrapcp.RoutingIndexManager(len(order), len(teams), starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    cost_index = routing.RegisterTransitMatrix(cost.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost_index)
    first_site = len(depots)
    if any(t.capacity for t in teams):
        demand = [0] * len(depots) + [s.demand for s in problem.sites]
        demand_index = routing.RegisterUnaryTransitVector(demand)
        routing.AddDimensionWithVehicleCapacity(
            demand_index, 0, [t.capacity for t in teams], True, "load"
        )
    windows = any(s.tw_early > 0 or s.tw_late < vrp.HORIZON for s in problem.sites) or any(
        t.tw_early > 0 or t.tw_late < vrp.HORIZON or t.max_duration < vrp.HORIZON for t in teams
    )
    if windows:
        horizon = max(t.tw_late for t in teams)
        time_index = routing.RegisterTransitMatrix(travel.tolist())
        routing.AddDimension(time_index, horizon, horizon, False, "time")
        clock = routing.GetDimensionOrDie("time")
        for k, s in enumerate(problem.sites):
            clock.CumulVar(manager.NodeToIndex(first_site + k)).SetRange(s.tw_early, s.tw_late)
        for v, t in enumerate(teams):
            clock.CumulVar(routing.Start(v)).SetRange(t.tw_early, t.tw_late)
            clock.CumulVar(routing.End(v)).SetRange(t.tw_early, t.tw_late)
            routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.Start(v)))
            routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(v)))
    for k, s in enumerate(problem.sites):
        if not s.required:
            routing.AddDisjunction([manager.NodeToIndex(first_site + k)], s.prize)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.Value.Value(first)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    assignment = routing.SolveWithParameters(params)
    status = routing_enums_pb2.RoutingSearchStatus.Value.Name(routing.status())
    routes: list[list[int]] = []
    if assignment is not None:
        for v in range(len(teams)):
            route = []
            index = assignment.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                route.append(problem.sites[node - first_site].location)
                index = assignment.Value(routing.NextVar(index))
            if route:
                routes.append(route)
    return Run(routes, time.perf_counter() - started, status)


def gap(cost: float | None, reference: float | None) -> float | None:
    if cost is None or not reference:
        return None
    return round(100.0 * (cost - reference) / reference, 3)


def measure(path: Path, *, seconds: float, seed: int, ortools_first: str) -> dict[str, Any]:
    inst = instances.read_instance(path)
    scale = instances.default_scale(inst)
    problem = instances.to_problem(inst, scale=scale)
    bks = instances.best_known(path, inst)
    print(f"{inst.name}: {inst.clients} clients, ours for {seconds:g} s …", file=sys.stderr)
    ours = solve_ours(problem, seconds=seconds, seed=seed)
    first = first_solution(problem, ortools_first)
    print(f"{inst.name}: OR-Tools ({first}, GLS) for {seconds:g} s …", file=sys.stderr)
    theirs = solve_ortools(problem, seconds=seconds, first=first)
    ours_eval = instances.evaluate(inst, ours.routes)
    theirs_eval = instances.evaluate(inst, theirs.routes) if theirs.routes else None
    our_cost = round(ours_eval.cost, 2) if ours_eval.feasible else None
    or_cost = round(theirs_eval.cost, 2) if theirs_eval and theirs_eval.feasible else None
    bks_check = None
    if bks is not None and bks.routes is not None:
        bks_check = round(instances.evaluate(inst, bks.routes).cost, 2)
    return {
        "instance": inst.name,
        "class": inst.kind,
        "clients": inst.clients,
        "vehicles_available": inst.vehicles,
        "capacity": inst.capacity or None,
        "time_windows": inst.has_time_windows,
        "distance": inst.convention,
        "integer_scale": scale,
        "seconds": seconds,
        "seed": seed,
        "our_cost": our_cost,
        "our_vehicles": ours_eval.routes,
        "our_feasible": ours_eval.feasible,
        "our_faults": ours_eval.faults[:3],
        "our_iterations": ours.iterations,
        "our_wall_s": round(ours.wall, 2),
        "ortools_cost": or_cost,
        "ortools_vehicles": theirs_eval.routes if theirs_eval else None,
        "ortools_feasible": bool(theirs_eval and theirs_eval.feasible),
        "ortools_status": theirs.status,
        "ortools_first_solution": first,
        "ortools_wall_s": round(theirs.wall, 2),
        "bks_cost": bks.cost if bks else None,
        "bks_source": bks.source if bks else None,
        "bks_objective": bks.objective if bks else None,
        "bks_vehicles": bks.vehicles if bks else None,
        "bks_cost_recomputed": bks_check,
        "gap_ours_pct": gap(our_cost, bks.cost if bks else None),
        "gap_ortools_pct": gap(or_cost, bks.cost if bks else None),
        "ours_vs_ortools_pct": gap(our_cost, or_cost),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("instance", type=Path, help="Solomon .txt or VRPLIB .vrp/.tsp file")
    parser.add_argument("--seconds", type=float, default=10.0, help="budget per solver")
    parser.add_argument("--seed", type=int, default=1, help="seed of our solver")
    parser.add_argument(
        "--ortools-first",
        default="auto",
        choices=["auto", *routing_enums_pb2.FirstSolutionStrategy.Value.keys()],
        metavar="STRATEGY",
        help="OR-Tools first-solution strategy (auto: parallel insertion with time windows, "
        "path-cheapest-arc without)",
    )
    args = parser.parse_args(argv)
    if not 0.1 <= args.seconds <= 3600:
        print(
            f"error: --seconds must be between 0.1 and 3600, got {args.seconds:g}", file=sys.stderr
        )
        return 2
    try:
        result = measure(
            args.instance, seconds=args.seconds, seed=args.seed, ortools_first=args.ortools_first
        )
    except GeoOutreachError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
