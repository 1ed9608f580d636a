"""The public map under anonymous load: kept pages (ETag) against rebuilding per request, same run.

    .venv/bin/python -m benchmarks.public_pages [--seconds 10] [--connections 8]

Starts a throw-away PostGIS cluster, migrates it and loads the demo, then serves it with
`geo-outreach serve` twice, one after the other on loopback: once with
GEO_OUTREACH_PUBLIC_PAGE_CACHE=false (the page rendered per request, as before issue 10) and once
with the cache on (today's default). For each, wrk measures (1) a staff `GET /sites` alone with one
connection, then (2) `/maps/public.html` with N connections while the same staff wrk runs beside
it. The script prints requests/s of the public page, the cached / uncached ratio, and the staff
p95 latency alone and under each load, then one JSON line on stdout. Only 127.0.0.1 is contacted;
every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import text

from benchmarks.api import free_port, log, serve, token, wrk
from geo_outreach.core import db, migrate
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.core.settings import Settings
from geo_outreach.demo import load as demo

SECRET = "bench-" + os.urandom(8).hex()
PUBLIC = ["/maps/public.html"]
STAFF = ["/sites?limit=50", "/sites?limit=50&offset=50", "/sites?limit=50&offset=100"]


def load_demo(settings: Settings, admin_url: str) -> int:
    engine = db.make_engine(admin_url, statement_timeout_ms=600_000)
    try:
        with db.session_scope(engine) as s:
            demo.load(
                s, data_dir=settings.data_dir, seed=settings.demo_seed, year=settings.demo_year
            )
        with db.session_scope(engine) as s:
            return int(s.execute(text("SELECT count(*) FROM facilities")).scalar_one())
    finally:
        engine.dispose()


def measure(
    env: dict[str, str], *, cached: bool, bearer: str, seconds: int, connections: int
) -> dict[str, dict[str, float]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**env, "GEO_OUTREACH_PUBLIC_PAGE_CACHE": "true" if cached else "false"}
    cmd = [sys.executable, "-m", "geo_outreach.cli", "serve", "--port", str(port)]
    with serve(cmd, env, f"{base}/health"):
        first = httpx.get(f"{base}/maps/public.html", timeout=120)  # tiles, assets, first page
        first.raise_for_status()
        for path in STAFF:
            httpx.get(base + path, headers={"Authorization": bearer}, timeout=30).raise_for_status()
        wrk(base, PUBLIC, auth_header=None, seconds=2, connections=connections)
        alone = wrk(base, STAFF, auth_header=bearer, seconds=seconds, connections=1)
        with ThreadPoolExecutor(2) as pool:
            public = pool.submit(
                wrk, base, PUBLIC, auth_header=None, seconds=seconds, connections=connections
            )
            staff = pool.submit(
                wrk, base, STAFF, auth_header=bearer, seconds=seconds, connections=1
            )
            return {
                "public": public.result(),
                "staff_alone": alone,
                "staff_under_load": staff.result(),
                "page_bytes": {"bytes": float(len(first.content))},
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (apt-get install wrk)")
    root = Path(tempfile.mkdtemp(prefix="geo-outreach-bench-"))
    root.chmod(0o755)
    cluster = LocalPostgres(root / "pg")
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        log("[1/3] cluster, schema and demo …")
        cluster.start()
        admin, app = cluster.url(admin=True), cluster.url()
        migrate.upgrade(admin)
        app_str = app.render_as_string(hide_password=False)
        settings = Settings(database_url=app_str, secret_key=SECRET)
        facilities = load_demo(settings, admin.render_as_string(hide_password=False))
        bearer = f"Bearer {token(app, settings)}"
        env = dict(os.environ)
        env.update(
            GEO_OUTREACH_DATABASE_URL=app_str,
            GEO_OUTREACH_ADMIN_DATABASE_URL=admin.render_as_string(hide_password=False),
            GEO_OUTREACH_SECRET_KEY=SECRET,
        )
        for step, cached in (("[2/3]", False), ("[3/3]", True)):
            name = "cached" if cached else "uncached"
            log(f"{step} {name}: staff alone, then public page ×{args.connections} + staff …")
            results[name] = measure(
                env,
                cached=cached,
                bearer=bearer,
                seconds=args.seconds,
                connections=args.connections,
            )
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

    u, c = results["uncached"], results["cached"]
    ratio = c["public"]["rps"] / u["public"]["rps"]
    print(
        f"/maps/public.html, demo ({facilities} facilities), {args.connections} connections, "
        f"{args.seconds} s each; staff GET /sites?limit=50 with 1 connection beside it",
        file=sys.stderr,
    )
    print(
        f"{'run':<10}{'public req/s':>14}{'errors':>8}{'staff p95 alone':>17}"
        f"{'staff p95 loaded':>18}{'staff req/s loaded':>20}",
        file=sys.stderr,
    )
    for name, r in (("uncached", u), ("cached", c)):
        print(
            f"{name:<10}{r['public']['rps']:>14.1f}{r['public']['errors']:>8.0f}"
            f"{r['staff_alone']['p95_ms']:>14.1f} ms{r['staff_under_load']['p95_ms']:>15.1f} ms"
            f"{r['staff_under_load']['rps']:>20.1f}",
            file=sys.stderr,
        )
    print(f"ratio cached / uncached: {ratio:.1f}× public page throughput", file=sys.stderr)
    print(
        json.dumps(
            {
                "connections": args.connections,
                "seconds": args.seconds,
                "page_bytes": int(c["page_bytes"]["bytes"]),
                "uncached_rps": round(u["public"]["rps"], 1),
                "cached_rps": round(c["public"]["rps"], 1),
                "ratio": round(ratio, 1),
                "uncached_errors": int(u["public"]["errors"]),
                "cached_errors": int(c["public"]["errors"]),
                "staff_p95_ms_alone": round(c["staff_alone"]["p95_ms"], 1),
                "staff_p95_ms_under_cached_load": round(c["staff_under_load"]["p95_ms"], 1),
                "staff_p95_ms_under_uncached_load": round(u["staff_under_load"]["p95_ms"], 1),
                "staff_p95_ms_alone_uncached_run": round(u["staff_alone"]["p95_ms"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
