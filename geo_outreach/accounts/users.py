"""Accounts and tokens: argon2 password hashes, expiring bearer tokens stored as HMACs, and a
login rate limit kept in the database (so it holds across workers and restarts)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo_outreach.core.errors import Conflict, GeoOutreachError, RowProblem, ValidationFailed
from geo_outreach.core.policy import (
    ACCOUNT_ROLES,
    NAME_PATTERN,
    Principal,
    RateLimited,
    Unauthorized,
)
from geo_outreach.core.settings import Settings
from geo_outreach.core.vocab import AGENCIES
from layers.accounts import ApiToken, LoginAttempt, PatrolMember, User, user_by_name
from layers.models import Patrol

_HASHER = PasswordHasher()  # argon2id with the library's current defaults
MIN_PASSWORD = 12
# Verified when the account does not exist, so both answers take as long.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
# Per client address the limit is this many times the per-account one.
CLIENT_FACTOR = 4


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str, *, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def _problem(field: str, fault: str) -> ValidationFailed:
    return ValidationFailed([RowProblem(1, field, fault)], source="account")


def add_user(
    session: Session,
    *,
    name: str,
    role: str,
    password: str,
    actor: str,
    agency: str | None = None,
) -> User:
    """Create a named account; every fault names its field."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise _problem("name", "3–64 characters: lower-case letters, digits, '.', '_' or '-'")
    if role not in ACCOUNT_ROLES:
        raise _problem("role", f"'{role}' is not one of: {', '.join(ACCOUNT_ROLES)}")
    if agency is not None and agency not in AGENCIES:
        raise _problem("agency", f"'{agency}' is not one of: {', '.join(AGENCIES)}")
    if len(password) < MIN_PASSWORD:
        raise _problem("password", f"at least {MIN_PASSWORD} characters")
    if user_by_name(session, name) is not None:
        msg = f"name: an account '{name}' already exists"
        raise Conflict(msg)
    user = User(
        name=name, role=role, agency=agency, password_hash=hash_password(password), created_by=actor
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        msg = f"name: an account '{name}' already exists"
        raise Conflict(msg) from None
    return user


def assign_patrol(session: Session, *, name: str, patrol_code: str, actor: str) -> None:
    """Put an account on a patrol (a partner sees a joint patrol's sites only this way)."""
    user = user_by_name(session, name)
    if user is None:
        raise _problem("name", f"no account '{name}'")
    patrol = session.execute(
        select(Patrol.id, Patrol.kind).where(Patrol.code == patrol_code)
    ).first()
    if patrol is None:
        raise _problem("patrol", f"no patrol with code '{patrol_code}'")
    patrol_id, kind = patrol
    if user.role == "partner" and kind != "joint":
        raise _problem("patrol", f"partners join joint patrols only; '{patrol_code}' is {kind}")
    if session.get(PatrolMember, (patrol_id, user.id)) is None:
        session.add(PatrolMember(patrol_id=patrol_id, user_id=user.id, assigned_by=actor))
        session.flush()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True)
class LoginOutcome:
    """A login result; the attempt row is in the session either way (commit it, then act)."""

    issued: IssuedToken | None = None
    error: GeoOutreachError | None = None


def login(
    session: Session,
    *,
    name: str,
    password: str,
    client: str,
    settings: Settings,
    now: datetime | None = None,
) -> LoginOutcome:
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=settings.login_window_seconds)
    failures_by_name = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.name == name, LoginAttempt.at > since, LoginAttempt.ok.is_(False))
    )
    failures_by_client = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.client == client, LoginAttempt.at > since, LoginAttempt.ok.is_(False))
    )
    limit = settings.login_max_failures
    if (failures_by_name or 0) >= limit or (failures_by_client or 0) >= limit * CLIENT_FACTOR:
        session.add(LoginAttempt(name=name[:200], client=client, ok=False))
        msg = f"too many failed logins; try again in {settings.login_window_seconds // 60} minutes"
        return LoginOutcome(error=RateLimited(msg, retry_after=settings.login_window_seconds))
    user = user_by_name(session, name)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(name=name[:200], client=client, ok=ok))
    if not ok or user is None:
        return LoginOutcome(error=Unauthorized("wrong account name or password"))
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=settings.token_ttl_minutes)
    session.add(
        ApiToken(
            token_hash=token_digest(token, secret=settings.secret_key),
            user_id=user.id,
            issued_at=now,
            expires_at=expires,
        )
    )
    principal = Principal(role=user.role, name=user.name, user_id=user.id, agency=user.agency)
    return LoginOutcome(issued=IssuedToken(token=token, expires_at=expires, principal=principal))


def authenticate(
    session: Session, *, token: str, secret: str, now: datetime | None = None
) -> Principal:
    """The account behind a bearer token; Unauthorized when unknown, expired or revoked."""
    now = now or datetime.now(UTC)
    row = session.execute(
        select(ApiToken.expires_at, ApiToken.revoked_at, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(token, secret=secret))
    ).first()
    if row is None:
        msg = "the token is not valid; log in again"
        raise Unauthorized(msg)
    expires_at, revoked_at, user = row
    if revoked_at is not None or not user.active:
        msg = "the token was revoked; log in again"
        raise Unauthorized(msg)
    if expires_at <= now:
        msg = "the token has expired; log in again"
        raise Unauthorized(msg)
    return Principal(role=user.role, name=user.name, user_id=user.id, agency=user.agency)


def revoke(session: Session, *, token: str, secret: str) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == token_digest(token, secret=secret))
        .where(ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def is_member(session: Session, *, patrol_id: uuid.UUID, user_id: uuid.UUID | None) -> bool:
    if user_id is None:
        return False
    return session.get(PatrolMember, (patrol_id, user_id)) is not None
