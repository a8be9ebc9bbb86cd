"""Column types that make PostgreSQL and SQLite agree exactly.

* `Money`: `Decimal` in Python, integer cents (BIGINT) in the database, so sums
  are exact on both back ends and no float is ever involved.
* `UTCDateTime`: always timezone-aware UTC in Python. PostgreSQL stores
  `timestamptz`; SQLite has no time zones, so values are stored as naive UTC in
  a fixed-width format (which also keeps lexical comparison = time order).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from graphql_api.money import from_cents, to_cents


class Money(TypeDecorator[Decimal]):
    """A `Decimal` amount of US dollars stored as integer cents."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        return None if value is None else to_cents(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Decimal | None:
        # PostgreSQL returns NUMERIC for SUM(bigint); SQLite returns int.
        return None if value is None else from_cents(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC `datetime`; naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only clock models use)."""
    return datetime.now(UTC)
