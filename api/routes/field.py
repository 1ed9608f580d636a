"""The field app's sync API: visits under the phone's UUID (stored once), site changes made
offline (applied, or kept for a coordinator), their review, and the lost-phone button."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx, guard
from api.routes.visits import RECORD_SCHEMA, TABLE
from geo_outreach.accounts import sessions
from geo_outreach.core import db
from geo_outreach.core.errors import invalid
from layers import audit, features, fieldsync
from layers.fieldsync import SiteChangeIn
from layers.site_changes import SiteChange
from layers.visits import VisitIn

router = APIRouter(tags=["field app"])
AccountName = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]+$")]


class SiteChangeOut(BaseModel):
    id: uuid.UUID
    site_id: uuid.UUID
    base_version: int
    properties: dict[str, Any]
    state: str
    created_at: datetime
    created_by: str
    decided_at: datetime | None
    decided_by: str | None
    result_version: int | None


class DecisionNote(BaseModel):
    """Why a coordinator accepted a change (optional; kept in the audit record)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(default=None, max_length=500)


class RejectNote(BaseModel):
    """Why a coordinator turned a change down: required (the proposer is owed a reason)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(max_length=500)


class RevokedOut(BaseModel):
    name: str
    ended: int


def _change_out(row: SiteChange) -> SiteChangeOut:
    return SiteChangeOut.model_validate(row, from_attributes=True)


@router.put(
    "/visits/{visit_id}",
    status_code=201,
    responses={201: {"content": {"application/json": {"schema": RECORD_SCHEMA}}}},
)
def put_visit(
    visit_id: uuid.UUID, visit: VisitIn, ctx: Annotated[Ctx, guard("visits", "create")]
) -> Response:
    """Store a visit under the UUID the phone made; sent again, it is not stored twice (200)."""
    with ctx.tx(ids=[visit_id]) as tx:
        created = fieldsync.store_visit_once(tx.session, visit_id, visit, actor=ctx.actor)
        tx.outcome = "ok" if created else "replayed"
        found = features.one(tx.session, TABLE, visit_id, fields=ctx.fields(), features=False)
        assert found is not None
    if created:
        return Response(found[0], status_code=201, media_type="application/json")
    headers = {"Idempotent-Replayed": "true"}
    return Response(found[0], status_code=200, media_type="application/json", headers=headers)


@router.put("/sites/{site_id}/changes/{change_id}", status_code=201)
def put_site_change(
    site_id: uuid.UUID,
    change_id: uuid.UUID,
    change: SiteChangeIn,
    ctx: Annotated[Ctx, guard("sleeping_sites", "update")],
) -> SiteChangeOut:
    """A change made offline: applied when the site is still at `base_version`, else kept as a
    proposed change (state 'pending') for a coordinator. Sent again, it is stored once."""
    with ctx.tx(ids=[site_id]) as tx:
        tx.action = "update"
        row, replay = fieldsync.submit(
            tx.session,
            change_id,
            site_id=site_id,
            change=change,
            actor=ctx.actor,
            service_area=ctx.settings.service_area,
        )
        tx.outcome = "replayed" if replay else row.state
        tx.detail = {"change": str(change_id)}
        return _change_out(row)


@router.get("/site-changes")
def list_site_changes(ctx: Annotated[Ctx, guard("site_changes", "read")]) -> list[SiteChangeOut]:
    """Changes waiting for review: all of them for a coordinator, one's own for others."""
    mine = None if ctx.principal.role == "coordinator" else ctx.actor
    with ctx.tx() as tx:
        rows = fieldsync.waiting(tx.session, created_by=mine)
        tx.ids = [r.site_id for r in rows]
        return [_change_out(r) for r in rows]


def _decide(ctx: Ctx, change_id: uuid.UUID, *, accept: bool, reason: str | None) -> SiteChangeOut:
    with ctx.tx() as tx:
        tx.action = "update"
        row = fieldsync.decide(
            tx.session,
            change_id,
            accept=accept,
            actor=ctx.actor,
            service_area=ctx.settings.service_area,
        )
        tx.ids = [row.site_id]
        tx.detail = {"change": str(change_id), "decision": row.state}
        if reason:
            tx.detail["reason"] = reason
        return _change_out(row)


@router.post("/site-changes/{change_id}/accept")
def accept_site_change(
    change_id: uuid.UUID,
    ctx: Annotated[Ctx, guard("site_changes", "update")],
    note: DecisionNote | None = None,
) -> SiteChangeOut:
    """Apply a waiting change onto the site as it is now (coordinators); `reason` is audited."""
    reason = note.reason.strip() if note is not None and note.reason else None
    return _decide(ctx, change_id, accept=True, reason=reason)


@router.post("/site-changes/{change_id}/reject")
def reject_site_change(
    change_id: uuid.UUID,
    ctx: Annotated[Ctx, guard("site_changes", "update")],
    note: RejectNote | None = None,
) -> SiteChangeOut:
    """Turn a waiting change down; it stays on record (coordinators). `reason` is required and
    audited; without one (no body, or only blanks) nothing is decided (422 on `reason`)."""
    reason = note.reason.strip() if note is not None else ""
    if not reason:
        msg = "required: say why the change is rejected"
        raise invalid("reason", msg)
    return _decide(ctx, change_id, accept=False, reason=reason)


@router.post("/admin/users/{name}/revoke")
def revoke_user(name: AccountName, ctx: Annotated[Ctx, guard("accounts", "update")]) -> RevokedOut:
    """The lost-phone button: end every browser session and bearer token of the account."""
    with db.session_scope(ctx.engine) as session:
        ended = sessions.revoke_user(session, name=name)
        audit.record(
            session, actor=ctx.principal.name, role=ctx.principal.role, action="revoke",
            layer="accounts", detail={"account": name, "ended": ended},
        )  # fmt: skip
    return RevokedOut(name=name, ended=ended)
