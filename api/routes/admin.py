"""Administration: who accessed a given site (from the append-only audit log); redaction of one
visit's note or one site's free text (issue 16); accounts and their roles (issue 12)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api.deps import Ctx, Tx, guard
from api.geojson import check_limit
from api.routes.field import AccountName
from api.routes.sites import Limit, Offset
from geo_outreach.accounts import users
from geo_outreach.core.errors import NotFound, invalid
from geo_outreach.ops import retention
from layers.accounts import User

router = APIRouter(prefix="/admin", tags=["admin"])


class AccessEntry(BaseModel):
    at: datetime
    actor: str
    role: str
    action: str
    layer: str
    outcome: str
    endpoint: str | None


class AccessLog(BaseModel):
    site_id: uuid.UUID
    entries: list[AccessEntry]


def _access_log(tx: Tx, site_id: uuid.UUID, limit: int, offset: int) -> AccessLog:
    rows = tx.session.execute(
        text(
            "SELECT at, actor, role, action, layer, outcome, detail->>'endpoint' "
            "FROM audit_log WHERE object_ids @> ARRAY[CAST(:site AS uuid)] "
            "ORDER BY at DESC, id DESC LIMIT :limit OFFSET :offset"
        ),
        {"site": site_id, "limit": limit, "offset": offset},
    ).all()
    tx.detail = {**tx.detail, "returned": len(rows)}
    return AccessLog(
        site_id=site_id,
        entries=[
            AccessEntry(
                at=r[0], actor=r[1], role=r[2], action=r[3], layer=r[4], outcome=r[5], endpoint=r[6]
            )
            for r in rows
        ],
    )


@router.get("/sites/{site_id}/access")
def site_access(
    site_id: uuid.UUID,
    ctx: Annotated[Ctx, guard("audit", "read")],
    limit: Limit = 100,
    offset: Offset = 0,
) -> AccessLog:
    """Every recorded read, write and refused attempt that touched this site, newest first.
    (This look-up is itself recorded.)"""
    check_limit(limit, settings=ctx.settings)
    with ctx.tx(ids=[site_id]) as tx:
        return _access_log(tx, site_id, limit, offset)


@router.get("/sites/access")
def site_access_by_code(
    code: Annotated[str, Query(min_length=1, max_length=40, description="the site's code")],
    ctx: Annotated[Ctx, guard("audit", "read")],
    limit: Limit = 100,
    offset: Offset = 0,
) -> AccessLog:
    """The same log, the site given by its code (what people read on the map and the sheets).
    The look-up is recorded too, an unknown code as well."""
    check_limit(limit, settings=ctx.settings)
    with ctx.tx() as tx:
        tx.detail = {"code": code}
        found = tx.session.execute(
            text("SELECT id FROM sleeping_sites WHERE code = :code"), {"code": code}
        ).scalar()
        if found is None:
            msg = f"no site with the code '{code}'"
            raise NotFound(msg)
        tx.ids = [found]
        return _access_log(tx, found, limit, offset)


class RedactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(min_length=3, max_length=retention.REASON_MAX)


class Redacted(BaseModel):
    id: uuid.UUID
    redacted: bool  # false: there was no text left to blank


@router.post("/visits/{visit_id}/redact")
def redact_visit(
    visit_id: uuid.UUID, body: RedactIn, ctx: Annotated[Ctx, guard("redaction", "update")]
) -> Redacted:
    """Replace the visit's note by a marker now; the visit and its counts stay (audited)."""
    with ctx.tx() as tx:
        done = retention.redact_visit(
            tx.session, visit_id, reason=body.reason, actor=ctx.actor, role=ctx.principal.role
        )
    return Redacted(id=visit_id, redacted=done)


@router.post("/sites/{site_id}/redact")
def redact_site(
    site_id: uuid.UUID, body: RedactIn, ctx: Annotated[Ctx, guard("redaction", "update")]
) -> Redacted:
    """Replace the site's access notes by a marker now; the site stays (audited)."""
    with ctx.tx() as tx:
        done = retention.redact_site(
            tx.session,
            site_id,
            reason=body.reason,
            actor=ctx.actor,
            role=ctx.principal.role,
            service_area=ctx.settings.service_area,
        )
    return Redacted(id=site_id, redacted=done)


# -- accounts (issue 12): never a password hash out ------------------------------------------


class UserOut(BaseModel):
    name: str
    role: str
    agency: str | None
    email: str | None
    active: bool
    created_at: datetime
    created_by: str


class UserIn(BaseModel):
    """A new account; name, role and password follow the rules of `geo-outreach user add`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(max_length=64, description="3–64 of a-z 0-9 . _ -, starting a-z or 0-9")
    role: str = Field(max_length=40)
    password: str = Field(max_length=1024, description=f"at least {users.MIN_PASSWORD} characters")
    agency: str | None = Field(default=None, max_length=40, description="a partner's agency")
    email: str | None = Field(default=None, max_length=254)


class UserPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: str | None = Field(default=None, max_length=40)
    active: bool | None = Field(default=None, description="false ends its sessions and tokens")
    email: str | None = Field(default=None, max_length=254, description="null removes it")


class UserChanged(UserOut):
    ended: int = Field(description="sessions and tokens ended by this change")


def _user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.get("/users")
def list_accounts(ctx: Annotated[Ctx, guard("accounts", "read")]) -> list[UserOut]:
    """Every account with its role and whether it is active (audited)."""
    with ctx.tx() as tx:
        found = [_user_out(u) for u in users.list_users(tx.session)]
        tx.detail = {"returned": len(found)}
    return found


@router.post("/users", status_code=201, responses={409: {"description": "the name is taken"}})
def create_account(body: UserIn, ctx: Annotated[Ctx, guard("accounts", "create")]) -> UserOut:
    """Add an account (audited; the password is stored only as its argon2 hash)."""
    with ctx.tx() as tx:
        user = users.add_user(
            tx.session, name=body.name, role=body.role, password=body.password,
            actor=ctx.actor, agency=body.agency,
        )  # fmt: skip
        if body.email is not None:
            users.set_email(tx.session, name=body.name, email=body.email)
        tx.ids, tx.detail = [user.id], {"account": user.name, "role": user.role}
        return _user_out(user)


@router.patch("/users/{name}")
def update_account(
    name: AccountName, body: UserPatchIn, ctx: Annotated[Ctx, guard("accounts", "update")]
) -> UserChanged:
    """Change an account's role, switch it off (ending its sessions and tokens) or on, or set
    its e-mail address (audited). Nobody can demote or switch off their own account."""
    sent = body.model_dump(exclude_unset=True)
    with ctx.tx() as tx:
        tx.detail = {"account": name, "changed": sorted(sent)}
        for field in ("role", "active"):  # only e-mail may be removed
            if field in sent and sent[field] is None:
                raise invalid(field, "may not be null")
        user, ended = users.update_user(
            tx.session, name=name, actor_name=ctx.principal.name,
            role=sent.get("role"), active=sent.get("active"),
        )  # fmt: skip
        if "email" in sent:
            users.set_email(tx.session, name=name, email=sent["email"])
        tx.ids, tx.detail = [user.id], {"account": name, "changed": sorted(sent), "ended": ended}
        return UserChanged(**_user_out(user).model_dump(), ended=ended)
