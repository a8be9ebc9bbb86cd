"""Resilience (issue 6, item 5): a dependency unreachable, or cut off under load.

Real services only: PostgreSQL and Redis on loopback, a closed loopback port for
"unreachable", `pg_terminate_backend` and `CLIENT KILL` for connections cut
mid-flight. Nothing here measures time: every `asyncio.wait_for` is a hang
guard (a hang is a failure, reported as such), and every loop is
bounded in count as well as in time.

A clean failure is HTTP 200 (or a request-level 503) whose errors all carry
`extensions.code == SERVICE_UNAVAILABLE` and say nothing internal; a 500, an
INTERNAL_SERVER_ERROR or a hang is never clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import redis.asyncio as redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from graphql_api.auth.credentials import api_key_prefix, new_api_key
from graphql_api.auth.principal import Role
from graphql_api.db.models import OutboxEvent
from graphql_api.db.models.user import ApiKey
from graphql_api.db.session import Database
from graphql_api.events import outbox
from graphql_api.events.hub import Subscriber
from graphql_api.events.records import EventRecord, EventType
from graphql_api.schema.ids import key_of
from graphql_api.settings import Settings
from tests.conftest import api_key_for, empty_tables, make_settings, unique_channel
from tests.identity.support import create_user, free_port, running_app

T = TypeVar("T")

HANG_GUARD = 30.0
"""The longest any single step may take before the test calls it a hang."""

CLOSED_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"
CLOSED_REDIS = "redis://127.0.0.1:1/0"
UNAVAILABLE = "SERVICE_UNAVAILABLE"

# What must never reach a client: tracebacks, driver/SQL text, addresses, masked errors.
LEAKS = (
    "Traceback",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "redis.",
    "redis://",
    "postgresql",
    "postgres@",
    "127.0.0.1",
    "Errno",
    "Connect call failed",
    "SELECT ",
    "INSERT ",
    "pg_terminate",
    "INTERNAL_SERVER_ERROR",
)

FUNDS = "query Funds { funds(first: 5) { totalCount nodes { id name } } }"
CREATE_FUND = """
mutation CreateFund($input: CreateFundInput!) {
  createFund(input: $input) { fund { id name } errors { code message } }
}
"""
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken errors { code } }
}
"""
ME = "{ me { id email } }"

TERMINATE_APP_BACKENDS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'graphql-api' AND datname = current_database()
  AND pid <> pg_backend_pid()
"""


# --- helpers ------------------------------------------------------------------------------


async def guarded(work: Awaitable[T], what: str) -> T:
    """`work`, or a failure naming `what` if it hangs (a guard, not a timing assertion)."""
    try:
        return await asyncio.wait_for(work, HANG_GUARD)
    except TimeoutError:
        raise AssertionError(f"{what} hung (no answer within {HANG_GUARD:g} s)") from None


@asynccontextmanager
async def client_of(
    app: Any, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app that sees a crash as the 500 a real server sends."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers or {}
    ) as http:
        yield http


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Any]:
    """A fresh app with its lifespan running; starting and stopping are hang-guarded."""
    context = running_app(settings)
    app = await guarded(context.__aenter__(), "the app's startup")
    try:
        yield app
    finally:
        await guarded(context.__aexit__(None, None, None), "the app's shutdown")


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    request = http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    return await guarded(request, "a GraphQL request")


def assert_no_leak(response: httpx.Response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [str((error.get("extensions") or {}).get("code")) for error in body.get("errors", [])]


def assert_cleanly_unavailable(response: httpx.Response) -> None:
    """The request failed the way a client can act on: SERVICE_UNAVAILABLE, nothing internal.

    A GraphQL response (200) or a request-level refusal (503) are both clean.
    """
    assert response.status_code in (200, 503), (response.status_code, response.text)
    body = response.json()
    codes = error_codes(body)
    assert codes, body
    assert set(codes) == {UNAVAILABLE}, body
    assert_no_leak(response)


def outcome_of(response: httpx.Response) -> str:
    """'ok' for a success, 'unavailable' for a clean failure; anything else fails the test."""
    if response.status_code == 200 and "errors" not in response.json():
        return "ok"
    assert_cleanly_unavailable(response)
    return "unavailable"


def fallbacks(metrics_page: str, dependency: str) -> float:
    """dependency_fallbacks_total{dependency=...} on a /metrics page (0 when absent)."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_page):
        for sample in family.samples:
            if (
                sample.name == "dependency_fallbacks_total"
                and sample.labels.get("dependency") == dependency
            ):
                total += sample.value
    return total


async def metrics_page(http: httpx.AsyncClient) -> str:
    response = await guarded(http.get("/metrics"), "/metrics")
    assert response.status_code == 200, response.text
    return response.text


def unreachable_database_url(backend: str, tmp_path: Path) -> str:
    """PostgreSQL on a closed loopback port; SQLite in a directory that does not exist."""
    if backend == "postgresql":
        return CLOSED_POSTGRES
    return f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'app.db'}"


async def api_key_id(db: Database, secret: str) -> uuid.UUID:
    async with db.read_session() as session:
        found = await session.execute(
            select(ApiKey.id).where(ApiKey.prefix == api_key_prefix(secret))
        )
        return found.scalar_one()


async def fund_names(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set((await connection.execute(text("SELECT name FROM funds"))).scalars())


async def unpublished(db: Database) -> int:
    async with db.read_session() as session:
        return await outbox.unpublished_count(session)


async def unsequenced(db: Database) -> int:
    async with db.read_session() as session:
        return await outbox.backlog(session)


def fund_input(name: str) -> dict[str, Any]:
    return {"input": {"name": name, "vintageYear": 2021, "targetSizeUsd": "1000000.00"}}


def created(response: httpx.Response) -> tuple[str, str] | None:
    """(fund global id, name) of a createFund that succeeded, else None."""
    if outcome_of(response) != "ok":
        return None
    payload = response.json()["data"]["createFund"]
    assert payload["errors"] == [], payload
    return payload["fund"]["id"], payload["fund"]["name"]


def created_if_mutation(response: httpx.Response) -> tuple[str, str] | None:
    """(id, name) of a successful createFund response; None for reads and failures."""
    if outcome_of(response) != "ok" or "createFund" not in response.json()["data"]:
        return None
    return created(response)


LOAD = 60
"""Requests per storm: every other one a createFund (named `<prefix> <number>`), the rest reads."""


def mixed_load(
    http: httpx.AsyncClient, prefix: str
) -> list[Callable[[], Awaitable[httpx.Response]]]:
    requests: list[Callable[[], Awaitable[httpx.Response]]] = []
    for number in range(LOAD):
        if number % 2:
            requests.append(partial(post, http, FUNDS))
        else:
            variables = fund_input(f"{prefix} {number:02d}")
            requests.append(partial(post, http, CREATE_FUND, variables))
    return requests


async def storm(
    requests: list[Callable[[], Awaitable[httpx.Response]]],
    kill: Callable[[], Awaitable[int]],
    kills: int,
) -> tuple[list[httpx.Response], list[int]]:
    """Run every request concurrently while `kill` cuts connections `kills` times.

    The killer waits for a request to be in flight before each cut, so each one
    lands under load; both sides are bounded in count and hang-guarded.
    """
    in_flight = asyncio.Event()

    async def one(request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        in_flight.set()
        return await request()

    async def killer() -> list[int]:
        killed = []
        for _ in range(kills):
            await in_flight.wait()
            await asyncio.sleep(0.02)
            killed.append(await kill())
        return killed

    async def everything() -> tuple[list[httpx.Response], list[int]]:
        killing = asyncio.create_task(killer())
        try:
            responses = await asyncio.gather(*(one(request) for request in requests))
        finally:
            killed = await killing
        return list(responses), killed

    return await guarded(everything(), "the storm")


# --- 1. the database is unreachable -------------------------------------------------------


async def test_with_the_database_unreachable_the_app_starts_and_answers_service_unavailable(
    backend: str, tmp_path: Path
) -> None:
    """PostgreSQL on a closed port (connection refused), or SQLite in a missing directory.

    The app starts anyway; an operation that needs the database (an anonymous
    `login`, which looks the account up) ends with SERVICE_UNAVAILABLE and no
    internal detail; readiness says the database is what failed; liveness is fine.
    """
    settings = make_settings(
        unreachable_database_url(backend, tmp_path),
        db_connect_timeout_seconds=2,
        db_pool_timeout_seconds=2,
        readiness_timeout_seconds=2,
    )
    async with started(settings) as app, client_of(app) as http:
        response = await post(
            http, LOGIN, {"email": "someone@example.com", "password": "c0rrect-h0rse-battery"}
        )
        assert_cleanly_unavailable(response)
        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"]["code"] == UNAVAILABLE

        ready = await guarded(http.get("/readyz"), "/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] != "ready"
        assert ready.json()["checks"]["database"] != "ok", ready.json()
        assert "redis" not in ready.json()["checks"]  # not configured: not checked
        assert_no_leak(ready)

        live = await guarded(http.get("/healthz"), "/healthz")
        assert live.status_code == 200


async def test_with_the_database_unreachable_an_authenticated_request_fails_cleanly(
    backend: str, tmp_path: Path
) -> None:
    """Authenticating needs the database too: an API key or an access token that looks
    valid must end with SERVICE_UNAVAILABLE (200 or 503), never a 500."""
    settings = make_settings(
        unreachable_database_url(backend, tmp_path),
        db_connect_timeout_seconds=2,
        db_pool_timeout_seconds=2,
    )
    async with started(settings) as app, client_of(app) as http:
        _, key = new_api_key()
        token = app.state.runtime.identity.identity.issuer.issue(
            uuid.uuid4(), Role.ADMIN.value, datetime.now(UTC)
        )
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {token}"}):
            response = await post(http, FUNDS, headers=headers)
            assert_cleanly_unavailable(response)


async def test_when_the_database_comes_back_the_app_recovers_by_itself(
    database_urls: dict[str, str],
) -> None:
    """PostgreSQL only (a TCP port that can be closed and opened again).

    The app starts against a loopback port nobody listens on, answers
    SERVICE_UNAVAILABLE and not ready; then a forwarder to the real server opens
    on that port, and the same app (no restart) serves and is ready again.
    """
    real = make_url(database_urls["postgresql"])
    port = free_port()
    url = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    settings = make_settings(url, db_connect_timeout_seconds=2, db_pool_timeout_seconds=2)

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                real.host or "127.0.0.1", real.port or 5432
            )
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async with started(settings) as app, client_of(app) as http:
        down = await post(http, LOGIN, {"email": "nobody@example.com", "password": "whatever-pass"})
        assert_cleanly_unavailable(down)
        assert (await guarded(http.get("/readyz"), "/readyz")).status_code == 503

        server = await asyncio.start_server(forward, "127.0.0.1", port)
        try:
            ready = await guarded(http.get("/readyz"), "/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
            # The very next request is served: nothing to restart, no retry needed.
            key = await guarded(api_key_for(app.state.runtime.db, Role.ADMIN), "an API key")
            response = await post(http, FUNDS, headers={"X-API-Key": key})
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.json()
        finally:
            await guarded(empty_tables(app.state.runtime.db), "emptying the tables")
            await app.state.runtime.db.dispose()
            server.close()
            await guarded(server.wait_closed(), "closing the forwarder")


# --- 2. Redis is unreachable -----------------------------------------------------------------


async def test_with_redis_unreachable_requests_fall_back_to_process_memory(
    backend: str, database_urls: dict[str, str]
) -> None:
    """REDIS_URL on a closed port: the app starts, API-key and access-token requests
    succeed (rate limits and the key-value store fall back to memory, counted in
    dependency_fallbacks_total), and readiness names Redis as what failed."""
    settings = make_settings(
        database_urls[backend],
        redis_url=CLOSED_REDIS,
        events_channel=unique_channel("redis-down"),
        readiness_timeout_seconds=2,
    )
    async with started(settings) as app:
        db: Database = app.state.runtime.db
        try:
            key = await api_key_for(db, Role.ADMIN)
            user = await create_user(app, role=Role.ANALYST)
            token = app.state.runtime.identity.identity.issuer.issue(
                user.id, user.role.value, datetime.now(UTC)
            )
            async with client_of(app) as http:
                before = await metrics_page(http)
                for _ in range(3):
                    response = await post(http, FUNDS, headers={"X-API-Key": key})
                    assert outcome_of(response) == "ok", response.text
                    cost = response.json()["extensions"]["cost"]["throttleStatus"]
                    assert cost["currentlyAvailable"] <= cost["maximumAvailable"]
                    me = await post(http, ME, headers={"Authorization": f"Bearer {token}"})
                    assert outcome_of(me) == "ok", me.text
                    assert me.json()["data"]["me"]["email"] == user.email
                mutation = await post(
                    http, CREATE_FUND, fund_input("Redis Down I"), headers={"X-API-Key": key}
                )
                assert created(mutation) is not None, mutation.text
                after = await metrics_page(http)
                assert fallbacks(after, "rate limits") > fallbacks(before, "rate limits")
                assert fallbacks(after, "key-value store") > fallbacks(before, "key-value store")

                ready = await guarded(http.get("/readyz"), "/readyz")
                assert ready.status_code == 503, ready.text
                checks = ready.json()["checks"]
                assert checks["database"] == "ok", checks
                assert checks["redis"] != "ok", checks
                assert_no_leak(ready)
                assert (await guarded(http.get("/healthz"), "/healthz")).status_code == 200

                # Events wait in the outbox (sequenced, not announced) while Redis is away.
                await guarded(app.state.runtime.events.publisher.drain(), "an outbox flush")
                assert await unsequenced(db) == 0
                assert await unpublished(db) >= 1
        finally:
            await guarded(empty_tables(db), "emptying the tables")


# --- 3. PostgreSQL connections terminated under load -------------------------------------


async def test_pg_terminate_backend_under_load_loses_no_committed_write(
    database_urls: dict[str, str],
) -> None:
    """PostgreSQL only (pg_terminate_backend has no SQLite equivalent).

    60 concurrent requests (reads and createFund) while the app's server
    connections are terminated 4 times: each response is a success or a clean
    SERVICE_UNAVAILABLE (no 500, no INTERNAL_SERVER_ERROR, no hang); every fund
    whose creation answered success is in the database; afterwards the very
    next request succeeds (pre-ping replaced the dead pooled connections).
    """
    url = database_urls["postgresql"]
    settings = make_settings(url, db_connect_timeout_seconds=5, db_pool_timeout_seconds=10)
    target = make_url(url)
    admin = await guarded(
        asyncpg.connect(
            host=target.host,
            port=target.port or 5432,
            user=target.username,
            password=target.password,
            database=target.database,
            server_settings={"application_name": "resilience-test-killer"},
        ),
        "the killer's connection",
    )

    async def terminate() -> int:
        return int(await admin.fetchval(TERMINATE_APP_BACKENDS))

    try:
        async with started(settings) as app:
            db: Database = app.state.runtime.db
            try:
                key = await api_key_for(db, Role.ADMIN)
                run = uuid.uuid4().hex[:8]
                async with client_of(app, {"X-API-Key": key}) as http:
                    # Warm the pool so the first cut has connections to kill.
                    assert outcome_of(await post(http, FUNDS)) == "ok"
                    requests = mixed_load(http, f"Storm {run}")
                    responses, killed = await storm(requests, terminate, kills=4)

                    assert sum(killed) > 0, "no backend was terminated: the storm tested nothing"
                    outcomes = [outcome_of(response) for response in responses]
                    assert "ok" in outcomes
                    funds = [fund for r in responses if (fund := created_if_mutation(r))]
                    succeeded = {fund_name for _, fund_name in funds}
                    in_database = await guarded(fund_names(db), "reading the funds")
                    assert succeeded <= in_database, succeeded - in_database
                    # Nothing appeared that was never asked for.
                    assert {n for n in in_database if n.startswith(f"Storm {run}")} <= {
                        f"Storm {run} {number:02d}" for number in range(0, LOAD, 2)
                    }

                    after = await post(http, FUNDS)
                    assert outcome_of(after) == "ok", after.text
                    created_after = await post(http, CREATE_FUND, fund_input(f"After {run}"))
                    assert created(created_after) is not None, created_after.text
            finally:
                await guarded(empty_tables(db), "emptying the tables")
    finally:
        await admin.close()


# --- 4. Redis connections killed under load ------------------------------------------------


async def test_redis_client_kill_under_load_keeps_serving_and_delivers_events(
    backend: str, database_urls: dict[str, str], redis_url: str
) -> None:
    """Redis with either database. The app's Redis connections (rate limits, key-value
    store, event broker; given a client name of their own through REDIS_URL so that
    no other client of this Redis is touched) are cut 4 times while 60 requests run.

    Every request succeeds or fails cleanly; afterwards rate limiting goes through
    Redis again (the bucket, deleted, is written again), the outbox has nothing
    unpublished after a flush, and a subscriber of the hub received the creation
    event of every fund whose creation answered success.
    """
    name = f"graphql-api-resilience-{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in redis_url else "?"
    settings = make_settings(
        database_urls[backend],
        redis_url=f"{redis_url}{separator}client_name={name}",
        events_channel=unique_channel("client-kill"),
    )
    admin = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)

    async def kill() -> int:
        clients = await admin.client_list()
        ids = [client["id"] for client in clients if client.get("name") == name]
        for client_id in ids:
            await admin.client_kill_filter(_id=client_id)
        return len(ids)

    try:
        async with started(settings) as app:
            db: Database = app.state.runtime.db
            hub = app.state.runtime.events.hub
            subscriber = hub.subscribe(lambda _: True, capacity=1000)
            try:
                key = await api_key_for(db, Role.ADMIN)
                bucket = f"graphql_api:bucket:api_key:{await api_key_id(db, key)}"
                run = uuid.uuid4().hex[:8]
                async with client_of(app, {"X-API-Key": key}) as http:
                    assert outcome_of(await post(http, FUNDS)) == "ok"
                    assert await admin.exists(bucket), "rate limiting does not use Redis"
                    requests = mixed_load(http, f"Kill {run}")
                    responses, killed = await storm(requests, kill, kills=4)

                    assert sum(killed) > 0, "no Redis client was killed: the storm tested nothing"
                    for response in responses:
                        outcome_of(response)
                    funds = [fund for r in responses if (fund := created_if_mutation(r))]
                    assert funds, "no createFund succeeded"
                    in_database = await guarded(fund_names(db), "reading the funds")
                    assert {fund_name for _, fund_name in funds} <= in_database

                    await rate_limiting_uses_redis_again(http, admin, bucket)

                # Every committed event is published and delivered, however long Redis was away.
                publisher = app.state.runtime.events.publisher
                await guarded(publisher.drain(), "an outbox flush")
                assert await unsequenced(db) == 0
                assert await unpublished(db) == 0
                await guarded(hub.catch_up(), "the hub catching up")
                expected = {key_of(fund_id, "Fund") for fund_id, _ in funds}
                await guarded(delivered(subscriber, expected), "delivering the creation events")
                assert await all_outbox_positions_set(db)
            finally:
                hub.unsubscribe(subscriber)
                await guarded(empty_tables(db), "emptying the tables")
    finally:
        await admin.aclose()


async def rate_limiting_uses_redis_again(
    http: httpx.AsyncClient, admin: redis.Redis, bucket: str
) -> None:
    """Delete the bucket, then request until it is written to Redis again.

    After a failure the breaker keeps Redis out for its cooldown (5 s), and each
    pooled connection that was killed while idle trips it once more when it is
    next used; the loop only waits for that to pass and is bounded (50 attempts,
    at least 25 s: several cooldowns).
    """
    await admin.delete(bucket)
    for _ in range(50):
        response = await post(http, FUNDS)
        assert outcome_of(response) == "ok", response.text
        if await admin.exists(bucket):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("rate limiting never went back to Redis after the storm")


async def delivered(subscriber: Subscriber, fund_ids: set[uuid.UUID | None]) -> None:
    """Read the subscriber's feed until a FUND_CREATED event of each fund arrived."""
    missing = set(fund_ids)
    for _ in range(10_000):
        if not missing:
            return
        event: EventRecord | None = await subscriber.next()
        assert event is not None, f"the feed ended; still missing {missing}"
        if event.event_type is EventType.FUND_CREATED:
            missing.discard(event.fund_id)
    raise AssertionError(f"never delivered: {missing}")


async def all_outbox_positions_set(db: Database) -> bool:
    async with db.read_session() as session:
        rows = (await session.execute(select(OutboxEvent.position))).scalars().all()
    return all(position is not None for position in rows)
