"""The hub: one per instance, fanning events out to this instance's subscribers.

It delivers positions strictly in order, each exactly once. A notification that
skips ahead (a lost broker message) makes it read the missing events from the
outbox first; a periodic poll does the same while the broker is down. Each
subscriber has a bounded queue: one that falls behind is cut off with a reason
instead of growing memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from graphql_api.db.session import Database
from graphql_api.events import outbox
from graphql_api.events.records import EventRecord

logger = logging.getLogger(__name__)

Accepts = Callable[[EventRecord], bool]


class SubscriberClosedError(Exception):
    """The feed cannot go on; `reason` says why and what the client should do."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


_END = object()
_OVERFLOW = object()


class Subscriber:
    """A subscription's mailbox: the events it accepts, in order, up to `capacity` queued."""

    def __init__(self, accepts: Accepts, capacity: int) -> None:
        self.accepts = accepts
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=capacity + 1)
        self._capacity = capacity
        self._cut_off = False

    def offer(self, event: EventRecord) -> None:
        if self._cut_off or not self.accepts(event):
            return
        if self._queue.qsize() >= self._capacity:
            # Too far behind: drop what is queued (the client has not seen it and
            # will ask for it again with its last cursor) and say so at once.
            self._cut_off = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_OVERFLOW)
            return
        self._queue.put_nowait(event)

    def finish(self) -> None:
        """No more events will come (the server is shutting down)."""
        if not self._cut_off:
            self._cut_off = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_END)

    async def next(self) -> EventRecord | None:
        """The next event, or None when the feed has ended; raises when cut off."""
        item = await self._queue.get()
        if item is _OVERFLOW:
            raise SubscriberClosedError(
                "SUBSCRIBER_TOO_SLOW",
                "The subscription fell too far behind and was closed. Subscribe again "
                "with `after` set to the cursor of the last event received: nothing is lost.",
            )
        if item is _END:
            return None
        assert isinstance(item, EventRecord)
        return item


class EventHub:
    """Delivers every sequenced event once, in position order, to local subscribers."""

    def __init__(
        self,
        db: Database,
        *,
        broker_connected: Callable[[], bool],
        poll_seconds_connected: float = 5.0,
        poll_seconds_disconnected: float = 0.5,
    ) -> None:
        self._db = db
        self._broker_connected = broker_connected
        self._poll_connected = poll_seconds_connected
        self._poll_disconnected = poll_seconds_disconnected
        self._subscribers: set[Subscriber] = set()
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._no_subscribers = asyncio.Event()
        self._no_subscribers.set()
        self.last_position = 0
        self._initialised = True  # False only while start() could not find the end

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Start from the current end of the outbox; earlier events are the feeds' replay.

        With the database down the server still starts: the poller finds the end
        of the outbox once it answers (no one can subscribe before that, since
        authenticating needs the database too).
        """
        try:
            await self._find_the_end()
        except Exception:
            self._initialised = False
            logger.warning("event hub: the outbox is unreachable; will retry", exc_info=True)
        self._poller = asyncio.create_task(self._poll(), name="event-hub-poll")

    async def _find_the_end(self) -> None:
        async with self._db.read_session() as session:
            self.last_position = await outbox.latest_position(session)
        self._initialised = True

    def subscribe(self, accepts: Accepts, capacity: int) -> Subscriber:
        subscriber = Subscriber(accepts, capacity)
        self._subscribers.add(subscriber)
        self._no_subscribers.clear()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers:
            self._no_subscribers.set()

    async def until_no_subscribers(self, within: float) -> bool:
        """Wait (at most `within` seconds) for every feed to end; True when they all did."""
        try:
            await asyncio.wait_for(self._no_subscribers.wait(), within)
        except TimeoutError:
            return False
        return True

    async def deliver(self, records: Iterable[EventRecord]) -> None:
        """Take events from the broker; fill any gap before them from the outbox."""
        async with self._lock:
            if not self._initialised:
                await self._find_the_end()
            for record in sorted(records, key=lambda r: r.position):
                if record.position <= self.last_position:
                    continue  # already delivered (at-least-once publishing)
                if record.position > self.last_position + 1:
                    await self._fill(upto=record.position - 1)
                self._dispatch(record)

    async def catch_up(self) -> None:
        """Deliver whatever the outbox has beyond the last delivered position."""
        async with self._lock:
            if not self._initialised:
                await self._find_the_end()
                return
            await self._fill(upto=None)

    async def _fill(self, upto: int | None) -> None:
        while True:
            async with self._db.read_session() as session:
                batch = await outbox.fetch_after(session, self.last_position, upto=upto)
            for record in batch:
                self._dispatch(record)
            if len(batch) < 500:
                break
        if upto is not None and upto > self.last_position:
            self.last_position = upto  # purged or never-used positions: do not ask again

    def _dispatch(self, record: EventRecord) -> None:
        for subscriber in tuple(self._subscribers):
            subscriber.offer(record)
        self.last_position = record.position

    async def _poll(self) -> None:
        while True:
            connected = self._broker_connected()
            await asyncio.sleep(self._poll_connected if connected else self._poll_disconnected)
            try:
                await self.catch_up()
            except Exception:  # a database hiccup must not stop the poller
                logger.exception("event hub could not catch up from the outbox")

    async def shutdown(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for subscriber in tuple(self._subscribers):
            subscriber.finish()
