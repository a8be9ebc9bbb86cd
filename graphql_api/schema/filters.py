"""Typed operator inputs shared by every list filter (`{gte: 2020, lte: 2024}`).

Each input converts itself to the plain `Comparison` / `TextMatch` values that
repositories understand. List operands (`in`) are capped: a filter is not a
way to send an unbounded payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

import strawberry

from graphql_api.db.filtering import Comparison, TextMatch
from graphql_api.money import has_at_most_two_decimals
from graphql_api.schema.errors import bad_user_input
from graphql_api.schema.ids import key_of

MAX_IN_LIST = 100
MAX_FILTER_AMOUNT = Decimal(10) ** 16
MAX_TEXT_FILTER_LENGTH = 255
T = TypeVar("T")


def capped(values: Sequence[T] | None, argument: str) -> tuple[T, ...] | None:
    if values is None:
        return None
    if len(values) > MAX_IN_LIST:
        raise bad_user_input(
            f"`{argument}` accepts at most {MAX_IN_LIST} values (got {len(values)}).", argument
        )
    return tuple(values)


def _text(value: str | None, argument: str) -> str | None:
    """Text to compare against: bounded, and without NUL (no stored text contains one)."""
    if value is not None and len(value) > MAX_TEXT_FILTER_LENGTH:
        raise bad_user_input(
            f"`{argument}` must be at most {MAX_TEXT_FILTER_LENGTH} characters.", argument
        )
    if value is not None and "\x00" in value:
        raise bad_user_input(f"`{argument}` must not contain NUL characters.", argument)
    return value


def _texts(values: Sequence[str] | None, argument: str) -> tuple[str, ...] | None:
    members = capped(values, argument)
    return None if members is None else tuple(_text(v, argument) or "" for v in members)


def _money(value: Decimal | None, argument: str) -> Decimal | None:
    """Amounts are stored as whole cents; a bound must be one too (and fit in storage)."""
    if value is None:
        return None
    if abs(value) > MAX_FILTER_AMOUNT or not has_at_most_two_decimals(value):
        raise bad_user_input(
            f"`{argument}` must be an amount with at most 2 decimal places "
            f"and at most {MAX_FILTER_AMOUNT:,.0f}.",
            argument,
        )
    return value


@strawberry.input(description="Conditions on an integer; every one given must hold.")
class IntFilter:
    eq: int | None = strawberry.field(default=None, description="Equal to.")
    in_: list[int] | None = strawberry.field(
        default=None, name="in", description="One of (at most 100)."
    )
    gt: int | None = strawberry.field(default=None, description="Greater than.")
    gte: int | None = strawberry.field(default=None, description="Greater than or equal to.")
    lt: int | None = strawberry.field(default=None, description="Less than.")
    lte: int | None = strawberry.field(default=None, description="Less than or equal to.")

    def to_comparison(self) -> Comparison[int]:
        return Comparison(
            eq=self.eq,
            in_=capped(self.in_, "in"),
            gt=self.gt,
            gte=self.gte,
            lt=self.lt,
            lte=self.lte,
        )


@strawberry.input(description="Conditions on a decimal amount; every one given must hold.")
class DecimalFilter:
    eq: Decimal | None = strawberry.field(default=None, description="Equal to.")
    gt: Decimal | None = strawberry.field(default=None, description="Greater than.")
    gte: Decimal | None = strawberry.field(default=None, description="Greater than or equal to.")
    lt: Decimal | None = strawberry.field(default=None, description="Less than.")
    lte: Decimal | None = strawberry.field(default=None, description="Less than or equal to.")

    def to_comparison(self) -> Comparison[Decimal]:
        return Comparison(
            eq=_money(self.eq, "eq"),
            gt=_money(self.gt, "gt"),
            gte=_money(self.gte, "gte"),
            lt=_money(self.lt, "lt"),
            lte=_money(self.lte, "lte"),
        )


@strawberry.input(description="Conditions on a calendar date; every one given must hold.")
class DateFilter:
    eq: date | None = strawberry.field(default=None, description="On this day.")
    gt: date | None = strawberry.field(default=None, description="After this day.")
    gte: date | None = strawberry.field(default=None, description="On or after this day.")
    lt: date | None = strawberry.field(default=None, description="Before this day.")
    lte: date | None = strawberry.field(default=None, description="On or before this day.")

    def to_comparison(self) -> Comparison[date]:
        return Comparison(eq=self.eq, gt=self.gt, gte=self.gte, lt=self.lt, lte=self.lte)


@strawberry.input(description="Conditions on a moment in time; every one given must hold.")
class DateTimeFilter:
    gt: datetime | None = strawberry.field(default=None, description="After.")
    gte: datetime | None = strawberry.field(default=None, description="At or after.")
    lt: datetime | None = strawberry.field(default=None, description="Before.")
    lte: datetime | None = strawberry.field(default=None, description="At or before.")

    def to_comparison(self) -> Comparison[datetime]:
        return Comparison(gt=self.gt, gte=self.gte, lt=self.lt, lte=self.lte)


@strawberry.input(description="Conditions on text; every one given must hold.")
class StringFilter:
    eq: str | None = strawberry.field(default=None, description="Exactly equal to.")
    in_: list[str] | None = strawberry.field(
        default=None, name="in", description="One of (at most 100)."
    )
    contains: str | None = strawberry.field(
        default=None, description="Contains this text, ignoring letter case."
    )
    starts_with: str | None = strawberry.field(
        default=None, description="Starts with this text, ignoring letter case."
    )

    def to_text_match(self) -> TextMatch:
        return TextMatch(
            eq=_text(self.eq, "eq"),
            in_=_texts(self.in_, "in"),
            contains=_text(self.contains, "contains"),
            starts_with=_text(self.starts_with, "startsWith"),
        )


@strawberry.input(description="Conditions on a reference to another record, by global ID.")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(default=None, description="This record.")
    in_: list[strawberry.ID] | None = strawberry.field(
        default=None, name="in", description="One of these records (at most 100)."
    )

    def to_comparison(self, type_name: str, argument: str, *also: str) -> Comparison[uuid.UUID]:
        """Keys of IDs of `type_name` (or of the `also` types); anything else is refused."""
        names = (type_name, *also)

        def decode(global_id: str) -> uuid.UUID:
            for name in names:
                if (key := key_of(global_id, name)) is not None:
                    return key
            kinds = " or ".join(names)
            raise bad_user_input(f"`{argument}` must hold {kinds} IDs.", argument)

        members = capped(self.in_, "in")
        return Comparison(
            eq=decode(self.eq) if self.eq is not None else None,
            in_=tuple(decode(item) for item in members) if members is not None else None,
        )
