"""Migrations are the only way the schema changes, so they must be complete and reversible."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, pool
from sqlalchemy.ext.asyncio import create_async_engine

from graphql_api.db.base import Base
from graphql_api.db.migrations import current_revisions, migrate
from tests.backends import postgres_url, recreate_postgres_database, sqlite_url

EXPECTED_TABLES = {
    "funds",
    "investors",
    "investments",
    "outbox_events",
    "users",
    "refresh_tokens",
    "api_keys",
    "one_time_tokens",
    "audit_log",
    "idempotency_keys",
    "alembic_version",
}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _differences(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


class TestMigrationsOnPostgres:
    async def test_upgrade_downgrade_to_base_and_upgrade_again(self) -> None:
        url = postgres_url("graphql_api_test_migrations")
        await recreate_postgres_database(url)

        await asyncio.to_thread(migrate, url)
        assert await _tables(url) == EXPECTED_TABLES

        assert await asyncio.to_thread(migrate, url, "base") == "downgrade"
        assert await _tables(url) == {"alembic_version"}
        assert await asyncio.to_thread(current_revisions, url) == ()

        assert await asyncio.to_thread(migrate, url) == "upgrade"
        assert await _tables(url) == EXPECTED_TABLES

    async def test_models_and_migrations_agree(self) -> None:
        url = postgres_url("graphql_api_test_migrations")
        await recreate_postgres_database(url)
        await asyncio.to_thread(migrate, url)

        assert await _differences(url) == []


class TestMigrationsOnSqlite:
    async def test_upgrade_downgrade_and_models_agree(self, tmp_path: Path) -> None:
        url = sqlite_url(tmp_path)

        await asyncio.to_thread(migrate, url)
        assert await _differences(url) == []
        await asyncio.to_thread(migrate, url, "base")
        assert await _tables(url) == {"alembic_version"}
