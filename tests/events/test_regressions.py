"""Event bugs found once, kept from coming back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

from graphql_api.db.session import Database
from graphql_api.events import feed
from graphql_api.events.broker import RedisBroker
from graphql_api.events.hub import SubscriberClosedError
from graphql_api.events.publisher import Publisher
from graphql_api.events.records import EventRecord, decode_cursor, encode_cursor
from tests.conftest import unique_channel
from tests.events.conftest import RETENTION, Rig
from tests.events.support import (
    RecordingBroker,
    eventually,
    make_record,
    outbox_rows,
    record_events,
    sequence,
    set_occurred_at,
)

OLD = datetime.now(UTC) - RETENTION - timedelta(days=1)


class TestPositionsAfterAPurge:
    async def test_are_never_handed_out_twice(self, rig: Rig) -> None:
        # Given two delivered events, both older than the retention
        fund = uuid.uuid4()
        await record_events(rig.db, fund, 2)
        await rig.publisher.flush()
        await set_occurred_at(rig.db, [1, 2], OLD)
        subscriber = rig.hub.subscribe(lambda _: True, capacity=10)

        # When they are purged and a new event is committed
        await rig.publisher.purge()
        await record_events(rig.db, fund, 1)
        await rig.publisher.flush()

        # Then the newest old position was kept, and the new event got the next one
        assert [row.position for row in await outbox_rows(rig.db)] == [2, 3]
        delivered = await asyncio.wait_for(subscriber.next(), 2)
        assert delivered is not None
        assert delivered.position == 3

    async def test_only_a_leading_run_of_positions_is_purged(self, quiet_db: Database) -> None:
        # Given positions 1..4 where position 2 happened later than 3 (commit order
        # differs from the order the changes were made in)
        await record_events(quiet_db, uuid.uuid4(), 4)
        await sequence(quiet_db)
        await set_occurred_at(quiet_db, [1, 3, 4], OLD)
        await set_occurred_at(quiet_db, [2], datetime.now(UTC))
        publisher = Publisher(quiet_db, RecordingBroker(), relay_seconds=3600, retention=RETENTION)

        # When the purge runs
        removed = await publisher.purge()

        # Then only position 1 goes: 3 stays, or a replay after 1 would skip it unnoticed
        assert removed == 1
        assert [row.position for row in await outbox_rows(quiet_db)] == [2, 3, 4]


class TestPublishing:
    async def test_marks_events_published_only_once_the_broker_took_them(
        self, quiet_db: Database
    ) -> None:
        broker = RecordingBroker(failure=RedisConnectionError("down"))
        publisher = Publisher(quiet_db, broker, relay_seconds=3600, retention=RETENTION)
        await record_events(quiet_db, uuid.uuid4(), 2)

        await publisher.flush()
        after_failure = await outbox_rows(quiet_db)
        broker.failure = None
        await publisher.flush()
        after_recovery = await outbox_rows(quiet_db)

        assert [(row.position, row.published_at) for row in after_failure] == [(1, None), (2, None)]
        assert broker.published_positions == [1, 2]
        assert all(row.published_at is not None for row in after_recovery)


class TestCursors:
    @pytest.mark.parametrize("alias", ["ZXY6MQ==", "ZXY6MQ===", encode_cursor(1)[:-1] + "R"])
    def test_only_the_canonical_form_is_accepted(self, alias: str) -> None:
        with pytest.raises(ValueError, match="not an event cursor"):
            decode_cursor(alias)

    async def test_a_cursor_from_the_future_is_refused(self, rig: Rig) -> None:
        await record_events(rig.db, uuid.uuid4(), 1)
        await rig.publisher.flush()

        stream = feed.events(
            rig.hub, rig.db, accepts=lambda _: True, fund_id=None, after=100, capacity=10
        )
        with pytest.raises(SubscriberClosedError) as refused:
            await anext(stream)

        assert refused.value.code == "BAD_USER_INPUT"


class TestRedisListener:
    async def test_survives_a_malformed_message_and_a_failing_handler(self, redis_url: str) -> None:
        channel = unique_channel("resilient")
        broker = RedisBroker(redis_url, channel)
        received: list[EventRecord] = []
        calls = 0

        async def on_events(records: list[EventRecord]) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("the database hiccupped")
            received.extend(records)

        async def on_reconnect() -> None:
            return None

        client = redis.Redis.from_url(redis_url)
        await broker.start(on_events, on_reconnect)
        try:
            await eventually(lambda: broker.connected, "the broker to subscribe")
            await client.publish(channel, b"not json at all")
            event = make_record(1)
            await broker.publish([event])  # the handler fails on this one
            await broker.publish([make_record(2)])  # and takes this one

            await eventually(lambda: len(received) == 1, "the second message")
            assert broker.connected
            assert [r.position for r in received] == [2]
        finally:
            await broker.close()
            await client.aclose()
