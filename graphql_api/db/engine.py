"""The async engine for the configured back end: asyncpg (PostgreSQL) or aiosqlite.

Pools are bounded with a short acquire timeout so that an overloaded or
unreachable database ends a request quickly instead of hanging it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from graphql_api.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 5_000


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the engine with pool limits and per-dialect session settings."""
    if settings.is_sqlite:
        return _create_sqlite_engine(settings)
    return _create_postgresql_engine(settings)


def _create_postgresql_engine(settings: Settings) -> AsyncEngine:
    server_settings = {"application_name": "graphql-api"}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": server_settings,
    }
    return create_async_engine(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _create_sqlite_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    return engine


def _unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite_connection(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    """Foreign keys on (SQLite's default is off), WAL so readers never block the writer.

    SQLite's own `lower()` folds ASCII letters only, so case-insensitive filters
    (`contains: "éclair"`) would disagree with PostgreSQL; Python's is Unicode-aware.
    """
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
