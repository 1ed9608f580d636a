"""Readers for Solomon and VRPLIB/TSPLIB files, and the independent cost evaluator.

Expected values are worked out by hand from the snippets' coordinates (3-4-5 triangles,
√2, half-way roundings), or read from the shared data's own statements (a .sol file's
'Cost' line, BKS.json's totals); the solver round trip is checked against brute force.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import instances
from benchmarks.instances import InstanceError
from geo_outreach.core.settings import REPO_ROOT
from geo_outreach.routing import vrp

SOLOMON = """TINY

VEHICLE
NUMBER     CAPACITY
  2         15

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0          0          0          0       100          0
    1      3          4          5          0        50          2
    2      3          0          6         10        20          1
    3      1          1          7          0        12          3
"""

# Depot is node 2; node 1 sits 2.5 from it (TSPLIB nint: 3, where round-half-even gives 2).
CVRP = """NAME : tiny-cvrp
COMMENT : hand-made
TYPE : CVRP
DIMENSION : 4
EDGE_WEIGHT_TYPE : EUC_2D
CAPACITY : 10
NODE_COORD_SECTION
1 1.5 2
2 0 0
3 3 4
4 0 1
DEMAND_SECTION
1 4
2 0
3 6
4 3
DEPOT_SECTION
 2
 -1
EOF
"""

CVRP_SOL = """Route #1: 1 2
Route #2: 3
Cost 13
"""

TSP = """NAME: square
TYPE: TSP
DIMENSION: 4
EDGE_WEIGHT_TYPE : EUC_2D
NODE_COORD_SECTION
1 0 0
2 10 0
3 10 10
4 0 10
EOF
"""

EXPLICIT = """NAME: tiny-explicit
TYPE: CVRP
DIMENSION: 3
EDGE_WEIGHT_TYPE: EXPLICIT
EDGE_WEIGHT_FORMAT: LOWER_DIAG_ROW
CAPACITY: 5
EDGE_WEIGHT_SECTION
0
7 0
4 2 0
DEMAND_SECTION
1 0
2 1
3 1
DEPOT_SECTION
1
-1
EOF
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- Solomon ----------------------------------------------------------------------------------


def test_solomon_reader_keeps_unrounded_euclidean(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.txt", SOLOMON))
    assert (inst.name, inst.kind, inst.vehicles, inst.capacity) == ("TINY", "solomon", 2, 15)
    assert inst.clients == 3
    assert inst.demand.tolist() == [0, 5, 6, 7]
    assert inst.ready.tolist() == [0, 0, 10, 0]
    assert inst.due.tolist() == [100, 50, 20, 12]
    assert inst.service.tolist() == [0, 2, 1, 3]
    assert inst.distance[0, 1] == 5.0
    assert inst.distance[1, 2] == 4.0
    assert inst.distance[0, 3] == pytest.approx(math.sqrt(2), abs=1e-12)  # not rounded
    assert inst.has_time_windows
    assert not inst.integral
    assert instances.default_scale(inst) == 100


def test_solomon_crlf_reads_the_same(tmp_path: Path) -> None:
    plain = instances.read_instance(write(tmp_path, "a.txt", SOLOMON))
    crlf = tmp_path / "b.txt"
    crlf.write_bytes(SOLOMON.replace("\n", "\r\n").encode())
    other = instances.read_instance(crlf)
    assert np.array_equal(plain.distance, other.distance)
    assert np.array_equal(plain.due, other.due)


def test_evaluator_cost_and_schedule_by_hand(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.txt", SOLOMON))
    # 0→1 is 5, 1→2 is 4, 2→0 is 3; 0→3→0 is 2√2. At client 2: arrive 5+2+4 = 11 ≤ 20.
    result = instances.evaluate(inst, [[1, 2], [3]])
    assert result.feasible, result.faults
    assert result.cost == pytest.approx(12 + 2 * math.sqrt(2), abs=1e-9)
    assert result.routes == 2
    # Client 2 first: wait until 10, serve 1, then √5 to client 3: 13.24 > its due 12.
    late = instances.evaluate(inst, [[2, 3], [1]])
    assert not late.feasible
    assert any("client 3" in f and "window closes" in f for f in late.faults)


@pytest.mark.parametrize(
    ("routes", "fault"),
    [
        ([[3, 1, 2]], "load 18 exceeds the capacity 15"),
        ([[1, 2]], "1 client(s) not visited: [3]"),
        ([[1], [2], [3]], "3 routes but only 2 vehicles"),
        ([[1, 2], [3, 1]], "clients visited more than once: [1]"),
        ([[1, 2], [3, 9]], "not clients"),
    ],
)
def test_evaluator_names_each_fault(tmp_path: Path, routes: list[list[int]], fault: str) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.txt", SOLOMON))
    result = instances.evaluate(inst, routes)
    assert not result.feasible
    assert any(fault in f for f in result.faults), result.faults


def test_to_problem_scales_costs_rounded_and_times_up(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.txt", SOLOMON))
    problem = instances.to_problem(inst, scale=100)
    # √2 · 100 = 141.42…: the cost rounds to 141, the travel time is rounded up to 142.
    assert problem.cost[0, 3] == 141
    assert problem.duration[0, 3] == 142
    assert problem.cost[0, 1] == problem.duration[0, 1] == 500
    assert [s.location for s in problem.sites] == [1, 2, 3]
    assert [(s.tw_early, s.tw_late, s.service) for s in problem.sites] == [
        (0, 5000, 200),
        (1000, 2000, 100),
        (0, 1200, 300),
    ]
    (team,) = problem.teams
    assert (team.capacity, team.count, team.tw_early, team.tw_late) == (15, 2, 0, 10000)


def _brute_force(inst: instances.Instance) -> float:
    """The cheapest feasible route set, by trying every order and every split."""
    best = math.inf
    for order in itertools.permutations(range(1, inst.size)):
        for cuts in range(inst.vehicles):
            for where in itertools.combinations(range(1, len(order)), cuts):
                bounds = [0, *where, len(order)]
                routes = [list(order[a:b]) for a, b in itertools.pairwise(bounds)]
                result = instances.evaluate(inst, routes)
                if result.feasible:
                    best = min(best, result.cost)
    return best


def test_solver_round_trip_matches_brute_force(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.txt", SOLOMON))
    optimum = _brute_force(inst)
    solution = vrp.solve_problem(instances.to_problem(inst, scale=100), seconds=1, iterations=200)
    result = instances.evaluate(inst, instances.node_routes(solution))
    assert result.feasible, result.faults
    assert result.cost == pytest.approx(optimum, abs=1e-9)
    # The solver's integer objective is the same cost within the rounding of each arc.
    arcs = sum(len(r) + 1 for r in instances.node_routes(solution))
    assert abs(solution.cost / 100 - result.cost) <= arcs * 0.005


# -- VRPLIB / TSPLIB --------------------------------------------------------------------------


def test_vrplib_cvrp_moves_the_depot_first_and_rounds_half_up(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.vrp", CVRP))
    assert (inst.name, inst.kind, inst.capacity) == ("tiny-cvrp", "cvrp", 10)
    assert inst.vehicles == 3  # no VEHICLES line: one per client
    assert inst.demand.tolist() == [0, 4, 6, 3]  # depot (file node 2) first
    assert inst.distance[0].tolist() == [0, 3, 5, 1]  # 2.5 → 3, 5, 1
    assert inst.distance[1, 2] == 3  # (1.5, 2)–(3, 4) is 2.5
    assert inst.distance[1, 3] == 2  # √3.25 = 1.80
    assert inst.distance[2, 3] == 4  # √18 = 4.24
    assert not inst.has_time_windows
    assert instances.default_scale(inst) == 1


def test_vrplib_solution_file_and_its_cost(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "tiny.vrp", CVRP))
    sol = instances.read_solution(write(tmp_path, "tiny.sol", CVRP_SOL))
    assert sol.routes == [[1, 2], [3]]
    assert sol.cost == 13
    result = instances.evaluate(inst, sol.routes)  # 3 + 3 + 5 + 1 + 1
    assert result.feasible, result.faults
    assert result.cost == sol.cost
    overloaded = instances.evaluate(inst, [[1, 2, 3]])
    assert any("load 13 exceeds the capacity 10" in f for f in overloaded.faults)
    bks = instances.best_known(tmp_path / "tiny.vrp", inst)
    assert bks is not None
    assert (bks.cost, bks.source, bks.vehicles) == (13, "tiny.sol", 2)


def test_tsplib_is_one_vehicle_without_capacity(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "square.tsp", TSP))
    assert (inst.kind, inst.vehicles, inst.capacity, inst.clients) == ("tsp", 1, 0, 3)
    assert instances.evaluate(inst, [[1, 2, 3]]).cost == 40
    # Across the diagonals: 14 + 10 + 14 + 10 (√200 = 14.14 → 14).
    assert instances.evaluate(inst, [[2, 1, 3]]).cost == 48
    problem = instances.to_problem(inst, scale=1)
    assert problem.teams[0].capacity == 0
    assert problem.teams[0].count == 1


def test_explicit_lower_diagonal_matrix(tmp_path: Path) -> None:
    inst = instances.read_instance(write(tmp_path, "explicit.vrp", EXPLICIT))
    assert inst.distance.tolist() == [[0, 7, 4], [7, 0, 2], [4, 2, 0]]
    assert instances.evaluate(inst, [[1, 2]]).cost == 13


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.txt", SOLOMON.replace("  5          0        50", "  abc        0        50"),
         "line 11, field 'DEMAND': not a number: 'abc'"),
        ("gap.txt", SOLOMON.replace("    3      1", "    4      1"),
         "field 'CUST NO.': expected 3"),
        ("heavy.txt", SOLOMON.replace("7          0        12", "70         0        12"),
         "field 'DEMAND': 70 exceeds the vehicle capacity 15"),
        ("window.txt", SOLOMON.replace("10        20", "30        20"),
         "the window closes (20) before it opens (30)"),
        ("short.txt", SOLOMON.replace("    3      1          1          7", "    3      1"),
         "line 13: expected 7 values"),
        ("nofleet.txt", "X\n\nCUSTOMER\n 0 0 0 0 0 1 0\n", "no VEHICLE section"),
        ("nodemand.vrp", CVRP.split("DEMAND_SECTION")[0] + "EOF\n", "needs a DEMAND_SECTION"),
        ("geo.vrp", CVRP.replace("EUC_2D", "GEO"), "EDGE_WEIGHT_TYPE 'GEO' is not supported"),
        ("hole.vrp", CVRP.replace("4 0 1\n", ""), "NODE_COORD_SECTION: no row for node(s) [4]"),
        ("twice.vrp", CVRP.replace("4 0 1\n", "3 0 1\n"), "node 3 is listed twice"),
        ("short.vrp", EXPLICIT.replace("4 2 0", "4 2"), "needs 6 values, got 5"),
        ("nodim.tsp", TSP.replace("DIMENSION: 4\n", ""), "the DIMENSION line is missing"),
        ("data.csv", "a,b\n", "unknown instance format '.csv'"),
    ],
)  # fmt: skip
def test_bad_files_name_the_place_and_the_fault(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(InstanceError) as caught:
        instances.read_instance(path)
    assert expected in str(caught.value)
    assert name in str(caught.value)


def test_benchmark_script_reports_bad_input_on_stderr(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.txt", SOLOMON.replace("  5          0        50", "  abc 0 50"))
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "vrp_quality.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("error: bad.txt line 11, field 'DEMAND'")


@pytest.mark.parametrize("kind", ["solomon", "cvrp"])
def test_benchmark_script_prints_one_json_line(tmp_path: Path, kind: str) -> None:
    """Both solvers reach the optimum of a tiny instance (brute force, or the .sol beside it)."""
    if kind == "solomon":
        path = write(tmp_path, "tiny.txt", SOLOMON)
        optimum = _brute_force(instances.read_instance(path))
    else:
        path = write(tmp_path, "tiny.vrp", CVRP)
        write(tmp_path, "tiny.sol", CVRP_SOL)
        optimum = 13.0
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "vrp_quality.py"), str(path),
         "--seconds", "0.5"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.splitlines()
    result = json.loads(line)
    assert result["our_feasible"] and result["ortools_feasible"]
    assert result["our_cost"] == pytest.approx(optimum, abs=0.005)
    assert result["ortools_cost"] == pytest.approx(optimum, abs=0.005)
    assert result["ours_vs_ortools_pct"] == 0.0
    if kind == "cvrp":
        assert (result["bks_cost"], result["bks_source"], result["gap_ours_pct"]) == (
            13.0, "tiny.sol", 0.0,
        )  # fmt: skip
    else:
        assert result["bks_cost"] is None
        assert result["ortools_first_solution"] == "PARALLEL_CHEAPEST_INSERTION"


# -- the shared instances ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["C101", "R101", "RC101"])
def test_shared_solomon_matches_bks_table(data_dir: Path, name: str) -> None:
    path = data_dir / "vrp" / f"{name}.txt"
    inst = instances.read_instance(path)
    table = json.loads((data_dir / "vrp" / "BKS.json").read_text())[name]
    assert inst.name == name
    assert inst.clients == table["jobs"]
    assert inst.vehicles == table["vehicles"]
    assert inst.capacity == table["capacity"]
    assert int(inst.demand.sum()) == table["total_demand"]
    bks = instances.best_known(path, inst)
    assert bks is not None
    assert bks.source == f"BKS.json:{name}_distance"
    assert bks.objective == "distance only"


def test_shared_cvrp_solution_recomputes_to_its_stated_cost(data_dir: Path) -> None:
    inst = instances.read_instance(data_dir / "vrp" / "X-n101-k25.vrp")
    sol = instances.read_solution(data_dir / "vrp" / "X-n101-k25.sol")
    table = json.loads((data_dir / "vrp" / "BKS.json").read_text())
    result = instances.evaluate(inst, sol.routes)
    assert result.feasible, result.faults
    assert result.cost == sol.cost == table["X-n101-k25"]["best_known_cost"]


def test_shared_tsp_reads_as_one_tour(data_dir: Path) -> None:
    inst = instances.read_instance(data_dir / "vrp" / "kroA100.tsp")
    table = json.loads((data_dir / "vrp" / "BKS.json").read_text())["kroA100"]
    assert (inst.kind, inst.clients, inst.vehicles) == ("tsp", table["jobs"], table["vehicles"])
    tour = instances.evaluate(inst, [list(range(1, inst.size))])
    assert tour.feasible
    assert tour.cost >= table["best_known_cost"]  # proven optimal: nothing is cheaper


def test_solver_routes_are_feasible_on_unrounded_distances(data_dir: Path) -> None:
    """Times rounded up in the integer model keep every schedule feasible in floats."""
    path = data_dir / "vrp" / "R101.txt"
    inst = instances.read_instance(path)
    problem = instances.to_problem(inst, scale=instances.default_scale(inst))
    solution = vrp.solve_problem(problem, seconds=5, iterations=1000)
    result = instances.evaluate(inst, instances.node_routes(solution))
    assert solution.feasible
    assert result.feasible, result.faults
    bks = instances.best_known(path, inst)
    assert bks is not None
    assert result.cost >= bks.cost - 0.01  # a recomputed cost never undercuts the best known
