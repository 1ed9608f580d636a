"""What the field app's outbox sends: visits and sites under the UUID the phone made (stored once
however often sent), and site changes applied or kept for a coordinator's decision."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_outreach.core.errors import Conflict, NotFound, RowProblem, StaleVersion, ValidationFailed
from layers import writes
from layers.rules import writable
from layers.site_changes import SiteChange
from layers.sites import SiteIn, SleepingSite
from layers.visits import Visit, VisitIn


class SiteChangeIn(BaseModel):
    """A change made on a phone: the version it was based on and the properties it sets."""

    model_config = ConfigDict(extra="forbid")

    base_version: int = Field(ge=1, le=2_147_483_647)
    properties: writes.SitePropsPatch


def _check(site: SleepingSite, props: dict[str, Any]) -> None:
    """The change, merged onto the site, must pass the site rules; faults name the field."""
    current = {name: getattr(site, name) for name in writable(SiteIn)}
    try:
        SiteIn.model_validate({**current, **props})
    except ValidationError as exc:
        problems = [
            RowProblem(1, ".".join(["properties", *(str(p) for p in e["loc"])]), e["msg"])
            for e in exc.errors()
        ]
        raise ValidationFailed(problems, source=writes.SOURCE) from None


def _write(
    session: Session,
    site_id: uuid.UUID,
    props: dict[str, Any],
    *,
    expected: int,
    actor: str,
    service_area: tuple[float, float, float, float],
) -> int:
    return writes.update_feature(
        session,
        writes.SITES,
        site_id,
        expected=expected,
        geometry=None,
        properties=props,
        partial=True,
        actor=actor,
        service_area=service_area,
    )


def submit(
    session: Session,
    change_id: uuid.UUID,
    *,
    site_id: uuid.UUID,
    change: SiteChangeIn,
    actor: str,
    service_area: tuple[float, float, float, float],
) -> tuple[SiteChange, bool]:
    """Apply the change or keep it for review; (the stored change, whether it was a replay)."""
    props = change.properties.model_dump(exclude_unset=True)
    earlier = session.get(SiteChange, change_id)
    if earlier is not None:
        same = (earlier.site_id, earlier.base_version, earlier.properties, earlier.created_by) == (
            site_id,
            change.base_version,
            props,
            actor,
        )
        if not same:
            msg = f"change {change_id} was already sent with other content; nothing was stored"
            raise Conflict(msg)
        return earlier, True
    site = session.get(SleepingSite, site_id, populate_existing=True)
    if site is None:
        msg = f"no sleeping_sites record {site_id}"
        raise NotFound(msg)
    _check(site, props)
    row = SiteChange(
        id=change_id,
        site_id=site_id,
        base_version=change.base_version,
        properties=props,
        state="pending",
        created_by=actor,
    )
    if site.version == change.base_version:
        try:
            with session.begin_nested():
                row.result_version = _write(
                    session,
                    site_id,
                    props,
                    expected=change.base_version,
                    actor=actor,
                    service_area=service_area,
                )
            row.state = "applied"
        except StaleVersion:
            row.result_version = None  # another writer got there first: keep it for review
    session.add(row)
    session.flush()
    return row, False


def decide(
    session: Session,
    change_id: uuid.UUID,
    *,
    accept: bool,
    actor: str,
    service_area: tuple[float, float, float, float],
) -> SiteChange:
    """A coordinator's answer to a waiting change: accepted changes apply onto today's site."""
    row = session.get(SiteChange, change_id, populate_existing=True, with_for_update=True)
    if row is None:
        msg = f"no proposed site change {change_id}"
        raise NotFound(msg)
    if row.state != "pending":
        msg = f"change {change_id} is already {row.state}"
        raise Conflict(msg)
    if accept:
        current = session.scalar(select(SleepingSite.version).where(SleepingSite.id == row.site_id))
        if current is None:
            msg = f"no sleeping_sites record {row.site_id}"
            raise NotFound(msg)
        row.result_version = _write(
            session,
            row.site_id,
            dict(row.properties),
            expected=int(current),
            actor=actor,
            service_area=service_area,
        )
    row.state = "accepted" if accept else "rejected"
    row.decided_at = func.now()
    row.decided_by = actor
    session.flush()
    return row


def waiting(
    session: Session, *, created_by: str | None = None, limit: int = 200
) -> list[SiteChange]:
    """Changes waiting for review, oldest first (one author's only, when given)."""
    stmt = select(SiteChange).where(SiteChange.state == "pending")
    if created_by is not None:
        stmt = stmt.where(SiteChange.created_by == created_by)
    return list(session.scalars(stmt.order_by(SiteChange.created_at, SiteChange.id).limit(limit)))


def store_visit_once(session: Session, visit_id: uuid.UUID, visit: VisitIn, *, actor: str) -> bool:
    """Store a visit under the id the phone made; False when it was stored before (a replay)."""
    earlier = session.get(Visit, visit_id)
    if earlier is None:
        writes.create_visit(session, visit, actor=actor, visit_id=visit_id)
        return True
    # A visit is never changed: only the very same entry counts as a replay.
    sent = visit.model_dump()
    same = earlier.created_by == actor and all(getattr(earlier, k) == v for k, v in sent.items())
    if not same:
        msg = f"visit {visit_id} was already stored with other content; nothing was stored"
        raise Conflict(msg)
    return False


def store_site_once(
    session: Session,
    site_id: uuid.UUID,
    feature: writes.SiteFeatureIn,
    *,
    actor: str,
    service_area: tuple[float, float, float, float],
) -> bool:
    """Add a site under the id the phone made; False when it was added before (a replay)."""
    earlier = session.get(SleepingSite, site_id)
    if earlier is None:
        writes.create_feature(
            session,
            writes.SITES,
            feature,
            actor=actor,
            service_area=service_area,
            object_id=site_id,
        )
        return True
    if (earlier.created_by, earlier.code) != (actor, feature.properties.code):
        msg = f"site {site_id} already exists; change it with If-Match instead"
        raise Conflict(msg)
    return False
