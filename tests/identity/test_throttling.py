"""Brute-force protection: failed logins counted per account and per client address."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from graphql_api.db.session import Database
from tests.conftest import make_settings, unique_channel
from tests.graphql import execute
from tests.identity.support import (
    LOGIN,
    LOGOUT,
    OTHER_PASSWORD,
    PASSWORD,
    assert_unauthenticated,
    bearer,
    create_user,
    http_client,
    running_app,
    session_of,
    status_with,
    unique_email,
    unique_ip,
)

PER_ACCOUNT = 3
PER_IP = 6
WINDOW_SECONDS = 600
REDIS_PREFIX = "graphql_api:"


def throttled_settings(database_url: str, **overrides: Any) -> Any:
    return make_settings(
        database_url,
        login_failures_per_account=PER_ACCOUNT,
        login_failures_per_ip=PER_IP,
        login_failure_window_seconds=WINDOW_SECONDS,
        **overrides,
    )


@pytest.fixture
async def throttled_app(
    database_urls: dict[str, str], backend: str, db: Database
) -> AsyncIterator[Any]:
    """The embedded mode (counts in process memory) with small limits."""
    async with running_app(throttled_settings(database_urls[backend])) as app:
        yield app


async def attempt(http: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    return await execute(http, LOGIN, {"email": email, "password": password})


async def fail(http: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        body = await attempt(http, email, OTHER_PASSWORD)
        assert body["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"


def assert_rate_limited(body: dict[str, Any]) -> None:
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= WINDOW_SECONDS
    assert f"{error['extensions']['retryAfter']} seconds" in error["message"]


def assert_logged_in(body: dict[str, Any]) -> None:
    assert "errors" not in body, body["errors"]
    assert body["data"]["login"]["errors"] == []
    assert body["data"]["login"]["accessToken"]


class TestAccountThrottle:
    async def test_after_too_many_failures_even_the_right_password_is_rate_limited(
        self, throttled_app: Any
    ) -> None:
        user = await create_user(throttled_app)
        async with http_client(throttled_app, ip=unique_ip()) as http:
            await fail(http, user.email, PER_ACCOUNT)

            body = await attempt(http, user.email, PASSWORD)

        assert_rate_limited(body)

    async def test_below_the_limit_the_right_password_works(self, throttled_app: Any) -> None:
        user = await create_user(throttled_app)
        async with http_client(throttled_app, ip=unique_ip()) as http:
            await fail(http, user.email, PER_ACCOUNT - 1)

            body = await attempt(http, user.email, PASSWORD)

        assert_logged_in(body)

    async def test_the_account_is_throttled_from_every_address(self, throttled_app: Any) -> None:
        user = await create_user(throttled_app)
        async with http_client(throttled_app, ip=unique_ip()) as attacker:
            await fail(attacker, user.email, PER_ACCOUNT)
        async with http_client(throttled_app, ip=unique_ip()) as elsewhere:
            body = await attempt(elsewhere, user.email, PASSWORD)

        assert_rate_limited(body)

    async def test_spellings_of_one_address_share_one_count(self, throttled_app: Any) -> None:
        user = await create_user(throttled_app)
        spellings = [user.email.upper(), f"  {user.email}", user.email.capitalize()]
        async with http_client(throttled_app, ip=unique_ip()) as http:
            for spelling in spellings:
                await fail(http, spelling, 1)

            body = await attempt(http, user.email, PASSWORD)

        assert_rate_limited(body)

    async def test_a_successful_login_clears_the_accounts_failures(
        self, throttled_app: Any
    ) -> None:
        user = await create_user(throttled_app)
        async with http_client(throttled_app, ip=unique_ip()) as http:
            await fail(http, user.email, PER_ACCOUNT - 1)
            assert_logged_in(await attempt(http, user.email, PASSWORD))
            await fail(http, user.email, PER_ACCOUNT - 1)

            body = await attempt(http, user.email, PASSWORD)

        assert_logged_in(body)

    async def test_unknown_accounts_are_throttled_like_real_ones(self, throttled_app: Any) -> None:
        ghost = unique_email("ghost")
        async with http_client(throttled_app, ip=unique_ip()) as http:
            await fail(http, ghost, PER_ACCOUNT)

            body = await attempt(http, ghost, PASSWORD)

        assert_rate_limited(body)


class TestAddressThrottle:
    async def test_other_accounts_from_the_address_work_until_the_address_limit(
        self, throttled_app: Any
    ) -> None:
        first, second, third = [await create_user(throttled_app) for _ in range(3)]
        address = unique_ip()
        async with http_client(throttled_app, ip=address) as http:
            await fail(http, first.email, PER_ACCOUNT)
            assert_rate_limited(await attempt(http, first.email, PASSWORD))
            assert_logged_in(await attempt(http, second.email, PASSWORD))
            await fail(http, second.email, PER_IP - PER_ACCOUNT)

            from_address = await attempt(http, third.email, PASSWORD)
        async with http_client(throttled_app, ip=unique_ip()) as elsewhere:
            from_elsewhere = await attempt(elsewhere, third.email, PASSWORD)

        assert_rate_limited(from_address)
        assert_logged_in(from_elsewhere)

    async def test_a_successful_login_does_not_clear_the_address_count(
        self, throttled_app: Any
    ) -> None:
        users = [await create_user(throttled_app) for _ in range(3)]
        async with http_client(throttled_app, ip=unique_ip()) as http:
            for user in users[:2]:
                await fail(http, user.email, PER_IP // 2)
                assert_rate_limited(await attempt(http, user.email, PASSWORD))

            body = await attempt(http, users[2].email, PASSWORD)

        assert_rate_limited(body)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def redis_keys(email: str, address: str) -> list[str]:
    """Where RedisStore keeps the two counts (namespaced with its fixed prefix)."""
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [
        f"{REDIS_PREFIX}login-fail:account:{account}",
        f"{REDIS_PREFIX}login-fail:ip:{address}",
    ]


@pytest.fixture
async def two_instances(
    database_urls: dict[str, str], backend: str, db: Database, redis_url: str
) -> AsyncIterator[tuple[Any, Any]]:
    """Two app instances sharing one Redis (and the session database)."""
    settings = throttled_settings(
        database_urls[backend], redis_url=redis_url, events_channel=unique_channel("throttle")
    )
    async with running_app(settings) as first, running_app(settings) as second:
        yield first, second


class TestThrottleAcrossInstances:
    async def test_failures_on_one_instance_count_on_the_other(
        self, two_instances: tuple[Any, Any], redis_client: redis.Redis
    ) -> None:
        first, second = two_instances
        user = await create_user(first)
        address = unique_ip()
        keys = redis_keys(user.email, address)
        try:
            async with http_client(first, ip=address) as http:
                await fail(http, user.email, PER_ACCOUNT)
            counts = [await redis_client.get(key) for key in keys]
            ttls = [await redis_client.ttl(key) for key in keys]
            async with http_client(second, ip=unique_ip()) as http:
                body = await attempt(http, user.email, PASSWORD)
        finally:
            await redis_client.delete(*keys)

        assert counts == [str(PER_ACCOUNT), str(PER_ACCOUNT)]
        assert all(0 < ttl <= WINDOW_SECONDS for ttl in ttls)
        assert_rate_limited(body)

    async def test_a_success_on_one_instance_clears_the_count_for_both(
        self, two_instances: tuple[Any, Any], redis_client: redis.Redis
    ) -> None:
        first, second = two_instances
        user = await create_user(first)
        address = unique_ip()
        try:
            async with http_client(first, ip=address) as on_first:
                await fail(on_first, user.email, PER_ACCOUNT - 1)
                async with http_client(second, ip=address) as on_second:
                    assert_logged_in(await attempt(on_second, user.email, PASSWORD))
                await fail(on_first, user.email, PER_ACCOUNT - 1)

                body = await attempt(on_first, user.email, PASSWORD)
        finally:
            await redis_client.delete(*redis_keys(user.email, address))

        assert_logged_in(body)

    async def test_a_logged_out_access_token_is_refused_by_every_instance(
        self, two_instances: tuple[Any, Any]
    ) -> None:
        first, second = two_instances
        user = await create_user(first)
        async with http_client(first, ip=unique_ip()) as on_first:
            session = await session_of(on_first, user.email)
            await execute(
                on_first, LOGOUT, {"token": session.refresh}, headers=bearer(session.access)
            )
        async with http_client(second) as on_second:
            response = await status_with(on_second, bearer(session.access))

        assert_unauthenticated(response)
