"""Engines and sessions. Nothing connects at import: callers ask for an engine when needed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import URL, Connection, Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from geo_outreach.core.errors import DatabaseUnavailable
from geo_outreach.core.pgserver import LocalPostgres
from geo_outreach.core.settings import Settings


@dataclass(frozen=True)
class Database:
    """Where to connect: the app's least-privilege URL and the schema owner's URL."""

    app_url: URL
    admin_url: URL
    embedded: LocalPostgres | None
    # A streaming replica for read-only work (GEO_OUTREACH_READ_DATABASE_URL), or None.
    read_url: URL | None = None


def local_cluster(settings: Settings) -> LocalPostgres:
    return LocalPostgres(
        settings.pg_dir,
        port=settings.pg_port,
        os_user=settings.pg_os_user,
        bin_dir=settings.pg_bin_dir,
    )


def resolve(settings: Settings, *, start: bool = True) -> Database:
    """Use GEO_OUTREACH_DATABASE_URL when set; otherwise the embedded cluster (started if asked)."""
    read = make_url(settings.read_database_url) if settings.read_database_url else None
    if settings.database_url:
        app = make_url(settings.database_url)
        admin = make_url(settings.admin_database_url) if settings.admin_database_url else app
        return Database(app_url=app, admin_url=admin, embedded=None, read_url=read)
    cluster = local_cluster(settings)
    if start:
        cluster.start()
    return Database(
        app_url=cluster.url(), admin_url=cluster.url(admin=True), embedded=cluster, read_url=read
    )


def make_engine(
    url: URL | str,
    *,
    statement_timeout_ms: int = 60_000,
    application_name: str = "geo-outreach",
    **kwargs: object,
) -> Engine:
    options = f"-c statement_timeout={statement_timeout_ms} -c timezone=UTC"
    return create_engine(
        url,
        pool_pre_ping=True,
        # Bound values (coordinates, notes) never go into exception texts or logs.
        hide_parameters=True,
        connect_args={"options": options, "application_name": application_name},
        **kwargs,
    )


# -- a streaming replica for reads (issue 16) -------------------------------------------------

READ_APPLICATION = "geo-outreach-read"  # how the replica's connections show in pg_stat_activity
# A standby answers once it has replayed `target`; a promoted one (or a primary) always has.
_REPLAYED_SQL = text(
    "SELECT CASE WHEN pg_is_in_recovery() "
    "THEN coalesce(pg_last_wal_replay_lsn() >= CAST(:target AS pg_lsn), false) ELSE true END"
)


def wal_position(engine: Engine) -> str:
    """The primary's WAL write position now: every transaction acknowledged so far is before
    it (what a replica must have replayed for a caller to see their own writes)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())


def wait_replayed(conn: Connection, target: str, *, wait_ms: int) -> bool:
    """True once the replica behind `conn` has replayed the primary's WAL up to `target`
    (polled for at most `wait_ms`); False when it is further behind. Each check is its own
    transaction, so a snapshot taken afterwards sees everything up to `target`."""
    deadline = time.monotonic() + wait_ms / 1000
    while True:
        done = bool(conn.execute(_REPLAYED_SQL, {"target": target}).scalar_one())
        conn.rollback()
        if done or time.monotonic() >= deadline:
            return done
        time.sleep(0.005)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query (the readiness probe)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the probe tells no one why
        return False
    return True


def versions(engine: Engine) -> dict[str, str]:
    """PostgreSQL, PostGIS and pgRouting versions of the connected database."""
    try:
        with engine.connect() as conn:
            pg = conn.execute(text("SHOW server_version")).scalar_one()
            ext: dict[str, str] = dict(
                conn.execute(
                    text(
                        "SELECT extname, extversion FROM pg_extension "
                        "WHERE extname IN ('postgis', 'pgrouting')"
                    )
                ).all()
            )
            postgis = (
                conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
                if "postgis" in ext
                else None
            )
    except Exception as exc:
        msg = f"cannot query the database: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        raise DatabaseUnavailable(msg) from exc
    missing = "not installed in this database (run: geo-outreach db migrate)"
    return {
        "postgresql": str(pg).split(" ")[0],
        "postgis": str(postgis) if postgis else missing,
        "pgrouting": str(ext.get("pgrouting") or missing),
    }
