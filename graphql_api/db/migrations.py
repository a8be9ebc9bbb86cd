"""Run Alembic programmatically (the CLI's `migrate` and `serve`, and the tests).

The migration scripts live in `migrations/` at the repository root; an
installed wheel carries them as `graphql_api/_migrations`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

_PACKAGE = Path(__file__).resolve().parent.parent


def migrations_directory() -> Path:
    for candidate in (_PACKAGE / "_migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("no migrations directory next to the graphql_api package")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.attributes["database_url"] = database_url
    return config


def current_revisions(database_url: str) -> tuple[str, ...]:
    """The revisions the database is at (empty before the first migration)."""

    def read(connection: Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(connection).get_current_heads())

    async def run() -> tuple[str, ...]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def migrate(database_url: str, revision: str = "head") -> str:
    """Move the database to `revision`, up or down; returns "upgrade" or "downgrade"."""
    config = alembic_config(database_url)
    script = ScriptDirectory.from_config(config)
    current = current_revisions(database_url)
    older = revision == "base" and bool(current)
    if not older and revision not in ("head", "heads") and current:
        target = script.get_revision(revision)
        ancestors = {rev.revision for rev in script.iterate_revisions(current, "base")}
        older = target is not None and target.revision in ancestors - set(current)
    if older:
        command.downgrade(config, revision)
        return "downgrade"
    command.upgrade(config, revision)
    return "upgrade"
