"""The columns of the exchanged files, and how each value is written and read back.

The columns are every mapped column of the model, named as the ORM names them
(`target_size_usd`, not `target_size_cents`), so a column that a migration adds
is exported, and required on import, without a change here. Values are text
that round-trips exactly: money as a decimal string with two places, dates and
UTC timestamps in ISO 8601, enums by name, UUIDs in their canonical form.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Boolean, Date, Integer, String, Uuid, inspect
from sqlalchemy import Enum as EnumType
from sqlalchemy.orm import InstrumentedAttribute

from graphql_api.db.base import Base
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.types import Money, UTCDateTime
from graphql_api.money import parse_decimal_text

Kind = Literal["uuid", "text", "integer", "boolean", "money", "date", "datetime", "enum"]
TABLES = ("funds", "investors", "investments")
"""In dependency order: an investment refers to a fund and an investor."""
MODELS: dict[str, type[Base]] = {"funds": Fund, "investors": Investor, "investments": Investment}
_INT32 = 2**31


class CellError(ValueError):
    """A value that cannot be read as its column's type (the message says why)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    """The ORM attribute: the file's column name."""
    kind: Kind
    nullable: bool
    enum_class: type[enum.Enum] | None = None

    def attribute(self, model: type[Base]) -> InstrumentedAttribute[Any]:
        attribute: InstrumentedAttribute[Any] = getattr(model, self.key)
        return attribute


def _kind(sql_type: Any) -> Kind:
    # Order matters: Money is a BigInteger, UTCDateTime a DateTime, Enum a String.
    kinds: tuple[tuple[type[Any], Kind], ...] = (
        (Money, "money"),
        (UTCDateTime, "datetime"),
        (EnumType, "enum"),
        (Uuid, "uuid"),
        (Date, "date"),
        (Boolean, "boolean"),
        (Integer, "integer"),
        (String, "text"),
    )
    for sql_class, kind in kinds:
        if isinstance(sql_type, sql_class):
            return kind
    raise TypeError(f"no file encoding for column type {sql_type!r}")


OPTIONAL_ON_IMPORT = frozenset({"deleted_at"})
"""Columns an imported file may leave out (a file written before soft delete existed):
a missing `deleted_at` reads as null, a live row. Exports always write them."""


def columns(table: str) -> tuple[Column, ...]:
    """The file columns of `table`, in the table's column order."""
    mapper = inspect(MODELS[table])
    found = []
    for column in mapper.local_table.columns:
        key = mapper.get_property_by_column(column).key
        enum_class = getattr(column.type, "enum_class", None)
        found.append(Column(key, _kind(column.type), bool(column.nullable), enum_class))
    return tuple(found)


_ENCODERS: dict[Kind, Callable[[Any], str | int | bool]] = {
    "money": lambda value: f"{value:.2f}",
    "datetime": lambda value: str(value.astimezone(UTC).isoformat()).replace("+00:00", "Z"),
    "date": lambda value: str(value.isoformat()),
    "enum": lambda value: str(value.name),
    "uuid": str,
    "text": str,
    "integer": int,
    "boolean": bool,
}


def encode(column: Column, value: Any) -> str | int | bool | None:
    """A database value as the file holds it (JSON-compatible; CSV writes it as text)."""
    return None if value is None else _ENCODERS[column.kind](value)


def decode(column: Column, raw: object) -> Any:
    """A file value as the database takes it; CellError says what is wrong with it.

    CSV gives text for everything (an empty cell is null); NDJSON gives JSON types,
    where money must be a string (a JSON float has already lost precision).
    """
    if raw is None or raw == "":
        if column.nullable:
            return None
        raise CellError("is required.")
    if isinstance(raw, str):
        return _from_text(column, raw)
    if column.kind in {"integer", "money"} and isinstance(raw, int) and not isinstance(raw, bool):
        return _from_text(column, str(raw))
    if column.kind == "boolean" and isinstance(raw, bool):
        return raw
    if column.kind == "money" and isinstance(raw, float):
        raise CellError('must be a string such as "1000.00" (a float loses precision).')
    raise CellError(f"must be {_described(column)}, not {type(raw).__name__}.")


def _from_text(column: Column, text: str) -> Any:  # noqa: PLR0911 (one return per kind reads best)
    try:
        match column.kind:
            case "uuid":
                return uuid.UUID(text)
            case "integer":
                return _integer(text)
            case "money":
                return parse_decimal_text(text)
            case "date":
                return date.fromisoformat(text)
            case "datetime":
                return _timestamp(text)
            case "enum":
                return _member(column, text)
            case "boolean":
                return {"true": True, "false": False}[text]
            case _:
                return text
    except (ValueError, KeyError, OverflowError) as error:
        raise CellError(f"must be {_described(column)} ({str(error)[:120]}).") from error


def _integer(text: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit() or len(stripped) > 11:
        raise ValueError(f'"{text[:40]}" is not a whole number')
    value = int(stripped)
    if not -_INT32 <= value < _INT32:
        raise ValueError(f"{value} is out of range")
    return value


def _timestamp(text: str) -> datetime:
    if len(text) > 64:
        raise ValueError("too long")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f'"{text}" has no UTC offset (write it as 2024-01-31T12:00:00Z)')
    return parsed.astimezone(UTC)


def _member(column: Column, text: str) -> enum.Enum:
    assert column.enum_class is not None
    try:
        return column.enum_class[text]
    except KeyError:
        names = ", ".join(member.name for member in column.enum_class)
        raise ValueError(f'"{text[:40]}" is not one of {names}') from None


def _described(column: Column) -> str:
    return {
        "uuid": "a UUID",
        "text": "text",
        "integer": "a whole number",
        "boolean": "true or false",
        "money": 'an amount such as "1000.00"',
        "date": "a date such as 2024-01-31",
        "datetime": "a UTC timestamp such as 2024-01-31T12:00:00Z",
        "enum": "one of the names",
    }[column.kind]


def as_decimal(value: Any) -> Decimal:
    """Narrow a decoded money value (for the type checker)."""
    assert isinstance(value, Decimal)
    return value
