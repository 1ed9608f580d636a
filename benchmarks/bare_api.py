"""The limit the stack allows: a bare FastAPI + asyncpg endpoint serving the same bbox GeoJSON as
`GET /sites`, built in one SQL statement, with no authentication, policy or audit.

benchmarks/api.py serves it beside geo-outreach and tipg (uvicorn, the same worker count) and
prints geo-outreach's throughput as a share of this one. Only `DATABASE_URL` is read.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import FastAPI, Query
from fastapi.responses import Response

# The same properties a coordinator's GET /sites answers, in the same order.
FIELDS = (
    "code",
    "name",
    "category",
    "status",
    "estimated_people",
    "hazards",
    "access_notes",
    "district",
    "last_visit_at",
    "version",
    "is_demo",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)
PROPS = ", ".join(f"'{f}', t.{f}" for f in FIELDS)
SQL = f"""
    WITH sel AS (
        SELECT * FROM sleeping_sites t
        WHERE t.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
          AND ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))
        ORDER BY t.code, t.id LIMIT $5
    )
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'numberMatched', (SELECT count(*) FROM sleeping_sites t
                          WHERE t.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
                            AND ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))),
        'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', t.id, 'geometry', ST_AsGeoJSON(t.geom, 7)::json,
            'properties', json_build_object({PROPS})) ORDER BY t.code, t.id), '[]'::json)
    )::text
    FROM sel t
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=2, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/sites")
async def sites(
    bbox: Annotated[str, Query()], limit: Annotated[int, Query(le=1000)] = 100
) -> Response:
    x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
    body = await app.state.pool.fetchval(SQL, x0, y0, x1, y1, limit)
    return Response(body, media_type="application/geo+json")
