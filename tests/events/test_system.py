"""EventSystem: the broker chosen from the settings, all wired, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as redis

from graphql_api.db.engine import create_engine
from graphql_api.db.session import Database
from graphql_api.events.broker import InProcessBroker, RedisBroker
from graphql_api.events.hub import Subscriber
from graphql_api.events.system import EventSystem
from graphql_api.settings import Settings
from tests.conftest import make_settings, unique_channel
from tests.events.support import (
    WAIT_SECONDS,
    eventually,
    outbox_rows,
    positions,
    record_events,
    sequence,
    set_occurred_at,
)


def settings_for(db: Database, **overrides: Any) -> Settings:
    return make_settings(db.engine.url.render_as_string(hide_password=False), **overrides)


@asynccontextmanager
async def running(settings: Settings, db: Database) -> AsyncIterator[EventSystem]:
    """An EventSystem started on `db`; stopped at the end, the database's hook put back."""
    hook = db.on_events_committed
    system = EventSystem(settings, db)
    await system.start()
    try:
        yield system
    finally:
        await system.stop()
        db.on_events_committed = hook


@asynccontextmanager
async def second_database(settings: Settings) -> AsyncIterator[Database]:
    """Another engine on the same database, as another instance would have."""
    db = Database(create_engine(settings))
    try:
        yield db
    finally:
        await db.dispose()


def everything(_: object) -> bool:
    return True


async def received(subscriber: Subscriber, count: int) -> list[int]:
    events = [await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) for _ in range(count)]
    return positions([event for event in events if event is not None])


def new_tasks_left(before: set[asyncio.Task[Any]]) -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks() - before if not task.done()}


def is_connected(system: EventSystem) -> Callable[[], bool]:
    return lambda: system.broker.connected


class TestEventSystem:
    async def test_without_redis_it_runs_in_process_and_delivers_commits(
        self, quiet_db: Database
    ) -> None:
        # Given settings without REDIS_URL
        before = asyncio.all_tasks()
        async with running(settings_for(quiet_db), quiet_db) as system:
            # Then the in-process broker is used, and commits kick its publisher
            assert isinstance(system.broker, InProcessBroker)
            assert system.broker.connected
            assert quiet_db.on_events_committed == system.publisher.kick
            subscriber = system.hub.subscribe(everything, capacity=10)

            # When events are committed, then they reach the subscriber without a poll
            await record_events(quiet_db, uuid.uuid4(), 2)
            assert await received(subscriber, 2) == [1, 2]

        # And stopping leaves no task behind
        assert new_tasks_left(before) == set()

    @pytest.mark.parametrize(
        ("overrides", "expired_age", "kept_age"),
        [
            pytest.param({}, timedelta(days=7, hours=1), timedelta(days=6, hours=23), id="7-days"),
            pytest.param(
                {"outbox_retention_days": 0.5},
                timedelta(hours=12, minutes=1),
                timedelta(hours=11, minutes=59),
                id="half-a-day",
            ),
        ],
    )
    async def test_purges_after_the_configured_retention(
        self,
        quiet_db: Database,
        overrides: dict[str, Any],
        expired_age: timedelta,
        kept_age: timedelta,
    ) -> None:
        # Given sequenced events just older and just younger than the retention
        system = EventSystem(settings_for(quiet_db, **overrides), quiet_db)
        await record_events(quiet_db, uuid.uuid4(), 2)
        await sequence(quiet_db)
        now = datetime.now(UTC)
        await set_occurred_at(quiet_db, [1], now - expired_age)
        await set_occurred_at(quiet_db, [2], now - kept_age)

        # When the system's publisher purges
        removed = await system.publisher.purge()

        # Then only the older one is gone
        assert removed == 1
        assert [row.position for row in await outbox_rows(quiet_db)] == [2]

    async def test_stop_unhooks_the_database(self, quiet_db: Database) -> None:
        # Given a started system (commits kick its publisher)
        system = EventSystem(settings_for(quiet_db), quiet_db)
        await system.start()
        assert quiet_db.on_events_committed == system.publisher.kick

        # When it stops
        await system.stop()

        # Then commits no longer kick anything
        assert quiet_db.on_events_committed is None

    async def test_with_redis_it_uses_redis_and_delivers_commits(
        self, quiet_db: Database, redis_url: str
    ) -> None:
        # Given settings with REDIS_URL and a channel of this test's own
        settings = settings_for(
            quiet_db, redis_url=redis_url, events_channel=unique_channel("system")
        )
        before = asyncio.all_tasks()
        async with running(settings, quiet_db) as system:
            # Then a Redis broker is used, and it subscribes
            assert isinstance(system.broker, RedisBroker)
            await eventually(is_connected(system), "the Redis subscription")
            subscriber = system.hub.subscribe(everything, capacity=10)

            # When events are committed, then they come back through Redis
            await record_events(quiet_db, uuid.uuid4(), 3)
            assert await received(subscriber, 3) == [1, 2, 3]

        # And stopping leaves no task behind
        assert new_tasks_left(before) == set()
        assert not system.broker.connected

    async def test_a_commit_on_one_instance_reaches_the_subscribers_of_another(
        self, quiet_db: Database, redis_url: str
    ) -> None:
        # Given two instances (two engines) sharing a database and a Redis channel
        settings = settings_for(
            quiet_db, redis_url=redis_url, events_channel=unique_channel("instances")
        )
        async with (
            second_database(settings) as other_db,
            running(settings, quiet_db) as first,
            running(settings, other_db) as second,
        ):
            await eventually(is_connected(first), "the first subscription")
            await eventually(is_connected(second), "the second subscription")
            on_first = first.hub.subscribe(everything, capacity=10)
            on_second = second.hub.subscribe(everything, capacity=10)

            # When each instance commits an event
            await record_events(quiet_db, uuid.uuid4(), 1)
            assert await received(on_first, 1) == [1]
            await record_events(other_db, uuid.uuid4(), 1)

            # Then both instances' subscribers get both, in order, once
            assert await received(on_first, 1) == [2]
            assert await received(on_second, 2) == [1, 2]
            await first.publisher.idle()
            await second.publisher.idle()

    async def test_after_losing_redis_it_catches_up_from_the_outbox(
        self, quiet_db: Database, redis_url: str
    ) -> None:
        # Given a running instance whose subscription is named, and one delivered event
        name = f"events-test-{uuid.uuid4().hex[:12]}"
        settings = settings_for(
            quiet_db,
            redis_url=f"{redis_url}?client_name={name}",
            events_channel=unique_channel("outage"),
        )
        admin = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            async with running(settings, quiet_db) as system:
                await eventually(is_connected(system), "the Redis subscription")
                subscriber = system.hub.subscribe(everything, capacity=10)
                await record_events(quiet_db, uuid.uuid4(), 1)
                assert await received(subscriber, 1) == [1]
                # And two events whose announcement never reached Redis
                quiet_db.on_events_committed = None
                await record_events(quiet_db, uuid.uuid4(), 2)
                await sequence(quiet_db)

                # When Redis drops the instance's subscription connection
                clients = await admin.client_list()
                (connection,) = [
                    c for c in clients if c.get("name") == name and c.get("sub", "0") != "0"
                ]
                await admin.client_kill_filter(_id=connection["id"])

                # Then after resubscribing it delivers them from the outbox (no poll is due)
                assert await received(subscriber, 2) == [2, 3]
                assert system.broker.connected
        finally:
            await admin.aclose()
