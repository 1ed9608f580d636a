"""asyncpg for the API's hottest reads: one statement per request, no worker thread, no ORM,
prepared statements kept per connection. The sync engine (geo_outreach.core.db) stays for
everything else. Nothing connects at import; the pool opens connections when first asked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import URL, TextClause, make_url, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from geo_outreach.core.errors import DatabaseUnavailable

CONNECT_TIMEOUT_S = 10.0
ACQUIRE_TIMEOUT_S = 30.0  # as long as the sync engine's pool waits for a connection


def dsn(url: URL | str) -> str:
    """The whole URL (host, port, socket folder, sslmode …) as a libpq-style DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def make_pool(
    url: URL | str,
    *,
    statement_timeout_ms: int = 60_000,
    application_name: str = "geo-outreach",
    max_size: int = 20,
) -> asyncpg.Pool:
    settings = {
        "statement_timeout": str(statement_timeout_ms),
        "timezone": "UTC",
        "application_name": application_name,
    }
    # min_size 0: the app starts while the database is away and connects on first use.
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn(url),
        min_size=0,
        max_size=max_size,
        server_settings=settings,
        reset=_no_reset_query,
        timeout=CONNECT_TIMEOUT_S,  # a host that drops packets fails fast, not after a minute
    )
    return pool


async def _no_reset_query(conn: asyncpg.Connection) -> None:
    """Instead of asyncpg's RESET ALL / UNLISTEN / CLOSE ALL round trip at every release: this
    pool is only for `fetch_one` (single statements that leave no session state behind: no SET,
    LISTEN, cursor or advisory lock). asyncpg still rolls back a transaction left open."""


async def fetch_one(pool: asyncpg.Pool, stmt: TextClause, values: dict[str, Any]) -> Any:
    """One statement alone on a connection of the pool, outside a transaction (committed when
    its row arrives), with the database's failures as the domain's."""
    query = positional(stmt)
    with domain_errors():
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            return await conn.fetchrow(query.sql, *query.args(values))


@dataclass(frozen=True)
class Positional:
    """A named-parameter statement in asyncpg's $n form, and the names in $n order."""

    sql: str
    names: tuple[str, ...]

    def args(self, values: dict[str, Any]) -> list[Any]:
        return [values[n] for n in self.names]


def positional(stmt: TextClause) -> Positional:
    """The statement for asyncpg, compiled once per distinct SQL text."""
    return _positional(stmt.text)


@lru_cache(maxsize=256)
def _positional(sql: str) -> Positional:
    compiled = text(sql).compile(dialect=asyncpg_dialect())
    return Positional(str(compiled), tuple(compiled.positiontup or ()))


# The database is away, restarting, full or not ours to write (a standby): come back later.
_AWAY: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,  # connecting, or waiting for a free connection
    asyncpg.ConnectionDoesNotExistError,  # lost in the middle of a statement
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.OperatorInterventionError,  # 57: shutdown, restart (57014 is caught first)
    asyncpg.ReadOnlySQLTransactionError,  # a standby
    asyncpg.InvalidAuthorizationSpecificationError,  # 28: a password changed under us
)


@contextmanager
def domain_errors() -> Iterator[None]:
    """asyncpg's failures of the database (not of the statement) as the domain's, as the sync
    engine's are (api/errors.py): a statement timeout or an unreachable database is
    DatabaseUnavailable (503), without SQL or values in the message. A statement's own faults
    (bad values: SQLSTATE class 22, and the rest) stay asyncpg's, for api/errors.py."""
    try:
        yield
    except asyncpg.QueryCanceledError:
        msg = "the query took too long; narrow it (bbox, limit)"
        raise DatabaseUnavailable(msg) from None
    except _AWAY:
        msg = "the database is not reachable right now"
        raise DatabaseUnavailable(msg) from None
