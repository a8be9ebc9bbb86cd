"""RedisBroker against a real Redis: fan-out, reconnection, failures, shutdown."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis.exceptions import RedisError

from graphql_api.events.broker import RedisBroker
from graphql_api.events.records import EventRecord
from tests.conftest import unique_channel
from tests.events.support import WAIT_SECONDS, eventually, make_record


class Listener:
    """What a hub would be to the broker: it remembers every batch and every (re)connection."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[list[EventRecord]] = asyncio.Queue()
        self.reconnects = 0

    async def on_events(self, records: list[EventRecord]) -> None:
        await self.batches.put(records)

    async def on_reconnect(self) -> None:
        self.reconnects += 1

    async def next_batch(self) -> list[EventRecord]:
        return await asyncio.wait_for(self.batches.get(), WAIT_SECONDS)


class Brokers:
    """Makes RedisBrokers whose connections carry a name of their own, and closes them all."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._made: list[RedisBroker] = []

    def make(self, channel: str, *, url: str | None = None) -> tuple[RedisBroker, str]:
        name = f"events-test-{uuid.uuid4().hex[:12]}"
        base = url or self._url
        separator = "&" if "?" in base else "?"
        broker = RedisBroker(f"{base}{separator}client_name={name}", channel)
        self._made.append(broker)
        return broker, name

    async def close(self) -> None:
        for broker in self._made:
            await broker.close()


@pytest.fixture
async def brokers(redis_url: str) -> AsyncIterator[Brokers]:
    made = Brokers(redis_url)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def subscriptions_of(admin: redis.Redis, name: str) -> list[dict[str, Any]]:
    """The Redis connections named `name` that hold a subscription."""
    clients: list[dict[str, Any]] = await admin.client_list()
    return [c for c in clients if c.get("name") == name and c.get("sub", "0") != "0"]


async def started(broker: RedisBroker, listener: Listener) -> None:
    await broker.start(listener.on_events, listener.on_reconnect)
    await eventually(lambda: broker.connected and listener.reconnects == 1, "the subscription")


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class TestRedisBroker:
    async def test_an_event_published_by_one_instance_reaches_every_instance(
        self, brokers: Brokers
    ) -> None:
        # Given two instances subscribed to the same channel
        channel = unique_channel("fan-out")
        (one, _), (two, _) = brokers.make(channel), brokers.make(channel)
        one_listener, two_listener = Listener(), Listener()
        await started(one, one_listener)
        await started(two, two_listener)

        # When the first publishes a batch
        batch = [make_record(1), make_record(2)]
        await one.publish(batch)

        # Then both receive it whole, payloads included
        for listener in (two_listener, one_listener):
            received = await listener.next_batch()
            assert received == batch
            assert [r.payload for r in received] == [r.payload for r in batch]

    async def test_instances_on_another_channel_hear_nothing(self, brokers: Brokers) -> None:
        # Given an instance on another channel, and one on ours
        (other, _), (ours, _) = brokers.make(unique_channel("x")), brokers.make(unique_channel("y"))
        other_listener, ours_listener = Listener(), Listener()
        await started(other, other_listener)
        await started(ours, ours_listener)

        # When ours publishes and the event has arrived on ours
        await ours.publish([make_record(1)])
        await ours_listener.next_batch()

        # Then the other channel received nothing
        assert other_listener.batches.empty()

    async def test_start_subscribes_once_and_announces_the_connection(
        self, brokers: Brokers, admin: redis.Redis
    ) -> None:
        # When an instance starts
        broker, name = brokers.make(unique_channel("start"))
        listener = Listener()
        await started(broker, listener)

        # Then on_reconnect ran once and the instance holds exactly one subscription
        assert listener.reconnects == 1
        assert len(await subscriptions_of(admin, name)) == 1

    async def test_reconnects_by_itself_when_its_connection_is_killed(
        self, brokers: Brokers, admin: redis.Redis
    ) -> None:
        # Given a subscribed instance
        channel = unique_channel("killed")
        broker, name = brokers.make(channel)
        listener = Listener()
        await started(broker, listener)
        (connection,) = await subscriptions_of(admin, name)

        # When Redis drops its subscription connection
        assert await admin.client_kill_filter(_id=connection["id"]) == 1

        # Then it subscribes again on its own, and asks the hub to catch up
        await eventually(
            lambda: listener.reconnects == 2 and broker.connected, "the resubscription"
        )
        (again,) = await subscriptions_of(admin, name)
        assert again["id"] != connection["id"]
        # And it receives what is published afterwards
        (publisher, _) = brokers.make(channel)
        batch = [make_record(7)]
        await publisher.publish(batch)
        assert await listener.next_batch() == batch

    async def test_publish_fails_promptly_when_redis_is_unreachable(self, brokers: Brokers) -> None:
        # Given an instance pointed at a port nothing listens on
        broker, _ = brokers.make(unique_channel("down"), url=f"redis://127.0.0.1:{closed_port()}/0")

        # When it publishes, then it fails with a Redis error within a few seconds
        started_at = time.monotonic()
        with pytest.raises(RedisError):
            await asyncio.wait_for(broker.publish([make_record(1)]), WAIT_SECONDS)
        assert time.monotonic() - started_at < 3

    async def test_an_unreachable_redis_leaves_it_disconnected_until_close(
        self, brokers: Brokers
    ) -> None:
        # Given an instance started against a port nothing listens on
        broker, _ = brokers.make(unique_channel("down"), url=f"redis://127.0.0.1:{closed_port()}/0")
        listener = Listener()
        before = asyncio.all_tasks()
        await broker.start(listener.on_events, listener.on_reconnect)
        (task,) = asyncio.all_tasks() - before

        # When it has been retrying for a while
        await asyncio.sleep(0.5)

        # Then it is not connected and never announced a connection
        assert not broker.connected
        assert listener.reconnects == 0
        # And close stops its retry loop at once
        await asyncio.wait_for(broker.close(), 2)
        assert task.done()

    async def test_close_stops_listening_and_releases_the_subscription(
        self, brokers: Brokers, admin: redis.Redis
    ) -> None:
        # Given a subscribed instance
        broker, name = brokers.make(unique_channel("close"))
        listener = Listener()
        before = asyncio.all_tasks()
        await started(broker, listener)
        (task,) = asyncio.all_tasks() - before
        assert task.get_name() == "redis-event-listener"

        # When it closes
        await asyncio.wait_for(broker.close(), WAIT_SECONDS)

        # Then its listener is done, it is disconnected, and Redis lets go of it
        assert task.done()
        assert not broker.connected
        for _ in range(100):
            if not await subscriptions_of(admin, name):
                break
            await asyncio.sleep(0.02)
        assert await subscriptions_of(admin, name) == []
