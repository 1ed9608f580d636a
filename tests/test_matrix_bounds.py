"""The budgeted travel-time matrix: each search stops at the farthest leg a round trip within the
shift could use. Kept entries must equal plain Dijkstra on the uncontracted graph, the legs it
leaves out must be ones no route can use, and the planner must treat them exactly like that."""

from __future__ import annotations

import itertools
from datetime import time
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra
from sqlalchemy.orm import Session

from geo_outreach.routing import network as nw
from geo_outreach.routing import planner, vrp
from tests.plancheck import check_plan
from tests.test_planner import NIGHT, RawTravel

PBF = "osm/gdansk-central.osm.pbf"


@pytest.fixture(scope="module")
def walk(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[nw.Network, nw.RawGraph]:
    pbf = data_dir / PBF
    cache = tmp_path_factory.mktemp("netcache")
    return nw.load_network(pbf, "walk", cache_dir=cache), nw.raw_graph(pbf, "walk")


def _round_trip(full: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """d(0,i) + stay[i] + d(i,j) + stay[j] + d(j,0) for every pair, from an unbounded matrix."""
    return full[0][:, None] + stay[:, None] + full + stay[None, :] + full[:, 0][None, :]


@pytest.mark.parametrize(
    ("profile", "budget", "longest_stay"), [("walk", 5400.0, 1500.0), ("drive", 1800.0, 600.0)]
)
def test_budgeted_matrix_keeps_every_usable_leg_exact(
    data_dir: Path, tmp_path: Path, profile: nw.Profile, budget: float, longest_stay: float
) -> None:
    pbf = data_dir / PBF
    net, raw = nw.load_network(pbf, profile, cache_dir=tmp_path), nw.raw_graph(pbf, profile)
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(18.57, 18.73, 160), rng.uniform(54.31, 54.40, 160)
    lon[0], lat[0] = 18.64, 54.36  # the base in the middle, as a MOPS office is
    snapped = nw.snap(net, lon, lat)
    stay = np.r_[0.0, rng.uniform(longest_stay / 5, longest_stay, 159)]
    matrix = nw.travel_matrix(net, snapped.node, budget=budget, stay=stay)
    plain = dijkstra(raw.graph, directed=True, indices=snapped.node)[:, snapped.node]
    kept = np.isfinite(matrix.seconds)
    # Every number it gives is the true travel time, to the millisecond.
    assert np.abs(matrix.seconds[kept] - plain[kept]).max() < 1e-3
    # Every leg a round trip within the budget could use is given (1 ms clear of the edge).
    usable = _round_trip(plain, stay) <= budget - 1e-3
    assert kept[usable].all()
    # The bound bites: some legs are left out, and only ones no round trip can use.
    assert (~kept).sum() > 100 and usable.sum() > 100
    assert (_round_trip(plain, stay)[~kept] > budget - 1e-3).all()
    # Legs are drawn along the streets at the cost the matrix states, also out of points whose
    # own search stopped early or never ran (a walking leg is then the reverse of the other way).
    pairs = np.argwhere(usable & ~np.eye(stay.size, dtype=bool))
    unsearched = np.flatnonzero(matrix.pred_row < 0)
    if profile == "walk":
        assert matrix.symmetric and unsearched.size > 0
    picks = [tuple(p) for p in pairs[rng.choice(len(pairs), 40, replace=False)]]
    picks += [tuple(p) for p in pairs if p[0] in set(unsearched.tolist())][:20]
    for i, j in picks:
        nodes = nw.leg_nodes(matrix, int(i), int(j))
        assert nodes[0] == snapped.node[i] and nodes[-1] == snapped.node[j]
        cost = sum(float(raw.graph[u, v]) for u, v in itertools.pairwise(nodes))
        assert cost == pytest.approx(matrix.seconds[i, j], abs=1e-3)


def test_planner_treats_left_out_legs_as_unusable(
    session: Session, walk: tuple[nw.Network, nw.RawGraph]
) -> None:
    net, raw = walk
    req = planner.PlanRequest(mode="streetwork", teams=2, start=time(20, 0), end=time(22, 0),
                              day=NIGHT, iterations=800, seconds=1.0)  # fmt: skip
    cands = planner.candidates(session, req)
    depot = planner.default_depot(session, (18.64, 54.36))
    built = planner.build(cands, req, net, depot=depot, now=req.window[0])
    # The same points, unbounded, as the reference.
    lon = np.array([depot[0], *(c.lon for c in built.sites)])
    lat = np.array([depot[1], *(c.lat for c in built.sites)])
    full = nw.travel_matrix(net, nw.snap(net, lon, lat).node).seconds
    stay = np.array([0.0, *(s.service for s in built.problem.sites)])
    team = built.problem.teams[0]
    bounded = built.problem.duration
    unbounded = np.ceil(np.where(np.isfinite(full), full, 86_400)).astype(np.int64)
    differs = bounded != unbounded
    assert differs.any() and (~differs).sum() > stay.size  # the bound bites, and keeps legs
    # A leg left out costs a day, and no route of at most max_duration could have used it.
    assert (bounded[differs] == 86_400).all()
    assert (_round_trip(full, stay)[differs] > team.max_duration).all()
    # Sites no team can serve this shift are the same as with the full matrix.
    never = {
        k
        for k, s in enumerate(built.problem.sites)
        if full[0, k + 1] > s.tw_late
        or full[0, k + 1] + s.service + full[k + 1, 0] > team.max_duration
    }
    assert built.never == never and never
    # The plan holds: independent timing on the raw graph, every site planned or left out for
    # a reason, and no site that cannot be served in a route.
    plan = planner.to_plan(
        built, vrp.solve_problem(built.problem, seconds=1.0, seed=1, iterations=800)
    )
    assert check_plan(plan, travel_s=RawTravel(raw)) == []
    planned = {s.code for r in plan.routes for s in r.stops}
    left = {x.code: x.reason for x in plan.left_out}
    assert planned and not planned & set(left)
    assert planned | set(left) == {c.code for c in cands}
    assert {built.sites[k].code for k in never} <= set(left) - planned
    assert set(left.values()) <= {"no_time", "lower_priority", "unreachable"}
