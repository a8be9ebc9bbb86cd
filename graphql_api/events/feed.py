"""A subscription's stream: replay from the outbox after a cursor, then live.

The subscriber is registered with the hub before the replay starts, so events
committed during the replay wait in its queue; positions already replayed are
skipped when the live part begins. Together: no gap and no duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from graphql_api.db.session import Database
from graphql_api.events import outbox
from graphql_api.events.hub import Accepts, EventHub, SubscriberClosedError
from graphql_api.events.records import EventRecord

REPLAY_BATCH = 500


async def events(
    hub: EventHub,
    db: Database,
    *,
    accepts: Accepts,
    fund_id: uuid.UUID | None,
    after: int | None,
    capacity: int,
) -> AsyncIterator[EventRecord]:
    """Every event `accepts` admits: those after `after` first, then live ones."""
    subscriber = hub.subscribe(accepts, capacity)
    try:
        last = hub.last_position if after is None else after
        if after is not None:
            await _check_not_purged(db, after)
            while True:
                async with db.read_session() as session:
                    batch = await outbox.fetch_after(
                        session, last, fund_id=fund_id, limit=REPLAY_BATCH
                    )
                for record in batch:
                    last = record.position
                    if accepts(record):
                        yield record
                if len(batch) < REPLAY_BATCH:
                    break
        while (live := await subscriber.next()) is not None:
            if live.position > last:
                last = live.position
                yield live
    finally:
        hub.unsubscribe(subscriber)


async def _check_not_purged(db: Database, after: int) -> None:
    """Refuse a cursor older than what the outbox keeps (the replay would have a gap),
    and one from the future (live events up to it would be skipped)."""
    async with db.read_session() as session:
        earliest = await outbox.earliest_position(session)
        latest = await outbox.latest_position(session)
    if after > latest:
        raise SubscriberClosedError(
            "BAD_USER_INPUT", "`after` is not the cursor of an event that happened."
        )
    if earliest is not None and after + 1 < earliest:
        raise SubscriberClosedError(
            "CURSOR_EXPIRED",
            "Events after this cursor are older than the retention period and were "
            "purged; subscribe without `after` and reload the data instead.",
        )
