"""Write a generated data set: PostgreSQL COPY, or batched INSERTs on SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphql_api.db.base import Base
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.money import from_cents
from graphql_api.seeding.generator import DataSet

BATCH = 5_000
_MONEY_COLUMNS = frozenset(
    {"target_size_cents", "hard_cap_cents", "committed_cents", "amount_cents"}
)


def _fund_rows(data: DataSet) -> list[tuple[Any, ...]]:
    return [
        (
            f.id,
            f.name,
            f.vintage_year,
            f.target_cents,
            f.hard_cap_cents,
            f.committed_cents,
            f.status.value,
            1,
            f.created_at,
            f.created_at,
        )
        for f in data.funds
    ]


def _investor_rows(data: DataSet) -> list[tuple[Any, ...]]:
    return [
        (i.id, i.name, i.investor_type.value, i.email, 1, i.created_at, i.created_at)
        for i in data.investors
    ]


def _investment_rows(data: DataSet) -> list[tuple[Any, ...]]:
    return [
        (i.id, i.fund_id, i.investor_id, i.amount_cents, i.investment_date, i.created_at)
        for i in data.investments
    ]


_COLUMNS = {
    "funds": (
        "id",
        "name",
        "vintage_year",
        "target_size_cents",
        "hard_cap_cents",
        "committed_cents",
        "status",
        "version",
        "created_at",
        "updated_at",
    ),
    "investors": ("id", "name", "investor_type", "email", "version", "created_at", "updated_at"),
    "investments": (
        "id",
        "fund_id",
        "investor_id",
        "amount_cents",
        "investment_date",
        "created_at",
    ),
}


async def is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        for model in (Fund, Investor, Investment):
            if (await connection.execute(select(func.count()).select_from(model))).scalar_one():
                return False
    return True


async def write(engine: AsyncEngine, data: DataSet) -> None:
    """Insert everything in one transaction (all or nothing)."""
    tables = (
        ("funds", _fund_rows(data)),
        ("investors", _investor_rows(data)),
        ("investments", _investment_rows(data)),
    )
    async with engine.begin() as connection:
        for table, rows in tables:
            if engine.dialect.name == "postgresql":
                await _copy(connection, table, rows)
            else:
                await _insert(connection, table, rows)


async def _copy(connection: AsyncConnection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=rows, columns=list(_COLUMNS[table]))


def _batches(rows: Sequence[tuple[Any, ...]]) -> Iterable[Sequence[tuple[Any, ...]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _typed(columns: Sequence[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the table's column types expect it (money as Decimal, not cents)."""
    return {
        name: from_cents(value) if name in _MONEY_COLUMNS and value is not None else value
        for name, value in zip(columns, row, strict=True)
    }


async def _insert(connection: AsyncConnection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs through the typed table, so values are stored as the app stores them."""
    target = Base.metadata.tables[table]
    columns = _COLUMNS[table]
    for batch in _batches(rows):
        await connection.execute(insert(target), [_typed(columns, row) for row in batch])
