"""Browser sessions of the field app: server-side, revocable, with idle and absolute timeouts.

A session is an api_tokens row of kind 'session' (so login, its rate limit and revocation are
shared with bearer tokens); the browser holds the random id in an HttpOnly cookie and only its
HMAC is stored. The CSRF token is an HMAC of the session id, so it is bound to that session and
cannot be made without the server's secret (synchronizer token pattern, nothing more stored).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from geo_outreach.accounts.users import IssuedToken, token_digest
from geo_outreach.core.errors import RowProblem, ValidationFailed
from geo_outreach.core.policy import Principal, Unauthorized
from geo_outreach.core.settings import Settings
from layers.accounts import ApiToken, User, user_by_name

KIND = "session"
# last_seen_at is written at most this often: not one UPDATE per tile or API call.
TOUCH_EVERY = timedelta(seconds=60)

State = Literal["active", "revoked", "expired", "idle", "none"]
REASONS: dict[State, str] = {
    "none": "no session: log in at /app/login",
    "revoked": "the session was revoked; log in again",
    "expired": "the session has expired; log in again",
    "idle": "the session ended after a time without use; log in again",
    "active": "",
}


@dataclass(frozen=True)
class BrowserSession:
    sid: str  # the cookie value; never stored
    csrf: str
    expires_at: datetime
    principal: Principal


def csrf_token(sid: str, *, secret: str) -> str:
    return hmac.new(secret.encode(), f"csrf\n{sid}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(sid: str, sent: str | None, *, secret: str) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(sid, secret=secret), sent)


def start(
    session: Session, issued: IssuedToken, *, settings: Settings, now: datetime | None = None
) -> BrowserSession:
    """Make a fresh login's token row a browser session with the absolute timeout."""
    now = now or datetime.now(UTC)
    expires = now + timedelta(hours=settings.session_absolute_hours)
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == token_digest(issued.token, secret=settings.secret_key))
        .values(kind=KIND, expires_at=expires, last_seen_at=now)
    )
    return BrowserSession(
        sid=issued.token,
        csrf=csrf_token(issued.token, secret=settings.secret_key),
        expires_at=expires,
        principal=issued.principal,
    )


def _lookup(
    session: Session, sid: str, *, settings: Settings, now: datetime
) -> tuple[State, ApiToken | None, User | None]:
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(sid, secret=settings.secret_key))
        .where(ApiToken.kind == KIND)
    ).first()
    if row is None:
        return "none", None, None
    token, user = row
    if token.revoked_at is not None or not user.active:
        return "revoked", token, user
    if token.expires_at <= now:
        return "expired", token, user
    seen = token.last_seen_at or token.issued_at
    if seen + timedelta(minutes=settings.session_idle_minutes) <= now:
        return "idle", token, user
    return "active", token, user


def state(session: Session, sid: str | None, *, settings: Settings) -> State:
    """What became of a session (the app wipes its data when told 'revoked')."""
    if not sid:
        return "none"
    return _lookup(session, sid, settings=settings, now=datetime.now(UTC))[0]


def resume(
    session: Session, sid: str, *, settings: Settings, now: datetime | None = None
) -> Principal:
    """The account behind a session cookie; Unauthorized (with the reason) when it has ended."""
    now = now or datetime.now(UTC)
    found, token, user = _lookup(session, sid, settings=settings, now=now)
    if found != "active" or token is None or user is None:
        msg = REASONS[found]
        raise Unauthorized(msg)
    if token.last_seen_at is None or now - token.last_seen_at >= TOUCH_EVERY:
        token.last_seen_at = now
    return Principal(role=user.role, name=user.name, user_id=user.id, agency=user.agency)


def end(session: Session, sid: str, *, settings: Settings) -> None:
    """Logout: the session can never be used again."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == token_digest(sid, secret=settings.secret_key))
        .where(ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def revoke_user(session: Session, *, name: str) -> int:
    """The lost-phone button: end every session and token of an account; how many ended."""
    user = user_by_name(session, name)
    if user is None:
        raise ValidationFailed([RowProblem(1, "name", f"no account '{name}'")], source="account")
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiToken.token_hash)
    )
    return len(result.all())
