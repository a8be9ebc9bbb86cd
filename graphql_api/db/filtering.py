"""Typed filter operators (`{gte: 2020, lte: 2024}`, `{contains: "growth"}`) as SQL.

The GraphQL layer turns filter inputs into these plain values; repositories
turn them into WHERE terms. Every operator given must hold (AND).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement

from graphql_api.db.keyset import SortColumn

T = TypeVar("T")


class Deleted(StrEnum):
    """Which rows a list shows with respect to soft deletion."""

    LIVE = "LIVE"
    DELETED = "DELETED"
    ALL = "ALL"


def deleted_conditions(column: Any, deleted: Deleted = Deleted.LIVE) -> list[ColumnElement[bool]]:
    """WHERE terms on a `deleted_at` column: live rows only unless asked otherwise."""
    if deleted is Deleted.ALL:
        return []
    return [column.is_not(None)] if deleted is Deleted.DELETED else [column.is_(None)]


@dataclass(frozen=True, slots=True)
class Comparison(Generic[T]):
    """Equality, membership and range operators on one column."""

    eq: T | None = None
    in_: tuple[T, ...] | None = None
    not_in: tuple[T, ...] | None = None
    gt: T | None = None
    gte: T | None = None
    lt: T | None = None
    lte: T | None = None

    def conditions(self, column: SortColumn) -> list[ColumnElement[bool]]:
        terms: list[ColumnElement[bool]] = []
        if self.eq is not None:
            terms.append(column == self.eq)
        if self.in_ is not None:
            terms.append(column.in_(self.in_))
        if self.not_in is not None:
            terms.append(column.not_in(self.not_in))
        if self.gt is not None:
            terms.append(column > self.gt)
        if self.gte is not None:
            terms.append(column >= self.gte)
        if self.lt is not None:
            terms.append(column < self.lt)
        if self.lte is not None:
            terms.append(column <= self.lte)
        return terms


@dataclass(frozen=True, slots=True)
class TextMatch:
    """Exact or case-insensitive partial matches on a text column.

    `contains` / `starts_with` escape `%` and `_`, so user text is never a pattern.
    """

    eq: str | None = None
    in_: tuple[str, ...] | None = None
    contains: str | None = None
    starts_with: str | None = None

    def lowered(self) -> TextMatch:
        """The same match for a column stored in lower case (emails): `eq` and `in` then
        match whatever the letter case of the value asked for."""
        return replace(
            self,
            eq=self.eq.lower() if self.eq is not None else None,
            in_=tuple(value.lower() for value in self.in_) if self.in_ is not None else None,
        )

    def conditions(self, column: SortColumn) -> list[ColumnElement[bool]]:
        terms: list[ColumnElement[bool]] = []
        if self.eq is not None:
            terms.append(column == self.eq)
        if self.in_ is not None:
            terms.append(column.in_(self.in_))
        if self.contains is not None:
            terms.append(column.icontains(self.contains, autoescape=True))
        if self.starts_with is not None:
            terms.append(column.istartswith(self.starts_with, autoescape=True))
        return terms


def all_conditions(
    pairs: Sequence[tuple[Comparison[Any] | TextMatch | None, SortColumn]],
) -> list[ColumnElement[bool]]:
    """The WHERE terms of every filter that was given, for its column."""
    terms: list[ColumnElement[bool]] = []
    for operators, column in pairs:
        if operators is not None:
            terms.extend(operators.conditions(column))
    return terms
