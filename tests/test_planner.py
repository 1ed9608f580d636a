"""The route planner: tiny networks with a known answer, the real Gdańsk network checked by an
independent checker (plain Dijkstra on the uncontracted graph), exports, and the CLI."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import gpxpy
import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from sqlalchemy import URL, text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import ValidationFailed
from geo_outreach.routing import exports as plan_export
from geo_outreach.routing import network as nw
from geo_outreach.routing import planner, vrp
from tests.conftest import cli_env, run_cli
from tests.plancheck import check_plan

LAT = 54.35
STEP = 0.0015  # ≈ 97 m of longitude at this latitude
NIGHT = date(2026, 1, 15)


def _osm(
    tmp: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict]]
) -> Path:
    """A tiny OSM XML file; pyosmium reads it like any extract."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for nid, (lon, lat) in nodes.items():
        lines.append(f'<node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for wid, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'<way id="{wid}" version="1">')
        lines.extend(f'<nd ref="{r}"/>' for r in refs)
        lines.extend(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append("</way>")
    lines.append("</osm>")
    path = tmp / "tiny.osm"
    path.write_text("\n".join(lines))
    return path


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _cand(
    code: str, lon: float, lat: float, *, people: int = 1, mandatory: bool = False
) -> planner.Candidate:
    return planner.Candidate(None, code, code, lon, lat, people, (), None, mandatory)


def _req(mode: str = "streetwork", **kw: object) -> planner.PlanRequest:
    base = dict(
        mode=mode,
        teams=1,
        start=time(10, 0),
        end=time(14, 0),
        day=NIGHT,
        iterations=300,
        seconds=1.0,
    )
    base.update(kw)
    return planner.PlanRequest(**base)  # type: ignore[arg-type]


def _solve(built: planner.Built, iterations: int = 300) -> vrp.Solution:
    return vrp.solve_problem(built.problem, seconds=1.0, seed=1, iterations=iterations)


# -- tiny networks ----------------------------------------------------------------------------


def test_line_with_a_deadline_is_walked_far_end_first(tmp_path: Path) -> None:
    # 1 — 2 — 3 — 4 along a footway; the depot at 1, sites at 2, 3 and 4.
    nodes = {i: (18.60 + STEP * (i - 1), LAT) for i in range(1, 5)}
    net = nw.load_network(_osm(tmp_path, nodes, [([1, 2, 3, 4], {"highway": "footway"})]), "walk")
    seg = _haversine(nodes[1], nodes[2]) / nw.WALK_SPEED_MS
    cands = [_cand("S2", *nodes[2]), _cand("S3", *nodes[3]), _cand("S4", *nodes[4])]
    built = planner.build(
        cands, _req(), net, depot=nodes[1], now=datetime(2026, 1, 15, 10, tzinfo=planner.TZ)
    )
    assert built.problem.duration[0, 3] == pytest.approx(3 * seg, abs=1)
    # S4 must be reached within 10 minutes: the only good order is 4, 3, 2.
    sites = list(built.problem.sites)
    sites[2] = vrp.Site(**{**sites[2].__dict__, "tw_late": 600})
    built.problem = vrp.Problem(
        built.problem.duration, built.problem.cost, sites, built.problem.teams
    )
    plan = planner.to_plan(built, _solve(built))
    assert [s.code for s in plan.routes[0].stops] == ["S4", "S3", "S2"]
    first = plan.routes[0].stops[0]
    assert (first.arrive - plan.window_start).total_seconds() == pytest.approx(3 * seg, abs=1)
    # Back home: 15 min of service at each of three sites plus 6 segments of walking.
    total = 3 * 15 * 60 + 6 * seg
    assert plan.routes[0].duration_s == pytest.approx(total, abs=3)


def test_oneway_street_is_respected(tmp_path: Path) -> None:
    # A one-way square 1 → 2 → 3 → 4 → 1: from 1 to 4 a car must go round; from 4 to 1 it's one block.
    d = 0.002
    nodes = {1: (18.60, LAT), 2: (18.60 + d, LAT), 3: (18.60 + d, LAT + d), 4: (18.60, LAT + d)}
    osm = _osm(
        tmp_path,
        nodes,
        [([1, 2, 3, 4, 1], {"highway": "residential", "oneway": "yes", "maxspeed": "30"})],
    )
    net = nw.load_network(osm, "drive")
    built = planner.build(
        [_cand("S4", *nodes[4])],
        _req("joint"),
        net,
        depot=nodes[1],
        now=datetime(2026, 1, 15, 10, tzinfo=planner.TZ),
    )
    speed = 25 / 3.6  # residential class speed (below the 30 km/h limit)
    around = sum(_haversine(nodes[a], nodes[b]) for a, b in ((1, 2), (2, 3), (3, 4))) / speed
    back = _haversine(nodes[4], nodes[1]) / speed
    assert built.problem.duration[0, 1] == pytest.approx(around, abs=1)
    assert built.problem.duration[1, 0] == pytest.approx(back, abs=1)
    plan = planner.to_plan(built, _solve(built))
    path = plan.routes[0].geometry

    def on_path(p: tuple[float, float]) -> bool:
        return any(math.dist(p, q) < 1e-6 for q in path)

    assert path[0] == pytest.approx(nodes[1]) and on_path(nodes[2]) and on_path(nodes[3])


def test_unreachable_site_is_reported_not_fatal(tmp_path: Path) -> None:
    nodes = {i: (18.60 + STEP * (i - 1), LAT) for i in range(1, 4)}
    net = nw.load_network(_osm(tmp_path, nodes, [([1, 2, 3], {"highway": "footway"})]), "walk")
    far = _cand("FAR", 18.60, LAT + 0.02)  # about 2 km north of the only footway
    built = planner.build(
        [_cand("S2", *nodes[2]), far],
        _req(),
        net,
        depot=nodes[1],
        now=datetime(2026, 1, 15, 10, tzinfo=planner.TZ),
    )
    plan = planner.to_plan(built, _solve(built))
    assert [(x.code, x.reason) for x in plan.left_out] == [("FAR", "unreachable")]
    assert [s.code for s in plan.routes[0].stops] == ["S2"]


@pytest.mark.parametrize(
    ("kw", "fault"),
    [
        (dict(mode="akcja-zima", temperature=-5.0), ("temperature", "-5 °C is above the")),
        (dict(mode="akcja-zima"), ("temperature", "is required for akcja-zima")),
        (dict(mode="inspection"), ("district", "is required for inspection")),
        (dict(teams=0), ("teams", "must be between 1 and 50")),
        (dict(mode="teleport"), ("mode", "'teleport' is not one of")),
    ],
)
def test_bad_requests_are_named(kw: dict, fault: tuple[str, str]) -> None:
    with pytest.raises(ValidationFailed) as info:
        planner.validate(_req(**kw))
    (problem,) = info.value.problems
    assert problem.field == fault[0] and problem.fault.startswith(fault[1])


# -- how many more teams: one time budget ---------------------------------------------------------


@pytest.fixture
def crowded(tmp_path: Path) -> tuple[Path, planner.Prepared]:
    """Akcja Zima, 20:00–21:00, one team, 40 vulnerable sites in one spot ~100 m from the depot.
    A vulnerable site is reached in the first half hour and takes 20 minutes: two per team, so
    19 more teams are needed, while the work bound (40 × 20 min over 1 h) says 13: the search
    doubles to 26 and bisects, six solves in all."""
    nodes = {1: (18.60, LAT), 2: (18.60 + STEP, LAT)}
    osm = _osm(tmp_path, nodes, [([1, 2], {"highway": "residential"})])
    cands = [
        planner.Candidate(None, f"S{i:02d}", f"S{i:02d}", *nodes[2], 3, (), None, True, True)
        for i in range(40)
    ]
    req = _req("akcja-zima", temperature=-12.0, start=time(20, 0), end=time(21, 0),
               iterations=None, seconds=0.3)  # fmt: skip
    return osm, planner.Prepared(req, cands, nodes[1])


def test_the_extra_teams_search_finds_the_exact_number(
    crowded: tuple[Path, planner.Prepared],
) -> None:
    osm, ready = crowded
    req = replace(ready.request, iterations=300)  # fixed work: the same answer on any machine
    built = planner.build(ready.candidates, req, nw.load_network(osm, "drive"), depot=ready.depot,
                          now=req.window[0])  # fmt: skip
    assert planner.extra_teams_needed(built, seconds=0.3, seed=1) == planner.ExtraTeams(19, "exact")


@dataclass
class SolverClock:
    """The planner's clock, moved by exactly each solve's budget (PyVRP's MaxRuntime spends it):
    the budget arithmetic is checked without timing anything, while the real solver runs."""

    now: float = 0.0
    budgets: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def solver_clock(monkeypatch: pytest.MonkeyPatch) -> SolverClock:
    fake = SolverClock()
    real = vrp.solve_problem

    def spending(problem: vrp.Problem, **options: Any) -> vrp.Solution:
        solution = real(problem, **options)
        fake.budgets.append(options["seconds"])
        fake.now += options["seconds"]
        return solution

    monkeypatch.setattr(planner, "clock", fake)
    monkeypatch.setattr(planner.vrp, "solve_problem", spending)
    return fake


@pytest.mark.parametrize(("budget", "expected"), [(0.3, (14, "at_least")), (0.55, (26, "at_most"))])
def test_the_extra_teams_search_keeps_to_one_budget_and_reports_its_bound(
    crowded: tuple[Path, planner.Prepared],
    solver_clock: SolverClock,
    budget: float,
    expected: tuple[int, str],
) -> None:
    """Six solves of `seconds` each were once a minute per request; now they share `seconds`.
    0.3 s: one solve of 0.2 s (13 teams do not cover), then too little is left; 0.55 s: a second
    (26 cover), then too little to bisect."""
    osm, ready = crowded
    req = ready.request
    built = planner.build(ready.candidates, req, nw.load_network(osm, "drive"), depot=ready.depot,
                          now=req.window[0])  # fmt: skip
    found = planner.extra_teams_needed(built, seconds=budget, seed=1)
    assert sum(solver_clock.budgets) <= budget
    assert solver_clock.budgets == [0.2] * len(solver_clock.budgets)
    assert (found.count, found.bound) == expected


def test_a_plan_says_when_its_extra_teams_are_a_bound(
    crowded: tuple[Path, planner.Prepared], solver_clock: SolverClock
) -> None:
    """The whole solve (0.3 s for the plan, 0.3 s in all for the count), its note saying so."""
    osm, ready = crowded
    plan = planner.solve(ready, pbf=osm, cache_dir=None)
    assert solver_clock.budgets == [0.3, 0.2]  # the plan's own solve, then the count's one
    assert plan.extra_teams_needed == 14
    assert plan.notes == [
        "Do objęcia wszystkich miejsc potrzeba jeszcze co najmniej 14 zespołów: "
        "dokładnej liczby nie ustalono w czasie obliczeń."
    ]


# -- the real network -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drive(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[nw.Network, nw.RawGraph]:
    pbf = data_dir / "osm/gdansk-central.osm.pbf"
    cache = tmp_path_factory.mktemp("netcache")
    return nw.load_network(pbf, "drive", cache_dir=cache), nw.raw_graph(pbf, "drive")


class RawTravel:
    """Travel seconds by plain Dijkstra on the uncontracted graph: independent of the planner."""

    def __init__(self, raw: nw.RawGraph) -> None:
        self.raw = raw
        lat0 = math.radians(float(raw.lat.mean()))
        self.k = (111_320.0 * math.cos(lat0), 110_540.0)
        self.nodes = np.flatnonzero(raw.main)
        self.tree = cKDTree(
            np.column_stack([raw.lon[self.nodes] * self.k[0], raw.lat[self.nodes] * self.k[1]])
        )
        self.rows: dict[int, np.ndarray] = {}

    def node(self, p: tuple[float, float]) -> int:
        _, i = self.tree.query([p[0] * self.k[0], p[1] * self.k[1]])
        return int(self.nodes[i])

    def __call__(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        u, v = self.node(a), self.node(b)
        if u not in self.rows:
            self.rows[u] = dijkstra(self.raw.graph, directed=True, indices=u)
        return float(self.rows[u][v])


@pytest.mark.parametrize("profile", ["walk", "drive"])
def test_matrix_and_legs_equal_plain_dijkstra_on_the_uncontracted_graph(
    data_dir: Path, tmp_path: Path, profile: nw.Profile
) -> None:
    pbf = data_dir / "osm/gdansk-central.osm.pbf"
    net, raw = nw.load_network(pbf, profile, cache_dir=tmp_path), nw.raw_graph(pbf, profile)
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(18.57, 18.73, 150), rng.uniform(54.31, 54.40, 150)
    snapped = nw.snap(net, lon, lat)
    matrix = nw.travel_matrix(net, snapped.node)
    plain = dijkstra(raw.graph, directed=True, indices=snapped.node)[:, snapped.node]
    assert np.allclose(matrix.seconds, plain, rtol=1e-9, atol=0.01)
    if profile == "drive":
        assert not np.allclose(plain, plain.T)  # one-way streets make it asymmetric
    # The drawn leg costs what the matrix says: it is that path, segment by segment.
    for i, j in rng.integers(0, 150, size=(40, 2)):
        nodes = nw.leg_nodes(matrix, int(i), int(j))
        cost = sum(float(raw.graph[u, v]) for u, v in itertools.pairwise(nodes))
        assert cost == pytest.approx(matrix.seconds[i, j], abs=0.01)


def test_akcja_zima_plan_on_the_demo(
    session: Session, drive: tuple[nw.Network, nw.RawGraph], tmp_path: Path
) -> None:
    net, raw = drive
    req = planner.PlanRequest(
        mode="akcja-zima",
        teams=3,
        start=time(20, 0),
        end=time(2, 0),
        day=NIGHT,
        temperature=-12,
        iterations=1500,
        seconds=2.0,
    )
    cands = planner.candidates(session, req)
    depot = planner.default_depot(session, (18.64, 54.36))
    built = planner.build(cands, req, net, depot=depot, now=req.window[0])
    plan = planner.to_plan(built, _solve(built, 1500), extra_teams=0)
    must = set(
        session.execute(
            text("SELECT code FROM sleeping_sites WHERE status = 'active' AND estimated_people > 0")
        ).scalars()
    )
    assert {c.code for c in cands} == must
    planned = {s.code for r in plan.routes for s in r.stops}
    assert planned | {x.code for x in plan.left_out} == must
    assert len(plan.routes) == 3 and all(r.stops for r in plan.routes)
    # Vulnerable sites (3+ people, cold or CO hazard) are reached in the first half of the night.
    half = plan.window_start + (plan.window_end - plan.window_start) / 2
    late_by = {c.code: half for c in cands if c.vulnerable}
    problems = check_plan(plan, travel_s=RawTravel(raw), mandatory=must, late_by=late_by)
    assert problems == []
    # Every leg runs along directed network edges (one-way streets included).
    coords = {(float(raw.lon[i]), float(raw.lat[i])): i for i in range(raw.lon.size)}
    for r in plan.routes:
        ids = [coords[p] for p in r.geometry]
        for u, v in itertools.pairwise(ids):
            assert raw.graph[u, v] > 0, (
                f"{r.name}: {u}→{v} is not a street segment in that direction"
            )
    # GPX for phones parses back; the route sheet is Polish and internal.
    paths = plan_export.write_plan(plan, tmp_path)
    for r in plan.routes:
        gpx = gpxpy.parse((tmp_path / f"zespol-{r.team}.gpx").read_text())
        assert len(gpx.waypoints) == len(r.stops)
        assert len(gpx.tracks[0].segments[0].points) == len(r.geometry)
        assert gpx.waypoints[0].name.startswith("1. ")
    sheet = (tmp_path / "trasa.html").read_text()
    assert '<html lang="pl">' in sheet and "nie publikować" in sheet and "OpenStreetMap" in sheet
    doc = json.loads((tmp_path / "plan.geojson").read_text())
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("route") == 3 and kinds.count("left_out") == len(plan.left_out)
    assert len(paths) == 5


def test_a_checker_catches_an_impossible_schedule(
    session: Session, drive: tuple[nw.Network, nw.RawGraph]
) -> None:
    """The checker is not a rubber stamp: move one stop earlier and it complains."""
    net, raw = drive
    req = _req("joint", teams=1, iterations=200)
    cands = planner.candidates(session, req)[:6]
    built = planner.build(
        cands, req, net, depot=planner.default_depot(session, (18.64, 54.36)), now=req.window[0]
    )
    plan = planner.to_plan(built, _solve(built, 200))
    route = plan.routes[0]
    stop = route.stops[1]
    faster = type(stop)(**{**stop.__dict__, "arrive": stop.arrive - timedelta(minutes=30)})
    broken = type(route)(**{**route.__dict__, "stops": [route.stops[0], faster, *route.stops[2:]]})
    bad_plan = type(plan)(**{**plan.__dict__, "routes": [broken]})
    assert check_plan(plan, travel_s=RawTravel(raw)) == []
    assert any("cannot be there before" in p for p in check_plan(bad_plan, travel_s=RawTravel(raw)))


def test_same_seed_same_plan(session: Session, drive: tuple[nw.Network, nw.RawGraph]) -> None:
    net, _ = drive
    req = _req("joint", teams=2, iterations=400)
    cands = planner.candidates(session, req)[:40]
    depot = planner.default_depot(session, (18.64, 54.36))

    def once() -> list[list[tuple[str, datetime]]]:
        built = planner.build(cands, req, net, depot=depot, now=req.window[0])
        plan = planner.to_plan(built, _solve(built, 400))
        return [[(s.code, s.arrive) for s in r.stops] for r in plan.routes]

    assert once() == once()


# -- the command line -------------------------------------------------------------------------


def test_cli_akcja_zima_writes_files_and_covers_or_counts(
    scratch: tuple[URL, URL], tmp_path: Path
) -> None:
    env = cli_env(*scratch)
    env["GEO_OUTREACH_PG_DIR"] = str(tmp_path / "pg")  # the network cache goes beside it
    assert run_cli("demo", env=env).returncode == 0
    out = tmp_path / "plan"
    proc = run_cli(
        "plan",
        "--mode",
        "akcja-zima",
        "--teams",
        "3",
        "--start",
        "20:00",
        "--end",
        "02:00",
        "--temperature",
        "-12",
        "--date",
        "2026-01-15",
        "--iterations",
        "500",
        "--out",
        str(out),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "plan.geojson").read_text())
    stops = {f["properties"]["code"] for f in doc["features"] if f["properties"]["kind"] == "stop"}
    left = {
        f["properties"]["code"] for f in doc["features"] if f["properties"]["kind"] == "left_out"
    }
    from sqlalchemy import create_engine

    eng = create_engine(scratch[0])
    with eng.connect() as conn:
        must = set(
            conn.execute(
                text(
                    "SELECT code FROM sleeping_sites WHERE status = 'active' AND estimated_people > 0"
                )
            ).scalars()
        )
        stored = conn.execute(
            text("SELECT count(*) FROM patrols WHERE status = 'planned'")
        ).scalar_one()
    eng.dispose()
    assert stops | left == must and not stops & left
    if left - {
        f["properties"]["code"]
        for f in doc["features"]
        if f["properties"].get("reason") == "unreachable"
    }:
        assert doc["extra_teams_needed"] > 0 and "more team(s) needed" in proc.stdout
    assert stored == 3
    assert (out / "zespol-1.gpx").exists() and (out / "trasa.html").exists()


def test_cli_refuses_bad_options(scratch: tuple[URL, URL], tmp_path: Path) -> None:
    env = cli_env(*scratch)
    proc = run_cli(
        "plan", "--mode", "akcja-zima", "--temperature", "-3", "--out", str(tmp_path), env=env
    )
    assert proc.returncode == 1 and "--temperature: -3 °C is above the Akcja Zima" in proc.stderr
    proc = run_cli("plan", "--mode", "joint", "--teams", "0", "--out", str(tmp_path), env=env)
    assert proc.returncode == 1 and "--teams: must be between 1 and 50, got 0" in proc.stderr
    proc = run_cli("plan", "--mode", "joint", "--start", "25:00", "--out", str(tmp_path), env=env)
    assert proc.returncode == 1 and "--start '25:00' is not a time" in proc.stderr


def test_dst_night_has_its_real_length(tmp_path: Path) -> None:
    """29–30 March 2025: clocks go forward at 02:00, so 20:00–06:00 lasts 9 hours, not 10."""
    nodes = {i: (18.60 + STEP * (i - 1), LAT) for i in range(1, 4)}
    net = nw.load_network(_osm(tmp_path, nodes, [([1, 2, 3], {"highway": "footway"})]), "walk")
    req = _req(start=time(20, 0), end=time(6, 0), day=date(2025, 3, 29))
    assert req.seconds_long == 9 * 3600
    assert req.at(7 * 3600).isoformat() == "2025-03-30T04:00:00+02:00"
    built = planner.build([_cand("S3", *nodes[3])], req, net, depot=nodes[1], now=req.window[0])
    assert built.problem.teams[0].tw_late == 9 * 3600
