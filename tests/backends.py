"""The databases the suite runs on: a real PostgreSQL and the embedded SQLite file.

PostgreSQL comes from TEST_DATABASE_URL (default: the local server, database
`graphql_api_test`, created if missing). When it cannot be reached the tests
fail: a missing service is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/graphql_api_test"
BACKENDS = ("postgresql", "sqlite")


def postgres_url(database: str | None = None) -> str:
    url = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def sqlite_url(directory: Path, name: str = "test.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


async def recreate_postgres_database(url: str) -> None:
    """Drop and create the database named in `url` (connecting to `postgres`)."""
    target = make_url(url)
    admin = await asyncpg.connect(
        host=target.host,
        port=target.port or 5432,
        user=target.username,
        password=target.password,
        database="postgres",
        timeout=10,
    )
    try:
        name = target.database
        assert name is not None
        assert name.replace("_", "").isalnum()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def recreate_postgres_database_sync(url: str) -> None:
    asyncio.run(recreate_postgres_database(url))
