"""EventHub and Subscriber: in order, exactly once, gaps filled, slow subscribers cut off."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from graphql_api.db.session import Database
from graphql_api.events import outbox
from graphql_api.events.hub import EventHub, Subscriber, SubscriberClosedError
from graphql_api.events.records import EventRecord, EventType
from tests.events.support import (
    WAIT_SECONDS,
    make_record,
    positions,
    record_events,
    sequence,
)


def accept_all(_: EventRecord) -> bool:
    return True


async def received(subscriber: Subscriber, count: int) -> list[EventRecord]:
    """The next `count` events of a subscriber (each awaited with a bound)."""
    events = []
    for _ in range(count):
        event = await asyncio.wait_for(subscriber.next(), WAIT_SECONDS)
        assert event is not None, "the feed ended early"
        events.append(event)
    return events


def queued(subscriber: Subscriber) -> int:
    """How many items the subscriber's queue holds (its memory), read from the inside."""
    return subscriber._queue.qsize()  # no public view of its size


@pytest.fixture
async def hub(quiet_db: Database) -> AsyncIterator[EventHub]:
    """A hub that is not started: no poller, nothing delivered (last position 0)."""
    hub = EventHub(quiet_db, broker_connected=lambda: True)
    yield hub
    await hub.shutdown()


class TestEventHub:
    async def test_delivers_a_batch_in_position_order(self, hub: EventHub) -> None:
        # Given a subscriber
        subscriber = hub.subscribe(accept_all, capacity=10)

        # When a batch arrives out of order
        await hub.deliver([make_record(2), make_record(3), make_record(1)])

        # Then it is delivered in position order
        assert positions(await received(subscriber, 3)) == [1, 2, 3]
        assert hub.last_position == 3

    async def test_drops_duplicates_and_positions_already_delivered(self, hub: EventHub) -> None:
        # Given a subscriber, and events 1-2 delivered
        subscriber = hub.subscribe(accept_all, capacity=10)
        first, second, third = make_record(1), make_record(2), make_record(3)
        await hub.deliver([first, second])

        # When the same positions arrive again (at-least-once publishing), and then 3
        await hub.deliver([second])
        await hub.deliver([first, second])
        await hub.deliver([second, third, third])

        # Then each position was delivered once
        assert [event.event_id for event in await received(subscriber, 3)] == [
            first.event_id,
            second.event_id,
            third.event_id,
        ]
        assert queued(subscriber) == 0

    async def test_fills_a_gap_from_the_outbox_before_the_event_after_it(
        self, quiet_db: Database, hub: EventHub
    ) -> None:
        # Given events 1-3 in the outbox, and a subscriber
        await record_events(quiet_db, uuid.uuid4(), 3)
        one, two, three = await sequence(quiet_db)
        subscriber = hub.subscribe(accept_all, capacity=10)

        # When the broker announces 1, then 3 (the message for 2 was lost)
        await hub.deliver([one])
        await hub.deliver([three])

        # Then 2 is read from the outbox and delivered before 3
        events = await received(subscriber, 3)
        assert [event.event_id for event in events] == [
            one.event_id,
            two.event_id,
            three.event_id,
        ]
        assert events[1].payload == two.payload

    async def test_fills_a_gap_longer_than_one_outbox_read(
        self, quiet_db: Database, hub: EventHub
    ) -> None:
        # Given 1,200 sequenced events (more than one read of 500) and a subscriber
        fund_id = uuid.uuid4()
        async with quiet_db.unit_of_work() as uow:
            for number in range(1200):
                outbox.record(uow.session, EventType.FUND_UPDATED, fund_id, payload={"n": number})
        records = await sequence(quiet_db, limit=2000)
        subscriber = hub.subscribe(accept_all, capacity=2000)

        # When only the last one is announced
        await hub.deliver([records[-1]])

        # Then all of them are delivered, in order, once
        assert positions(await received(subscriber, 1200)) == list(range(1, 1201))
        assert queued(subscriber) == 0

    async def test_catch_up_delivers_events_the_broker_never_announced(
        self, quiet_db: Database, hub: EventHub
    ) -> None:
        # Given events 1-2 delivered, then 3-4 sequenced but never announced
        fund_id = uuid.uuid4()
        await record_events(quiet_db, fund_id, 2)
        await hub.deliver(await sequence(quiet_db))
        await record_events(quiet_db, fund_id, 2)
        await sequence(quiet_db)
        subscriber = hub.subscribe(accept_all, capacity=10)

        # When the hub catches up, twice
        await hub.catch_up()
        await hub.catch_up()

        # Then 3 and 4 are delivered once
        assert positions(await received(subscriber, 2)) == [3, 4]
        assert queued(subscriber) == 0
        assert hub.last_position == 4

    async def test_skips_positions_missing_from_the_outbox(
        self, quiet_db: Database, hub: EventHub
    ) -> None:
        # Given a subscriber and an outbox without positions 1-4 (purged)
        subscriber = hub.subscribe(accept_all, capacity=10)

        # When 5 is announced
        await hub.deliver([make_record(5)])

        # Then 5 is delivered, and 1-4 are not asked for again
        assert positions(await received(subscriber, 1)) == [5]
        assert hub.last_position == 5

    async def test_start_begins_at_the_end_of_the_outbox(self, quiet_db: Database) -> None:
        # Given three sequenced events
        await record_events(quiet_db, uuid.uuid4(), 3)
        await sequence(quiet_db)
        hub = EventHub(quiet_db, broker_connected=lambda: True, poll_seconds_connected=3600)

        # When a hub starts and catches up
        await hub.start()
        try:
            subscriber = hub.subscribe(accept_all, capacity=10)
            await hub.catch_up()

            # Then earlier events are not delivered live (they are the feeds' replay)
            assert hub.last_position == 3
            assert queued(subscriber) == 0
        finally:
            await hub.shutdown()

    async def test_the_poller_delivers_events_while_the_broker_is_down(
        self, quiet_db: Database
    ) -> None:
        # Given a started hub whose broker is disconnected (polling every 20 ms)
        hub = EventHub(
            quiet_db,
            broker_connected=lambda: False,
            poll_seconds_connected=3600,
            poll_seconds_disconnected=0.02,
        )
        await hub.start()
        try:
            subscriber = hub.subscribe(accept_all, capacity=10)

            # When events are sequenced and never announced
            await record_events(quiet_db, uuid.uuid4(), 2)
            await sequence(quiet_db)

            # Then the poller delivers them
            assert positions(await received(subscriber, 2)) == [1, 2]
        finally:
            await hub.shutdown()

    async def test_each_subscriber_gets_only_what_it_accepts(self, hub: EventHub) -> None:
        # Given a subscriber to fund A and one to every fund
        fund_a, fund_b = uuid.uuid4(), uuid.uuid4()
        only_a = hub.subscribe(lambda event: event.fund_id == fund_a, capacity=10)
        every = hub.subscribe(accept_all, capacity=10)

        # When events of A and B arrive
        await hub.deliver([make_record(1, fund_a), make_record(2, fund_b), make_record(3, fund_a)])

        # Then each receives what it asked for, in order
        assert positions(await received(only_a, 2)) == [1, 3]
        assert queued(only_a) == 0
        assert positions(await received(every, 3)) == [1, 2, 3]

    async def test_an_unsubscribed_subscriber_receives_nothing_more(self, hub: EventHub) -> None:
        # Given a subscriber that received event 1 and then left
        subscriber = hub.subscribe(accept_all, capacity=10)
        await hub.deliver([make_record(1)])
        hub.unsubscribe(subscriber)

        # When event 2 arrives
        await hub.deliver([make_record(2)])

        # Then it only has event 1
        assert hub.subscriber_count == 0
        assert positions(await received(subscriber, 1)) == [1]
        assert queued(subscriber) == 0

    async def test_a_slow_subscriber_is_cut_off_and_the_others_are_not(self, hub: EventHub) -> None:
        # Given a subscriber that can queue 3 events, and one that can queue 100
        slow = hub.subscribe(accept_all, capacity=3)
        fast = hub.subscribe(accept_all, capacity=100)

        # When 50 events arrive while the slow one reads nothing
        for position in range(1, 51):
            await hub.deliver([make_record(position)])
            # Then its queue never holds more than its capacity
            assert queued(slow) <= 3

        # And reading it reports why it was closed
        with pytest.raises(SubscriberClosedError) as closed:
            await asyncio.wait_for(slow.next(), WAIT_SECONDS)
        assert closed.value.code == "SUBSCRIBER_TOO_SLOW"
        assert "after" in closed.value.reason
        assert queued(slow) == 0
        # And the other subscriber got everything
        assert positions(await received(fast, 50)) == list(range(1, 51))

    async def test_shutdown_ends_feeds_after_the_events_already_queued(self, hub: EventHub) -> None:
        # Given a subscriber with two events queued
        subscriber = hub.subscribe(accept_all, capacity=10)
        await hub.deliver([make_record(1), make_record(2)])

        # When the hub shuts down, and another event arrives afterwards
        await hub.shutdown()
        await hub.deliver([make_record(3)])

        # Then the subscriber gets the two events, then the end of the feed
        assert positions(await received(subscriber, 2)) == [1, 2]
        assert await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) is None


class TestSubscriber:
    async def test_queues_up_to_its_capacity(self) -> None:
        # Given a subscriber of capacity 3
        subscriber = Subscriber(accept_all, capacity=3)

        # When exactly three events are offered
        for position in (1, 2, 3):
            subscriber.offer(make_record(position))

        # Then all three are delivered
        assert positions(await received(subscriber, 3)) == [1, 2, 3]

    async def test_one_event_beyond_its_capacity_closes_it_and_frees_the_queue(self) -> None:
        # Given a full subscriber of capacity 3
        subscriber = Subscriber(accept_all, capacity=3)
        for position in (1, 2, 3):
            subscriber.offer(make_record(position))

        # When a fourth and then many more are offered
        for position in range(4, 1000):
            subscriber.offer(make_record(position))

        # Then only the closing notice is held, and reading raises it
        assert queued(subscriber) == 1
        with pytest.raises(SubscriberClosedError) as closed:
            await asyncio.wait_for(subscriber.next(), WAIT_SECONDS)
        assert closed.value.code == "SUBSCRIBER_TOO_SLOW"

    async def test_finish_after_an_overflow_still_reports_the_overflow(self) -> None:
        # Given a subscriber cut off for being too slow
        subscriber = Subscriber(accept_all, capacity=1)
        subscriber.offer(make_record(1))
        subscriber.offer(make_record(2))

        # When it is finished (server shutting down)
        subscriber.finish()

        # Then the reader still learns that it was too slow
        with pytest.raises(SubscriberClosedError):
            await asyncio.wait_for(subscriber.next(), WAIT_SECONDS)
        assert queued(subscriber) == 0

    async def test_finish_on_a_full_queue_ends_it_after_the_queued_events(self) -> None:
        # Given a subscriber whose queue is full
        subscriber = Subscriber(accept_all, capacity=2)
        subscriber.offer(make_record(1))
        subscriber.offer(make_record(2))

        # When it is finished, and then offered more
        subscriber.finish()
        subscriber.offer(make_record(3))

        # Then it yields the queued events and then ends
        assert positions(await received(subscriber, 2)) == [1, 2]
        assert await asyncio.wait_for(subscriber.next(), WAIT_SECONDS) is None

    async def test_ignores_events_it_does_not_accept(self) -> None:
        # Given a subscriber of capacity 1 to one fund
        fund_id = uuid.uuid4()
        subscriber = Subscriber(lambda event: event.fund_id == fund_id, capacity=1)

        # When many events of other funds are offered, then one of its fund
        for position in range(1, 100):
            subscriber.offer(make_record(position))
        subscriber.offer(make_record(100, fund_id))

        # Then the others neither fill its queue nor close it
        assert positions(await received(subscriber, 1)) == [100]
