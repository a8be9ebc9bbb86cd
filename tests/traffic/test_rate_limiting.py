"""Cost-based rate limiting: a token bucket per principal, in process or shared in Redis.

Buckets here are small and refill slowly (or never), so every assertion counts
requests rather than measuring time.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from graphql_api.auth.principal import Role
from tests.graphql import error_codes, execute
from tests.identity.support import unique_ip
from tests.traffic.support import (
    BUCKET_PREFIX,
    GRAPHQL_RESPONSE,
    Apps,
    available,
    cost_of,
    only_error,
    post,
)

CHEAP = "{ __typename }"  # costs 1 point


async def start(instances: Apps, store: str, **overrides: Any) -> Any:
    """An app whose buckets live in process memory (`store` "memory") or in Redis."""
    if store == "redis":
        overrides["redis_url"] = instances.redis_url
    return await instances.start(**overrides)


async def anonymous(instances: Apps, app: Any) -> tuple[httpx.AsyncClient, str]:
    """An anonymous client from an address no other test uses (its Redis bucket is
    deleted after the test)."""
    ip = unique_ip()
    instances.forget_in_redis(f"{BUCKET_PREFIX}ip:{ip}")
    return await instances.client(app, role=None, ip=ip), ip


async def spend(http: httpx.AsyncClient, times: int) -> list[int]:
    """Run the cheap query `times` times; what was left after each."""
    left = []
    for _ in range(times):
        body = await execute(http, CHEAP)
        assert "errors" not in body, body["errors"]
        left.append(available(body))
    return left


@pytest.mark.parametrize("store", ["memory", "redis"])
class TestTheBucket:
    async def test_requests_are_refused_once_the_bucket_is_empty(
        self, instances: Apps, store: str
    ) -> None:
        # Given a bucket of 3 points refilling one point every 1000 seconds
        app = await start(
            instances, store, rate_limit_capacity=3, rate_limit_refill_per_second=0.001
        )
        http, _ = await anonymous(instances, app)

        # When three 1-point queries run, the bucket empties one point at a time
        assert await spend(http, 3) == [2, 1, 0]

        # Then the fourth is refused, says when to come back, and runs nothing
        body = await execute(http, CHEAP)
        error = only_error(body)
        assert error["extensions"]["code"] == "RATE_LIMITED"
        retry_after = error["extensions"]["retryAfter"]
        assert isinstance(retry_after, int)
        assert 900 < retry_after <= 1000
        assert f"retry in {retry_after} seconds" in error["message"]
        assert cost_of(body)["throttleStatus"]["currentlyAvailable"] == 0

    async def test_graphql_response_json_gets_429_and_retry_after(
        self, instances: Apps, store: str
    ) -> None:
        app = await start(
            instances, store, rate_limit_capacity=1, rate_limit_refill_per_second=0.001
        )
        http, _ = await anonymous(instances, app)
        await spend(http, 1)

        response = await post(http, CHEAP, headers={"Accept": GRAPHQL_RESPONSE})

        assert response.status_code == 429
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        error = only_error(response.json())
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert response.headers["retry-after"] == str(error["extensions"]["retryAfter"])

        # application/json (the legacy default) keeps 200, as the spec says
        assert (await post(http, CHEAP)).status_code == 200

    async def test_refused_requests_take_nothing(self, instances: Apps, store: str) -> None:
        app = await start(instances, store, rate_limit_capacity=2, rate_limit_refill_per_second=0)
        http, _ = await anonymous(instances, app)
        await spend(http, 1)
        # a 6-point query does not fit in the 1 point left
        body = await execute(http, "{ funds(first: 5) { nodes { id } } }")
        assert error_codes(body) == ["RATE_LIMITED"]
        assert cost_of(body)["requestedQueryCost"] == 6
        assert available(body) == 1
        # the point left is still there
        assert await spend(http, 1) == [0]

    async def test_a_bucket_that_does_not_refill_says_so(self, instances: Apps, store: str) -> None:
        app = await start(instances, store, rate_limit_capacity=1, rate_limit_refill_per_second=0)
        http, _ = await anonymous(instances, app)
        await spend(http, 1)
        error = only_error(await execute(http, CHEAP))
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] is None
        assert "does not refill" in error["message"]
        assert "inf" not in error["message"]

    async def test_an_operation_costing_more_than_the_whole_bucket_is_told_so(
        self, instances: Apps, store: str
    ) -> None:
        app = await start(instances, store, rate_limit_capacity=5, rate_limit_refill_per_second=1)
        http, _ = await anonymous(instances, app)
        error = only_error(await execute(http, "{ funds(first: 5) { nodes { id } } }"))
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] is None  # waiting would not help
        assert "more than the 5" in error["message"]
        assert "inf" not in error["message"]


class TestWhosePointsArePaid:
    async def test_each_api_key_has_its_own_bucket(self, instances: Apps) -> None:
        app = await instances.start(rate_limit_capacity=2, rate_limit_refill_per_second=0)
        first = await instances.client(app, role=Role.ANALYST)
        second = await instances.client(app, role=Role.ANALYST)

        assert await spend(first, 2) == [1, 0]
        assert error_codes(await execute(first, CHEAP)) == ["RATE_LIMITED"]

        assert await spend(second, 2) == [1, 0]

    async def test_anonymous_callers_are_counted_by_client_address(self, instances: Apps) -> None:
        app = await instances.start(rate_limit_capacity=2, rate_limit_refill_per_second=0)
        ip = unique_ip()
        one = await instances.client(app, role=None, ip=ip)
        same_address = await instances.client(app, role=None, ip=ip)
        other_address = await instances.client(app, role=None, ip=unique_ip())
        with_a_key = await instances.client(app, role=Role.ANALYST, ip=ip)

        await spend(one, 1)
        await spend(same_address, 1)
        assert error_codes(await execute(one, CHEAP)) == ["RATE_LIMITED"]
        assert error_codes(await execute(same_address, CHEAP)) == ["RATE_LIMITED"]

        assert await spend(other_address, 2) == [1, 0]
        # an authenticated caller at that address pays from its own bucket
        assert await spend(with_a_key, 2) == [1, 0]

    async def test_one_api_key_used_from_two_addresses_is_one_principal(
        self, instances: Apps
    ) -> None:
        app = await instances.start(rate_limit_capacity=2, rate_limit_refill_per_second=0)
        headers = {"X-API-Key": await instances.api_key(Role.ANALYST)}
        here = await instances.client(app, role=None, ip=unique_ip(), headers=headers)
        there = await instances.client(app, role=None, ip=unique_ip(), headers=headers)
        assert await spend(here, 1) == [1]
        assert await spend(there, 1) == [0]
        assert error_codes(await execute(here, CHEAP)) == ["RATE_LIMITED"]


class TestPerRoleLimits:
    async def test_a_role_can_have_a_bucket_of_its_own_size(self, instances: Apps) -> None:
        app = await instances.start(
            rate_limit_capacity=1_000,
            rate_limit_refill_per_second=0,
            rate_limits_by_role={"ANALYST": (2, 0)},
        )
        analyst = await instances.client(app, role=Role.ANALYST)
        admin = await instances.client(app, role=Role.ADMIN)

        body = await execute(analyst, CHEAP)
        assert cost_of(body)["throttleStatus"]["maximumAvailable"] == 2
        await spend(analyst, 1)
        assert error_codes(await execute(analyst, CHEAP)) == ["RATE_LIMITED"]

        # other roles keep the default
        body = await execute(admin, CHEAP)
        assert cost_of(body)["throttleStatus"]["maximumAvailable"] == 1_000
        assert await spend(admin, 3) == [998, 997, 996]

    async def test_a_role_s_refill_rate_is_reported(self, instances: Apps) -> None:
        app = await instances.start(rate_limits_by_role={"MANAGER": (50, 5)})
        body = await execute(await instances.client(app, role=Role.MANAGER), CHEAP)
        assert cost_of(body)["throttleStatus"] == {
            "maximumAvailable": 50,
            "currentlyAvailable": 49,
            "restoreRate": 5,
        }


class TestSharedThroughRedis:
    async def test_two_instances_draw_from_one_bucket(self, instances: Apps) -> None:
        # Given two instances of the server sharing one Redis
        settings = {
            "redis_url": instances.redis_url,
            "rate_limit_capacity": 3,
            "rate_limit_refill_per_second": 0,
        }
        first = await instances.start(fresh=True, **settings)
        second = await instances.start(fresh=True, **settings)
        ip = unique_ip()
        instances.forget_in_redis(f"{BUCKET_PREFIX}ip:{ip}")
        via_first = await instances.client(first, role=None, ip=ip)
        via_second = await instances.client(second, role=None, ip=ip)

        # When one caller's requests are spread over both
        assert await spend(via_first, 2) == [2, 1]
        assert await spend(via_second, 1) == [0]

        # Then both instances refuse the next one
        assert error_codes(await execute(via_first, CHEAP)) == ["RATE_LIMITED"]
        assert error_codes(await execute(via_second, CHEAP)) == ["RATE_LIMITED"]

    async def test_an_api_key_s_bucket_is_shared_and_expires_in_redis(
        self, instances: Apps, redis_url: str
    ) -> None:
        settings = {
            "redis_url": redis_url,
            "rate_limit_capacity": 2,
            "rate_limit_refill_per_second": 0,
        }
        first = await instances.start(fresh=True, **settings)
        second = await instances.start(fresh=True, **settings)
        key = await instances.api_key(Role.ANALYST)
        headers = {"X-API-Key": key}
        via_first = await instances.client(first, role=None, headers=headers)
        via_second = await instances.client(second, role=None, headers=headers)

        await spend(via_first, 1)
        await spend(via_second, 1)
        assert error_codes(await execute(via_first, CHEAP)) == ["RATE_LIMITED"]

        # The bucket is one Redis key, which expires (none is kept forever)
        name = f"{BUCKET_PREFIX}api_key:{instances.api_keys[-1]}"
        instances.forget_in_redis(name)
        client = redis.Redis.from_url(redis_url)
        try:
            assert await client.exists(name) == 1
            assert 0 < await client.ttl(name) <= 120
        finally:
            await client.aclose()
