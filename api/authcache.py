"""Bearer tokens already checked, kept in memory for a few seconds (issue 15: no database round
trip per request for the caller's identity).

Revocation holds at once: the database announces every change that can end or alter a bearer
token's rights (migration 0010: NOTIFY geo_outreach_auth), and a listener connection per process
empties the cache on each. The listener is checked every few seconds (a half-open connection
delivers nothing and reports nothing); while it is not known to be alive, nothing is cached.
A check that started before a change is not cached after it (the generation number).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import URL
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_outreach.core import adb
from geo_outreach.core.policy import Principal

CHANNEL = "geo_outreach_auth"
TTL_SECONDS = 10.0  # an upper bound even if a notification were lost
HEARTBEAT_SECONDS = 2.0  # how often the listener proves its connection alive
MAX_ENTRIES = 10_000
RETRY_SECONDS = 5.0
log = logging.getLogger("geo_outreach.api")


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    expires_at: datetime
    until: float  # monotonic deadline of this entry


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _conn: event.set()


class TokenCache:
    def __init__(self, *, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self.listening = False
        # Moves on every clear: a lookup that began before a change must not be stored after it.
        self.generation = 0
        self._entries: dict[str, _Entry] = {}

    def get(self, digest: str, *, now: datetime) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if not self.listening or entry.until < time.monotonic() or entry.expires_at <= now:
            self._entries.pop(digest, None)
            return None
        return entry.principal

    def put(
        self, digest: str, principal: Principal, *, expires_at: datetime, generation: int
    ) -> None:
        """Keep what a lookup begun at `generation` found, unless something changed since."""
        if not self.listening or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = _Entry(principal, expires_at, time.monotonic() + self.ttl)

    def clear(self, *_: object) -> None:
        self.generation += 1
        self._entries.clear()

    async def listen(self, url: URL) -> None:
        """Keep a LISTEN connection open (reconnecting); cache only while it answers."""
        dsn = adb.dsn(url)
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(
                    dsn,
                    timeout=HEARTBEAT_SECONDS * 5,
                    server_settings={"application_name": "geo-outreach-auth-listener"},
                )
                lost = asyncio.Event()
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(CHANNEL, self.clear)
                self.clear()  # changes made while nobody listened
                self.listening = True
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=HEARTBEAT_SECONDS)
                    # Raises on a dead or half-open connection: then reconnect, caching nothing.
                    await conn.fetchval("SELECT 1", timeout=HEARTBEAT_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a while: cache nothing meanwhile
                log.warning("token cache: no notification connection; not caching")
            finally:
                self.listening = False
                self.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(RETRY_SECONDS)


# Requests that can end a token or change an account's rights: when one of this process has
# answered, its transaction is committed, and the cache is emptied at once (the database's
# notification, which also reaches the other processes, may take a moment longer).
ACCOUNT_PATHS = ("/auth/", "/admin/", "/app/logout")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ForgetAfterAccountChanges:
    """Plain ASGI wrapper: after a write under ACCOUNT_PATHS, empty the app's TokenCache."""

    def __init__(self, app: ASGIApp, *, tokens: TokenCache) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        changes = (
            scope["type"] == "http"
            and scope["method"] not in SAFE_METHODS
            and str(scope["path"]).startswith(ACCOUNT_PATHS)
        )
        if not changes:
            await self.app(scope, receive, send)
            return

        async def send_after_clearing(message: Message) -> None:
            # Only a change that happened (a failed login changes nothing): the route's work
            # is committed before it answers.
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                self.tokens.clear()
            await send(message)

        await self.app(scope, receive, send_after_clearing)
