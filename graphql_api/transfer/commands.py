"""What `graphql-api export` and `import` do, behind their thin click commands in cli.py.

Exit codes of import: 0 when every row was imported (or, in a dry run, would
be), 3 when it finished but rejected rows (they are in the report), 1 when it
was refused or stopped (the message says what, if anything, is committed).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from graphql_api.db.engine import create_engine
from graphql_api.db.migrations import migrate
from graphql_api.db.session import Database
from graphql_api.settings import Settings
from graphql_api.transfer.export import export
from graphql_api.transfer.formats import FORMATS, Format, RefusedError
from graphql_api.transfer.import_ import (
    ImportOptions,
    ImportResult,
    ImportStoppedError,
    import_data,
)
from graphql_api.transfer.progress import reporter_for

__all__ = ["FORMATS", "Format", "ImportOptions", "export_command", "import_command"]

EXIT_REJECTED_ROWS = 3


def export_command(output: Path, fmt: Format) -> None:
    started = time.perf_counter()
    counts = asyncio.run(_export(Settings(), output, fmt))
    click.echo(
        f"Exported {counts['funds']} funds, {counts['investors']} investors and "
        f"{counts['investments']} investments to {output} ({fmt}) "
        f"in {time.perf_counter() - started:.1f}s."
    )


async def _export(settings: Settings, output: Path, fmt: Format) -> dict[str, int]:
    db = Database(create_engine(settings))

    async def announce(table: str, rows: int) -> None:
        click.echo(f"{table}: {rows} rows", err=True)

    try:
        return await export(db, output, fmt, on_table_done=announce)
    finally:
        await db.dispose()


def import_command(options: ImportOptions) -> None:
    settings = Settings()
    if not options.dry_run:  # a dry run changes nothing, the schema included
        migrate(settings.database_url)
    try:
        result = asyncio.run(_import(settings, options))
    except RefusedError as error:
        lines = [f"{p.file}: {p.message}" for p in error.problems]
        raise click.ClickException(
            "Refused the import; nothing was written.\n  "
            + "\n  ".join(lines)
            + f"\nReport: {options.report_path}"
        ) from error
    except ImportStoppedError as error:
        raise click.ClickException(f"{error}\nReport: {options.report_path}") from error
    _summarise(result)
    if result.rejected:
        sys.exit(EXIT_REJECTED_ROWS)


async def _import(settings: Settings, options: ImportOptions) -> ImportResult:
    db = Database(create_engine(settings))
    try:
        return await import_data(db, options, reporter_for(sys.stderr))
    finally:
        await db.dispose()


def _summarise(result: ImportResult) -> None:
    for summary in result.files:
        click.echo(summary.describe())
    if result.dry_run:
        click.echo("Dry run: nothing was committed.")
    if result.rejected:
        click.echo(f"{result.rejected} rows were rejected; see {result.report}.")
    else:
        click.echo(f"No row was rejected. Report: {result.report}.")
