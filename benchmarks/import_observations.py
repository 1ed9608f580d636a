"""Observations imported and clustered per second: geo-outreach against geopandas + DBSCAN.

    .venv/bin/python benchmarks/import_observations.py [--rows 10000 100000] [--radius 50]

For each size N the script writes one synthetic count file (deterministic): N observations
(date, count, x, y in EPSG:2180) of N/20 places spread over Gdańsk, each seen on about 20
nights with up to 8 m of GPS scatter. In the same run, on the same file:

- ours, import: `import_observations` into a throw-away PostGIS (read, validate every row,
  match and group into sites, write the sites and visits, audit), committed; then the same
  file again (everything matched, nothing written);
- ours, grouping only: `observations.cluster` on the same points;
- peer, pipeline: pandas `read_csv` → geopandas points in EPSG:2180 → scikit-learn DBSCAN
  (eps = radius, min_samples = 1) → one centroid per cluster; no validation, no database;
- peer, DBSCAN only: `DBSCAN.fit` on the same metric coordinates.

It prints observations per second for each and the ratios, and how well each grouping finds
the true places (adjusted Rand index against the generator's place of each observation). One
JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Geod, Transformer
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import text

from geo_outreach.core import db
from geo_outreach.core.settings import Settings
from geo_outreach.demo.cluster import demo_cluster
from geo_outreach.io import observations as obs
from geo_outreach.io.files import Row

CITY = (18.52, 54.31, 18.70, 54.44)  # Gdańsk, lon/lat
PER_PLACE = 20
SCATTER_M = 8.0
TO_2180 = Transformer.from_crs(4326, 2180, always_xy=True)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def make_file(path: Path, n: int, seed: int = 2025) -> np.ndarray:
    """N observations of N/PER_PLACE places; returns each observation's true place."""
    rng = np.random.default_rng(seed)
    places = max(n // PER_PLACE, 1)
    lon = rng.uniform(CITY[0], CITY[2], places)
    lat = rng.uniform(CITY[1], CITY[3], places)
    truth = rng.integers(0, places, n)
    geod = Geod(ellps="WGS84")
    plon, plat, _ = geod.fwd(
        lon[truth], lat[truth], rng.uniform(0, 360, n), rng.uniform(0, SCATTER_M, n)
    )
    x, y = TO_2180.transform(plon, plat)
    first = date(2024, 10, 1)
    days = rng.integers(0, 365, n)
    counts = rng.integers(1, 6, n)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["date", "count", "x", "y"])
        for i in range(n):
            w.writerow(
                [first + timedelta(days=int(days[i])), counts[i], f"{x[i]:.2f}", f"{y[i]:.2f}"]
            )
    return truth


def ours_import(app_url: object, path: Path, settings: Settings) -> tuple[float, float, dict]:
    engine = db.make_engine(app_url, statement_timeout_ms=3_600_000)  # type: ignore[arg-type]
    try:
        times = []
        results = []
        for _ in range(2):  # the first run writes, the second must add nothing
            started = time.perf_counter()
            with db.session_scope(engine) as session:
                result = obs.import_observations(
                    session,
                    path,
                    actor="bench",
                    role="bench",
                    service_area=settings.service_area,
                    crs="EPSG:2180",
                )
            times.append(time.perf_counter() - started)
            results.append(result)
    finally:
        engine.dispose()
    first, again = results
    assert again.sites_created == 0 and again.visits_written == 0, "a re-run wrote rows"
    summary = {
        "sites_created": first.sites_created,
        "sites_matched": first.sites_matched,
        "visits_written": first.visits_written,
        "rerun_visits_written": again.visits_written,
    }
    return times[0], times[1], summary


def empty(admin_url: object) -> None:
    engine = db.make_engine(admin_url)  # type: ignore[arg-type]
    try:
        with db.session_scope(engine) as session:
            session.execute(text("TRUNCATE visits, sleeping_sites, audit_log CASCADE"))
    finally:
        engine.dispose()


def ours_cluster(path: Path, radius: float, settings: Settings) -> tuple[float, np.ndarray]:
    frame = pd.read_csv(path)
    lon, lat = Transformer.from_crs(2180, 4326, always_xy=True).transform(
        frame["x"].to_numpy(), frame["y"].to_numpy()
    )
    when = pd.to_datetime(frame["date"]).dt.tz_localize("Europe/Warsaw").dt.to_pydatetime()
    points = [
        obs._Observation(Row(i + 1, {}, None), when[i], 1, None, float(lon[i]), float(lat[i]))
        for i in range(len(frame))
    ]
    started = time.perf_counter()
    obs.cluster(points, [], radius=radius, service_area=settings.service_area)
    elapsed = time.perf_counter() - started
    return elapsed, np.array([p.site for p in points])


def peer_pipeline(path: Path, radius: float) -> tuple[float, float, np.ndarray]:
    started = time.perf_counter()
    frame = pd.read_csv(path, parse_dates=["date"])
    points = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["x"], frame["y"]), crs="EPSG:2180"
    )
    coords = np.column_stack([points.geometry.x, points.geometry.y])
    fit_start = time.perf_counter()
    labels = DBSCAN(eps=radius, min_samples=1).fit(coords).labels_
    fit = time.perf_counter() - fit_start
    points["site"] = labels
    sites = points.dissolve(by="site", aggfunc={"count": "max"}).centroid.to_crs(4326)
    assert len(sites) == labels.max() + 1
    return time.perf_counter() - started, fit, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--radius", type=float, default=50.0)
    args = parser.parse_args()
    settings = Settings()
    out: dict[str, object] = {"radius_m": args.radius, "sizes": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-obs-") as tmp,
        demo_cluster(data_dir=None, log=log) as cluster,
    ):
        for n in args.rows:
            path = Path(tmp) / f"count-{n}.csv"
            truth = make_file(path, n)
            log(f"[{n}] peer: geopandas + DBSCAN …")
            peer_s, peer_fit_s, peer_labels = peer_pipeline(path, args.radius)
            log(f"[{n}] ours: grouping only …")
            ours_cluster_s, our_labels = ours_cluster(path, args.radius, settings)
            log(f"[{n}] ours: import into PostGIS, then again …")
            import_s, rerun_s, summary = ours_import(cluster.url(), path, settings)
            empty(cluster.url(admin=True))  # each size starts from an empty database
            size = {
                "rows": n,
                "true_places": len(np.unique(truth)),
                "ours_import_obs_per_s": round(n / import_s),
                "ours_rerun_obs_per_s": round(n / rerun_s),
                "ours_cluster_obs_per_s": round(n / ours_cluster_s),
                "peer_pipeline_obs_per_s": round(n / peer_s),
                "peer_dbscan_obs_per_s": round(n / peer_fit_s),
                "ratio_import_vs_peer_pipeline": round(peer_s / import_s, 3),
                "ratio_cluster_vs_peer_dbscan": round(peer_fit_s / ours_cluster_s, 3),
                "ours_sites": int(our_labels.max() + 1),
                "peer_sites": int(peer_labels.max() + 1),
                "ours_ari": round(float(adjusted_rand_score(truth, our_labels)), 4),
                "peer_ari": round(float(adjusted_rand_score(truth, peer_labels)), 4),
                **summary,
            }
            log(json.dumps(size))
            out["sizes"].append(size)  # type: ignore[attr-defined]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
