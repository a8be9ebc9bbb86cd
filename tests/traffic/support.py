"""Shared pieces of the traffic tests: apps with their own settings, callers, costs."""

from __future__ import annotations

import contextlib
import uuid
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as redis
from sqlalchemy import delete

from graphql_api.auth.principal import Role
from graphql_api.db.models.user import ApiKey
from graphql_api.db.session import Database
from graphql_api.users import service as user_service
from tests.conftest import make_settings
from tests.graphql import PREFLIGHT
from tests.identity.support import http_client, running_app

# Production refuses to start with the development secret or a short one.
PRODUCTION: dict[str, Any] = {"app_env": "production", "jwt_secret": "traffic-tests-" + "s" * 40}
GRAPHQL_RESPONSE = "application/graphql-response+json"
BUCKET_PREFIX = "graphql_api:bucket:"  # RedisBuckets' key namespace
APQ_PREFIX = "graphql_api:apq:"  # RedisStore's namespace + the APQ key prefix

# Codes of the refusals that happen before anything runs.
LIMIT_CODES = {"QUERY_TOO_COMPLEX", "GRAPHQL_PARSE_FAILED", "RATE_LIMITED"}


class RunningApps:
    """Apps kept running from test to test, by back end and settings: building one (its
    schema above all) costs more than most of these tests. The least recently used are
    closed beyond `keep`, so that few database connections stay open."""

    def __init__(self, keep: int = 6) -> None:
        self._keep = keep
        self._running: OrderedDict[str, tuple[Any, AbstractAsyncContextManager[Any]]] = (
            OrderedDict()
        )

    async def get(self, database_url: str, overrides: dict[str, Any]) -> Any:
        key = repr((database_url, sorted(overrides.items())))
        if key in self._running:
            self._running.move_to_end(key)
            return self._running[key][0]
        while len(self._running) >= self._keep:
            _, (_, lifespan) = self._running.popitem(last=False)
            await lifespan.__aexit__(None, None, None)
        lifespan = running_app(make_settings(database_url, **overrides))
        app = await lifespan.__aenter__()
        self._running[key] = (app, lifespan)
        return app

    async def close(self) -> None:
        while self._running:
            _, (_, lifespan) = self._running.popitem()
            await lifespan.__aexit__(None, None, None)


@dataclass
class Apps:
    """Instances of the real app on the test's back end, each with the settings a test
    asks for, and HTTP clients for them.

    Apps with the same settings are shared by the tests of a session (`fresh=True`
    starts one of the test's own, closed after it): tests keep to themselves by calling
    with fresh API keys or from their own client addresses. The keys are deleted after
    the test (cheaper than emptying every table: tests that create records also take
    the `db` fixture).
    """

    database_url: str
    db: Database
    stack: contextlib.AsyncExitStack
    running: RunningApps
    redis_url: str
    redis_keys: list[str] = field(default_factory=list)
    api_keys: list[uuid.UUID] = field(default_factory=list)

    async def start(self, *, fresh: bool = False, **overrides: Any) -> Any:
        if not fresh:
            return await self.running.get(self.database_url, overrides)
        settings = make_settings(self.database_url, **overrides)
        return await self.stack.enter_async_context(running_app(settings))

    async def api_key(self, role: Role) -> str:
        async with self.db.unit_of_work() as uow:
            key, secret = await user_service.create_api_key(
                uow.session, f"traffic {role.value}", role, None, datetime.now(UTC)
            )
        self.api_keys.append(key.id)
        return secret

    async def client(
        self,
        app: Any,
        *,
        role: Role | None = Role.ADMIN,
        ip: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
    ) -> httpx.AsyncClient:
        """A client of `app`: with a fresh API key of `role`, or anonymous (role None)."""
        all_headers = dict(headers or {})
        if role is not None:
            all_headers["X-API-Key"] = await self.api_key(role)
        return await self.stack.enter_async_context(http_client(app, ip=ip, headers=all_headers))

    def forget_in_redis(self, *keys: str) -> None:
        """Redis keys this test creates, deleted after it (other runs share the server)."""
        self.redis_keys.extend(keys)

    async def clean_up(self) -> None:
        if self.api_keys:
            async with self.db.engine.begin() as connection:
                await connection.execute(delete(ApiKey).where(ApiKey.id.in_(self.api_keys)))
        if self.redis_keys:
            client = redis.Redis.from_url(self.redis_url)
            try:
                await client.delete(*self.redis_keys)
            finally:
                await client.aclose()


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> httpx.Response:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    if extensions is not None:
        payload["extensions"] = extensions
    return await http.post("/graphql", json=payload, headers=headers)


async def get(
    http: httpx.AsyncClient, params: dict[str, str], *, preflight: bool = True
) -> httpx.Response:
    return await http.get("/graphql", params=params, headers=PREFLIGHT if preflight else None)


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single top-level error of a refused request (and that nothing ran)."""
    errors = body.get("errors")
    assert errors is not None, body
    assert len(errors) == 1, body
    assert body.get("data") is None, body
    error: dict[str, Any] = errors[0]
    assert "path" not in error, error
    return error


def cost_of(body: dict[str, Any]) -> dict[str, Any]:
    """`extensions.cost`, checked to have every documented member."""
    cost: dict[str, Any] = body["extensions"]["cost"]
    assert set(cost) == {"requestedQueryCost", "actualQueryCost", "throttleStatus"}, cost
    assert set(cost["throttleStatus"]) == {
        "maximumAvailable",
        "currentlyAvailable",
        "restoreRate",
    }, cost
    return cost


def available(body: dict[str, Any]) -> int:
    value: int = cost_of(body)["throttleStatus"]["currentlyAvailable"]
    return value
