"""Answers for the field app's outbox: a PUT under a UUID the phone made is stored once; sending
it again gets the stored record back (200, Idempotent-Replayed) and writes nothing."""

from __future__ import annotations

import uuid

from fastapi.responses import Response

from api.collections import COLLECTIONS
from api.deps import Ctx
from api.geojson import geojson
from geo_outreach.core import policy
from layers import features, fieldsync, writes

SITES = COLLECTIONS["sleeping_sites"]
REPLAYED = {"Idempotent-Replayed": "true"}


def put_new_site(ctx: Ctx, site_id: uuid.UUID, feature: writes.SiteFeatureIn) -> Response:
    """PUT /sites/{id} with If-None-Match: * — add the site the phone made, once."""
    policy.require(ctx.principal, "sleeping_sites", "create")
    with ctx.tx(ids=[site_id]) as tx:
        tx.action = "create"
        created = fieldsync.store_site_once(
            tx.session,
            site_id,
            feature,
            actor=ctx.actor,
            service_area=ctx.settings.service_area,
        )
        tx.outcome = "ok" if created else "replayed"
        found = features.one(tx.session, SITES.table, site_id, fields=SITES.fields(ctx))
        assert found is not None
    response = geojson(found[0], etag=found[1])
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/sites/{site_id}"
    else:
        response.headers.update(REPLAYED)
    return response
