"""Domain errors → HTTP status codes, in one table."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from geo_outreach.errors import (
    Conflict,
    DatabaseUnavailable,
    GeoOutreachError,
    NotFound,
    StaleVersion,
    ValidationFailed,
)

STATUS: dict[type[GeoOutreachError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    StaleVersion: 412,
    Conflict: 409,
    DatabaseUnavailable: 503,
    GeoOutreachError: 400,
}


def _status(exc: GeoOutreachError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(GeoOutreachError)
    async def _handle(request: Request, exc: GeoOutreachError) -> JSONResponse:
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, ValidationFailed):
            body["problems"] = [
                {"row": p.row, "field": p.field, "fault": p.fault} for p in exc.problems
            ]
        return JSONResponse(body, status_code=_status(exc))
