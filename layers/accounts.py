"""Named accounts, login tokens, login attempts, idempotency keys and joint-patrol assignments.

Tokens are stored only as a keyed hash; passwords only as argon2 hashes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from geo_outreach.core.policy import ACCOUNT_ROLES, NAME_PATTERN
from geo_outreach.core.vocab import AGENCIES, sql_in
from layers.base import Base, uuid_pk


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(sql_in("role", ACCOUNT_ROLES), name="role"),
        CheckConstraint("agency IS NULL OR " + sql_in("agency", AGENCIES), name="agency"),
        CheckConstraint(f"name ~ '{NAME_PATTERN}'", name="name"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    # A partner's agency (straz_miejska, policja …); joint patrols list agencies too.
    agency: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    # Where a coordinator is told of a cold night (issue 14); optional.
    email: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


class ApiToken(Base):
    """A bearer token; only its HMAC is kept, so a database dump gives no working token."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("expires_at > issued_at", name="expiry"),
        CheckConstraint("kind IN ('bearer', 'session')", name="kind"),
        Index("ix_api_tokens_user", "user_id"),
    )

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    issued_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A browser session of the field app (cookie, idle timeout) or an API client's bearer token.
    kind: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'bearer'"))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """Password checks, kept for rate limiting (per account and client address, and per address).

    A check is written with ok=false before it runs (so concurrent tries count it); a success
    adds a twin row with ok=true and the same `at`. Tries refused by the limit are not written.
    `client` is the address, or an IPv6 address's /64."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_name_at", "name", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    client: Mapped[str] = mapped_column(Text, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)


class IdempotencyKey(Base):
    """The first answer to a POST with an Idempotency-Key, replayed for any repeat."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("length(key) BETWEEN 1 AND 200", name="key"),
        Index("ix_idempotency_keys_created", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)


class PatrolMember(Base):
    """Who is assigned to a patrol: a partner sees a joint patrol's sites only through this."""

    __tablename__ = "patrol_members"
    __table_args__ = (Index("ix_patrol_members_user", "user_id"),)

    patrol_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("patrols.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    assigned_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    assigned_by: Mapped[str] = mapped_column(Text, nullable=False)


def user_by_name(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).first()


def claim_key(
    session: Session, *, user_id: uuid.UUID, key: str, request_hash: str
) -> IdempotencyKey | None:
    """Reserve an Idempotency-Key for this request, or return the row of its earlier use.

    A concurrent request with the same key waits on the unique index until the first commits,
    then finds its answer here.
    """
    stmt = (
        pg_insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.key)
    )
    if session.execute(stmt).first() is not None:
        return None
    return session.get(IdempotencyKey, (user_id, key), populate_existing=True)


def finish_key(
    session: Session,
    *,
    user_id: uuid.UUID,
    key: str,
    status_code: int,
    body: str,
    etag: str | None,
    location: str | None,
) -> None:
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(status_code=status_code, body=body, etag=etag, location=location)
    )
