"""Two server processes on one PostgreSQL and one Redis, as in production.

A subscriber on instance A gets what is committed through instance B within a
second. When Redis connections are cut (CLIENT KILL) while commitments go on,
or Redis is unreachable for a while (a proxy in front of it goes down), every
commitment still succeeds and the subscriber still gets every event exactly
once, in order (resubscribing with its last cursor if its stream ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis

from graphql_api.events.records import encode_cursor
from tests.conftest import WORKER
from tests.subscriptions.client import ServerClosedError, TransportWsClient
from tests.subscriptions.processes import fresh_postgres, server_env
from tests.subscriptions.proxy import TcpProxy
from tests.subscriptions.servers import ServerProcess, http_client, processes
from tests.subscriptions.support import (
    FUND_EVENTS,
    amount,
    amounts,
    commit,
    create_fund,
    create_investor,
    positions,
)

pytestmark = pytest.mark.slow


@dataclass(frozen=True, slots=True)
class Instances:
    a: ServerProcess
    b: ServerProcess
    redis_url: str
    names: tuple[str, str]  # the Redis client names of A's and B's connections
    proxy: TcpProxy  # both reach Redis through it


def _named(redis_url: str, name: str) -> str:
    """The Redis URL with a client name: the test finds (and cuts) only these connections."""
    return f"{redis_url}{'&' if '?' in redis_url else '?'}client_name={name}"


@pytest.fixture(scope="module")
async def instances(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Instances]:
    database_url = await fresh_postgres("instances")
    channel = f"graphql_api_test:{WORKER}:instances:{uuid.uuid4().hex[:8]}"
    names = (f"subs-{WORKER}-a-{uuid.uuid4().hex[:6]}", f"subs-{WORKER}-b-{uuid.uuid4().hex[:6]}")
    logs = tmp_path_factory.mktemp("instances")
    target = urlsplit(redis_url)
    async with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        proxied = target._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        a, b = (
            ServerProcess(server_env(database_url, _named(proxied, name), channel), logs / log)
            for name, log in zip(names, ("a.log", "b.log"), strict=True)
        )
        async with processes(a, b):
            yield Instances(a, b, redis_url, names, proxy)


@dataclass
class Follower:
    """A subscriber that resumes from its last cursor whenever its stream ends."""

    url: str
    fund: str
    received: list[dict[str, Any]] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: int = 0

    async def follow(self, expected: int, within: float) -> None:
        """Until `expected` events have come (then a moment of silence), within `within` s."""
        deadline = time.monotonic() + within
        for _ in range(10):  # at most ten (re)subscriptions
            after = self.received[-1]["cursor"] if self.received else encode_cursor(0)
            self.subscriptions += 1
            with contextlib.suppress(ServerClosedError):
                async with TransportWsClient.connect(self.url) as ws:
                    variables = {"fundId": self.fund, "after": after}
                    await ws.subscribe("follow", FUND_EVENTS, variables)
                    while len(self.received) < expected:
                        remaining = max(deadline - time.monotonic(), 0.01)
                        message = await ws.receive_for("follow", remaining)
                        if message["type"] != "next" or "errors" in message["payload"]:
                            break  # the stream ended: resubscribe from the last cursor
                        self.received.append(message["payload"]["data"]["fundEvents"])
                    else:
                        self.extra = await ws.expect_nothing(0.5)
                        return
            assert time.monotonic() < deadline, f"{len(self.received)} of {expected} events"
        raise AssertionError(f"still {len(self.received)} of {expected} events")


async def _cut_connections(redis_url: str, names: tuple[str, ...]) -> int:
    """CLIENT KILL every connection of the named clients (and only those); how many."""
    admin = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        clients = await admin.client_list()
        killed = 0
        for client in clients[:200]:
            if client.get("name") in names:
                killed += int(await admin.client_kill_filter(_id=client["id"]))
        return killed
    finally:
        await admin.aclose()


class TestTwoInstances:
    async def test_a_subscriber_on_a_gets_a_commitment_made_through_b_within_a_second(
        self, instances: Instances
    ) -> None:
        async with http_client(instances.b.http_url) as through_b:
            fund, investor = await create_fund(through_b), await create_investor(through_b)
            async with TransportWsClient.connect(instances.a.ws_url) as on_a:
                await on_a.subscribe(
                    "events", FUND_EVENTS, {"fundId": fund, "after": encode_cursor(0)}
                )
                created = await on_a.next_data("events")  # replayed: A's subscription is live
                latencies = []
                for index in range(5):
                    started = time.monotonic()
                    investment = await commit(through_b, fund, investor, amount(index))
                    event = (await on_a.next_data("events", within=5))["fundEvents"]
                    latencies.append(time.monotonic() - started)
                    assert event["investment"]["id"] == investment

        assert created["fundEvents"]["__typename"] == "FundCreatedEvent"
        assert max(latencies) < 1.0, latencies

    async def test_cut_redis_connections_delay_events_but_lose_none(
        self, instances: Instances
    ) -> None:
        commitments, rounds = 40, 3
        async with http_client(instances.b.http_url) as through_b:
            fund, investor = await create_fund(through_b), await create_investor(through_b)
            follower = Follower(instances.a.ws_url, fund)
            following = asyncio.create_task(follower.follow(1 + commitments, within=40))

            async def commit_steadily() -> list[str]:
                done = []
                for index in range(commitments):
                    done.append(await commit(through_b, fund, investor, amount(index)))
                    await asyncio.sleep(0.05)
                return done

            async def cut_repeatedly() -> list[int]:
                killed = []
                for _ in range(rounds):
                    await asyncio.sleep(0.5)
                    killed.append(await _cut_connections(instances.redis_url, instances.names))
                return killed

            try:
                committed, killed = await asyncio.gather(commit_steadily(), cut_repeatedly())
            finally:
                await following

        events = follower.received
        assert follower.extra == []
        assert all(count >= 2 for count in killed), killed  # both servers' subscriber connections
        assert events[0]["__typename"] == "FundCreatedEvent"
        assert [event["investment"]["id"] for event in events[1:]] == committed
        assert amounts(events[1:]) == [amount(i) for i in range(commitments)]
        assert len({event["eventId"] for event in events}) == len(events)
        assert positions(events) == sorted(positions(events))

    async def test_redis_unreachable_for_a_while_delays_events_but_loses_none(
        self, instances: Instances
    ) -> None:
        commitments, outage_seconds = 30, 2.0
        latencies: list[float] = []
        async with http_client(instances.b.http_url) as through_b:
            fund, investor = await create_fund(through_b), await create_investor(through_b)
            follower = Follower(instances.a.ws_url, fund)
            following = asyncio.create_task(follower.follow(1 + commitments, within=40))

            async def commit_steadily() -> list[str]:
                done = []
                for index in range(commitments):
                    started = time.monotonic()
                    done.append(await commit(through_b, fund, investor, amount(index)))
                    latencies.append(time.monotonic() - started)
                    await asyncio.sleep(0.1)
                return done

            async def outage() -> int:
                await asyncio.sleep(0.5)
                await instances.proxy.down()
                await asyncio.sleep(outage_seconds)
                before = instances.proxy.connections
                await instances.proxy.up()
                return before

            try:
                committed, connections_before = await asyncio.gather(commit_steadily(), outage())
            finally:
                await following

        events = follower.received
        assert follower.extra == []
        assert [event["investment"]["id"] for event in events[1:]] == committed
        assert len({event["eventId"] for event in events}) == len(events)
        assert positions(events) == sorted(positions(events))
        assert instances.proxy.connections > connections_before  # the servers came back
        assert max(latencies) < 1.0, latencies  # commitments never waited for Redis
