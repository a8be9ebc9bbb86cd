"""The investor aggregate: someone who commits capital to funds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.db.base import Base, Timestamps, UUIDPrimaryKey
from graphql_api.db.types import UTCDateTime

MAX_EMAIL_LENGTH = 320  # RFC 5321: 64-character local part, @, 255-character domain


class InvestorType(StrEnum):
    """What kind of investor this is; summaries group commitments by it."""

    INDIVIDUAL = "INDIVIDUAL"
    INSTITUTION = "INSTITUTION"
    FAMILY_OFFICE = "FAMILY_OFFICE"


class Investor(UUIDPrimaryKey, Timestamps, Base):
    """An investor. `email` is stored normalised (lower case), hence unique case-insensitively."""

    __tablename__ = "investors"

    name: Mapped[str] = mapped_column(String(255))
    investor_type: Mapped[InvestorType] = mapped_column(
        Enum(
            InvestorType,
            native_enum=False,
            create_constraint=True,
            length=16,
            name="investor_type",
        )
    )
    email: Mapped[str] = mapped_column(String(MAX_EMAIL_LENGTH))
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    """When the investor was soft-deleted; NULL while it is live."""

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's documented form)

    __table_args__ = (
        CheckConstraint("length(trim(name)) >= 1 AND length(name) <= 255", name="name_length"),
        CheckConstraint(
            f"length(email) >= 3 AND length(email) <= {MAX_EMAIL_LENGTH} AND email LIKE '%_@_%'",
            name="email_shape",
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(None, "email", unique=True),
        Index(None, "name", "id"),
        Index(None, "created_at", "id"),
        Index(None, "updated_at", "id"),
        Index(None, "investor_type"),
    )
