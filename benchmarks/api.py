"""bbox GeoJSON queries at 1e5 sleeping sites: geo-outreach's API against tipg and against the
bare limit of the stack, same run.

    .venv/bin/python benchmarks/api.py [--sites N] [--seconds S] [--connections C] [--workers W]

Starts a throw-away PostGIS cluster, migrates it, writes N synthetic sites spread over
Gdańsk–Sopot (deterministic), then serves the same table three times on loopback, each with the
same number of uvicorn workers: `geo-outreach serve` (token auth, policy, an audit row committed
per request), tipg (OGC API Features, no auth) and benchmarks/bare_api.py (FastAPI + asyncpg, the
GeoJSON built in one SQL statement, no auth, no audit: what the stack can do at best). wrk sends
the same sequence of bbox queries (1 km × 1 km boxes, limit 100) to each, for the same time, with
the same connection count, and the script prints requests/s and p95 latency of each and the
ratios. Only 127.0.0.1 is contacted; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import URL, text

from geo_outreach.accounts import users as auth
from geo_outreach.core import db
from geo_outreach.core.settings import Settings
from geo_outreach.demo.cluster import demo_cluster

# Gdańsk–Sopot, lon/lat; boxes are drawn inside it.
CITY = (18.52, 54.30, 18.62 + 0.08, 54.46)
BOX = (0.0155, 0.009)  # about 1 km × 1 km at 54.4° N
LIMIT = 100
SECRET = "bench-" + os.urandom(8).hex()
# A throw-away account in a throw-away cluster.
PASSWORD = "bench-" + os.urandom(8).hex()


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fill(admin: URL, n: int) -> None:
    """N sites at deterministic pseudo-random points of the city box (one INSERT … SELECT)."""
    engine = db.make_engine(admin, statement_timeout_ms=600_000)
    try:
        with db.session_scope(engine) as s:
            s.execute(text("SELECT setseed(0.2025)"))
            s.execute(
                text(
                    "INSERT INTO sleeping_sites (code, name, category, estimated_people, "
                    "district, is_demo, created_by, updated_by, geom) "
                    "SELECT 'B-' || i, 'bench ' || i, 'inne', (i % 7), 'bench', true, "
                    "'bench', 'bench', ST_SetSRID(ST_MakePoint("
                    ":x0 + random() * (:x1 - :x0), :y0 + random() * (:y1 - :y0)), 4326) "
                    "FROM generate_series(1, :n) AS i"
                ),
                {"x0": CITY[0], "y0": CITY[1], "x1": CITY[2], "y1": CITY[3], "n": n},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE sleeping_sites"))
    finally:
        engine.dispose()


def settle(admin: URL) -> None:
    """Vacuum the audit log and write every dirty page out before a run, so the database's
    background work caused by one server's run is not counted in the next one's."""
    engine = db.make_engine(admin, statement_timeout_ms=600_000)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM audit_log"))
            conn.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def token(app: URL, settings: Settings) -> str:
    engine = db.make_engine(app)
    try:
        with db.session_scope(engine) as s:
            auth.add_user(s, name="bench", role="coordinator", password=PASSWORD, actor="bench")
        issued = auth.login(
            engine, name="bench", password=PASSWORD, client="bench", settings=settings
        )
    finally:
        engine.dispose()
    return issued.token


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants, and by
    the descendants that ended (each parent's cutime/cstime: backends, workers)."""
    children: dict[int, list[int]] = {}
    used: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "(comm)", which may hold spaces
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        used[pid] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(cmd: list[str], env: dict[str, str], health: str) -> Iterator[int]:
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    out.seek(0)
                    msg = f"{cmd[2:4]} stopped:\n{out.read().decode(errors='replace')[-2000:]}"
                    raise RuntimeError(msg)
                if time.monotonic() > deadline:
                    msg = f"{health} did not answer in 90 s"
                    raise RuntimeError(msg)
                try:
                    if httpx.get(health, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


LUA = """
local paths = {%s}
local i = 0
local headers = {}
%s
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], headers)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(95), summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def boxes(count: int) -> list[tuple[float, float, float, float]]:
    rng = random.Random(2025)  # noqa: S311 - benchmark query positions, not secrets
    out = []
    for _ in range(count):
        x = rng.uniform(CITY[0], CITY[2] - BOX[0])
        y = rng.uniform(CITY[1], CITY[3] - BOX[1])
        out.append((round(x, 5), round(y, 5), round(x + BOX[0], 5), round(y + BOX[1], 5)))
    return out


def wrk(
    base: str, paths: list[str], *, auth_header: str | None, seconds: int, connections: int
) -> dict[str, float]:
    quoted = ", ".join(json.dumps(p) for p in paths)
    extra = f'headers["Authorization"] = "{auth_header}"' if auth_header else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (quoted, extra))
        script = f.name
    try:
        proc = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script,
                base,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    finally:
        Path(script).unlink()
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+)", proc.stdout)
    if not m:
        msg = f"wrk printed no result:\n{proc.stdout}\n{proc.stderr}"
        raise RuntimeError(msg)
    requests, duration_us, p95_us, errors = (int(g) for g in m.groups())
    return {
        "requests": requests,
        "rps": requests / (duration_us / 1e6),
        "p95_ms": p95_us / 1000,
        "errors": errors,
    }


def check_same_answers(ours: str, tipg: str, bare: str, box: tuple[float, ...], header: str) -> int:
    """The servers must return the same features for a box, or the race means nothing."""
    bbox = ",".join(map(str, box))
    c = httpx.get(f"{bare}/sites?bbox={bbox}&limit={LIMIT}", timeout=30).json()
    a = httpx.get(
        f"{ours}/sites?bbox={bbox}&limit={LIMIT}", headers={"Authorization": header}, timeout=30
    ).json()
    b = httpx.get(
        f"{tipg}/collections/public.sleeping_sites/items?bbox={bbox}&limit={LIMIT}", timeout=30
    ).json()
    if not a["numberMatched"] == b["numberMatched"] == c["numberMatched"]:
        msg = (
            f"numberMatched differs: ours {a['numberMatched']}, tipg {b['numberMatched']}, "
            f"bare {c['numberMatched']}"
        )
        raise RuntimeError(msg)
    if [f["id"] for f in a["features"]] != [f["id"] for f in c["features"]]:
        msg = "ours and the bare endpoint return different features"
        raise RuntimeError(msg)
    return int(a["numberMatched"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers, each server")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (apt-get install wrk)")

    log("[1/4] cluster and schema …")
    with demo_cluster(data_dir=None, log=log) as cluster:  # no demo: synthetic sites instead
        admin, app = cluster.url(admin=True), cluster.url()
        log(f"[2/4] {args.sites:,} sites …")
        started = time.perf_counter()
        fill(admin, args.sites)
        log(f"      written in {time.perf_counter() - started:.1f} s")
        app_str = app.render_as_string(hide_password=False)
        settings = Settings(database_url=app_str, secret_key=SECRET)
        bearer = f"Bearer {token(app, settings)}"
        env = dict(os.environ)
        env.update(
            GEO_OUTREACH_DATABASE_URL=app_str,
            GEO_OUTREACH_ADMIN_DATABASE_URL=admin.render_as_string(hide_password=False),
            GEO_OUTREACH_SECRET_KEY=SECRET,
            DATABASE_URL=app_str.replace("postgresql+psycopg://", "postgresql://"),
            TIPG_DB_TABLES='["public.sleeping_sites"]',
            TIPG_DB_SCHEMAS='["public"]',
            TIPG_DB_SPATIAL_EXTENT="false",
            TIPG_DB_DATETIME_EXTENT="false",
            TIPG_ADD_TILES_VIEWER="false",
        )
        ports = free_port(), free_port(), free_port()
        ours, tipg, bare = (f"http://127.0.0.1:{p}" for p in ports)
        queries = boxes(200)
        bbox = [",".join(map(str, b)) for b in queries]
        ours_paths = [f"/sites?bbox={b}&limit={LIMIT}" for b in bbox]
        tipg_paths = [
            f"/collections/public.sleeping_sites/items?bbox={b}&limit={LIMIT}" for b in bbox
        ]
        py = sys.executable
        workers = ["--workers", str(args.workers)]
        uvicorn = [py, "-m", "uvicorn", "--no-access-log", *workers, "--port"]
        log(f"[3/4] three servers, {args.workers} worker(s) each …")
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        with (
            serve(
                [py, "-m", "geo_outreach.cli", "serve", *workers, "--port", str(ports[0])],
                env,
                f"{ours}/health/live",
            ) as ours_pid,
            serve(
                [*uvicorn, str(ports[1]), "tipg.main:app"], env, f"{tipg}/collections"
            ) as tipg_pid,
            serve(
                [*uvicorn, str(ports[2]), "benchmarks.bare_api:app"], env, f"{bare}/health"
            ) as bare_pid,
        ):
            pids = {"geo-outreach": ours_pid, "tipg": tipg_pid, "bare FastAPI+asyncpg": bare_pid}
            matched = [check_same_answers(ours, tipg, bare, b, bearer) for b in queries[:5]]
            log(f"      same answers on 5 boxes (features matched: {matched})")
            log(f"[4/4] wrk, {args.seconds} s each, {args.connections} connections …")
            runs = (("geo-outreach", ours, ours_paths, bearer), ("tipg", tipg, tipg_paths, None),
                    ("bare FastAPI+asyncpg", bare, ours_paths, None))  # fmt: skip
            for _name, base, paths, header in runs:  # warm-up: connections, caches, plans
                wrk(base, paths, auth_header=header, seconds=2, connections=args.connections)
            results = {}
            for name, base, paths, header in runs:
                settle(
                    admin
                )  # the previous run's leftovers (dirty pages, dead rows) not billed here
                # CPU of the server's processes and of the database's during the run: on a
                # machine whose cores are all busy, their sum per request sets the throughput.
                before = tree_cpu(pids[name]), tree_cpu(postmaster)
                r = wrk(
                    base, paths, auth_header=header, seconds=args.seconds,
                    connections=args.connections,
                )  # fmt: skip
                after = tree_cpu(pids[name]), tree_cpu(postmaster)
                answered = max(r["requests"], 1)
                r["server_cpu_ms"] = (after[0] - before[0]) * 1000 / answered
                r["db_cpu_ms"] = (after[1] - before[1]) * 1000 / answered
                results[name] = r

    print(
        f"bbox GeoJSON queries, {args.sites:,} sites, limit {LIMIT}, 1 km boxes, "
        f"{args.connections} connections, {args.workers} worker(s) each, {args.seconds} s each"
    )
    print(
        f"{'server':<22}{'requests':>10}{'req/s':>10}{'p95 ms':>10}{'errors':>8}"
        f"{'server CPU ms/req':>19}{'db CPU ms/req':>15}"
    )
    for name, r in results.items():
        print(
            f"{name:<22}{r['requests']:>10.0f}{r['rps']:>10.1f}{r['p95_ms']:>10.1f}"
            f"{r['errors']:>8.0f}{r['server_cpu_ms']:>19.2f}{r['db_cpu_ms']:>15.2f}"
        )
    a, b, c = results["geo-outreach"], results["tipg"], results["bare FastAPI+asyncpg"]
    print(
        f"ratio geo-outreach / tipg: throughput {a['rps'] / b['rps']:.2f}×, "
        f"p95 latency {a['p95_ms'] / b['p95_ms']:.2f}×"
    )
    print(
        f"geo-outreach / bare endpoint: throughput {a['rps'] / c['rps']:.0%}, "
        f"p95 latency {a['p95_ms'] / c['p95_ms']:.2f}×"
    )


if __name__ == "__main__":
    main()
