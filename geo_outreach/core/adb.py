"""The async engine (asyncpg) for the API's hottest reads: one statement per request, no worker
thread, prepared statements kept per connection. The sync engine (geo_outreach.core.db) stays
for everything else. Nothing connects at import."""

from __future__ import annotations

from sqlalchemy import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: URL | str) -> URL:
    """The same database through asyncpg (the settings name psycopg)."""
    return make_url(url).set(drivername="postgresql+asyncpg")


def make_async_engine(
    url: URL | str,
    *,
    statement_timeout_ms: int = 60_000,
    application_name: str = "geo-outreach",
    pool_size: int = 10,
    max_overflow: int = 10,
) -> AsyncEngine:
    settings = {
        "statement_timeout": str(statement_timeout_ms),
        "timezone": "UTC",
        "application_name": application_name,
    }
    return create_async_engine(
        async_url(url),
        # Bound values (coordinates) never go into exception texts or logs.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # A dead connection fails its one statement and is replaced; no ping round trip first.
        pool_pre_ping=False,
        connect_args={"server_settings": settings},
    )
