"""Writing a layer's GeoJSON Features (sites, facilities): create with Idempotency-Key, replace or
patch with If-Match, answer with the stored Feature and its version as ETag."""

from __future__ import annotations

import uuid

from fastapi.responses import Response

from api.collections import Collection
from api.deps import Ctx
from api.geojson import GEOJSON, geojson, if_match
from api.idempotency import Created, create_once, fingerprint
from layers import features, writes

Feature = writes.SiteFeatureIn | writes.FacilityFeatureIn
Patch = writes.SitePatchIn | writes.FacilityPatchIn


def create_response(
    ctx: Ctx,
    coll: Collection,
    kind: writes.Editable,
    feature: Feature,
    *,
    path: str,
    key: str | None,
) -> Response:
    request_hash = fingerprint("POST", path, feature.model_dump_json())
    with ctx.tx() as tx:

        def make() -> Created:
            new_id = writes.create_feature(
                tx.session, kind, feature, actor=ctx.actor, service_area=ctx.settings.service_area
            )
            found = features.one(tx.session, coll.table, new_id, fields=coll.fields(ctx))
            assert found is not None
            return Created(new_id, found[0], f"{path}/{new_id}", found[1])

        return create_once(
            ctx, tx, key=key, request_hash=request_hash, media_type=GEOJSON, create=make
        )


def update_response(
    ctx: Ctx,
    coll: Collection,
    kind: writes.Editable,
    object_id: uuid.UUID,
    change: Feature | Patch,
    tag: str | None,
    *,
    partial: bool,
) -> Response:
    if isinstance(change, writes.SitePatchIn | writes.FacilityPatchIn):
        props = change.properties.model_dump(exclude_unset=True) if change.properties else {}
    else:
        props = change.properties.model_dump()
    with ctx.tx(ids=[object_id]) as tx:
        writes.update_feature(
            tx.session,
            kind,
            object_id,
            expected=if_match(tag),
            geometry=change.geometry,
            properties=props,
            partial=partial,
            actor=ctx.actor,
            service_area=ctx.settings.service_area,
        )
        found = features.one(tx.session, coll.table, object_id, fields=coll.fields(ctx))
        assert found is not None
    return geojson(found[0], etag=found[1])
