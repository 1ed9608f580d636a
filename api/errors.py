"""Domain errors → HTTP status codes, in one table."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from geo_outreach.core.errors import (
    Conflict,
    DatabaseUnavailable,
    GeoOutreachError,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from geo_outreach.core.policy import Forbidden, RateLimited, Unauthorized


class PreconditionRequired(GeoOutreachError):
    """A change was sent without If-Match: the client must say which version it read."""


class ContentNotAcceptable(GeoOutreachError):
    """The asked-for export format does not fit the layer."""


class Busy(GeoOutreachError):
    """The server has no room for this work now (e.g. every core is solving): come back later."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


log = logging.getLogger("geo_outreach.api")

STATUS: dict[type[GeoOutreachError], int] = {
    ValidationFailed: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    StaleVersion: 412,
    Conflict: 409,
    PreconditionRequired: 428,
    ContentNotAcceptable: 422,
    RateLimited: 429,
    DatabaseUnavailable: 503,
    Busy: 503,
    GeoOutreachError: 400,
}


def _status(exc: GeoOutreachError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    # The sent value is not echoed back: it may hold coordinates or notes (or NaN, not JSON).
    return {"loc": list(error.get("loc", ())), "msg": str(error.get("msg")), "type": error["type"]}


def _value_refused(request: Request) -> JSONResponse:
    # e.g. a NUL character in a text: the database refused a value; never echo it.
    log.warning("%s %s: a value was refused by the database", request.method, request.url.path)
    return JSONResponse(
        {"detail": "a value could not be stored (invalid characters or out of range)"},
        status_code=422,
    )


def _db_error(request: Request, kind: type) -> JSONResponse:
    # The type only: a driver's message can hold the SQL or the values.
    log.error("%s %s: database error %s", request.method, request.url.path, kind)
    return JSONResponse({"detail": "the database could not do that"}, status_code=500)


def install(app: FastAPI) -> None:
    @app.exception_handler(GeoOutreachError)
    async def _handle(request: Request, exc: GeoOutreachError) -> JSONResponse:
        body: dict[str, object] = {"detail": str(exc)}
        headers: dict[str, str] = {}
        if isinstance(exc, ValidationFailed):
            body["detail"] = f"{len(exc.problems)} problem(s), nothing was stored"
            body["problems"] = [{"field": p.field, "fault": p.fault} for p in exc.problems]
        if isinstance(exc, StaleVersion):
            body["current_version"] = exc.current
            headers["ETag"] = f'"{exc.current}"'
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited | Busy):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, DatabaseUnavailable):
            headers["Retry-After"] = "5"
        return JSONResponse(body, status_code=_status(exc), headers=headers)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        # A statement timeout or a lost connection: say so without the SQL (it may hold values).
        timeout = "statement timeout" in str(exc.orig) or "canceling statement" in str(exc.orig)
        detail = (
            "the query took too long; narrow it (bbox, limit)"
            if timeout
            else ("the database is not reachable right now")
        )
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError) -> JSONResponse:
        return _value_refused(request)

    @app.exception_handler(DBAPIError)
    async def _db_failed(request: Request, exc: DBAPIError) -> JSONResponse:
        return _db_error(request, type(exc.orig))

    # The asyncpg hot path (geo_outreach.core.adb): the database being away is already
    # DatabaseUnavailable; what is left is the statement's own fault, answered as above.
    @app.exception_handler(asyncpg.PostgresError)
    async def _pg_failed(request: Request, exc: asyncpg.PostgresError) -> JSONResponse:
        if str(exc.sqlstate or "").startswith("22"):  # data exception: a value was refused
            return _value_refused(request)
        return _db_error(request, type(exc))

    @app.exception_handler(asyncpg.InterfaceError)
    async def _pg_client(request: Request, exc: asyncpg.InterfaceError) -> JSONResponse:
        return _db_error(request, type(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_clean(e) for e in exc.errors()]}, status_code=422)
