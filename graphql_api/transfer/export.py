"""`graphql-api export`: every fund, investor and investment, from one snapshot, streaming.

Soft-deleted rows are exported too, with their `deleted_at`: an export is a
backup, and importing it reproduces the database exactly.

One transaction reads all three tables, so the files agree with each other (a
fund's committed total is the sum of the exported live investments, every reference
resolves) even while the API keeps writing: on PostgreSQL a REPEATABLE READ,
READ ONLY transaction; on SQLite one read transaction, whose WAL snapshot is
fixed by its first read. Rows are fetched through a server-side cursor in
partitions and written as they arrive, so memory stays flat however large the
tables are. Files are written under a temporary name and renamed at the end:
a failed export never leaves a file that looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_api.db.session import Database
from graphql_api.transfer.columns import MODELS, TABLES, Column, columns, encode
from graphql_api.transfer.formats import Cell, CsvWriter, Format, NdjsonWriter, file_name

PARTITION_ROWS = 1_000
TableDone = Callable[[str, int], Awaitable[None]]


class TableFile:
    """One output file, written under a temporary name until `publish` renames it."""

    def __init__(self, path: Path, fmt: Format, names: Sequence[str]) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.partial")
        self._fmt = fmt
        self._names = names
        self._stream: IO[bytes] | IO[str] | None = None
        self.writer: NdjsonWriter | CsvWriter | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._fmt == "csv":
            text_stream = self.partial.open("w", encoding="utf-8", newline="")
            self._stream, self.writer = text_stream, CsvWriter(text_stream, self._names)
        else:
            binary = self.partial.open("wb")
            self._stream, self.writer = binary, NdjsonWriter(binary, self._names)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stream is not None
        self._stream.close()
        if kind is not None:
            self.partial.unlink(missing_ok=True)

    def write(self, row: Sequence[Cell]) -> None:
        assert self.writer is not None
        self.writer.write(row)

    def publish(self) -> None:
        os.replace(self.partial, self.path)


async def export(
    db: Database, directory: Path, fmt: Format, *, on_table_done: TableDone | None = None
) -> dict[str, int]:
    """Write funds, investors and investments to `directory`; return the row counts.

    `on_table_done(table, rows)` runs after each file is written, inside the
    snapshot (the CLI reports progress with it).
    """
    counts: dict[str, int] = {}
    written: list[TableFile] = []
    try:
        async with db.engine.connect() as connection:
            snapshot = await _snapshot(connection, is_sqlite=db.is_sqlite)
            async with snapshot.begin():
                if not db.is_sqlite:  # a long export is one statement per cursor fetch, not slow
                    await snapshot.execute(text("SET LOCAL statement_timeout = 0"))
                for table in TABLES:
                    counts[table], output = await _export_table(snapshot, table, directory, fmt)
                    written.append(output)
                    if on_table_done is not None:
                        await on_table_done(table, counts[table])
    except BaseException:
        for output in written:
            output.partial.unlink(missing_ok=True)
        raise
    for output in written:
        output.publish()
    return counts


async def _snapshot(connection: AsyncConnection, *, is_sqlite: bool) -> AsyncConnection:
    if is_sqlite:  # Database begins SQLite transactions itself (a plain BEGIN for readers)
        return connection
    return await connection.execution_options(
        isolation_level="REPEATABLE READ", postgresql_readonly=True
    )


async def _export_table(
    connection: AsyncConnection, table: str, directory: Path, fmt: Format
) -> tuple[int, TableFile]:
    model = MODELS[table]
    table_columns: tuple[Column, ...] = columns(table)
    statement = (
        select(*(column.attribute(model) for column in table_columns))
        .order_by(model.id)  # type: ignore[attr-defined]
        .execution_options(yield_per=PARTITION_ROWS)
    )
    rows = 0
    with TableFile(
        directory / file_name(table, fmt), fmt, [c.key for c in table_columns]
    ) as output:
        result = await connection.stream(statement)
        async for partition in result.partitions(PARTITION_ROWS):
            for row in partition:
                output.write([encode(c, v) for c, v in zip(table_columns, row, strict=True)])
            rows += len(partition)
    return rows, output
