"""A throw-away PostGIS cluster, migrated, with the demo loaded: what the tests and the
benchmarks start from, written once.

The cluster lives in a temporary folder and is stopped and deleted when the block ends; the
project's own cluster (GEO_OUTREACH_PG_DIR) is never touched.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL

from geo_outreach.core import db, migrate
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.demo import load as demo


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def throwaway_cluster(
    *, os_user: str = "postgres", log: Callable[[str], None] = _stderr
) -> Iterator[LocalPostgres]:
    """A running, empty cluster in a temporary folder, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="geo-outreach-scratch-"))
    root.chmod(0o755)  # run as root, the cluster's OS user must enter it
    cluster = LocalPostgres(root / "pg", os_user=os_user, log=log)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def throwaway_standby(
    primary: LocalPostgres, *, os_user: str = "postgres", log: Callable[[str], None] = _stderr
) -> Iterator[LocalPostgres]:
    """A running streaming replica (hot standby) of `primary` in a temporary folder, stopped
    and removed afterwards (issue 16: the reads-on-a-replica tests)."""
    root = Path(tempfile.mkdtemp(prefix="geo-outreach-standby-"))
    root.chmod(0o755)  # run as root, the cluster's OS user must enter it
    data_dir = root / "pg"
    try:
        yield primary.make_standby(data_dir)
    finally:
        # Also when making it failed half-way: a server may be running there.
        LocalPostgres(data_dir, os_user=os_user, log=log).stop()
        shutil.rmtree(root, ignore_errors=True)


def migrate_and_load(
    admin_url: URL,
    app_url: URL,
    *,
    data_dir: Path | None,
    seed: int = 2025,
    year: int = 2025,
    log: Callable[[str], None] = _stderr,
) -> None:
    """Migrate the database to head and, given the shared data folder, load the demo into it."""
    migrate.upgrade(admin_url)
    if data_dir is None:
        return
    engine = db.make_engine(app_url)
    try:
        with db.session_scope(engine) as session:
            demo.load(session, data_dir=data_dir, seed=seed, year=year, log=log)
    finally:
        engine.dispose()


@contextmanager
def demo_cluster(
    *,
    data_dir: Path | None,
    seed: int = 2025,
    year: int = 2025,
    os_user: str = "postgres",
    log: Callable[[str], None] = _stderr,
) -> Iterator[LocalPostgres]:
    """A throw-away cluster, migrated, with the demo loaded (no demo when `data_dir` is None)."""
    with throwaway_cluster(os_user=os_user, log=log) as cluster:
        migrate_and_load(
            cluster.url(admin=True),
            cluster.url(),
            data_dir=data_dir,
            seed=seed,
            year=year,
            log=log,
        )
        yield cluster
