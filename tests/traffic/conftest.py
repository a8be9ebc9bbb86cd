"""Fixtures of the traffic tests: extra app instances with their own settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.traffic.support import Apps, RunningApps


@pytest.fixture(scope="session")
async def running_apps() -> AsyncIterator[RunningApps]:
    running = RunningApps()
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def instances(
    app: Any,
    database_urls: dict[str, str],
    backend: str,
    redis_url: str,
    running_apps: RunningApps,
) -> AsyncIterator[Apps]:
    """Apps on `backend`'s session database; the API keys and Redis keys of the test
    are deleted afterwards (take `db` as well to empty every table)."""
    started: Apps | None = None
    try:
        async with contextlib.AsyncExitStack() as exits:
            started = Apps(
                database_urls[backend], app.state.runtime.db, exits, running_apps, redis_url
            )
            yield started
    finally:
        if started is not None:
            await started.clean_up()


@pytest.fixture
async def admin(app: Any, instances: Apps) -> httpx.AsyncClient:
    """The session's app (default settings), called as an ADMIN through a fresh API key."""
    return await instances.client(app)
