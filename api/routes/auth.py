"""Login (named accounts only), logout and who-am-I."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientDep, Ctx, EngineDep, SettingsDep, bearer, guard, open_route
from geo_outreach.accounts import users as auth
from geo_outreach.core import db

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_at: datetime
    role: str


class MeOut(BaseModel):
    name: str
    role: str
    agency: str | None


@router.post("/token", dependencies=[open_route()], responses={401: {}, 429: {}})
def login(body: LoginIn, client: ClientDep, engine: EngineDep, settings: SettingsDep) -> TokenOut:
    """Exchange an account name and password for a bearer token (expires; failures are limited
    per account and client address)."""
    issued = auth.login(
        engine, name=body.name, password=body.password, client=client, settings=settings
    )
    return TokenOut(
        access_token=issued.token, expires_at=issued.expires_at, role=issued.principal.role
    )


@router.get("/me")
def me(ctx: Annotated[Ctx, guard("account", "read")]) -> MeOut:
    """The account behind the token."""
    p = ctx.principal
    return MeOut(name=p.name, role=p.role, agency=p.agency)


@router.post("/logout", status_code=204)
def logout(
    ctx: Annotated[Ctx, guard("account", "read")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Revoke the token this request carries."""
    if credentials is not None:
        with db.session_scope(ctx.engine) as session:
            auth.revoke(session, token=credentials.credentials, secret=ctx.settings.secret_key)
    return Response(status_code=204)
