"""Helpers shared by the event machinery tests: outbox reads, synthetic events, a broker double."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update

from graphql_api.db.models import OutboxEvent
from graphql_api.db.session import Database
from graphql_api.events import outbox
from graphql_api.events.broker import OnEvents, OnReconnect
from graphql_api.events.records import EventRecord, EventType

WAIT_SECONDS = 5.0
"""The longest any test waits for something asynchronous to happen."""

_counter = itertools.count(1)


async def outbox_rows(db: Database) -> list[OutboxEvent]:
    """Every outbox row, in insertion order."""
    async with db.read_session() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars())


async def record_events(
    db: Database,
    fund_id: uuid.UUID,
    count: int = 1,
    *,
    event_type: EventType = EventType.FUND_UPDATED,
) -> list[int]:
    """Commit `count` events of one fund, one unit of work each; their payload numbers."""
    numbers = []
    for _ in range(count):
        number = next(_counter)
        async with db.unit_of_work() as uow:
            outbox.record(uow.session, event_type, fund_id, payload={"n": number})
        numbers.append(number)
    return numbers


async def sequence(db: Database, limit: int = 1000) -> list[EventRecord]:
    """Run the sequencer once, in its own unit of work."""
    async with db.unit_of_work() as uow:
        return await outbox.sequence_pending(uow.session, limit)


async def set_occurred_at(db: Database, positions: Sequence[int], moment: datetime) -> None:
    """Backdate sequenced events (as if they had happened at `moment`)."""
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.position.in_(list(positions)))
            .values(occurred_at=moment)
        )


def make_record(position: int, fund_id: uuid.UUID | None = None) -> EventRecord:
    """A sequenced event that exists only in memory (for tests that never read the outbox)."""
    return EventRecord(
        position=position,
        event_id=uuid.uuid4(),
        event_type=EventType.FUND_UPDATED,
        fund_id=fund_id or uuid.uuid4(),
        investment_id=None,
        investor_id=None,
        payload={"position": position},
        occurred_at=datetime.now(UTC),
    )


def positions(records: Sequence[EventRecord]) -> list[int]:
    return [record.position for record in records]


@dataclass
class RecordingBroker:
    """Our Broker protocol, remembering every batch; `failure` makes publish raise it."""

    failure: Exception | None = None
    batches: list[list[EventRecord]] = field(default_factory=list)
    _on_events: OnEvents | None = None

    @property
    def connected(self) -> bool:
        return self._on_events is not None

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        self._on_events = on_events
        await on_reconnect()

    async def publish(self, records: list[EventRecord]) -> None:
        if self.failure is not None:
            raise self.failure
        self.batches.append(list(records))
        if self._on_events is not None:
            await self._on_events(records)

    async def close(self) -> None:
        self._on_events = None

    @property
    def published_positions(self) -> list[int]:
        return [record.position for batch in self.batches for record in batch]


async def eventually(
    condition: Callable[[], bool], what: str, within: float = WAIT_SECONDS
) -> None:
    """Wait (bounded) until `condition()` holds; fail with `what` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)
