"""Publisher: flushes sequence and publish, kicks coalesce, a broker outage loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from graphql_api.db.session import Database
from graphql_api.events.hub import EventHub
from graphql_api.events.publisher import Publisher
from tests.events.conftest import RETENTION
from tests.events.support import (
    WAIT_SECONDS,
    RecordingBroker,
    eventually,
    outbox_rows,
    positions,
    record_events,
    sequence,
    set_occurred_at,
)


@pytest.fixture
async def broker() -> RecordingBroker:
    return RecordingBroker()


@pytest.fixture
async def publisher(quiet_db: Database, broker: RecordingBroker) -> AsyncIterator[Publisher]:
    publisher = Publisher(quiet_db, broker, relay_seconds=3600, retention=RETENTION)
    try:
        yield publisher
    finally:
        await publisher.stop()


class TestPublisher:
    async def test_flush_sequences_pending_events_and_publishes_them_in_order(
        self, quiet_db: Database, broker: RecordingBroker, publisher: Publisher
    ) -> None:
        # Given three committed, unsequenced events
        numbers = await record_events(quiet_db, uuid.uuid4(), 3)

        # When the publisher flushes
        await publisher.flush()

        # Then they were sequenced and published once, as one batch in position order
        assert [positions(batch) for batch in broker.batches] == [[1, 2, 3]]
        assert [record.payload["n"] for record in broker.batches[0]] == numbers
        assert [row.position for row in await outbox_rows(quiet_db)] == [1, 2, 3]

    async def test_flush_with_nothing_pending_publishes_nothing(
        self, quiet_db: Database, broker: RecordingBroker, publisher: Publisher
    ) -> None:
        # Given events already sequenced and published
        await record_events(quiet_db, uuid.uuid4(), 2)
        await publisher.flush()

        # When the publisher flushes again
        await publisher.flush()

        # Then nothing is published a second time
        assert broker.published_positions == [1, 2]

    async def test_many_kicks_coalesce_and_publish_every_event_once(
        self, quiet_db: Database, broker: RecordingBroker, publisher: Publisher
    ) -> None:
        # Given five pending events
        await record_events(quiet_db, uuid.uuid4(), 5)

        # When twenty kicks arrive at once
        for _ in range(20):
            publisher.kick()
        await asyncio.wait_for(publisher.idle(), WAIT_SECONDS)

        # Then one flush did the work: each event published once, in order
        assert [positions(batch) for batch in broker.batches] == [[1, 2, 3, 4, 5]]

    async def test_kicks_between_commits_publish_every_event_once_in_order(
        self, quiet_db: Database, broker: RecordingBroker, publisher: Publisher
    ) -> None:
        # Given the publisher kicked after each of thirty commits, as the app does
        quiet_db.on_events_committed = publisher.kick
        fund_id = uuid.uuid4()

        async def commit_many(count: int) -> None:
            for _ in range(count):
                await record_events(quiet_db, fund_id, 1)

        # When commits from three writers interleave with the flushes they kick
        await asyncio.wait_for(
            asyncio.gather(commit_many(10), commit_many(10), commit_many(10)), WAIT_SECONDS * 2
        )
        await asyncio.wait_for(publisher.idle(), WAIT_SECONDS)

        # Then every event was published exactly once, in position order, and none waits
        assert broker.published_positions == list(range(1, 31))
        assert [row.position for row in await outbox_rows(quiet_db)] == list(range(1, 31))

    async def test_a_broker_that_cannot_publish_loses_no_event(
        self, quiet_db: Database, broker: RecordingBroker, publisher: Publisher
    ) -> None:
        # Given a hub with a subscriber, and a broker whose Redis is down
        hub = EventHub(quiet_db, broker_connected=lambda: False)
        subscriber = hub.subscribe(lambda _: True, capacity=10)
        broker.failure = RedisConnectionError("Connection refused")
        numbers = await record_events(quiet_db, uuid.uuid4(), 3)

        # When the publisher flushes (it must not raise)
        await publisher.flush()

        # Then the events are sequenced although nobody was told
        assert broker.batches == []
        assert [row.position for row in await outbox_rows(quiet_db)] == [1, 2, 3]
        # And the hub's catch-up delivers them, in order
        await hub.catch_up()
        received = [await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) for _ in numbers]
        assert [(event.position, event.payload["n"]) for event in received] == list(
            zip([1, 2, 3], numbers, strict=True)
        )

    async def test_after_a_failed_publish_the_next_event_brings_the_missed_ones_in_order(
        self, quiet_db: Database, broker: RecordingBroker, publisher: Publisher
    ) -> None:
        # Given a hub listening to the broker, and two events whose publication failed
        hub = EventHub(quiet_db, broker_connected=lambda: broker.connected)
        await broker.start(hub.deliver, hub.catch_up)
        subscriber = hub.subscribe(lambda _: True, capacity=10)
        fund_id = uuid.uuid4()
        await record_events(quiet_db, fund_id, 2)
        broker.failure = RedisConnectionError("Connection refused")
        await publisher.flush()

        # When the broker is back and a new event is flushed
        broker.failure = None
        await record_events(quiet_db, fund_id, 1)
        await publisher.flush()

        # Then the subscriber has all three, in order, once
        events = [await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) for _ in range(3)]
        assert [event.position for event in events if event is not None] == [1, 2, 3]
        assert hub.last_position == 3
        assert 3 in broker.published_positions

    async def test_purge_deletes_only_sequenced_events_older_than_the_retention(
        self, quiet_db: Database, publisher: Publisher
    ) -> None:
        # Given sequenced events 8 days old and 6 days old
        fund_id = uuid.uuid4()
        await record_events(quiet_db, fund_id, 4)
        await sequence(quiet_db)
        now = datetime.now(UTC)
        await set_occurred_at(quiet_db, [1, 2], now - RETENTION - timedelta(days=1))
        await set_occurred_at(quiet_db, [3], now - RETENTION + timedelta(days=1))
        # And an 8-day-old event that was never sequenced
        (stuck,) = await record_events(quiet_db, fund_id, 1)
        async with quiet_db.unit_of_work() as uow:
            (row,) = [r for r in await outbox_rows(quiet_db) if r.position is None]
            row.occurred_at = now - RETENTION - timedelta(days=1)
            uow.session.add(row)

        # When the publisher purges with a 7-day retention
        removed = await publisher.purge()

        # Then only the two old sequenced events are gone
        assert removed == 2
        kept = [(row.position, row.payload["n"]) for row in await outbox_rows(quiet_db)]
        assert [position for position, _ in kept] == [3, 4, None]
        assert kept[-1][1] == stuck

    async def test_the_relay_publishes_events_nobody_kicked_a_flush_for(
        self, quiet_db: Database, broker: RecordingBroker
    ) -> None:
        # Given a relay every 50 ms, and events committed without a kick (a crash after commit)
        relay = Publisher(quiet_db, broker, relay_seconds=0.05, retention=RETENTION)
        relay.start_relay()
        try:
            await record_events(quiet_db, uuid.uuid4(), 2)

            # When the relay has had time to go round, then it published them once
            await eventually(lambda: broker.published_positions == [1, 2], "the relay")
            await record_events(quiet_db, uuid.uuid4(), 1)
            await eventually(lambda: broker.published_positions == [1, 2, 3], "the relay")
        finally:
            await relay.stop()

    async def test_the_relay_purges_expired_events_when_it_starts(
        self, quiet_db: Database, broker: RecordingBroker
    ) -> None:
        # Given three sequenced events older than the retention
        await record_events(quiet_db, uuid.uuid4(), 3)
        await sequence(quiet_db)
        old = datetime.now(UTC) - RETENTION - timedelta(hours=1)
        await set_occurred_at(quiet_db, [1, 2, 3], old)

        # When a relay starts, then the old events are purged soon after, except
        # the newest, which is always kept so that no position is handed out twice
        relay = Publisher(quiet_db, broker, relay_seconds=3600, retention=RETENTION)
        relay.start_relay()
        try:
            for _ in range(250):
                if len(await outbox_rows(quiet_db)) == 1:
                    break
                await asyncio.sleep(0.02)
            assert [row.position for row in await outbox_rows(quiet_db)] == [3]
        finally:
            await relay.stop()

    async def test_stop_cancels_the_relay_and_pending_flushes(
        self, quiet_db: Database, publisher: Publisher
    ) -> None:
        # Given a running relay and a kicked flush
        before = asyncio.all_tasks()
        publisher.start_relay()
        publisher.kick()
        started = asyncio.all_tasks() - before
        assert {task.get_name() for task in started} == {"outbox-relay", "outbox-flush"}

        # When the publisher stops
        await asyncio.wait_for(publisher.stop(), WAIT_SECONDS)

        # Then none of its tasks is left running
        assert all(task.done() for task in started)
