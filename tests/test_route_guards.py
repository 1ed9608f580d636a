"""Deny by default: the app refuses to start with a route that has no policy guard, wherever
the route sits (FastAPI keeps included routers as lazy entries of `app.routes`)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from api.app import api_routes, check_guards, create_app


def test_every_route_of_the_app_is_seen_and_guarded() -> None:
    app = create_app()
    paths = {path for path, _ in api_routes(app.routes)}
    # Routes of included routers are found, not only the app's own.
    assert {"/sites", "/visits", "/maps/public.html", "/ogc/collections"} <= paths
    check_guards(app)


def test_an_unguarded_route_in_an_included_router_is_refused() -> None:
    inner = APIRouter()

    @inner.get("/leak")
    def leak() -> dict[str, str]:
        return {"where": "everyone"}

    outer = APIRouter()
    outer.include_router(inner, prefix="/nested")
    app = FastAPI()
    app.include_router(outer, prefix="/api")
    with pytest.raises(RuntimeError, match=r"/api/nested/leak has no policy guard"):
        check_guards(app)
