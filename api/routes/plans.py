"""POST /plans: tonight's routes for a mode, as GeoJSON with one GPX file per team."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx, guard
from geo_outreach.routing import exports as plan_export
from geo_outreach.routing import planner
from layers.rules import PlannedOn

router = APIRouter(tags=["plans"])


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["streetwork", "joint", "akcja-zima", "inspection"]
    day: PlannedOn
    start: time = Field(description="shift start, local time (Europe/Warsaw)")
    end: time = Field(description="shift end; earlier than start means the next morning")
    teams: int = Field(default=1, ge=planner.TEAMS[0], le=planner.TEAMS[1])
    temperature: float | None = Field(default=None, ge=-60, le=50, description="°C")
    district: str | None = Field(default=None, max_length=200)
    # The API keeps solver time short; longer runs belong to the CLI.
    seconds: float = Field(default=2.0, ge=0.1, le=30)
    seed: int = Field(default=1, ge=0, le=2**31 - 1)


class PlanOut(BaseModel):
    plan: dict[str, Any] = Field(description="GeoJSON FeatureCollection of routes and stops")
    gpx: dict[str, str] = Field(description="one GPX document per team, by team name")
    extra_teams_needed: int
    attribution: str


@router.post("/plans")
def create_plan(body: PlanIn, ctx: Annotated[Ctx, guard("plans", "create")]) -> PlanOut:
    """Plan the routes (the sites read for it are recorded in the audit log by the planner).

    A field the planner cannot use (e.g. akcja-zima without a temperature at or below −10 °C)
    is answered 422, naming the field."""
    settings = ctx.settings
    req = planner.PlanRequest(**body.model_dump())  # the same field names as the planner's
    with ctx.tx() as tx:
        plan = planner.make_plan(
            tx.session,
            req,
            pbf=settings.pbf,
            cache_dir=settings.cache_dir,
            actor=ctx.actor,
            role=ctx.principal.role,
        )
    return PlanOut(
        plan=plan_export.plan_geojson(plan),
        gpx={route.name: plan_export.team_gpx(plan, route) for route in plan.routes},
        extra_teams_needed=plan.extra_teams_needed,
        attribution=plan.attribution,
    )
