"""Write a generated data set: PostgreSQL COPY, or batched INSERTs on SQLite.

Rows are produced lazily, table by table, so the writer holds no second copy of
the data set (a million investments is a few hundred MB as seeds already).

An empty table is loaded without its secondary indexes (and, on PostgreSQL,
its foreign keys), which are rebuilt from their own stored definitions in the
same transaction: building an index once, and checking a foreign key with one
join, is several times faster than maintaining nine indexes and two foreign-key
triggers row by row (writing 100,000 investments on a busy 2-core machine:
PostgreSQL 12 s → 2 s, SQLite 10 s → 5 s; on PostgreSQL a million went from
failing at the statement timeout to 17-31 s). A table that already has rows
(`--append`) is loaded as it is.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its error class is used
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphql_api.db.base import Base
from graphql_api.db.errors import database_reason
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.session import SQLITE_WRITE_OPTION
from graphql_api.money import from_cents
from graphql_api.seeding.generator import DataSet

BATCH = 5_000

Progress = Callable[[str, int | None, float], None]
"""Told each phase of a write as it ends: its name, rows written (if any), seconds taken."""
_MONEY_COLUMNS = frozenset(
    {"target_size_cents", "hard_cap_cents", "committed_cents", "amount_cents"}
)


def _fund_rows(data: DataSet) -> Iterator[tuple[Any, ...]]:
    return (
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
    )


def _investor_rows(data: DataSet) -> Iterator[tuple[Any, ...]]:
    return (
        (i.id, i.name, i.investor_type.value, i.email, 1, i.created_at, i.created_at)
        for i in data.investors
    )


def _investment_rows(data: DataSet) -> Iterator[tuple[Any, ...]]:
    return (
        (i.id, i.fund_id, i.investor_id, i.amount_cents, i.investment_date, i.created_at)
        for i in data.investments
    )


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


class SeedFailedError(Exception):
    """The seed's one transaction failed, so nothing was written; the message says why."""


async def write(engine: AsyncEngine, data: DataSet, *, progress: Progress | None = None) -> None:
    """Insert everything in one transaction (all or nothing), telling `progress` each phase;
    SeedFailedError when the database refuses it (with the driver's reason)."""
    try:
        await _write(engine, data, progress)
    except SQLAlchemyError as error:
        raise SeedFailedError(database_reason(error)) from error


async def _write(engine: AsyncEngine, data: DataSet, progress: Progress | None) -> None:
    tables = (
        ("funds", len(data.funds), _fund_rows(data)),
        ("investors", len(data.investors), _investor_rows(data)),
        ("investments", len(data.investments), _investment_rows(data)),
    )
    report = progress or (lambda _phase, _rows, _seconds: None)
    postgresql = engine.dialect.name == "postgresql"
    # On SQLite, take the write lock up front (BEGIN IMMEDIATE): a deferred
    # transaction that reads first fails at its first write if anyone wrote since.
    async with engine.execution_options(**{SQLITE_WRITE_OPTION: True}).begin() as connection:
        if postgresql:
            # The engine's statement timeout is for API requests; a large COPY outlasts it.
            await connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        for table, count, rows in tables:
            started = time.perf_counter()
            restore = await _set_aside_if_empty(connection, table)
            if postgresql:
                await _copy(connection, table, rows)
            else:
                await _insert(connection, table, rows)
            for statement in restore:
                await connection.exec_driver_sql(statement)
            report(table, count, time.perf_counter() - started)
        started = time.perf_counter()
    report("commit", None, time.perf_counter() - started)


async def _set_aside_if_empty(connection: AsyncConnection, table: str) -> list[str]:
    """Drop an empty table's secondary indexes and foreign keys; the SQL that restores them.

    Indexes that back a constraint (the primary key, a unique constraint) or that
    a foreign key relies on stay, and so do SQLite's foreign keys (they are part
    of the table). The restoring statements are the database's own definitions
    (sqlite_master; pg_get_indexdef and pg_get_constraintdef), names included.
    """
    target = Base.metadata.tables[table]
    if (await connection.execute(select(1).select_from(target).limit(1))).first():
        return []
    sqlite = connection.dialect.name == "sqlite"
    indexes = await _definitions(connection, _SQLITE_INDEXES if sqlite else _INDEXES, table)
    foreign_keys = [] if sqlite else await _definitions(connection, _FOREIGN_KEYS, table)
    quote = connection.dialect.identifier_preparer.quote
    for name, _ in foreign_keys:
        await connection.exec_driver_sql(
            f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}"
        )
    for name, _ in indexes:
        await connection.exec_driver_sql(f"DROP INDEX {quote(name)}")
    return [definition for _, definition in indexes] + [
        f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
        for name, definition in foreign_keys
    ]


_SQLITE_INDEXES = (
    "SELECT name, sql FROM sqlite_master "
    "WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL ORDER BY name"
)
_INDEXES = (
    "SELECT c.relname, pg_get_indexdef(i.indexrelid) "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = CAST(:table AS regclass) "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
    "ORDER BY c.relname"
)
_FOREIGN_KEYS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' ORDER BY conname"
)


async def _definitions(
    connection: AsyncConnection, query: str, table: str
) -> list[tuple[str, str]]:
    """(name, definition) pairs that `query` lists for `table`."""
    result = await connection.execute(text(query), {"table": table})
    return [(str(name), str(definition)) for name, definition in result]


async def _copy(connection: AsyncConnection, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        await driver.copy_records_to_table(table, records=rows, columns=list(_COLUMNS[table]))
    except asyncpg.PostgresError as error:  # the driver's own: SQLAlchemy did not run this
        raise SeedFailedError(database_reason(error)) from error


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def _typed(columns: Sequence[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the table's column types expect it (money as Decimal, not cents)."""
    return {
        name: from_cents(value) if name in _MONEY_COLUMNS and value is not None else value
        for name, value in zip(columns, row, strict=True)
    }


async def _insert(connection: AsyncConnection, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs through the typed table, so values are stored as the app stores them."""
    target = Base.metadata.tables[table]
    columns = _COLUMNS[table]
    for batch in _batches(rows):
        await connection.execute(insert(target), [_typed(columns, row) for row in batch])
