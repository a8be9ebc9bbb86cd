"""Scalars of the contract: `Decimal` (an exact string), `DateTime` (ISO 8601, UTC).

`Decimal` refuses JSON floats: a float has already lost precision by the time
the server sees it, so `100.10` must be sent as `"100.10"`. Integers are fine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode

from graphql_api.money import DECIMAL_PATTERN


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError('Decimal must be a string such as "1000.00", not a boolean.')
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(
            'Decimal must be sent as a string such as "1000.00" (floats lose precision).'
        )
    text = value.strip()
    if not DECIMAL_PATTERN.fullmatch(text):
        raise ValueError(f'"{value[:40]}" is not a decimal number such as "1000.00".')
    return Decimal(text)


def _parse_decimal_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> Decimal:
    if isinstance(node, (StringValueNode, IntValueNode)):
        return parse_decimal(node.value if isinstance(node, StringValueNode) else int(node.value))
    raise ValueError('Decimal must be a string literal such as "1000.00".')


def serialize_decimal(value: Decimal) -> str:
    """Money always has two decimal places: `Decimal("5")` → `"5.00"`."""
    return f"{value:.2f}"


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("DateTime must be an ISO 8601 string such as 2024-01-31T12:00:00Z.")
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise ValueError(f'"{value}" is not an ISO 8601 date-time in range.') from error


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number sent as a string, e.g. "250000000.00". '
        "Money amounts are US dollars with at most two decimal places."
    ),
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=_parse_decimal_literal,
)

DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="A moment in time, ISO 8601, always returned in UTC (e.g. 2024-01-31T12:00:00Z).",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    specified_by_url="https://scalars.graphql.org/andimarek/date-time",
)

SCALAR_OVERRIDES: dict[object, Any] = {Decimal: DecimalScalar, datetime: DateTimeScalar}
