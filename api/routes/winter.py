"""Cold nights for the office console (issue 14): what the winter check decided, tonight's list
and proposal (counts and patrol ids), and the caller's own notice; and the daily check that
`serve` runs at `winter_check_hour` when a forecast source is configured."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx, guard
from geo_outreach.core.settings import Settings
from geo_outreach.winter import night

router = APIRouter(tags=["winter"])
log = logging.getLogger("geo_outreach.winter")


@router.get("/winter/nights")
def winter_nights(
    ctx: Annotated[Ctx, guard("winter", "read")],
    limit: Annotated[int, Query(ge=1, le=366)] = 30,
) -> list[dict[str, Any]]:
    """The recent cold nights, newest first, with the coordinator's notice (and e-mail state)."""
    with ctx.tx() as tx:
        found = night.nights_for(tx.session, user_id=ctx.principal.user_id, limit=limit)
        tx.detail = {"nights": len(found)}
    return found


def job_wanted(settings: Settings) -> bool:
    return bool(settings.forecast_url) and settings.winter_check_hour >= 0


async def winter_job(app: FastAPI) -> None:
    """Each day at winter_check_hour (local time): the same check as `geo-outreach winter
    check`, in a worker thread; a failure is logged and tried again the next day."""
    settings: Settings = app.state.settings
    zone = ZoneInfo(settings.timezone)
    while True:
        now = datetime.now(zone)
        due = night.next_run(now, settings.winter_check_hour)
        await asyncio.sleep((due - now).total_seconds())
        try:
            outcome = await run_in_threadpool(night.scheduled_check, app.state.engine, settings)
            log.info("winter check: %s", " | ".join(outcome.lines()))
        except Exception:  # the forecast or the database may be away; the next day tries again
            log.exception("the winter check failed")
