"""Fixtures: one migrated database per back end, the real app, an HTTP client.

Every test that takes `client` (or `db`) runs once on PostgreSQL and once on
SQLite. Databases are built by `alembic upgrade head` at session start, so the
migrations run on every test run; tables are emptied after each test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from graphql_api.app import create_app
from graphql_api.auth.principal import Role
from graphql_api.db.base import Base
from graphql_api.db.migrations import migrate
from graphql_api.db.session import Database
from graphql_api.settings import Settings
from graphql_api.users import service as user_service
from tests.backends import BACKENDS, postgres_url, recreate_postgres_database, sqlite_url

os.environ.setdefault("APP_ENV", "development")
# One PostgreSQL database per concurrent test run (xdist worker, or a name given
# in TEST_DB_SUFFIX), since each run drops and recreates its database.
WORKER = os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("TEST_DB_SUFFIX", "main")


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
async def redis_url() -> str:
    """A real Redis; when it cannot be reached the test fails (never skips)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as error:
        pytest.fail(f"Redis is required at {REDIS_URL}: {error}")
    finally:
        await client.aclose()
    return REDIS_URL


def unique_channel(name: str) -> str:
    """An events channel no concurrent test run shares."""
    return f"graphql_api_test:{WORKER}:{name}:{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def database_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A freshly migrated database per back end, shared by the whole session."""
    urls = {
        "postgresql": postgres_url(f"graphql_api_test_{WORKER}"),
        "sqlite": sqlite_url(tmp_path_factory.mktemp("sqlite")),
    }
    await recreate_postgres_database(urls["postgresql"])
    for url in urls.values():
        await asyncio.to_thread(migrate, url)
    return urls


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        gc_freeze=False,
        load_demo_data=False,
        # Tests flush and catch up explicitly; timers would only add noise.
        events_poll_seconds=3600,
        outbox_relay_seconds=3600,
        # Argon2id at its cheapest: tests hash many passwords; production keeps RFC 9106's.
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        password_hash_parallelism=1,
        **overrides,
    )


@pytest.fixture(scope="session")
async def apps(database_urls: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    """The real application per back end, with its lifespan running."""
    running: dict[str, Any] = {}
    contexts = []
    for name, url in database_urls.items():
        app = create_app(make_settings(url))
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        contexts.append(context)
        running[name] = app
    yield running
    for context in contexts:
        await context.__aexit__(None, None, None)


@pytest.fixture
def app(apps: dict[str, Any], backend: str) -> Any:
    return apps[backend]


@pytest.fixture
async def db(app: Any) -> AsyncIterator[Database]:
    """The app's database; every table is emptied after the test."""
    database: Database = app.state.runtime.db
    yield database
    await empty_tables(database)
    # Positions restart at 1 in the emptied outbox: the hub must start over too.
    app.state.runtime.events.hub.last_position = 0


async def empty_tables(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (table names from metadata)
        else:
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


async def api_key_for(db: Database, role: Role) -> str:
    """A fresh API key of `role` in the test database (the cheapest credential)."""
    async with db.unit_of_work() as uow:
        _, secret = await user_service.create_api_key(
            uow.session, f"test {role.value}", role, None, datetime.now(UTC)
        )
    return secret


@pytest.fixture
async def anonymous_client(app: Any, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with no credentials at all."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def client(app: Any, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, called as an ADMIN (through an API key)."""
    key = await api_key_for(db, Role.ADMIN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": key}
    ) as http:
        yield http


class StatementCounter:
    """Counts the SQL statements an engine sends (transaction control excluded)."""

    IGNORED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")

    def __init__(self, app: Any) -> None:
        self.statements: list[str] = []
        self._app = app

    async def reset(self, client: httpx.AsyncClient | None = None) -> None:
        """Start counting afresh, once background work of earlier commits is done.

        With a client, one request is made first, so the credential's first-use
        bookkeeping is not counted: what remains per request is one statement
        that authenticates the caller.
        """
        if client is not None:
            await client.post("/graphql", json={"query": "{ __typename }"})
        await self._app.state.runtime.events.publisher.idle()
        self.statements.clear()

    def __call__(self, _conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(self.IGNORED):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_statements(app: Any, db: Database) -> Iterator[StatementCounter]:
    counter = StatementCounter(app)
    event.listen(db.engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(db.engine.sync_engine, "before_cursor_execute", counter)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
