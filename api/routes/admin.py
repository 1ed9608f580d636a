"""Administration: who accessed a given site (from the append-only audit log); redaction of one
visit's note or one site's free text (issue 16)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from api.deps import Ctx, guard
from api.geojson import check_limit
from api.routes.sites import Limit, Offset
from geo_outreach.ops import retention

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
        rows = tx.session.execute(
            text(
                "SELECT at, actor, role, action, layer, outcome, detail->>'endpoint' "
                "FROM audit_log WHERE object_ids @> ARRAY[CAST(:site AS uuid)] "
                "ORDER BY at DESC, id DESC LIMIT :limit OFFSET :offset"
            ),
            {"site": site_id, "limit": limit, "offset": offset},
        ).all()
        tx.detail = {"returned": len(rows)}
    return AccessLog(
        site_id=site_id,
        entries=[
            AccessEntry(
                at=r[0], actor=r[1], role=r[2], action=r[3], layer=r[4], outcome=r[5], endpoint=r[6]
            )
            for r in rows
        ],
    )


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
