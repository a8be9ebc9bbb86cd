"""A read record turned into typed values, and what the importer decided to do with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from graphql_api.errors import ErrorCode, Violation
from graphql_api.transfer.columns import CellError, Column, decode
from graphql_api.transfer.formats import RawRow

Action = Literal["insert", "update", "unchanged", "rejected"]


@dataclass(frozen=True, slots=True)
class Row:
    """A record whose every cell has its column's type (rules not checked yet)."""

    line: int
    id: uuid.UUID
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happens to one record: written (as `values`), left alone, or rejected (and why)."""

    line: int
    id: str | None
    action: Action
    values: dict[str, Any] | None = None
    violations: tuple[Violation, ...] = field(default=())
    committed_change: Decimal = Decimal(0)
    """How much a written investment moves its fund's committed total (+ new, - deleted)."""

    @classmethod
    def rejected(cls, line: int, row_id: object, violations: list[Violation]) -> Outcome:
        return cls(
            line, None if row_id is None else str(row_id), "rejected", None, tuple(violations)
        )


def invalid(message: str, field_name: str | None = None) -> Violation:
    return Violation(ErrorCode.VALIDATION, message, (field_name,) if field_name else None)


def parse(table_columns: tuple[Column, ...], raw: RawRow) -> Row | Outcome:
    """Decode every cell; a record that cannot be read is rejected with every reason at once."""
    raw_id = raw.cells.get("id") if raw.cells is not None else None
    if raw.cells is None:
        return Outcome.rejected(raw.line, None, [invalid(f"Line {raw.problem}")])
    values: dict[str, Any] = {}
    problems: list[Violation] = []
    for column in table_columns:
        try:
            values[column.key] = decode(column, raw.cells.get(column.key))
        except CellError as error:
            problems.append(invalid(f"{column.key} {error}", column.key))
    if problems:
        return Outcome.rejected(raw.line, raw_id, problems)
    return Row(raw.line, values["id"], values)


def check_version(values: dict[str, Any]) -> list[Violation]:
    if values["version"] < 1:
        return [invalid("version must be at least 1.", "version")]
    return []


def replacement(
    row: Row, values: dict[str, Any], current: Any, *, kept: tuple[str, ...] = ()
) -> Outcome:
    """Update `current` to `values` (except `kept` columns), or leave it if nothing differs.

    The version never goes back: it becomes the file's when that is higher,
    else the current one plus one when anything changed. A second import of the
    same file therefore changes nothing, and a client holding the old version
    gets VERSION_CONFLICT instead of silently overwriting the imported data.
    """
    compared = [key for key in values if key not in {"id", "version", *kept}]
    changed = any(values[key] != getattr(current, key) for key in compared)
    version = values["version"]
    if version <= current.version:
        version = current.version + 1 if changed else current.version
    if not changed and version == current.version:
        return Outcome(row.line, str(row.id), "unchanged")
    written = {key: values[key] for key in compared} | {"id": current.id, "version": version}
    return Outcome(row.line, str(row.id), "update", written)
