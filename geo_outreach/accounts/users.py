"""Accounts and tokens: argon2 password hashes, expiring bearer tokens stored as HMACs, and a
login rate limit kept in the database (so it holds across workers and restarts). The limit counts
per account and client address, so an attacker cannot lock the owner out from elsewhere."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv6Address, ip_address, ip_network

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from geo_outreach.core import db
from geo_outreach.core.errors import Conflict, NotFound, RowProblem, ValidationFailed, invalid
from geo_outreach.core.policy import (
    ACCOUNT_ROLES,
    NAME_PATTERN,
    PARTNER_PATROL_KIND,
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
# Per client address, failures across all accounts may reach this many times the per-account
# limit (generous: an office behind one NAT address shares it).
CLIENT_FACTOR = 10


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
    if user.role == "partner" and kind != PARTNER_PATROL_KIND:
        raise _problem("patrol", f"partners join joint patrols only; '{patrol_code}' is {kind}")
    if session.get(PatrolMember, (patrol_id, user.id)) is None:
        session.add(PatrolMember(patrol_id=patrol_id, user_id=user.id, assigned_by=actor))
        session.flush()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    principal: Principal


def client_key(address: str) -> str:
    """What the login limit counts by: the address, or for IPv6 its /64 (one host usually holds
    the whole /64, so counting single addresses would not slow it down)."""
    try:
        found = ip_address(address)
    except ValueError:
        return address
    if isinstance(found, IPv6Address):
        return str(ip_network(f"{found}/64", strict=False))
    return str(found)


def _locked_until(
    session: Session, *, where: list[ColumnElement[bool]], limit: int, window: timedelta
) -> datetime | None:
    """While `limit` or more failures match, when the oldest that keeps the lock leaves the window.

    Refused tries are never written, so knocking on a lock does not extend it."""
    nth_newest = session.scalar(
        select(LoginAttempt.at)
        .where(LoginAttempt.ok.is_(False), *where)
        .order_by(LoginAttempt.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    return None if nth_newest is None else nth_newest + window


def _reserve_check(
    session: Session, *, name: str, client: str, settings: Settings, now: datetime
) -> None:
    """Count and record a password check atomically, or refuse it (RateLimited).

    Attempts from one client address are serialised by an advisory lock held for this short
    transaction only, so N concurrent tries perform at most the limit's number of checks. The
    check is written as a failure (ok=false) before it runs; a success adds its twin row with
    ok=true and the same `at`. Limits: failures per (account, address) since its last success,
    and a generous cap per address across accounts (a success there resets nothing, or one
    valid account would let an address spray the others)."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"login {client}", 0))))
    window = timedelta(seconds=settings.login_window_seconds)
    since = now - window
    same = (LoginAttempt.name == name, LoginAttempt.client == client)
    last_ok = (
        select(func.max(LoginAttempt.at)).where(LoginAttempt.ok.is_(True), *same).scalar_subquery()
    )
    twin = aliased(LoginAttempt)
    succeeded = (
        select(twin.id)
        .where(
            twin.ok.is_(True),
            twin.name == LoginAttempt.name,
            twin.client == LoginAttempt.client,
            twin.at == LoginAttempt.at,
        )
        .exists()
    )
    limit = settings.login_max_failures
    until = max(
        _locked_until(
            session,
            where=[*same, LoginAttempt.at > func.greatest(since, last_ok)],
            limit=limit,
            window=window,
        )
        or now,
        _locked_until(
            session,
            where=[LoginAttempt.client == client, LoginAttempt.at > since, ~succeeded],
            limit=limit * CLIENT_FACTOR,
            window=window,
        )
        or now,
    )
    if until > now:
        wait = math.ceil((until - now).total_seconds())
        msg = f"too many failed logins from this address; try again in {math.ceil(wait / 60)} min"
        raise RateLimited(msg, retry_after=wait)
    session.add(LoginAttempt(name=name[:200], client=client, ok=False, at=now))


def login(
    engine: Engine,
    *,
    name: str,
    password: str,
    client: str,
    settings: Settings,
    now: datetime | None = None,
) -> IssuedToken:
    """A token for the right name and password; RateLimited or Unauthorized otherwise.

    Three short transactions, none held during the slow argon2 check: reserve the check,
    verify, then (on success) record it and issue the token."""
    now = now or datetime.now(UTC)
    key = client_key(client)
    with db.session_scope(engine) as session:
        _reserve_check(session, name=name, client=key, settings=settings, now=now)
        user = user_by_name(session, name)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not ok or user is None or not user.active:
        msg = "wrong account name or password"
        raise Unauthorized(msg)
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=settings.token_ttl_minutes)
    with db.session_scope(engine) as session:
        session.add(LoginAttempt(name=name[:200], client=key, ok=True, at=now))
        session.add(
            ApiToken(
                token_hash=token_digest(token, secret=settings.secret_key),
                user_id=user.id,
                issued_at=now,
                expires_at=expires,
            )
        )
    principal = Principal(role=user.role, name=user.name, user_id=user.id, agency=user.agency)
    return IssuedToken(token=token, expires_at=expires, principal=principal)


def authenticate(
    session: Session, *, token: str, secret: str, now: datetime | None = None
) -> Principal:
    """The account behind a bearer token; Unauthorized when unknown, expired or revoked."""
    return authenticate_until(session, token=token, secret=secret, now=now)[0]


def authenticate_until(
    session: Session, *, token: str, secret: str, now: datetime | None = None
) -> tuple[Principal, datetime]:
    """`authenticate`, and when the token expires (how long the API may remember it)."""
    now = now or datetime.now(UTC)
    row = session.execute(
        select(ApiToken.expires_at, ApiToken.revoked_at, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(token, secret=secret))
        # A browser session's id is no bearer token: its idle timeout and CSRF check would go.
        .where(ApiToken.kind == "bearer")
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
    principal = Principal(role=user.role, name=user.name, user_id=user.id, agency=user.agency)
    return principal, expires_at


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


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


def set_email(session: Session, *, name: str, email: str | None) -> None:
    """The address an account is told of a cold night at (issue 14); None removes it."""
    if email is not None and (len(email) > 254 or not re.fullmatch(EMAIL_PATTERN, email)):
        raise _problem("email", f"'{email[:80]}' is not an e-mail address like name@example.org")
    user = user_by_name(session, name)
    if user is None:
        msg = f"name: no account '{name}'"
        raise _problem("name", msg)
    user.email = email
    session.flush()


# -- the office console (issue 12): patrol members and user administration ------------------

# Who can be put on a patrol: the outreach staff and, on joint patrols, partners.
PATROL_ROLES = ("streetworker", "coordinator", "partner")
MAX_MEMBERS = 50  # as a patrol's team_size


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    agency: str | None
    assigned_at: datetime
    assigned_by: str


def patrol_members(session: Session, patrol_id: uuid.UUID) -> list[Member]:
    rows = session.execute(
        select(
            User.name, User.role, User.agency, PatrolMember.assigned_at, PatrolMember.assigned_by
        )
        .join(PatrolMember, PatrolMember.user_id == User.id)
        .where(PatrolMember.patrol_id == patrol_id)
        .order_by(User.name)
    ).all()
    return [Member(*r) for r in rows]


def _member_fault(user: User | None, name: str, kind: str) -> str | None:
    if user is None:
        return f"no account '{name}'"
    if not user.active:
        return f"the account '{name}' is deactivated"
    if user.role not in PATROL_ROLES:
        return f"'{name}' is {user.role}: only {', '.join(PATROL_ROLES)} accounts go on patrols"
    if user.role == "partner" and kind != PARTNER_PATROL_KIND:
        return f"'{name}' is a partner: partners join {PARTNER_PATROL_KIND} patrols only"
    return None


def set_patrol_members(
    session: Session, patrol_id: uuid.UUID, names: list[str], *, actor: str
) -> tuple[list[str], list[str]]:
    """Make exactly these accounts the patrol's members; (added, removed) names. Every fault is
    named on the field 'members' and nothing changes."""
    kind = session.scalar(select(Patrol.kind).where(Patrol.id == patrol_id).with_for_update())
    if kind is None:
        msg = f"no patrol {patrol_id}"
        raise NotFound(msg)
    wanted = list(dict.fromkeys(names))
    if len(wanted) > MAX_MEMBERS:
        raise invalid("members", f"at most {MAX_MEMBERS} accounts")
    users = {u.name: u for u in session.scalars(select(User).where(User.name.in_(wanted)))}
    for name in wanted:
        fault = _member_fault(users.get(name), name, kind)
        if fault:
            raise invalid("members", fault)
    current = {m.name for m in patrol_members(session, patrol_id)}
    removed = sorted(current - set(wanted))
    added = [n for n in wanted if n not in current]
    if removed:
        session.execute(
            delete(PatrolMember).where(
                PatrolMember.patrol_id == patrol_id,
                PatrolMember.user_id.in_(select(User.id).where(User.name.in_(removed))),
            )
        )
    for name in added:
        session.add(PatrolMember(patrol_id=patrol_id, user_id=users[name].id, assigned_by=actor))
    session.flush()
    return added, removed


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def _end_tokens(session: Session, user_id: uuid.UUID) -> int:
    """End every browser session and bearer token of the account (as `user revoke` does)."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiToken.token_hash)
    )
    return len(result.all())


ADMIN_ROLE = "admin"
NO_ADMIN_LEFT = "would leave no active administrator"


def update_user(
    session: Session,
    *,
    name: str,
    actor_name: str,
    role: str | None = None,
    active: bool | None = None,
) -> tuple[User, int]:
    """Change an account's role and/or switch it off or on; (the account, tokens ended).
    Switching an account off ends its sessions and tokens at once. An administrator cannot
    demote or switch off their own account, and no change may leave no active administrator
    (two administrators demoting each other at once would lock everyone out)."""
    # Every active administrator first, in id order, then the account: two such changes run
    # one after the other, and the second sees the first one's result.
    admins = set(
        session.scalars(
            select(User.id)
            .where(User.role == ADMIN_ROLE, User.active.is_(True))
            .order_by(User.id)
            .with_for_update()
        )
    )
    user = session.scalars(
        select(User)
        .where(User.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        msg = f"no account '{name}'"
        raise NotFound(msg)
    last_admin = admins == {user.id}
    if role is not None:
        if role not in ACCOUNT_ROLES:
            raise _problem("role", f"'{role}' is not one of: {', '.join(ACCOUNT_ROLES)}")
        if name == actor_name and role != user.role:
            raise _problem("role", "you cannot change the role of your own account")
        if last_admin and role != ADMIN_ROLE:
            raise _problem("role", NO_ADMIN_LEFT)
        user.role = role
    ended = 0
    if active is not None:
        if name == actor_name and not active:
            raise _problem("active", "you cannot deactivate your own account")
        if last_admin and not active:
            raise _problem("active", NO_ADMIN_LEFT)
        user.active = active
        if not active:
            ended = _end_tokens(session, user.id)
    session.flush()
    return user, ended
