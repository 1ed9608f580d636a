"""Application factory. The engine is made in the lifespan: nothing connects at import."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from api import errors
from api.deps import EngineDep, guard_of, open_route
from api.routes import (
    admin,
    auth,
    exports,
    facilities,
    layers,
    maps,
    ogc,
    plans,
    sites,
    visits,
)
from geo_outreach import __version__
from geo_outreach.core import db
from geo_outreach.core.settings import Settings, get_settings

log = logging.getLogger("geo_outreach.api")


def _docs_assets() -> Path:
    # Swagger UI and ReDoc ship inside the fastapi-offline wheel: no CDN at run time.
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def check_guards(app: FastAPI) -> None:
    """Deny by default: every route must carry a policy guard (or be marked open)."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = [d.call for d in route.dependant.dependencies]
        for dep in route.dependant.dependencies:
            calls.extend(d.call for d in dep.dependencies)
        if not any(guard_of(c) for c in calls):
            msg = f"route {sorted(route.methods or [])} {route.path} has no policy guard"
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
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="geo-outreach",
        version=__version__,
        summary="Streetwork, joint patrols, Akcja Zima and the SOS bus: records, plans, maps.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=settings.api_body_max_bytes)

    @app.middleware("http")
    async def _log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Method, route template and status only: never query strings (bbox) or bodies.
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        log.info(
            "%s %s %s %.1f ms",
            request.method,
            getattr(route, "path", "-"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    for module in (auth, sites, visits, facilities, layers, plans, exports, admin, ogc, maps):
        app.include_router(module.router)

    @app.get("/health", tags=["service"], dependencies=[open_route()])
    def health(engine: EngineDep) -> dict[str, object]:
        return {"status": "ok", "version": __version__, "database": db.versions(engine)}

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

    check_guards(app)
    return app
