"""All SQL of the outbox: record an event, sequence committed ones, read them back.

Callers of `record` must hold the fund's row lock (every use case that changes
a fund or its commitments takes it), so one fund's events are committed, and
therefore sequenced, in the order they happened. An investor's own events
(no fund) are written under the investor's row lock instead.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.models import OutboxEvent
from graphql_api.db.session import EVENTS_WRITTEN
from graphql_api.db.types import utcnow
from graphql_api.events.records import EventRecord, EventType

SEQUENCER_LOCK_KEY = 0x6F7574626F78  # "outbox": one sequencer at a time across instances


def record(
    session: AsyncSession,
    event_type: EventType,
    fund_id: uuid.UUID | None,
    *,
    investment_id: uuid.UUID | None = None,
    investor_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Add an event to the current transaction; it commits (or not) with the change."""
    session.add(
        OutboxEvent(
            event_type=event_type.value,
            fund_id=fund_id,
            investment_id=investment_id,
            investor_id=investor_id,
            payload=payload or {},
        )
    )
    session.info[EVENTS_WRITTEN] = True


def _to_record(row: OutboxEvent) -> EventRecord:
    assert row.position is not None
    return EventRecord(
        position=row.position,
        event_id=row.event_id,
        event_type=EventType(row.event_type),
        fund_id=row.fund_id,
        investment_id=row.investment_id,
        investor_id=row.investor_id,
        payload=dict(row.payload),
        occurred_at=row.occurred_at,
    )


async def sequence_pending(session: AsyncSession, limit: int = 1000) -> list[EventRecord]:
    """Give committed, unsequenced events the next positions, in insertion order.

    Runs under a transaction-scoped lock (an advisory lock on PostgreSQL; SQLite
    has a single writer), so positions are handed out one sequencer at a time,
    gap-free, and only ever to committed rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY}
        )
    rows = (
        (
            await session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.position.is_(None))
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not rows:
        return []
    # The newest position is never purged (see purge_before), so max() + 1 never
    # hands out a position twice.
    last = (await session.execute(select(func.max(OutboxEvent.position)))).scalar_one() or 0
    for offset, row in enumerate(rows, start=1):
        row.position = last + offset
    await session.flush()
    return [_to_record(row) for row in rows]


async def unpublished(session: AsyncSession, limit: int = 1000) -> list[EventRecord]:
    """Sequenced events the broker has not taken yet (a failed or interrupted publish)."""
    statement = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None), OutboxEvent.position.is_not(None))
        .order_by(OutboxEvent.position)
        .limit(limit)
    )
    return [_to_record(row) for row in (await session.execute(statement)).scalars()]


async def mark_published(session: AsyncSession, positions: list[int]) -> None:
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.position.in_(positions), OutboxEvent.published_at.is_(None))
        .values(published_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def fetch_after(
    session: AsyncSession,
    after: int,
    *,
    fund_id: uuid.UUID | None = None,
    upto: int | None = None,
    limit: int = 500,
) -> list[EventRecord]:
    """Sequenced events with position > `after` (and <= `upto`), in position order."""
    statement = select(OutboxEvent).where(OutboxEvent.position > after)
    if upto is not None:
        statement = statement.where(OutboxEvent.position <= upto)
    if fund_id is not None:
        statement = statement.where(OutboxEvent.fund_id == fund_id)
    rows = (await session.execute(statement.order_by(OutboxEvent.position).limit(limit))).scalars()
    return [_to_record(row) for row in rows]


async def latest_position(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(OutboxEvent.position)))).scalar_one() or 0)


async def earliest_position(session: AsyncSession) -> int | None:
    value = (await session.execute(select(func.min(OutboxEvent.position)))).scalar_one()
    return int(value) if value is not None else None


async def purge_before(session: AsyncSession, moment: datetime) -> int:
    """Delete the oldest sequenced events, those before `moment`; returns how many.

    Only a contiguous run of positions from the start is deleted (up to the first
    event still within retention), so a replay can always tell that events are
    missing; and the newest position is always kept, so positions are never
    handed out twice.
    """
    newest = (await session.execute(select(func.max(OutboxEvent.position)))).scalar_one()
    if newest is None:
        return 0
    first_kept = (
        await session.execute(
            select(func.min(OutboxEvent.position)).where(
                OutboxEvent.position.is_not(None), OutboxEvent.occurred_at >= moment
            )
        )
    ).scalar_one()
    cut = min(newest, first_kept) - 1 if first_kept is not None else newest - 1
    if cut < 1:
        return 0
    result = await session.execute(delete(OutboxEvent).where(OutboxEvent.position <= cut))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def unpublished_count(session: AsyncSession) -> int:
    """How many committed events the broker has not been given yet."""
    statement = (
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
    )
    return int((await session.execute(statement)).scalar_one())


async def backlog(session: AsyncSession) -> int:
    """How many committed events still wait for a position."""
    statement = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.position.is_(None))
    return int((await session.execute(statement)).scalar_one())
