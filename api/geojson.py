"""GeoJSON (RFC 7946) responses, query limits, bbox parsing and ETag / If-Match handling."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import URL

from api.errors import PreconditionRequired
from geo_outreach.core.errors import RowProblem, ValidationFailed
from geo_outreach.core.settings import Settings
from geo_outreach.io.exports import ATTRIBUTION
from layers.features import Page

GEOJSON = "application/geo+json"
# OpenAPI description of our GeoJSON answers (the body is built by PostGIS, not by pydantic).
FEATURE_COLLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"type": "object"}},
        "numberMatched": {"type": "integer"},
        "numberReturned": {"type": "integer"},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}
FEATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {"type": {"type": "string", "enum": ["Feature"]}},
}


def geojson_responses(schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {GEOJSON: {"schema": schema}}, "description": "GeoJSON"}}


def refuse(field: str, fault: str) -> ValidationFailed:
    return ValidationFailed([RowProblem(1, field, fault)], source="request")


def parse_bbox(
    value: str | None, *, settings: Settings, field: str = "bbox"
) -> tuple[float, float, float, float] | None:
    """'minLon,minLat,maxLon,maxLat' in WGS 84, checked against the service area and size cap."""
    if value is None or value == "":
        return None
    parts = value.split(",")
    if len(parts) != 4:
        raise refuse(field, "needs four numbers: minLon,minLat,maxLon,maxLat")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise refuse(field, "needs four numbers: minLon,minLat,maxLon,maxLat") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise refuse(field, "a number is NaN or infinite")
    if x0 >= x1 or y0 >= y1:
        raise refuse(field, "min must be below max (minLon,minLat,maxLon,maxLat)")
    if not (x0 >= -180 and x1 <= 180 and y0 >= -90 and y1 <= 90):
        raise refuse(field, "not longitude/latitude in WGS 84")
    area = settings.service_area
    if not _boxes_meet(area, (x0, y0, x1, y1)):
        if _boxes_meet(area, (y0, x0, y1, x1)):
            raise refuse(field, "latitude and longitude appear swapped (lon first)")
        raise refuse(field, "outside the service area")
    if (x1 - x0) * (y1 - y0) > settings.api_bbox_max_deg2:
        raise refuse(field, f"larger than {settings.api_bbox_max_deg2} square degrees")
    return (x0, y0, x1, y1)


def _boxes_meet(a: Sequence[float], b: Sequence[float]) -> bool:
    """Two closed lon/lat boxes share a point (what shapely's box intersects says, on a hot
    path that should not build geometries)."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def check_limit(limit: int, *, settings: Settings) -> int:
    if limit > settings.api_page_max:
        raise refuse("limit", f"at most {settings.api_page_max} per page")
    return limit


def links(
    request: Request,
    *,
    offset: int,
    limit: int,
    returned: int,
    matched: int | None,
    media_type: str = GEOJSON,
) -> list[dict[str, str]]:
    here = public_url(request, request.url.path).replace(query=request.url.query)
    out = [{"rel": "self", "type": media_type, "href": str(here)}]
    if returned == limit and (matched is None or offset + returned < matched):
        nxt = here.include_query_params(offset=offset + limit, limit=limit)
        out.append({"rel": "next", "type": media_type, "href": str(nxt)})
    if offset > 0:
        prev = here.include_query_params(offset=max(0, offset - limit), limit=limit)
        out.append({"rel": "prev", "type": media_type, "href": str(prev)})
    return out


def public_url(request: Request, path: str) -> URL:
    """`path` under the configured public base URL. Never from the Host header: a client that
    follows a link (GDAL, QGIS) sends its bearer token to whatever host the link names."""
    settings: Settings = request.app.state.settings
    return URL(settings.public_url.rstrip("/") + path)


def etag_matches(header: str | None, tag: str) -> bool:
    """If-None-Match (RFC 9110 13.1.2): `*` or a list of (weak or strong) tags, compared weakly."""
    if header is None:
        return False
    wanted = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in wanted or f'"{tag}"' in wanted


def collection(page: Page, *, extra: dict[str, Any] | None = None) -> str:
    """A FeatureCollection around the feature array PostGIS built."""
    head: dict[str, Any] = {
        "type": "FeatureCollection",
        **({"numberMatched": page.matched} if page.matched is not None else {}),
        "numberReturned": len(page.ids),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "attribution": ATTRIBUTION,
        **(extra or {}),
    }
    return json.dumps(head, ensure_ascii=False)[:-1] + ',"features":' + page.features + "}"


def geojson(body: str, *, etag: int | None = None, status: int = 200) -> Response:
    headers = {"ETag": f'"{etag}"'} if etag is not None else {}
    return Response(body, status_code=status, media_type=GEOJSON, headers=headers)


def if_match(value: str | None) -> int:
    """The version the client read, from If-Match: 428 when missing, 422 when not a version."""
    if value is None or not value.strip():
        msg = 'If-Match is required: send the ETag you read (e.g. If-Match: "3")'
        raise PreconditionRequired(msg)
    tag = value.strip()
    if tag.startswith("W/"):
        raise refuse("If-Match", "a weak ETag cannot guard a change; send the strong ETag")
    tag = tag.strip('"')
    # ASCII only: str.isdigit() also says yes to '¹' or '٣', which int() then refuses.
    if not (tag.isascii() and tag.isdigit()) or len(tag) > 9:
        raise refuse("If-Match", f"'{value[:40]}' is not a version ETag like \"3\"")
    return int(tag)
