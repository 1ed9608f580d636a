"""Application factory. The engine is made in the lifespan: nothing connects at import."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from api.authcache import ForgetAfterAccountChanges, TokenCache
from api.deps import (
    EngineDep,
    MaybePrincipalDep,
    RefusalCounter,
    guard_of,
    known_query_only,
    open_route,
    sample_primary,
)
from api.routes import (
    admin,
    alerts,
    auth,
    exports,
    facilities,
    field,
    imports,
    layers,
    maps,
    ogc,
    patrols,
    plans,
    reports,
    sites,
    sosbus,
    visits,
    winter,
)
from api.routes import app as field_app
from geo_outreach import __version__
from geo_outreach.core import adb, db
from geo_outreach.core.policy import Principal
from geo_outreach.core.settings import Settings, get_settings
from geo_outreach.mapping.render import PublicPages

log = logging.getLogger("geo_outreach.api")
access_log = logging.getLogger("geo_outreach.access")

# Responses about people (or for a signed-in caller) must not stay in any cache or history.
PERSONAL = (
    "/sites",
    "/visits",
    "/patrols",
    "/exports",
    "/plans",
    "/admin",
    "/auth",
    "/maps/live",
    "/maps/planner",
    "/ogc/collections/sleeping_sites",
    "/ogc/collections/patrols",
    "/site-changes",
    "/alerts",
    "/winter",
    "/imports",
    "/app/session",
    "/app/data.json",
)
# Nothing from another origin, ever. 'unsafe-inline' for scripts: folium writes each map as
# inline <script> blocks whose variable names are random per render (map_3f…), and Swagger UI
# starts from an inline script, so no fixed hash list fits; the defence against injected markup
# is the one escaping helper for map text, and this policy still keeps anything that got in from
# loading or sending to another host. Styles: folium and Leaflet set inline style attributes.
# data: images are Leaflet's and Swagger UI's embedded icons; blob: workers are ReDoc's.
HTML_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
REFUSAL_FLUSH_SECONDS = 15
READY_DOWN = ({"status": "unavailable"}, 503)


class SecurityHeaders:
    """Plain ASGI (no per-request task): the headers every answer carries, and no-store on
    personal data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A bearer token or the field app's session cookie: whatever comes back is for one person.
        signed_in = any(
            name == b"authorization" or (name == b"cookie" and b"go_session=" in value)
            for name, value in scope["headers"]
        )
        personal = signed_in or str(scope["path"]).startswith(PERSONAL)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                # A route that set a stricter policy of its own (the field app) keeps it; one
                # framed by our own pages (X-Frame-Options SAMEORIGIN: a plan's map in the
                # console) keeps that, and its policy lets only this origin frame it.
                framed = headers.get("x-frame-options") == "SAMEORIGIN"
                if "content-security-policy" not in headers:
                    policy = HTML_CSP if html else OTHER_CSP
                    if framed:
                        policy = policy.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
                    headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                if not framed:
                    headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if personal:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestLog:
    """Method, route template, status and time: never query strings (bbox) or bodies. Plain
    ASGI: a BaseHTTPMiddleware would cost every request an extra task and body copy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # One JSON object per line (issue 16): the route's template, never its values.
            access_log.info(
                json.dumps(
                    {
                        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "method": scope["method"],
                        "route": getattr(scope.get("route"), "path", "-"),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                )
            )


async def _flush_refusals(counter: RefusalCounter, app: FastAPI) -> None:
    """Writes each finished minute's refusal counts, also when no new refusal arrives."""
    while True:
        await asyncio.sleep(REFUSAL_FLUSH_SECONDS)
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        try:
            await run_in_threadpool(counter.flush, app.state.engine, before=minute)
        except Exception:  # the database may be away for a while; try again next round
            log.exception("could not write the refusal counts")


def _docs_assets() -> Path:
    # Swagger UI and ReDoc ship inside the fastapi-offline wheel: no CDN at run time.
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, also inside included routers: newer FastAPI keeps an
    included router as one lazy entry of `app.routes`, so a flat scan would see none of them."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(inner.routes, prefix + getattr(context, "prefix", ""))


def check_guards(app: FastAPI) -> None:
    """Deny by default: every route must carry a policy guard (or be marked open)."""
    for path, route in api_routes(app.routes):
        calls = [d.call for d in route.dependant.dependencies]
        for dep in route.dependant.dependencies:
            calls.extend(d.call for d in dep.dependencies)
        if not any(guard_of(c) for c in calls):
            msg = f"route {sorted(route.methods or [])} {path} has no policy guard"
            raise RuntimeError(msg)


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db.resolve(settings)
        app.state.engine = db.make_engine(
            database.app_url,
            statement_timeout_ms=settings.api_statement_timeout_ms,
            pool_size=10,
            max_overflow=20,
        )
        # Issue 16: read-only routes read here (api.deps.ReadCtx); None: on the one database.
        app.state.read_engine = (
            db.make_engine(
                database.read_url,
                statement_timeout_ms=settings.api_statement_timeout_ms,
                application_name=db.READ_APPLICATION,
                pool_size=10,
                max_overflow=20,
            )
            if database.read_url is not None
            else None
        )
        # Issue 15: the hottest reads go through asyncpg, one statement each (api/fastread.py);
        # checked bearer tokens are remembered while the database can tell of revocations.
        app.state.apool = await adb.make_pool(
            database.app_url, statement_timeout_ms=settings.api_statement_timeout_ms
        )
        listener = asyncio.create_task(app.state.tokens.listen(database.app_url))
        sampler = (
            asyncio.create_task(sample_primary(app)) if app.state.read_engine is not None else None
        )
        flusher = asyncio.create_task(_flush_refusals(app.state.refusals, app))
        # The daily winter check (issue 14), when a forecast source is configured.
        wanted = winter.job_wanted(settings)
        checker = asyncio.create_task(winter.winter_job(app)) if wanted else None
        app.state.winter_job = checker
        try:
            yield
        finally:
            if checker is not None:
                checker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checker
            for task in (flusher, listener, *([sampler] if sampler else [])):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.apool.close()
            try:
                app.state.refusals.flush(app.state.engine)
            finally:
                app.state.engine.dispose()
                if app.state.read_engine is not None:
                    app.state.read_engine.dispose()

    app = FastAPI(
        title="geo-outreach",
        version=__version__,
        summary="Streetwork, joint patrols, Akcja Zima and the SOS bus: records, plans, maps.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        # Every route refuses a query parameter it does not declare (400 naming it).
        dependencies=[Depends(known_query_only)],
    )
    # A trailing-slash redirect would be built from the Host header (issue 10): 404 instead.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.refusals = RefusalCounter()
    app.state.tokens = TokenCache()
    app.state.public_pages = PublicPages()
    errors.install(app)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=settings.api_body_max_bytes)

    app.add_middleware(RequestLog)
    app.add_middleware(ForgetAfterAccountChanges, tokens=app.state.tokens)

    for module in (
        auth,
        field,
        sites,
        visits,
        facilities,
        layers,
        plans,
        exports,
        imports,
        admin,
        ogc,
        maps,
        field_app,
        alerts,
        winter,
        patrols,
        sosbus,
        reports,
    ):
        app.include_router(module.router)

    @app.get("/health", tags=["service"], dependencies=[open_route()])
    def health(engine: EngineDep, caller: MaybePrincipalDep) -> dict[str, object]:
        """ "ok" for everyone; versions only for an administrator (they help an attacker)."""
        versions = db.versions(engine)  # asked anyway: it proves the database answers
        if isinstance(caller, Principal) and caller.role == "admin":
            return {"status": "ok", "version": __version__, "database": versions}
        return {"status": "ok"}

    @app.get("/health/live", tags=["service"], dependencies=[open_route()])
    def health_live() -> dict[str, str]:
        """Liveness (issue 16): the process answers. Nothing else, to anyone."""
        return {"status": "ok"}

    @app.get(
        "/health/ready",
        tags=["service"],
        dependencies=[open_route()],
        responses={503: {"description": "the database does not answer"}},
    )
    def health_ready(engine: EngineDep) -> JSONResponse:
        """Readiness (issue 16): the database answers. Only ok or 503, to anyone."""
        return JSONResponse(*(({"status": "ok"}, 200) if db.ping(engine) else READY_DOWN))

    app.mount("/static/docs", StaticFiles(directory=_docs_assets()), name="docs-static")

    @app.get("/docs", include_in_schema=False, dependencies=[open_route()])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="geo-outreach API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False, dependencies=[open_route()])
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="geo-outreach API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )

    # Outermost, so error answers carry the headers too.
    app.add_middleware(SecurityHeaders)
    check_guards(app)
    return app
