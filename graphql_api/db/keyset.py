"""Keyset (seek) pagination in SQL: `WHERE (sort keys) > cursor ORDER BY … LIMIT n+1`.

Never OFFSET: a page is defined by the last row the client saw, so rows inserted
or deleted elsewhere do not shift or repeat pages, and deep pages cost the same
as the first one (an index on (sort key, id) serves every page).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Row, Select, and_, false, literal, or_, tuple_
from sqlalchemy.orm import QueryableAttribute

RowT = TypeVar("RowT")
AnySelect: TypeAlias = Select[*tuple[Any, ...]]
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
SortColumn: TypeAlias = ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ORDER BY term; the last key of every ordering is the unique `id`."""

    column: SortColumn
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    """Which slice of an ordering to fetch (already validated by the caller).

    `after` / `before` are the sort-key values of the cursor rows. Exactly one of
    `first` / `last` is set: `first` reads forward from `after`, `last` reads
    backward from `before`.
    """

    first: int | None = None
    last: int | None = None
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None

    @property
    def limit(self) -> int:
        size = self.first if self.first is not None else self.last
        assert size is not None
        return size

    @property
    def backward(self) -> bool:
        return self.last is not None


@dataclass(frozen=True, slots=True)
class Page(Generic[RowT]):
    """Rows of one page, in the requested order, and whether more exist each way."""

    rows: Sequence[RowT]
    has_next_page: bool
    has_previous_page: bool


def _beyond(
    keys: Sequence[SortKey], values: Sequence[Any], *, forward: bool
) -> ColumnElement[bool]:
    """Rows strictly after (`forward`) or before the position `values` in this ordering."""
    if len({key.descending for key in keys}) == 1:
        # One direction throughout: a row-value comparison the index can seek on.
        ascending_forward = forward != keys[0].descending
        left = tuple_(*(key.column for key in keys))
        # Bind each value with its column's type (Money turns dollars into cents).
        right = tuple_(
            *(literal(v, type_=key.column.type) for key, v in zip(keys, values, strict=True))
        )
        return left > right if ascending_forward else left < right
    # Mixed directions: (a > x) OR (a = x AND b < y) OR (a = x AND b = y AND id > z).
    clauses: list[ColumnElement[bool]] = []
    for index, key in enumerate(keys):
        equal_prefix = [k.column == v for k, v in zip(keys[:index], values[:index], strict=True)]
        ascending_forward = forward != key.descending
        step = key.column > values[index] if ascending_forward else key.column < values[index]
        clauses.append(and_(*equal_prefix, step))
    return or_(false(), *clauses)


def order_terms(keys: Sequence[SortKey], *, reverse: bool = False) -> list[ColumnElement[Any]]:
    """ORDER BY terms for the ordering, or for its mirror image when reading backward."""
    return [key.column.desc() if key.descending != reverse else key.column.asc() for key in keys]


def keyset_conditions(keys: Sequence[SortKey], window: Window) -> list[ColumnElement[bool]]:
    """WHERE terms that bound the window by its `after` and `before` cursors."""
    conditions = []
    if window.after is not None:
        conditions.append(_beyond(keys, window.after, forward=True))
    if window.before is not None:
        conditions.append(_beyond(keys, window.before, forward=False))
    return conditions


def paginate(statement: AnySelect, keys: Sequence[SortKey], window: Window) -> AnySelect:
    """Add the keyset bounds, the ordering and LIMIT n+1 (the +1 tells whether more exist)."""
    return (
        statement.where(*keyset_conditions(keys, window))
        .order_by(*order_terms(keys, reverse=window.backward))
        .limit(window.limit + 1)
    )


def to_page(rows: Sequence[RowT], window: Window) -> Page[RowT]:
    """Trim the look-ahead row and restore the requested order of a backward read."""
    has_more = len(rows) > window.limit
    rows = list(rows[: window.limit])
    if window.backward:
        rows.reverse()
        return Page(rows, has_next_page=window.before is not None, has_previous_page=has_more)
    return Page(rows, has_next_page=has_more, has_previous_page=window.after is not None)


@dataclass(frozen=True, slots=True, eq=False)
class Sortable:
    """A column clients may order by.

    `attribute` names the value on a result row (for cursors) and `kind` its
    Python type (so a decoded cursor is checked before it reaches SQL). Compared
    by identity: instances are module-level constants of each repository.
    """

    name: str
    column: SortColumn
    attribute: str
    kind: type


@dataclass(frozen=True, slots=True)
class Ordering:
    """A full ordering: the requested terms, always ending with the unique `id`."""

    terms: tuple[tuple[Sortable, bool], ...]

    @classmethod
    def of(cls, requested: Sequence[tuple[Sortable, bool]], tie_breaker: Sortable) -> Ordering:
        """Drop repeated fields, then append `id` in the direction of the last term."""
        seen: set[str] = set()
        terms: list[tuple[Sortable, bool]] = []
        for sortable, descending in requested:
            if sortable.name not in seen:
                seen.add(sortable.name)
                terms.append((sortable, descending))
        last_descending = terms[-1][1] if terms else False
        if tie_breaker.name not in seen:
            terms.append((tie_breaker, last_descending))
        return cls(tuple(terms))

    @property
    def keys(self) -> list[SortKey]:
        return [SortKey(sortable.column, descending) for sortable, descending in self.terms]

    @property
    def fingerprint(self) -> str:
        """Names the list and ordering inside cursors, so a cursor of another is refused."""
        return ",".join(f"{s.name}:{'d' if desc else 'a'}" for s, desc in self.terms)

    @property
    def kinds(self) -> tuple[type, ...]:
        return tuple(sortable.kind for sortable, _ in self.terms)

    def values_of(self, row: Any) -> tuple[Any, ...]:
        """The sort-key values of a row: what its cursor encodes."""
        return tuple(getattr(row, sortable.attribute) for sortable, _ in self.terms)
