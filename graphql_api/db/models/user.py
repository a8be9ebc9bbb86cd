"""Users and their credentials: refresh-token families, API keys, one-time tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Enum, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.auth.principal import Role
from graphql_api.db.base import Base, Timestamps, UUIDPrimaryKey
from graphql_api.db.models.investor import MAX_EMAIL_LENGTH
from graphql_api.db.types import UTCDateTime, utcnow

ROLE = Enum(Role, native_enum=False, create_constraint=True, length=16, name="role")


class User(UUIDPrimaryKey, Timestamps, Base):
    """Someone who logs in. INVESTOR users are linked to their investor record."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(MAX_EMAIL_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(ROLE)
    investor_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("investors.id", ondelete="RESTRICT")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Access tokens issued before this moment are refused (password change, deactivation).
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(None, "email", unique=True),
        Index(None, "investor_id"),
        CheckConstraint("length(email) >= 3", name="email_shape"),
    )


class RefreshToken(UUIDPrimaryKey, Base):
    """One refresh token of a session; rotating it makes a new one in the same family.

    Presenting a token that was already rotated means it was stolen (or replayed):
    the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    token_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(None, "token_digest", unique=True),
        Index(None, "family_id"),
        Index(None, "user_id"),
    )


class ApiKey(UUIDPrimaryKey, Base):
    """A credential for a service, bound to a role; the secret is shown once, stored hashed."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(32))
    secret_digest: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(ROLE)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index(None, "prefix", unique=True),)


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "VERIFY_EMAIL"
    RESET_PASSWORD = "RESET_PASSWORD"  # noqa: S105 (a purpose, not a password)


class OneTimeToken(UUIDPrimaryKey, Base):
    """An emailed token (verify email, reset password): single use, short-lived."""

    __tablename__ = "one_time_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(
        Enum(TokenPurpose, native_enum=False, create_constraint=True, length=20, name="purpose")
    )
    token_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index(None, "token_digest", unique=True), Index(None, "user_id"))
