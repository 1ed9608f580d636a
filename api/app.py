"""Application factory. The engine is made in the lifespan: nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.deps import EngineDep
from geo_outreach import __version__, db
from geo_outreach.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db.resolve(settings)
        app.state.engine = db.make_engine(database.app_url, statement_timeout_ms=15_000)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(title="geo-outreach", version=__version__, lifespan=lifespan)
    errors.install(app)

    @app.get("/health")
    def health(engine: EngineDep) -> dict[str, object]:
        return {"status": "ok", "version": __version__, "database": db.versions(engine)}

    return app
