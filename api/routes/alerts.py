"""Public alerts (issue 14): anyone may send one and read its status by code; coordinators
triage them. Alerts never reach the public layer, partners, the OGC collections or exports.

The public's POST is limited per client address (in memory, before any database work, so a
flood costs the server nothing else) and in size; a honeypot field catches simple bots.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from api.deps import ClientDep, Ctx, guard, open_route
from geo_outreach.core.i18n import Lang
from geo_outreach.winter import alerts, pages
from maps.assets import STATIC

router = APIRouter(tags=["alerts"])
BODY_MAX = 8 * 1024  # the form's fields fit in a few kB; anything larger is not an alert
# The code as printed, or typed in lower case on a phone.
Ref = Annotated[str, Path(pattern=alerts.REF_PATTERN_ANY_CASE, description="e.g. K7QM-2XHD-9PWA")]


class AlertReceived(BaseModel):
    ref: str = Field(description="the reference code: the only way to ask for the status")
    status: str
    status_url: str


class AlertStatus(BaseModel):
    ref: str
    status: str = Field(description=" | ".join(alerts.STATUS_LABELS))
    label: str


def _limits(request: Request, client: ClientDep) -> None:
    """Size first, then the per-address rate: both before the body is read or stored."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > BODY_MAX):
        raise HTTPException(413, f"an alert is at most {BODY_MAX} bytes")
    limiter: alerts.RateLimiter | None = getattr(request.app.state, "alert_limiter", None)
    settings = request.app.state.settings
    if limiter is None or limiter.limit != settings.alert_rate_per_minute:
        limiter = alerts.RateLimiter(limit=settings.alert_rate_per_minute)
        request.app.state.alert_limiter = limiter
    limiter.hit(client)


@router.post(
    "/public/alerts", status_code=201, tags=["public"], dependencies=[Depends(_limits)],
    responses={413: {"description": "too large"}, 429: {"description": "too many alerts"}},
)  # fmt: skip
def send_alert(
    ctx: Annotated[Ctx, guard("public_alerts", "create")], alert: alerts.AlertIn
) -> AlertReceived:
    """Alert the outreach team to someone who may be freezing: where, when, what was seen (never
    a name or a photo). In danger of life call 112 first."""
    with ctx.tx() as tx:
        got = alerts.receive(tx.session, alert, settings=ctx.settings)
    return AlertReceived(ref=got.ref, status="received", status_url=f"/public/alerts/{got.ref}")


@router.get(
    "/public/alerts/{ref}", tags=["public"],
    responses={200: {"content": {"text/html": {}}, "description": "JSON, or HTML for a browser"}},
)  # fmt: skip
def alert_status(
    ctx: Annotated[Ctx, guard("public_alert_status", "read")],
    ref: Ref,
    lang: Annotated[Lang | None, Query(description="the page's language")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The status of one alert by its code, and nothing else (a page for a browser)."""
    with ctx.tx() as tx:
        status, own = alerts.status_of(tx.session, ref)
    shown: Lang = lang or own
    if accept and "text/html" in accept:
        headers = {"Content-Security-Policy": pages.STATUS_CSP, "Cache-Control": "no-store",
                   "Vary": "Accept"}  # fmt: skip
        return HTMLResponse(pages.status_page(ref.upper(), status, lang=shown), headers=headers)
    body = AlertStatus(ref=ref.upper(), status=status, label=pages.status_label(status, shown))
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store", "Vary": "Accept"})


@router.get("/public/alert-form.css", include_in_schema=False, dependencies=[open_route()])
def alert_css() -> Response:
    text = (STATIC / "alert-form.css").read_text(encoding="utf-8")
    return Response(text, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/alerts")
def alert_queue(
    ctx: Annotated[Ctx, guard("alerts", "read")],
    closed: Annotated[bool, Query(description="also closed alerts")] = False,
) -> list[dict[str, Any]]:
    """The review queue: alerts with the known sites near them and tonight's nearest route."""
    with ctx.tx() as tx:
        views = alerts.queue(
            tx.session, ctx.settings, actor=ctx.actor, role=ctx.principal.role, open_only=not closed
        )
        tx.ids, tx.detail = [uuid.UUID(v["id"]) for v in views], {"alerts": len(views)}
    return views


@router.get("/alerts/{alert_id}")
def alert_one(ctx: Annotated[Ctx, guard("alerts", "read")], alert_id: uuid.UUID) -> dict[str, Any]:
    """One alert with its matches."""
    with ctx.tx(ids=[alert_id]) as tx:
        return alerts.one(
            tx.session, alert_id, ctx.settings, actor=ctx.actor, role=ctx.principal.role
        )


@router.post("/alerts/{alert_id}/decision")
def alert_decision(
    ctx: Annotated[Ctx, guard("alerts", "update")], alert_id: uuid.UUID, decision: alerts.DecisionIn
) -> dict[str, Any]:
    """Make the alert a new site, a visit request on a route, or close it with an outcome."""
    with ctx.tx(ids=[alert_id]) as tx:
        tx.detail = {"decision": decision.action}
        done = alerts.decide(
            tx.session, alert_id, decision, settings=ctx.settings, actor=ctx.actor,
            role=ctx.principal.role,
        )  # fmt: skip
        tx.detail["status"] = done["status"]
    return done
