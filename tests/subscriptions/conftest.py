"""Fixtures: a real server per configuration (embedded SQLite, PostgreSQL + Redis), an HTTP client.

A server is shared by the tests of one module; each test works on funds of its
own and follows them by `fundId`, so tests do not see each other's events. The
tables are emptied before a server starts (its hub starts at the end of the
outbox) and after it stops (the next server, or the rest of the suite, starts clean).
So a module either shares `live` or starts servers of its own, never both: a
server emptying the tables under a running one would leave that one's hub
ahead of the restarted positions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from graphql_api.db.engine import create_engine
from graphql_api.db.session import Database
from graphql_api.events import outbox
from tests.conftest import empty_tables, make_settings, unique_channel
from tests.subscriptions.credentials import grant_admin_key
from tests.subscriptions.servers import LiveServer, http_client

POLL = 0.01

# The embedded default (SQLite, in-process broker) and production (PostgreSQL + Redis).
CONFIGURATIONS = ("sqlite", "postgresql+redis")


async def empty_database(url: str) -> None:
    database = Database(create_engine(make_settings(url)))
    try:
        await empty_tables(database)
    finally:
        await database.dispose()
    await grant_admin_key(url)


def settings_for(
    configuration: str, database_urls: dict[str, str], redis_url: str, **overrides: Any
) -> Any:
    backend, _, broker = configuration.partition("+")
    if broker == "redis":
        overrides |= {"redis_url": redis_url, "events_channel": unique_channel(configuration)}
    return make_settings(database_urls[backend], **overrides)


@asynccontextmanager
async def running_server(settings: Any) -> AsyncIterator[LiveServer]:
    """A live server on emptied tables, which are emptied again once it has stopped."""
    await empty_database(settings.database_url)
    try:
        async with LiveServer(settings) as server:
            yield server
    finally:
        await empty_database(settings.database_url)


@pytest.fixture(scope="module", params=CONFIGURATIONS)
async def live(
    request: pytest.FixtureRequest, database_urls: dict[str, str], redis_url: str
) -> AsyncIterator[LiveServer]:
    """The real app under uvicorn, shared by the module's tests (one per configuration)."""
    async with running_server(settings_for(request.param, database_urls, redis_url)) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the live server; the test starts and ends with no subscriber left."""
    await wait_for_subscribers(live, 0)
    async with http_client(live.http_url) as client:
        yield client
    await wait_for_subscribers(live, 0)


def polls(within: float) -> Iterator[int]:
    """Poll rounds for `within` seconds: bounded in count, and in time too."""
    deadline = time.monotonic() + within
    for attempt in range(int(within / POLL) + 1):
        if time.monotonic() > deadline:
            return
        yield attempt


async def settle(server: LiveServer, within: float = 5.0) -> None:
    """Until every event committed so far has passed the server's hub.

    A commit returns before its event has gone round the broker; a subscription
    made meanwhile would still get it. Tests that want only later events settle first.
    """
    await asyncio.wait_for(server.runtime.events.publisher.idle(), within)
    async with server.db.read_session() as session:
        latest = await outbox.latest_position(session)
    hub = server.runtime.events.hub
    for _ in polls(within):
        if hub.last_position >= latest:
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"the hub is at {hub.last_position}, the outbox at {latest}")


async def wait_for_subscribers(server: LiveServer, count: int, within: float = 5.0) -> None:
    """Until the server's hub has `count` subscribers (a subscription is live once registered)."""
    hub = server.runtime.events.hub
    for _ in polls(within):
        if hub.subscriber_count == count:
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"{hub.subscriber_count} subscribers, expected {count}")
