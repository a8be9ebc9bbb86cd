"""Relay cursor connections: types, opaque keyset cursors, page-size limits.

A cursor encodes the sort-key values of its row and the ordering it belongs to
(so a cursor taken under another `orderBy` is refused, not misread). Decoded
values are type-checked before they reach SQL.
"""

from __future__ import annotations

import binascii
import uuid
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Generic, TypeVar

import orjson
import strawberry

from graphql_api.db.keyset import Ordering, Page, Window
from graphql_api.money import has_at_most_two_decimals
from graphql_api.schema.enums import graphql_enum
from graphql_api.schema.errors import bad_user_input

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 8192  # five sort terms of 255 four-byte characters, base64-encoded

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


class OrderDirection(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


graphql_enum(
    OrderDirection,
    name="OrderDirection",
    description="Sort direction.",
    values={
        OrderDirection.ASC: "Ascending: smallest, earliest or A first.",
        OrderDirection.DESC: "Descending: largest, latest or Z first.",
    },
)


@strawberry.type(description="Where the returned page sits in the whole list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last one returned.")
    has_previous_page: bool = strawberry.field(description="Items precede the first one returned.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item returned.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item returned.")


@strawberry.type(description="An item of a page, with the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Pass as `after` or `before` to page from here.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay style, paged by opaque cursors.")
class Connection(Generic[NodeT]):
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist.")
    nodes: list[NodeT] = strawberry.field(
        description="The items of this page (edges without cursors)."
    )
    _cursors: strawberry.Private[Callable[[], list[str]]]
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="The items of this page, each with its cursor.")
    def edges(self) -> list[Edge[NodeT]]:
        return [
            Edge(cursor=cursor, node=node)
            for cursor, node in zip(self._cursors(), self.nodes, strict=True)
        ]

    @strawberry.field(
        description="How many items match the filter in all pages (counted only when asked)."
    )
    async def total_count(self) -> int:
        return await self._count()


ConnectionT = TypeVar("ConnectionT", bound=Connection[Any])


def build_connection(
    connection_class: type[ConnectionT],
    page: Page[RowT],
    ordering: Ordering,
    to_node: Callable[[RowT], Any],
    count: Callable[[], Awaitable[int]],
) -> ConnectionT:
    """Wrap a page of rows; item cursors are only encoded when `edges` is selected."""
    rows = page.rows

    def cursors() -> list[str]:
        return [encode_cursor(ordering, ordering.values_of(row)) for row in rows]

    page_info = PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=encode_cursor(ordering, ordering.values_of(rows[0])) if rows else None,
        end_cursor=encode_cursor(ordering, ordering.values_of(rows[-1])) if rows else None,
    )
    return connection_class(
        page_info=page_info,
        nodes=[to_node(row) for row in rows],
        _cursors=cursors,
        _count=count,
    )


def _encode_value(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def encode_cursor(ordering: Ordering, values: Sequence[Any]) -> str:
    payload = [ordering.fingerprint, [_encode_value(v) for v in values]]
    return urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


MAX_CURSOR_INT = 2**31 - 1  # integer sort keys are 32-bit columns
MAX_CURSOR_AMOUNT = Decimal(10) ** 16


def _decode_value(raw: object, kind: type) -> object:
    """Turn a JSON cursor value back into `kind`; ValueError when it cannot be one.

    Values are range-checked as well as typed: a forged cursor must fail here,
    not inside the database driver.
    """
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        if not -MAX_CURSOR_INT - 1 <= raw <= MAX_CURSOR_INT:
            raise ValueError("integer out of range in cursor")
        return raw
    if not isinstance(raw, str):
        raise ValueError("unexpected cursor value")
    if kind is str:
        if "\x00" in raw:
            raise ValueError("NUL in cursor")
        return raw
    if kind is uuid.UUID:
        return uuid.UUID(raw)
    if kind is datetime:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return moment.astimezone(UTC)  # OverflowError for moments outside the calendar
    if kind is date:
        return date.fromisoformat(raw)
    if kind is Decimal:
        amount = Decimal(raw)
        if not amount.is_finite() or abs(amount) >= MAX_CURSOR_AMOUNT:
            raise ValueError("decimal out of range in cursor")
        if not has_at_most_two_decimals(amount):
            raise ValueError("sub-cent amount in cursor")
        return amount
    raise ValueError(f"unsupported cursor kind {kind}")


def decode_cursor(cursor: str, ordering: Ordering, argument: str) -> tuple[Any, ...]:
    """The sort-key values in `cursor`, or a BAD_USER_INPUT error naming the argument."""
    invalid = bad_user_input(
        f"`{argument}` is not a valid cursor for this list and ordering.", argument
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        payload = orjson.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        fingerprint, raw_values = payload
        if (
            fingerprint != ordering.fingerprint
            or not isinstance(raw_values, list)
            or len(raw_values) != len(ordering.kinds)
        ):
            raise invalid
        return tuple(
            _decode_value(raw, kind) for raw, kind in zip(raw_values, ordering.kinds, strict=True)
        )
    except (
        binascii.Error,
        orjson.JSONDecodeError,
        ValueError,
        TypeError,
        OverflowError,
        InvalidOperation,
    ) as error:
        raise invalid from error


def page_window(
    ordering: Ordering,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Window:
    """Validate Relay paging arguments: 0 ≤ size ≤ 100, never `first` with `last`."""
    if first is not None and last is not None:
        raise bad_user_input("Pass either `first` or `last`, not both.", "first")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise bad_user_input(
                f"`{name}` must be between 0 and {MAX_PAGE_SIZE} (got {size}).", name
            )
    if first is None and last is None:
        if before is not None and after is None:
            last = DEFAULT_PAGE_SIZE
        else:
            first = DEFAULT_PAGE_SIZE
    return Window(
        first=first,
        last=last,
        after=decode_cursor(after, ordering, "after") if after is not None else None,
        before=decode_cursor(before, ordering, "before") if before is not None else None,
    )


def order_terms(terms: Sequence[Any] | None, max_terms: int = 5) -> tuple[tuple[Any, bool], ...]:
    """`[{field, direction}]` inputs as (field, descending) pairs, at most `max_terms`."""
    if not terms:
        return ()
    if len(terms) > max_terms:
        raise bad_user_input(f"`orderBy` accepts at most {max_terms} terms.", "orderBy")
    return tuple((term.field, term.direction == OrderDirection.DESC) for term in terms)
