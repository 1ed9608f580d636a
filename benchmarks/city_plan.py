"""The route planner on the real Gdańsk network, and its matrix engine against pgRouting.

    .venv/bin/python benchmarks/city_plan.py [--sites 300] [--teams 4] [--seconds 2] [--repeat 3]

Starts a throw-away PostGIS cluster in a temp dir (or uses GEO_OUTREACH_DATABASE_URL), migrates
it and loads the demo from ../shared/data, then for streetwork (walk) and joint (drive) times:
network load (cold build and cached), the travel-time matrix (as the planner computes it, each
search bounded by the shift, and in full), the solve (a fixed wall-clock budget) and the street
geometry of the plan. Then it loads every segment of the same raw OSM
graph into a table and times pgRouting's `pgr_dijkstraCostMatrix` over the same snapped
vertices, checks both engines agree and prints one JSON line with the medians of `--repeat`
runs and the ratios pgRouting seconds / our matrix seconds (bounded and full; pgRouting always
computes every pair). Progress goes to stderr.

Privacy: the output holds counts and timings only, never a site's name or position; the read
of the sites is audited like any other.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra
from sqlalchemy import URL, Engine, func, make_url, select

from geo_outreach.core import db
from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.settings import Settings
from geo_outreach.demo.cluster import demo_cluster
from geo_outreach.routing import network as nw
from geo_outreach.routing import planner, vrp
from layers import audit
from layers.models import SleepingSite

T = TypeVar("T")
ACTOR = "benchmark:city_plan"
MODES: tuple[tuple[planner.Mode, nw.Profile], ...] = (("streetwork", "walk"), ("joint", "drive"))
DAY = date(2025, 12, 15)  # a fixed weekday: the prizes (days since last visit) do not drift
SHIFT = (dt_time(20, 0), dt_time(23, 0))  # the CLI's default shift


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Median wall seconds of `repeat` calls, and the last call's result."""
    times: list[float] = []
    result: T | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


@contextmanager
def database(settings: Settings) -> Iterator[tuple[URL, str]]:
    """The app URL of a database holding the demo, and where it came from."""
    if settings.database_url:
        yield make_url(settings.database_url), "GEO_OUTREACH_DATABASE_URL"
        return
    say("a temporary PostGIS cluster with the demo from the shared data …")
    with demo_cluster(
        data_dir=settings.data_dir,
        seed=settings.demo_seed,
        year=settings.demo_year,
        os_user=settings.pg_os_user,
        log=say,
    ) as cluster:
        yield cluster.url(), "temporary cluster (migrated, demo loaded)"


def read_sites(engine: Engine, limit: int) -> tuple[list[planner.Candidate], tuple[float, float]]:
    """Every site whatever its status (the benchmark wants all 300), and the MOPS depot."""
    with db.session_scope(engine) as session:
        rows = session.execute(
            select(
                SleepingSite.id,
                SleepingSite.code,
                SleepingSite.name,
                func.ST_X(SleepingSite.geom),
                func.ST_Y(SleepingSite.geom),
                SleepingSite.estimated_people,
                SleepingSite.hazards,
                SleepingSite.last_visit_at,
            )
            .order_by(SleepingSite.code)
            .limit(limit)
        ).all()
        audit.record(
            session,
            actor=ACTOR,
            role="planner",
            action="read",
            layer="sleeping_sites",
            object_ids=[r[0] for r in rows],
            detail={"purpose": "route planner benchmark", "sites": len(rows)},
        )
        if len(rows) < limit:
            msg = f"--sites {limit}: the database holds only {len(rows)} sleeping sites"
            raise GeoOutreachError(msg)
        cands = [
            planner.Candidate(
                r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6] or ()), r[7], mandatory=False
            )
            for r in rows
        ]
        centre = (float(np.mean([c.lon for c in cands])), float(np.mean([c.lat for c in cands])))
        depot = planner.default_depot(session, centre)
    return cands, depot


def planner_nodes(
    net: nw.Network, cands: list[planner.Candidate], depot: tuple[float, float]
) -> NDArray[np.int64]:
    """The depot and the reachable sites snapped exactly as `planner.build` snaps them."""
    lon = np.array([depot[0], *(c.lon for c in cands)])
    lat = np.array([depot[1], *(c.lat for c in cands)])
    snapped = nw.snap(net, lon, lat)
    ok = snapped.metres[1:] <= planner.MAX_SNAP_M[net.profile]
    return np.concatenate([snapped.node[:1], snapped.node[1:][ok]])


def pgr_edges(raw: nw.RawGraph) -> tuple[str, int]:
    """Every OSM segment once: cost one way, reverse_cost the other way (-1: one-way)."""
    coo = raw.graph.tocoo()
    n = raw.lon.size
    src, dst, sec = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    key = src * n + dst
    order = np.argsort(key)
    src, dst, sec, key = src[order], dst[order], sec[order], key[order]
    back = dst * n + src
    pos = np.clip(np.searchsorted(key, back), 0, key.size - 1)
    has_back = key[pos] == back
    keep = (src < dst) | ~has_back  # a two-way pair is written once, from its lower end
    reverse = np.where(has_back, sec[pos], -1.0)[keep]
    table = np.column_stack(
        [np.arange(1, keep.sum() + 1), src[keep] + 1, dst[keep] + 1, sec[keep], reverse]
    )
    out = io.StringIO()
    np.savetxt(out, table, fmt=["%d", "%d", "%d", "%.6f", "%.6f"], delimiter="\t")
    return out.getvalue(), int(keep.sum())


def pgrouting(
    engine: Engine, raw: nw.RawGraph, nodes: NDArray[np.int64], repeat: int
) -> dict[str, Any]:
    """Load the raw graph into a temp table and time pgr_dijkstraCostMatrix over `nodes`."""
    blob, n_edges = pgr_edges(raw)
    vids = sorted({int(x) + 1 for x in nodes})
    with engine.connect() as conn:
        pg = conn.connection.driver_connection
        assert pg is not None
        with pg.cursor() as cur:
            started = time.perf_counter()
            cur.execute(
                "CREATE TEMP TABLE bench_edges (id bigint, source bigint, target bigint, "
                "cost float8, reverse_cost float8) ON COMMIT PRESERVE ROWS"
            )
            with cur.copy(
                "COPY bench_edges (id, source, target, cost, reverse_cost) FROM STDIN"
            ) as copy:
                copy.write(blob)
            load_s = time.perf_counter() - started
            edges_sql = "SELECT id, source, target, cost, reverse_cost FROM bench_edges"

            def run() -> list[tuple[int, int, float]]:
                cur.execute(
                    "SELECT start_vid, end_vid, agg_cost "
                    "FROM pgr_dijkstraCostMatrix(%s, %s::bigint[], directed => true)",
                    (edges_sql, vids),
                )
                return cur.fetchall()

            seconds, rows = timed(run, repeat)
            cur.execute("DROP TABLE bench_edges")
        pg.commit()
    return {"edges": n_edges, "vertices": len(vids), "load_s": load_s, "s": seconds, "rows": rows}


def agreement(
    ours: NDArray[np.float64],
    raw: nw.RawGraph,
    nodes: NDArray[np.int64],
    rows: list[tuple[int, int, float]],
) -> dict[str, Any]:
    """Both engines on every ordered pair of points, and each against a third, independent
    reference: plain Dijkstra on the uncontracted raw graph (so a disagreement names its side).
    """
    uniq, inverse = np.unique(nodes, return_inverse=True)
    where = {int(v) + 1: k for k, v in enumerate(uniq)}
    theirs_u = np.full((uniq.size, uniq.size), np.nan)
    np.fill_diagonal(theirs_u, 0.0)
    for a, b, c in rows:
        theirs_u[where[int(a)], where[int(b)]] = c
    theirs = theirs_u[np.ix_(inverse, inverse)]
    ref = dijkstra(raw.graph, directed=True, indices=uniq)[:, uniq][np.ix_(inverse, inverse)]
    distinct = nodes[:, None] != nodes[None, :]
    found = distinct & np.isfinite(theirs)

    def worst(a: NDArray[np.float64], b: NDArray[np.float64] | float) -> float | None:
        value = float(np.abs(a - b)[found].max()) if found.any() else 0.0
        return value if np.isfinite(value) else None  # JSON has no Infinity

    wrong = np.abs(ours - ref) > 1e-3
    return {
        "pairs_compared": int(found.sum()),
        "pairs_missing_in_pgrouting": int((distinct & ~np.isfinite(theirs)).sum()),
        "max_abs_diff_s": worst(ours, theirs),
        "max_rel_diff": worst(ours / np.maximum(theirs, 1e-9), 1.0),
        "ours_vs_raw_dijkstra_max_abs_s": worst(ours, ref),
        "pgr_vs_raw_dijkstra_max_abs_s": worst(theirs, ref),
        "ours_pairs_off_by_over_1ms": int((wrong & found).sum()),
    }


def profile_run(
    pbf: Path,
    mode: planner.Mode,
    profile: nw.Profile,
    *,
    engine: Engine,
    warm: Path,
    cands: list[planner.Candidate],
    depot: tuple[float, float],
    teams: int,
    seconds: float,
    repeat: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": mode, "profile": profile}
    cache = Path(tempfile.mkdtemp(prefix="geo-outreach-bench-cache-"))
    try:
        say(f"{profile}: network, cold build ×{repeat} …")

        def cold() -> nw.Network:
            shutil.rmtree(cache, ignore_errors=True)
            return nw.load_network(pbf, profile, cache_dir=cache)

        out["network_cold_s"], net = timed(cold, repeat)
        out["network_cached_s"], net = timed(
            lambda: nw.load_network(pbf, profile, cache_dir=cache), repeat
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    out["network_junctions"], out["network_edges"] = net.num_nodes, net.num_edges
    req = planner.PlanRequest(
        mode=mode, teams=teams, start=SHIFT[0], end=SHIFT[1], day=DAY, seconds=seconds
    )
    now = req.window[0]
    nodes = planner_nodes(net, cands, depot)
    say(f"{profile}: snap and matrix for {nodes.size} points ×{repeat} …")
    out["points"] = int(nodes.size)
    out["snap_s"], _ = timed(
        lambda: nw.snap(net, np.array([depot[0], *(c.lon for c in cands)]),
                        np.array([depot[1], *(c.lat for c in cands)])),
        repeat,
    )  # fmt: skip
    # The planner's matrix: searches bounded by the shift (legs no route can use are left out),
    # with the budget and stays taken from a built problem, so no rule is restated here.
    probe = planner.build(cands, req, net, depot=depot, now=now).problem
    budget = float(probe.teams[0].max_duration)
    stay = np.array([0.0, *(site.service for site in probe.sites)])
    out["matrix_s"], bounded = timed(
        lambda: nw.travel_matrix(net, nodes, budget=budget, stay=stay), repeat
    )
    out["matrix_pairs_kept"] = int(np.isfinite(bounded.seconds).sum())
    out["matrix_full_s"], matrix = timed(lambda: nw.travel_matrix(net, nodes), repeat)
    kept = np.isfinite(bounded.seconds)
    out["bounded_vs_full_max_abs_s"] = float(np.abs(bounded.seconds - matrix.seconds)[kept].max())
    say(f"{profile}: end to end ×{repeat} (cached network, {seconds:g} s solve) …")
    stages: dict[str, list[float]] = {"load": [], "build": [], "solve": [], "geometry": []}
    totals: list[float] = []
    planned = 0
    feasible = True
    for _ in range(repeat):
        t0 = time.perf_counter()
        cached = nw.load_network(pbf, profile, cache_dir=warm)
        t1 = time.perf_counter()
        built = planner.build(cands, req, cached, depot=depot, now=now)
        t2 = time.perf_counter()
        solution = vrp.solve_problem(built.problem, seconds=seconds, seed=req.seed)
        t3 = time.perf_counter()
        plan = planner.to_plan(built, solution)
        t4 = time.perf_counter()
        for name, span in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[name].append(span)
        totals.append(t4 - t0)
        planned = sum(len(r.stops) for r in plan.routes)
        feasible = feasible and solution.feasible
    out["build_s"] = statistics.median(stages["build"])  # snap + matrix + problem
    out["solve_s"] = statistics.median(stages["solve"])
    out["geometry_s"] = statistics.median(stages["geometry"])
    out["end_to_end_s"] = statistics.median(totals)
    out["sites_planned"] = planned
    out["routes_feasible"] = feasible
    say(f"{profile}: pgRouting on the raw graph ×{repeat} …")
    raw = nw.raw_graph(pbf, profile)
    if raw.lon.size != net.lon.size or not np.array_equal(raw.lon, net.lon):
        msg = f"{profile}: the raw graph's nodes differ from the network's; cannot compare"
        raise GeoOutreachError(msg)
    pgr = pgrouting(engine, raw, nodes, repeat)
    out["pgr_edges"] = pgr["edges"]
    out["pgr_vertices"] = pgr["vertices"]
    out["pgr_table_load_s"] = pgr["load_s"]
    out["pgr_matrix_s"] = pgr["s"]
    say(f"{profile}: checking both engines against Dijkstra on the raw graph …")
    out.update(agreement(matrix.seconds, raw, nodes, pgr["rows"]))
    out["ratio_pgr_over_matrix"] = pgr["s"] / out["matrix_s"]
    out["ratio_pgr_over_full_matrix"] = pgr["s"] / out["matrix_full_s"]
    out["ratio_pgr_over_snap_and_matrix"] = pgr["s"] / (out["matrix_s"] + out["snap_s"])
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sites", type=int, default=300, help="sites to plan (all statuses)")
    parser.add_argument("--teams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="solver wall-clock budget")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    for name, value, low in (("--sites", args.sites, 1), ("--teams", args.teams, 1),
                             ("--repeat", args.repeat, 1)):  # fmt: skip
        if value < low:
            print(f"error: {name} must be at least {low}, got {value}", file=sys.stderr)
            return 2
    settings = Settings()
    pbf = settings.pbf
    started = datetime.now().astimezone()
    try:
        with database(settings) as (app_url, source):
            engine = db.make_engine(app_url, statement_timeout_ms=600_000)
            # The end-to-end runs read a warm cache, as the service does after its first plan.
            warm = Path(tempfile.mkdtemp(prefix="geo-outreach-bench-warm-"))
            try:
                cands, depot = read_sites(engine, args.sites)
                for _, profile in MODES:
                    nw.load_network(pbf, profile, cache_dir=warm)
                runs = [
                    profile_run(
                        pbf,
                        mode,
                        profile,
                        engine=engine,
                        warm=warm,
                        cands=cands,
                        depot=depot,
                        teams=args.teams,
                        seconds=args.seconds,
                        repeat=args.repeat,
                    )
                    for mode, profile in MODES
                ]
                versions = db.versions(engine)
            finally:
                engine.dispose()
                shutil.rmtree(warm, ignore_errors=True)
    except GeoOutreachError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = {
        "benchmark": "city_plan",
        "at": started.isoformat(timespec="seconds"),
        "database": source,
        "versions": versions,
        "extract": pbf.name,
        "sites": args.sites,
        "site_statuses": "all (active, seasonal, inactive, closed)",
        "teams": args.teams,
        "shift": f"{SHIFT[0]:%H:%M}-{SHIFT[1]:%H:%M}",
        "solve_budget": f"{args.seconds:g} s wall clock (MaxRuntime), seed 1",
        "repeat": args.repeat,
        "statistic": "median",
        "runs": runs,
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
