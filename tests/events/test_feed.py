"""events.feed.events: replay after a cursor, then live, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from graphql_api.events import feed
from graphql_api.events.hub import Accepts, SubscriberClosedError
from graphql_api.events.records import EventRecord
from tests.events.conftest import RETENTION, Rig
from tests.events.support import (
    WAIT_SECONDS,
    eventually,
    positions,
    record_events,
    sequence,
    set_occurred_at,
)

Feed = AsyncGenerator[EventRecord, None]


def accept_all(_: EventRecord) -> bool:
    return True


class Feeds:
    """Opens feeds on the rig's hub and closes every one of them at the end of the test."""

    def __init__(self, rig: Rig) -> None:
        self._rig = rig
        self._open: list[Feed] = []

    def open(
        self,
        *,
        after: int | None,
        fund_id: uuid.UUID | None = None,
        accepts: Accepts = accept_all,
        capacity: int = 100,
    ) -> Feed:
        stream = feed.events(
            self._rig.hub,
            self._rig.db,
            accepts=accepts,
            fund_id=fund_id,
            after=after,
            capacity=capacity,
        )
        self._open.append(cast(Feed, stream))
        return self._open[-1]

    async def close(self) -> None:
        for stream in self._open:
            await stream.aclose()


@pytest.fixture
async def feeds(rig: Rig) -> AsyncIterator[Feeds]:
    opened = Feeds(rig)
    try:
        yield opened
    finally:
        await opened.close()


async def publish(rig: Rig, fund_id: uuid.UUID, count: int = 1) -> list[int]:
    """Commit events and run the publisher (in-process broker: the hub has them on return)."""
    numbers = await record_events(rig.db, fund_id, count)
    await rig.publisher.flush()
    return numbers


async def take(stream: Feed, count: int) -> list[EventRecord]:
    return [await asyncio.wait_for(anext(stream), WAIT_SECONDS) for _ in range(count)]


async def next_live(rig: Rig, stream: Feed, fund_id: uuid.UUID) -> EventRecord:
    """Wait on the feed, then commit one event of `fund_id` (which the feed may or not accept)."""
    waiting = asyncio.create_task(anext(stream))
    try:
        await eventually(lambda: rig.hub.subscriber_count > 0, "the feed to subscribe")
        await publish(rig, fund_id)
        return await asyncio.wait_for(asyncio.shield(waiting), WAIT_SECONDS)
    finally:
        if not waiting.done():
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)


class TestEventsFeed:
    async def test_without_a_cursor_only_live_events_are_delivered(
        self, rig: Rig, feeds: Feeds
    ) -> None:
        # Given two events already delivered
        fund_id = uuid.uuid4()
        await publish(rig, fund_id, 2)

        # When a feed without `after` starts and a third event is committed
        stream = feeds.open(after=None)
        event = await next_live(rig, stream, fund_id)

        # Then the feed's first event is the third one
        assert event.position == 3

    async def test_with_a_cursor_replays_what_follows_it_then_goes_live(
        self, rig: Rig, feeds: Feeds
    ) -> None:
        # Given three delivered events
        fund_id = uuid.uuid4()
        numbers = await publish(rig, fund_id, 3)

        # When a feed resumes after the first one
        stream = feeds.open(after=1)
        replayed = await take(stream, 2)
        live = await next_live(rig, stream, fund_id)

        # Then it replays 2 and 3 from the outbox, and then delivers 4 live
        assert positions(replayed) == [2, 3]
        assert [event.payload["n"] for event in replayed] == numbers[1:]
        assert live.position == 4

    async def test_a_cursor_at_the_latest_event_replays_nothing(
        self, rig: Rig, feeds: Feeds
    ) -> None:
        # Given three delivered events
        fund_id = uuid.uuid4()
        await publish(rig, fund_id, 3)

        # When a feed resumes after the last one
        stream = feeds.open(after=3)

        # Then the next event it gets is the next one committed
        assert (await next_live(rig, stream, fund_id)).position == 4

    async def test_events_committed_during_the_replay_come_once_and_in_order(
        self, rig: Rig, feeds: Feeds, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given three delivered events, and a replay that reads two at a time
        monkeypatch.setattr(feed, "REPLAY_BATCH", 2)
        fund_id = uuid.uuid4()
        await publish(rig, fund_id, 3)
        stream = feeds.open(after=0)

        # When events are committed and delivered between the replay's steps:
        # 4 and 5 reach both the replay (from the outbox) and the feed's live queue
        collected = await take(stream, 1)
        await publish(rig, fund_id)
        collected += await take(stream, 1)
        await publish(rig, fund_id)
        collected += await take(stream, 3)
        collected.append(await next_live(rig, stream, fund_id))

        # Then every event came exactly once, in position order
        assert positions(collected) == [1, 2, 3, 4, 5, 6]
        assert len({event.event_id for event in collected}) == 6

    async def test_an_event_replayed_before_the_hub_saw_it_is_not_delivered_twice(
        self, rig: Rig, feeds: Feeds, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given two delivered events, and a feed replaying after the first, one at a time
        monkeypatch.setattr(feed, "REPLAY_BATCH", 1)
        fund_id = uuid.uuid4()
        await publish(rig, fund_id, 2)
        stream = feeds.open(after=1)
        assert positions(await take(stream, 1)) == [2]

        # When event 3 is sequenced (say by another instance) but not announced yet,
        # and the replay has not finished
        await record_events(rig.db, fund_id, 1)
        await sequence(rig.db)
        assert positions(await take(stream, 1)) == [3]
        # And the hub learns about it only afterwards
        await rig.hub.catch_up()

        # Then the next event the feed yields is 4, not 3 again
        assert (await next_live(rig, stream, fund_id)).position == 4

    async def test_a_cursor_older_than_the_purged_events_is_refused(
        self, rig: Rig, feeds: Feeds
    ) -> None:
        # Given events 1-3, of which 1 and 2 were purged
        fund_id = uuid.uuid4()
        await publish(rig, fund_id, 3)
        await set_occurred_at(rig.db, [1, 2], datetime.now(UTC) - RETENTION - timedelta(days=1))
        assert await rig.publisher.purge() == 2

        # When feeds resume after 0 and after 1
        for after in (0, 1):
            stream = feeds.open(after=after)

            # Then each is refused: the replay would miss events
            with pytest.raises(SubscriberClosedError) as closed:
                await asyncio.wait_for(anext(stream), WAIT_SECONDS)
            assert closed.value.code == "CURSOR_EXPIRED"
        # And they left no subscriber behind
        assert rig.hub.subscriber_count == 0
        # But a cursor at the oldest purged position still works
        assert positions(await take(feeds.open(after=2), 1)) == [3]

    async def test_a_fund_feed_replays_and_delivers_only_that_fund(
        self, rig: Rig, feeds: Feeds
    ) -> None:
        # Given events of two funds, interleaved (A: 1 and 3; B: 2 and 4)
        fund_a, fund_b = uuid.uuid4(), uuid.uuid4()
        for fund_id in (fund_a, fund_b, fund_a, fund_b):
            await publish(rig, fund_id)

        # When a feed of fund A resumes from the start
        stream = feeds.open(after=0, fund_id=fund_a, accepts=lambda e: e.fund_id == fund_a)
        replayed = await take(stream, 2)
        # And B, then A commit again
        waiting = asyncio.create_task(anext(stream))
        await publish(rig, fund_b)
        await publish(rig, fund_a)
        live = await asyncio.wait_for(waiting, WAIT_SECONDS)

        # Then it only sees fund A's events, in order
        assert [(event.position, event.fund_id) for event in replayed] == [
            (1, fund_a),
            (3, fund_a),
        ]
        assert (live.position, live.fund_id) == (6, fund_a)

    async def test_a_feed_too_slow_for_its_queue_is_closed_and_can_resume_without_loss(
        self, rig: Rig, feeds: Feeds
    ) -> None:
        # Given a live feed with room for two queued events, which received event 1
        fund_id = uuid.uuid4()
        stream = feeds.open(after=None, capacity=2)
        first = await next_live(rig, stream, fund_id)

        # When five more events arrive before it reads again
        await publish(rig, fund_id, 5)

        # Then it is closed as too slow, and unsubscribed
        with pytest.raises(SubscriberClosedError) as closed:
            await asyncio.wait_for(anext(stream), WAIT_SECONDS)
        assert closed.value.code == "SUBSCRIBER_TOO_SLOW"
        assert rig.hub.subscriber_count == 0
        # And resuming after the last event it received misses nothing
        resumed = feeds.open(after=first.position)
        assert positions(await take(resumed, 5)) == [2, 3, 4, 5, 6]

    async def test_a_feed_ends_when_the_hub_shuts_down(self, rig: Rig, feeds: Feeds) -> None:
        # Given a live feed waiting for events
        stream = feeds.open(after=None)
        waiting = asyncio.create_task(anext(stream))
        await eventually(lambda: rig.hub.subscriber_count == 1, "the feed to subscribe")

        # When the hub shuts down
        await rig.hub.shutdown()

        # Then the feed ends and unsubscribes
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, WAIT_SECONDS)
        assert rig.hub.subscriber_count == 0
