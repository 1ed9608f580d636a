"""Annotated dependencies shared by the routes: engine, settings, the caller, and the guard that
every route must carry (deny by default: create_app refuses a route without one)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import sessions as web_sessions
from api.authcache import TokenCache
from api.errors import PreconditionRequired
from geo_outreach.accounts import users as auth
from geo_outreach.core import db, policy
from geo_outreach.core.errors import GeoOutreachError, NotFound, StaleVersion, ValidationFailed
from geo_outreach.core.policy import Forbidden, Principal, Unauthorized
from geo_outreach.core.settings import Settings
from layers import audit
from maps import streets

log = logging.getLogger("geo_outreach.api")

# Audit rows name the table whose data was touched.
AUDIT_LAYER = {
    "sleeping_sites": "sleeping_sites",
    "patrol_sites": "sleeping_sites",
    "visits": "visits",
    "patrols": "patrols",
    "audit": "audit_log",
    # These read sites too: their refusals belong in the record as well.
    "maps_live": "sleeping_sites",
    "maps_planner": "sleeping_sites",
    "plans": "sleeping_sites",
    "field_app": "sleeping_sites",
    "site_changes": "sleeping_sites",
    # Issue 14: the public's alerts (staff reads and decisions) and the cold nights.
    "alerts": "public_alerts",
    "winter": "winter_nights",
    # Issue 12: the yearly report is counted from the visit log (refusals recorded too).
    "reports": "visits",
    "partner_reports": "visits",
    # Issue 12: who is on a patrol, and the administration of accounts.
    "patrol_members": "patrols",
    "accounts": "users",
}


# Attribute reads: async, so FastAPI runs them inline instead of in a worker thread each.
async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(_engine)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def street_tiles(request: Request, settings: Settings) -> streets.TileSet:
    """The street tiles drawn from the OSM extract, drawn once and kept by the app."""
    tiles: streets.TileSet | None = getattr(request.app.state, "map_tiles", None)
    if tiles is None:
        tiles = streets.ensure_tiles(settings.pbf, settings.cache_dir)
        request.app.state.map_tiles = tiles
    return tiles


def _ip(text: str) -> IPv4Address | IPv6Address | None:
    """An address as a peer or a proxy writes it (port and IPv6 brackets dropped), or None."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        found = ip_address(text)
    except ValueError:
        return None
    mapped = found.ipv4_mapped if isinstance(found, IPv6Address) else None
    return mapped or found


def client_address(request: Request, settings: SettingsDep) -> str:
    """The caller's address: the socket peer, unless the peer is a configured proxy; then the
    right-most X-Forwarded-For entry that is not one (entries left of it are the client's own
    words and prove nothing)."""
    peer = request.client.host if request.client else "unknown"
    found = _ip(peer)
    hops = [h for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if found is None or not any(found in net for net in settings.trusted_proxies):
            break
        sent = _ip(hop)
        if sent is None:  # an unreadable entry: count the request as the proxy's own
            break
        found = sent
    return str(found) if found is not None else peer


ClientDep = Annotated[str, Depends(client_address)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from POST /auth/token; without one you are the anonymous public.",
)


def _bearer(engine: Engine, token: str, settings: Settings) -> tuple[Principal, datetime]:
    with db.session_scope(engine) as session:
        return auth.authenticate_until(session, token=token, secret=settings.secret_key)


def _cookie(request: Request, engine: Engine, settings: Settings) -> Principal:
    return web_sessions.cookie_principal(request, engine, settings) or policy.PUBLIC


async def _principal(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    # Async, so the common cases (the public, a token checked moments ago) need no worker
    # thread and no database round trip; the others run their queries in the thread pool.
    if credentials is None:
        if web_sessions.SESSION_COOKIE not in request.cookies:
            return policy.PUBLIC
        # The field app's browser session (its changes must carry the CSRF token).
        return await run_in_threadpool(_cookie, request, engine, settings)
    tokens: TokenCache | None = getattr(request.app.state, "tokens", None)
    digest = auth.token_digest(credentials.credentials, secret=settings.secret_key)
    generation = tokens.generation if tokens is not None else 0
    if tokens is not None:
        found = tokens.get(digest, now=datetime.now(UTC))
        if found is not None:
            return found
    principal, until = await run_in_threadpool(_bearer, engine, credentials.credentials, settings)
    if tokens is not None:
        tokens.put(digest, principal, expires_at=until, generation=generation)
    return principal


# Who a refused token is written down as, so the attempt is recorded.
BAD_TOKEN = Principal(role="public", name="invalid-token")


async def _principal_or_refusal(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | Unauthorized:
    try:
        return await _principal(request, engine, settings, credentials)
    except Unauthorized as exc:
        return exc


PrincipalDep = Annotated[Principal, Depends(_principal)]
# The caller, or the refusal of their token (for routes that answer everyone, e.g. /health).
MaybePrincipalDep = Annotated[Principal | Unauthorized, Depends(_principal_or_refusal)]


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, Unauthorized | Forbidden):
        return "denied"
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, StaleVersion):
        return "stale"
    if isinstance(exc, ValidationFailed | PreconditionRequired):
        return "refused"
    return "failed"


@dataclass
class Tx:
    """One request's transaction and what its audit row will say."""

    session: Session
    ids: list[uuid.UUID] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    action: str = "read"
    outcome: str = "ok"


@dataclass(frozen=True)
class Ctx:
    """The caller, allowed past the guard of one resource and action."""

    principal: Principal
    engine: Engine
    settings: Settings
    resource: str
    action: str
    endpoint: str

    @property
    def actor(self) -> str:
        return self.principal.actor

    def fields(self, resource: str | None = None) -> tuple[str, ...]:
        return policy.fields(resource or self.resource, self.principal.role)

    def audit(
        self,
        *,
        outcome: str,
        ids: list[uuid.UUID],
        detail: dict[str, Any] | None = None,
        action: str | None = None,
        resource: str | None = None,
    ) -> None:
        """An audit row in its own transaction (for refusals, after the work was rolled back)."""
        layer = AUDIT_LAYER.get(resource or self.resource)
        if layer is None:
            return
        with db.session_scope(self.engine) as session:
            audit.record(
                session,
                actor=self.actor,
                role=self.principal.role,
                action=action or self.action,
                layer=layer,
                object_ids=ids,
                outcome=outcome,
                detail={"endpoint": self.endpoint, **(detail or {})},
            )

    def _scope(self) -> AbstractContextManager[Session]:
        return db.session_scope(self.engine)

    @contextmanager
    def tx(self, *, ids: list[uuid.UUID] | None = None) -> Iterator[Tx]:
        """A transaction whose audit row (for audited resources) commits with the work; when
        the work fails, the audit row records the failure on its own."""
        layer = AUDIT_LAYER.get(self.resource)
        state: Tx | None = None
        try:
            with self._scope() as session:
                state = Tx(session=session, ids=list(ids or []), action=self.action)
                yield state
                if layer:
                    audit.record(
                        session,
                        actor=self.actor,
                        role=self.principal.role,
                        action=state.action,
                        layer=layer,
                        object_ids=state.ids,
                        outcome=state.outcome,
                        detail={"endpoint": self.endpoint, **state.detail},
                    )
        except Exception as exc:
            if layer:
                known = state.ids if state else list(ids or [])
                detail = {**(state.detail if state else {}), "error": type(exc).__name__}
                self.audit(outcome=outcome_of(exc), ids=known, detail=detail)
            raise


# The public's reads on the replica trail the primary by at most about this much.
SAMPLE_SECONDS = 1.0
SAMPLE_MAX_AGE = 5.0


async def sample_primary(app: Any) -> None:
    """Keep `app.state.primary_position` (see ReadCtx) fresh while there is a replica."""
    while True:
        try:
            position = await run_in_threadpool(db.wal_position, app.state.engine)
            app.state.primary_position = (position, time.monotonic())
        except Exception:  # the primary may be away a moment; stale samples are not used
            log.warning("could not read the primary's WAL position")
        await asyncio.sleep(SAMPLE_SECONDS)


@dataclass(frozen=True)
class ReadCtx(Ctx):
    """The caller of a read-only route (issue 16). Its data is read on the streaming replica
    when there is one and it may serve the caller; its audit rows (and anything else it writes)
    go to the primary, committed before the data leaves. The anonymous public (who write
    nothing they could read back) read there once it has replayed the primary's position
    sampled about a second ago (so a facility made confidential leaves the public layer within
    seconds, however far the replica falls behind); a signed-in caller only once it has replayed
    the primary's position at the start of the request, so every write they made before (in
    any worker) is there; otherwise, or when it does not answer, the primary."""

    replica: Engine | None = None
    # (the primary's WAL position, time.monotonic() when sampled), by the app's sampler.
    sampled: tuple[str, float] | None = None

    def _reader(self) -> Connection | None:
        if self.replica is None:
            return None
        conn: Connection | None = None
        try:
            if self.principal.user_id is not None:
                target = db.wal_position(self.engine)
            elif self.sampled is not None and time.monotonic() - self.sampled[1] < SAMPLE_MAX_AGE:
                target = self.sampled[0]
            else:  # no recent sample: the primary answers
                return None
            conn = self.replica.connect()
            if db.wait_replayed(conn, target, wait_ms=self.settings.read_wait_ms):
                return conn
        except DBAPIError:  # a replica away: reads go on the primary rather than fail
            log.warning("the read replica does not answer; reading on the primary")
        if conn is not None:
            conn.close()
        return None

    def read_engine(self) -> Engine:
        """Where this caller's reads go now (for code that takes an engine, not a `tx`)."""
        conn = self._reader()
        if conn is None or self.replica is None:
            return self.engine
        conn.close()  # back to the pool, taken again by the caller's read
        return self.replica

    @contextmanager
    def _scope(self) -> Iterator[Session]:
        conn = self._reader()
        if conn is None:
            with db.session_scope(self.engine) as session:
                yield session
            return
        # Reads on the replica; audit rows, whoever records them, on the primary.
        with (
            conn,
            Session(
                bind=conn, binds={audit.AuditEntry: self.engine}, expire_on_commit=False
            ) as session,
            session.begin(),
        ):
            yield session


def _path_ids(request: Request) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for name, value in request.path_params.items():
        if name.endswith("_id") or name == "feature_id":
            try:
                ids.append(uuid.UUID(str(value)))
            except ValueError:
                continue
    return ids


def _endpoint(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


def guard(resource: str, action: str) -> Any:
    """A dependency that lets the call through only when the policy allows the caller's role."""

    async def _guard(
        request: Request,
        found: Annotated[Principal | Unauthorized, Depends(_principal_or_refusal)],
        engine: EngineDep,
        settings: SettingsDep,
    ) -> Ctx:
        principal = BAD_TOKEN if isinstance(found, Unauthorized) else found
        ctx = Ctx(
            principal=principal,
            engine=engine,
            settings=settings,
            resource=resource,
            action=action,
            endpoint=_endpoint(request),
        )
        if isinstance(found, Unauthorized):
            await run_in_threadpool(_record_denial, request, ctx)
            raise found
        try:
            policy.require(principal, resource, action)
        except GeoOutreachError:
            await run_in_threadpool(_record_denial, request, ctx)
            raise
        return ctx

    _guard.guarded = (resource, action)  # type: ignore[attr-defined]
    return Depends(_guard)


def read_guard(resource: str, action: str = "read") -> Any:
    """`guard` for a read-only route: the same policy, refusals and audit, and a `ReadCtx`
    whose data may be read on the replica (GEO_OUTREACH_READ_DATABASE_URL)."""
    checked = guard(resource, action)

    # A default, not Annotated: the annotation is a string resolved at module level.
    async def _read_guard(request: Request, ctx: Ctx = checked) -> ReadCtx:
        replica: Engine | None = getattr(request.app.state, "read_engine", None)
        sampled: tuple[str, float] | None = getattr(request.app.state, "primary_position", None)
        return ReadCtx(**vars(ctx), replica=replica, sampled=sampled)

    _read_guard.guarded = (resource, action)  # type: ignore[attr-defined]
    return Depends(_read_guard)


def open_route() -> Any:
    """Marks a route that anyone may call (health, docs, login)."""

    def _open() -> None:
        return None

    _open.guarded = ("open", "any")  # type: ignore[attr-defined]
    return Depends(_open)


def guard_of(call: Callable[..., Any] | None) -> tuple[str, str] | None:
    value = getattr(call, "guarded", None)
    return value if isinstance(value, tuple) else None


# -- refusals of anonymous callers: counted, written once per caller and minute -------------

MAX_IDS_PER_ROW = 1000  # ids an aggregated row names; more are counted, not listed


@dataclass
class _Tally:
    count: int = 0
    ids: set[uuid.UUID] = field(default_factory=set)
    ids_dropped: int = 0


class RefusalCounter:
    """Refused calls without a valid token, counted per (caller, endpoint, minute) in memory and
    written as one audit row each once the minute is over (and at shutdown). A refusal then
    costs a dictionary update, not an INSERT, while every denial stays in the audit log."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str, str, str, str, str, datetime], _Tally] = {}
        self._lock = threading.Lock()

    def count(self, ctx: Ctx, ids: list[uuid.UUID], *, client: str, at: datetime) -> None:
        layer = AUDIT_LAYER.get(ctx.resource)
        if layer is None:
            return
        minute = at.replace(second=0, microsecond=0)
        key = (ctx.actor, ctx.principal.role, ctx.action, layer, ctx.endpoint, client, minute)
        with self._lock:
            tally = self._tallies.setdefault(key, _Tally())
            tally.count += 1
            for one in ids:
                if len(tally.ids) < MAX_IDS_PER_ROW:
                    tally.ids.add(one)
                elif one not in tally.ids:
                    tally.ids_dropped += 1
            due = any(k[-1] < minute for k in self._tallies)
        if due:  # the first refusal of a new minute writes the finished ones
            self.flush(ctx.engine, before=minute)

    def flush(self, engine: Engine, *, before: datetime | None = None) -> int:
        """Write the tallies of minutes before `before` (all when None); returns rows written."""
        with self._lock:
            done = {k: v for k, v in self._tallies.items() if before is None or k[-1] < before}
            for key in done:
                del self._tallies[key]
        if not done:
            return 0
        with db.session_scope(engine) as session:
            for (actor, role, action, layer, endpoint, client, minute), tally in done.items():
                detail: dict[str, Any] = {
                    "endpoint": endpoint,
                    "client": client,
                    "count": tally.count,
                    "minute": minute.isoformat(),
                    "aggregated": True,
                }
                if tally.ids_dropped:
                    detail["ids_not_listed"] = tally.ids_dropped
                audit.record(
                    session,
                    actor=actor,
                    role=role,
                    action=action,
                    layer=layer,
                    object_ids=sorted(tally.ids),
                    outcome="denied",
                    detail=detail,
                )
        return len(done)


def _record_denial(request: Request, ctx: Ctx) -> None:
    """A named account's refusal is written at once; an anonymous one (no or a bad token) is
    counted, because anyone can send those as fast as they like."""
    ids = _path_ids(request)
    counter: RefusalCounter | None = getattr(request.app.state, "refusals", None)
    if ctx.principal.user_id is not None or counter is None:
        ctx.audit(outcome="denied", ids=ids)
        return
    client = client_address(request, ctx.settings)
    counter.count(ctx, ids, client=client, at=datetime.now(UTC))


# -- unknown query parameters: 400 naming them (OGC API - Features, /req/core/query-param-unknown)


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


# id(route) → (route, names); the route is kept so its id is never reused (routes are
# dataclasses, not hashable).
_DECLARED: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def _declared(route: APIRoute) -> frozenset[str]:
    found = _DECLARED.get(id(route))
    if found is None:
        found = _DECLARED[id(route)] = (route, frozenset(_query_names(route.dependant)))
    return found[1]


async def known_query_only(request: Request) -> None:
    """App-wide: a query parameter the route does not declare is refused, so a client asking
    for a filter (`filter`, `sort`, `datetime`, `crs`) never silently gets everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _declared(route))
    if unknown:
        allowed = ", ".join(sorted(_declared(route))) or "none"
        names = ", ".join(f"'{name[:40]}'" for name in unknown[:5])
        msg = f"unknown query parameter {names} (this endpoint takes: {allowed})"
        raise GeoOutreachError(msg)
