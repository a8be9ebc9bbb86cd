"""Databases and environments for server processes (the multi-process tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from graphql_api.db.migrations import migrate
from tests.backends import postgres_url, recreate_postgres_database, sqlite_url
from tests.conftest import WORKER, unique_channel
from tests.subscriptions.credentials import grant_admin_key


async def fresh_postgres(name: str) -> str:
    """A new, migrated PostgreSQL database of its own (dropped first if it exists)."""
    url = postgres_url(f"graphql_api_test_{name}_{WORKER}")
    await recreate_postgres_database(url)
    await asyncio.to_thread(migrate, url)
    await grant_admin_key(url)
    return url


async def fresh_sqlite(directory: Path) -> str:
    url = sqlite_url(directory, "server.db")
    await asyncio.to_thread(migrate, url)
    await grant_admin_key(url)
    return url


def server_env(
    database_url: str, redis_url: str | None, channel: str | None = None, **settings: object
) -> dict[str, str]:
    """The environment of a server process: its database, its Redis, and any other setting."""
    env = {"DATABASE_URL": database_url, "GC_FREEZE": "false"}
    if redis_url is not None:
        env |= {"REDIS_URL": redis_url, "EVENTS_CHANNEL": channel or unique_channel("process")}
    env |= {name.upper(): str(value) for name, value in settings.items()}
    return env
