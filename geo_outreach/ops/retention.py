"""Retention and redaction (issue 16, GDPR Art. 5(1)(e)).

Sensitive visit notes are redacted once older than the configured months: the note becomes a
marker, and the visit with its counts stays, so the yearly tables do not change. Login attempts,
used idempotency keys, ended tokens and sessions, and old audit rows are deleted. An
administrator can also redact one visit's note or one site's free text at once, with a reason.

Visit notes are blanked only through geo_outreach_redact_visit_notes() (migration 0005): the
application role may not UPDATE visits, and the function can do nothing but put the marker in.
Every run and every redaction writes one audit row (ids and counts, never the text).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from geo_outreach.core.errors import NotFound, invalid
from geo_outreach.winter import alerts
from layers import audit, writes
from layers.models import SleepingSite, Visit

# The text a redacted note or site text becomes (migration 0005 writes the same for notes).
REDACTED = "[redacted]"
REASON_MAX = 500

_REDACT_NOTES = text("SELECT geo_outreach_redact_visit_notes(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
)


@dataclass(frozen=True)
class RetentionPolicy:
    note_months: int
    login_days: int
    idempotency_days: int
    audit_years: int
    alert_days: int = 90


@dataclass(frozen=True)
class RetentionResult:
    notes_redacted: int
    login_attempts_deleted: int
    idempotency_keys_deleted: int
    tokens_deleted: int
    audit_rows_deleted: int
    alert_positions_purged: int


def _redact_notes(session: Session, ids: list[uuid.UUID]) -> int:
    if not ids:
        return 0
    return int(session.execute(_REDACT_NOTES, {"ids": ids}).scalar_one())


def _deleted(session: Session, statement: str, **params: object) -> int:
    return int(session.execute(text(statement), params).rowcount)  # type: ignore[attr-defined]


def run(session: Session, policy: RetentionPolicy, *, actor: str, role: str) -> RetentionResult:
    """One retention run, in the session's transaction (a login that owns the tables: the
    application role may not delete login attempts, tokens or audit rows)."""
    old_notes = list(
        session.scalars(
            text(
                "SELECT id FROM visits WHERE note_sensitive AND note IS NOT NULL "
                "AND note <> :marker AND visited_at < now() - make_interval(months => :months)"
            ),
            {"marker": REDACTED, "months": policy.note_months},
        )
    )
    result = RetentionResult(
        notes_redacted=_redact_notes(session, old_notes),
        login_attempts_deleted=_deleted(
            session,
            "DELETE FROM login_attempts WHERE at < now() - make_interval(days => :days)",
            days=policy.login_days,
        ),
        idempotency_keys_deleted=_deleted(
            session,
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => :days)",
            days=policy.idempotency_days,
        ),
        # A token or session past its expiry or revoked is refused anyway: nothing to keep.
        # An ended session is kept a week, so a phone that comes back is still told it was
        # revoked (and wipes its data) rather than "no such session".
        tokens_deleted=_deleted(
            session,
            "DELETE FROM api_tokens "
            "WHERE coalesce(revoked_at, expires_at) < now() - interval '7 days'",
        ),
        audit_rows_deleted=_deleted(
            session,
            "DELETE FROM audit_log WHERE at < now() - make_interval(years => :years)",
            years=policy.audit_years,
        ),
        # Where someone was seen is needed while the teams look, not for years.
        alert_positions_purged=len(
            alerts.purge_positions(session, older_than_days=policy.alert_days)
        ),
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="retention",
        layer="retention",
        detail={**asdict(result), "policy": asdict(policy)},
    )
    return result


def _reason(reason: str) -> str:
    clean = reason.strip()
    if not 3 <= len(clean) <= REASON_MAX:
        raise invalid("reason", f"say why in 3 to {REASON_MAX} characters")
    return clean


def redact_visit(
    session: Session, visit_id: uuid.UUID, *, reason: str, actor: str, role: str
) -> bool:
    """Blank one visit's note now; False when it had none (or was redacted already)."""
    why = _reason(reason)
    if session.get(Visit, visit_id) is None:
        msg = f"no visits record {visit_id}"
        raise NotFound(msg)
    changed = _redact_notes(session, [visit_id]) > 0
    # A stored answer to the POST that made the visit would hand the note back on a replay.
    session.execute(
        text(
            "UPDATE idempotency_keys SET body = CASE "
            "WHEN body::jsonb ? 'properties' "
            "THEN jsonb_set(body::jsonb, '{properties,note}', to_jsonb(CAST(:marker AS text))) "
            "ELSE jsonb_set(body::jsonb, '{note}', to_jsonb(CAST(:marker AS text))) END::text "
            "WHERE location = :location AND body IS NOT NULL"
        ),
        {"marker": REDACTED, "location": f"/visits/{visit_id}"},
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="redact",
        layer="visits",
        object_ids=[visit_id],
        detail={"reason": why, "fields": ["note"], "changed": changed},
    )
    return changed


def redact_site(
    session: Session,
    site_id: uuid.UUID,
    *,
    reason: str,
    actor: str,
    role: str,
    service_area: tuple[float, float, float, float],
) -> bool:
    """Blank one site's free text (access notes) now, also in the offline changes proposed for
    it; the site gets a new version like any other edit. False when there was nothing to blank."""
    why = _reason(reason)
    site = session.get(SleepingSite, site_id, populate_existing=True)
    if site is None:
        msg = f"no sleeping_sites record {site_id}"
        raise NotFound(msg)
    changed = site.access_notes not in (None, REDACTED)
    if changed:
        writes.update_feature(
            session,
            writes.SITES,
            site_id,
            expected=site.version,
            geometry=None,
            properties={"access_notes": REDACTED},
            partial=True,
            actor=actor,
            service_area=service_area,
        )
    proposals = _deleted(
        session,
        "UPDATE site_changes SET properties = jsonb_set(properties, '{access_notes}', "
        "to_jsonb(CAST(:marker AS text))) WHERE site_id = :site AND properties ? 'access_notes' "
        "AND properties->>'access_notes' IS DISTINCT FROM :marker",
        marker=REDACTED,
        site=site_id,
    )
    audit.record(
        session,
        actor=actor,
        role=role,
        action="redact",
        layer="sleeping_sites",
        object_ids=[site_id],
        detail={
            "reason": why,
            "fields": ["access_notes"],
            "changed": changed,
            "proposals": proposals,
        },
    )
    return changed or proposals > 0
