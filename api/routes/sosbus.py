"""The SOS bus in the office console: duty log and timetable.

Duties and stop times are not about identifiable people: like the other non-personal layers
they are not audited (geo_outreach.core.policy.AUDITED)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import Ctx, guard
from layers import sos_bus

router = APIRouter(tags=["sosbus"])

Year = Annotated[int, Query(ge=2000, le=2100)]


@router.post("/sos-bus/duties", status_code=201)
def add_sos_bus_duty(
    duty: sos_bus.SosBusDutyIn, ctx: Annotated[Ctx, guard("sos_bus", "create")]
) -> dict[str, Any]:
    """Log one evening of the bus (409 when that route's evening is logged already)."""
    with ctx.tx() as tx:
        return sos_bus.add_duty(tx.session, duty, actor=ctx.actor)


@router.get("/sos-bus/duties")
def list_sos_bus_duties(
    ctx: Annotated[Ctx, guard("sos_bus", "read")], year: Year | None = None
) -> list[dict[str, Any]]:
    """The duty log of a year (default: this year), newest evening first."""
    with ctx.tx() as tx:
        return sos_bus.duties(tx.session, year=year or date.today().year)


@router.get("/sos-bus/stops")
def list_sos_bus_stops(ctx: Annotated[Ctx, guard("sos_bus", "read")]) -> list[dict[str, Any]]:
    """The timetable: every stop with its times, its own season and the route's."""
    with ctx.tx() as tx:
        return sos_bus.timetable(tx.session)


@router.patch("/sos-bus/stops/{stop_id}")
def patch_sos_bus_stop(
    stop_id: uuid.UUID,
    change: sos_bus.SosBusStopPatch,
    ctx: Annotated[Ctx, guard("sos_bus", "update")],
) -> dict[str, Any]:
    """Change a stop's times or season (MM-DD; null for both: the route's season)."""
    with ctx.tx() as tx:
        return sos_bus.change_stop(tx.session, stop_id, change)
