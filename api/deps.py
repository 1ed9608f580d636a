"""Annotated dependencies shared by the routes: engine, settings, the caller, and the guard that
every route must carry (deny by default: create_app refuses a route without one)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.errors import PreconditionRequired
from geo_outreach.accounts import users as auth
from geo_outreach.core import db, policy
from geo_outreach.core.errors import GeoOutreachError, NotFound, StaleVersion, ValidationFailed
from geo_outreach.core.policy import Forbidden, Principal, Unauthorized
from geo_outreach.core.settings import Settings
from layers import audit

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
}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(_engine)]
SettingsDep = Annotated[Settings, Depends(_settings)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from POST /auth/token; without one you are the anonymous public.",
)


def _principal(
    engine: EngineDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        return policy.PUBLIC
    with db.session_scope(engine) as session:
        return auth.authenticate(session, token=credentials.credentials, secret=settings.secret_key)


# Who a refused token is written down as, so the attempt is recorded.
BAD_TOKEN = Principal(role="public", name="invalid-token")


def _principal_or_refusal(
    engine: EngineDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | Unauthorized:
    try:
        return _principal(engine, settings, credentials)
    except Unauthorized as exc:
        return exc


PrincipalDep = Annotated[Principal, Depends(_principal)]


def _outcome(exc: BaseException) -> str:
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

    @contextmanager
    def tx(self, *, ids: list[uuid.UUID] | None = None) -> Iterator[Tx]:
        """A transaction whose audit row (for audited resources) commits with the work; when
        the work fails, the audit row records the failure on its own."""
        layer = AUDIT_LAYER.get(self.resource)
        state: Tx | None = None
        try:
            with db.session_scope(self.engine) as session:
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
                self.audit(outcome=_outcome(exc), ids=known, detail=detail)
            raise


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

    def _guard(
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
            ctx.audit(outcome="denied", ids=_path_ids(request))
            raise found
        try:
            policy.require(principal, resource, action)
        except GeoOutreachError:
            ctx.audit(outcome="denied", ids=_path_ids(request))
            raise
        return ctx

    _guard.guarded = (resource, action)  # type: ignore[attr-defined]
    return Depends(_guard)


def open_route() -> Any:
    """Marks a route that anyone may call (health, docs, login)."""

    def _open() -> None:
        return None

    _open.guarded = ("open", "any")  # type: ignore[attr-defined]
    return Depends(_open)


def guard_of(call: Callable[..., Any] | None) -> tuple[str, str] | None:
    value = getattr(call, "guarded", None)
    return value if isinstance(value, tuple) else None
