"""POST with Idempotency-Key: the first answer is stored with the new row, in one transaction,
and any repeat of the same request gets that answer back without writing again."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import Response

from api.deps import Ctx, Tx
from api.geojson import refuse
from layers.accounts import claim_key, finish_key

MAX_KEY = 200


@dataclass(frozen=True)
class Created:
    object_id: uuid.UUID
    body: str
    location: str
    etag: int | None = None


def fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method}\n{path}\n{body}".encode()).hexdigest()


def _response(
    *, status: int, body: str, media_type: str, etag: str | None, location: str | None
) -> Response:
    headers = {}
    if etag:
        headers["ETag"] = etag
    if location:
        headers["Location"] = location
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def create_once(
    ctx: Ctx,
    tx: Tx,
    *,
    key: str | None,
    request_hash: str,
    media_type: str,
    create: Callable[[], Created],
) -> Response:
    user_id = ctx.principal.user_id
    if key is not None and user_id is not None:
        if not 1 <= len(key) <= MAX_KEY:
            raise refuse("Idempotency-Key", f"1 to {MAX_KEY} characters")
        earlier = claim_key(tx.session, user_id=user_id, key=key, request_hash=request_hash)
        if earlier is not None:
            if earlier.request_hash != request_hash:
                raise refuse("Idempotency-Key", "was already used for a different request")
            tx.outcome = "replayed"
            if earlier.location:
                try:
                    tx.ids = [uuid.UUID(earlier.location.rsplit("/", 1)[-1])]
                except ValueError:
                    tx.ids = []
            response = _response(
                status=earlier.status_code or 201,
                body=earlier.body or "",
                media_type=media_type,
                etag=earlier.etag,
                location=earlier.location,
            )
            response.headers["Idempotent-Replayed"] = "true"
            return response
    created = create()
    tx.ids = [created.object_id]
    etag = f'"{created.etag}"' if created.etag is not None else None
    if key is not None and user_id is not None:
        finish_key(
            tx.session,
            user_id=user_id,
            key=key,
            status_code=201,
            body=created.body,
            etag=etag,
            location=created.location,
        )
    return _response(
        status=201, body=created.body, media_type=media_type, etag=etag, location=created.location
    )
