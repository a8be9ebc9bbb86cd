"""The fund aggregate: a vehicle raising capital up to an optional hard cap."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.db.base import Base, Timestamps, UUIDPrimaryKey
from graphql_api.db.types import Money, UTCDateTime

MAX_MONEY_CENTS = 10**17  # 10^15 USD, the largest fund size SPEC §2 allows
MIN_VINTAGE_YEAR = 1900
# The rule "at most the current year + 5" moves with the clock, which a CHECK
# constraint cannot express portably; the service enforces it, the database
# enforces this fixed outer bound.
MAX_VINTAGE_YEAR_CEILING = 9999


class FundStatus(StrEnum):
    """Lifecycle of a fund; it only ever moves forward."""

    FUNDRAISING = "FUNDRAISING"
    INVESTING = "INVESTING"
    CLOSED = "CLOSED"


class Fund(UUIDPrimaryKey, Timestamps, Base):
    """A fund. `committed_usd` is the running total of its live commitments.

    Keeping the total on the fund row lets one conditional UPDATE both check and
    reserve room under the hard cap, atomically, on PostgreSQL and SQLite alike;
    the CHECK constraint makes overshooting impossible even for buggy callers.
    """

    __tablename__ = "funds"

    name: Mapped[str] = mapped_column(String(255))
    vintage_year: Mapped[int] = mapped_column(Integer)
    target_size_usd: Mapped[Decimal] = mapped_column("target_size_cents", Money())
    hard_cap_usd: Mapped[Decimal | None] = mapped_column("hard_cap_cents", Money())
    committed_usd: Mapped[Decimal] = mapped_column(
        "committed_cents", Money(), default=Decimal(0), server_default="0"
    )
    status: Mapped[FundStatus] = mapped_column(
        Enum(FundStatus, native_enum=False, create_constraint=True, length=16, name="status"),
        default=FundStatus.FUNDRAISING,
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    """When the fund was soft-deleted; NULL while it is live."""

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's documented form)

    __table_args__ = (
        CheckConstraint("length(trim(name)) >= 1 AND length(name) <= 255", name="name_length"),
        CheckConstraint(
            f"vintage_year >= {MIN_VINTAGE_YEAR} AND vintage_year <= {MAX_VINTAGE_YEAR_CEILING}",
            name="vintage_year_range",
        ),
        CheckConstraint(
            f"target_size_cents > 0 AND target_size_cents <= {MAX_MONEY_CENTS}",
            name="target_size_range",
        ),
        CheckConstraint(
            "hard_cap_cents IS NULL OR "
            f"(hard_cap_cents >= target_size_cents AND hard_cap_cents <= {MAX_MONEY_CENTS})",
            name="hard_cap_range",
        ),
        CheckConstraint(
            f"committed_cents >= 0 AND committed_cents <= {MAX_MONEY_CENTS} AND "
            "(hard_cap_cents IS NULL OR committed_cents <= hard_cap_cents)",
            name="committed_within_hard_cap",
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        # Keyset pagination: one (sort key, id) index per orderable field.
        Index(None, "name", "id"),
        Index(None, "vintage_year", "id"),
        Index(None, "target_size_cents", "id"),
        Index(None, "created_at", "id"),
        Index(None, "updated_at", "id"),
        Index(None, "status"),
    )


__all__ = ["Fund", "FundStatus"]
