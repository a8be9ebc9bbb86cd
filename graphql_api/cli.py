"""The `graphql-api` command: serve, migrate, seed, export-schema."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
import uvicorn

from graphql_api.auth.principal import Role
from graphql_api.db.engine import create_engine
from graphql_api.db.migrations import migrate as run_migrations
from graphql_api.db.session import Database
from graphql_api.errors import DomainError
from graphql_api.seeding import generator, writer
from graphql_api.settings import Settings
from graphql_api.transfer import commands as transfer
from graphql_api.users import bootstrap


async def _seed(
    settings: Settings,
    sizes: generator.Sizes,
    seed: int,
    *,
    only_if_empty: bool,
    progress: writer.Progress | None = None,
) -> bool:
    # Through Database: on SQLite it takes over the driver's transactions, so the
    # writer's BEGIN IMMEDIATE holds and its DDL (indexes set aside) is all or nothing.
    database = Database(create_engine(settings))
    engine = database.engine
    try:
        if only_if_empty and not await writer.is_empty(engine):
            return False
        today = datetime.now(UTC).date()
        started = time.perf_counter()
        data = generator.generate(sizes, seed, today)
        if progress is not None:
            progress("generate", None, time.perf_counter() - started)
        await writer.write(engine, data, progress=progress)
        return True
    finally:
        await database.dispose()


@click.group()
def main() -> None:
    """GraphQL API for private-markets data: funds, investors and investments."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default: HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: PORT, 8000).")
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes."
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Upgrade the database before serving. Deployments run `graphql-api migrate` once "
    "instead, so that instances start even while the database is down.",
)
def serve(host: str | None, port: int | None, workers: int, reload: bool, migrate: bool) -> None:
    """Apply migrations, load demo data into an empty embedded database, and serve."""
    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    if workers > 1 and not settings.redis_url:
        click.echo(
            "warning: several workers without REDIS_URL keep rate limits, login throttles "
            "and subscriptions per process; set REDIS_URL to share them.",
            err=True,
        )
    if migrate:
        run_migrations(settings.database_url)
    if settings.demo_data and asyncio.run(
        _seed(settings, generator.DEMO, seed=42, only_if_empty=True)
    ):
        click.echo("Loaded the demo data set into the empty database.")
    if settings.demo_data:
        _announce_demo_admin(settings)
    click.echo(f"GraphiQL: http://{host}:{port}/graphql")
    if workers > 1:
        _share_metrics_between_workers()
    uvicorn.run(
        "graphql_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers if not reload else None,
        reload=reload,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)),
        # A worker imports the whole stack before it answers the supervisor's
        # first health check; on a busy machine that takes longer than the 5 s
        # uvicorn allows by default, and the worker is killed and restarted.
        timeout_worker_healthcheck=60,
    )


def _share_metrics_between_workers() -> None:
    """Workers write their metrics to files in one directory; /metrics adds them up.

    prometheus-client chooses its storage when it is first imported, so the
    variable must be set here, before uvicorn starts (and imports) the workers.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is None:
        directory = tempfile.mkdtemp(prefix="graphql-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's workers
        stale.unlink()


def _announce_demo_admin(settings: Settings) -> None:
    admin = asyncio.run(bootstrap.demo_admin(settings))
    if admin is None:
        return
    if admin.password is not None:
        click.echo(f"Created the demo admin: {admin.email} / {admin.password}")
    click.echo("Paste into GraphiQL's Headers tab (valid 12 hours):")
    click.echo(f"  {admin.header}")


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--password", required=True, help="12-128 characters.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--investor-id", default=None, help="For an INVESTOR: its investor's UUID.")
def create_user(email: str, password: str, role: str, investor_id: str | None) -> None:
    """Create a user (for example the first ADMIN of a new deployment)."""
    settings = Settings()
    try:
        user_id = asyncio.run(
            bootstrap.create_user(
                settings,
                email,
                password,
                Role(role),
                uuid.UUID(investor_id) if investor_id else None,
            )
        )
    except DomainError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {role} user {email} ({user_id}).")


@main.command("create-api-key")
@click.option("--name", required=True, help="What the key is for.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
def create_api_key(name: str, role: str) -> None:
    """Create an API key; its secret is printed once, alone on the last line."""
    try:
        prefix, secret = asyncio.run(bootstrap.create_api_key(Settings(), name, Role(role)))
    except DomainError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"Created {role} API key {prefix} ({name}). Send it as X-API-Key; it is not shown again:"
    )
    click.echo(secret)


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision (or base).")
def migrate(revision: str) -> None:
    """Upgrade the database to the latest schema (or move it to --revision)."""
    direction = run_migrations(Settings().database_url, revision)
    click.echo(f"Database migrated ({direction}) to {revision}.")


@main.command()
@click.option(
    "--scale",
    type=click.Choice(list(generator.SCALES)),
    default=None,
    help="Preset sizes: small = 10 funds, 100 investors, 1,000 investments; medium = 100 "
    "times that; large = 1,000 times (a million investments). An explicit --funds, "
    "--investors or --investments overrides that one count of the preset.",
)
@click.option(
    "--funds",
    type=click.IntRange(0),
    default=None,
    help=f"Funds to create [default: {generator.DEFAULT.funds:,}, or the --scale's]",
)
@click.option(
    "--investors",
    type=click.IntRange(0),
    default=None,
    help=f"Investors to create [default: {generator.DEFAULT.investors:,}, or the --scale's]",
)
@click.option(
    "--investments",
    type=click.IntRange(0),
    default=None,
    help=f"Investments to create [default: {generator.DEFAULT.investments:,}, or the --scale's]",
)
@click.option("--seed", "seed_value", type=int, default=42, show_default=True, help="Random seed.")
@click.option("--append", is_flag=True, help="Add to a database that already has data.")
def seed(
    scale: str | None,
    funds: int | None,
    investors: int | None,
    investments: int | None,
    seed_value: int,
    append: bool,
) -> None:
    """Insert a deterministic generated data set (same seed, same data).

    Uses COPY on PostgreSQL and multi-row INSERTs on SQLite, in one transaction,
    and prints how long each phase took.
    """
    preset = generator.SCALES[scale] if scale else generator.DEFAULT
    sizes = generator.Sizes(
        funds=preset.funds if funds is None else funds,
        investors=preset.investors if investors is None else investors,
        investments=preset.investments if investments is None else investments,
    )

    def phase(name: str, rows: int | None, seconds: float) -> None:
        click.echo(
            f"  {name:<12} {seconds:8.2f}s" + (f"  {rows:>11,} rows" if rows is not None else "")
        )

    settings = Settings()
    started = time.perf_counter()
    run_migrations(settings.database_url)
    phase("migrate", None, time.perf_counter() - started)
    try:
        seeded = asyncio.run(
            _seed(settings, sizes, seed_value, only_if_empty=not append, progress=phase)
        )
    except writer.SeedFailedError as error:
        # The driver's reason only: the statement and its parameter sets would bury it.
        raise click.ClickException(f"Seeding failed, nothing was written: {error}") from error
    if not seeded:
        raise click.ClickException("The database already has data; pass --append to add more.")
    click.echo(
        f"Seeded {sizes.funds} funds, {sizes.investors} investors and {sizes.investments} "
        f"investments in {time.perf_counter() - started:.1f}s."
    )


@main.command("export-schema")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_schema(output: Path | None) -> None:
    """Write the GraphQL schema (SDL) to --output, or to standard output."""
    from graphql_api.schema.build import build_schema  # noqa: PLC0415 (keeps other commands fast)

    sdl = build_schema(Settings(introspection_enabled=True)).as_str() + "\n"
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl)
        click.echo(f"Wrote {output}.", err=True)


@main.command("export")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for funds, investors and investments files (created if missing).",
)
@click.option(
    "--format", "fmt", type=click.Choice(transfer.FORMATS), default="ndjson", show_default=True
)
def export_data(output: Path, fmt: transfer.Format) -> None:
    """Write funds, investors and investments, one file each, from one consistent snapshot."""
    transfer.export_command(output, fmt)


@main.command("import")
@click.option(
    "--input",
    "directory",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory with funds, investors and investments .ndjson or .csv files.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check every row and write the report; commit nothing."
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=1_000, show_default=True)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Rejected rows, as .json or .csv (default: DIR/import-report.json).",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to record committed batches, to resume (default: in DIR).",
)
def import_data(
    directory: Path, dry_run: bool, batch_size: int, report: Path | None, checkpoint: Path | None
) -> None:
    """Check every row with the API's rules, upsert by id (investors also by email), resumably."""
    transfer.import_command(
        transfer.ImportOptions(directory, dry_run, batch_size, report, checkpoint)
    )
