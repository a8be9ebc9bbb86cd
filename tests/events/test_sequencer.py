"""outbox.sequence_pending: gap-free positions, in commit order, for committed rows only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from graphql_api.db.engine import create_engine
from graphql_api.db.models import OutboxEvent
from graphql_api.db.session import Database
from graphql_api.events import outbox
from graphql_api.events.records import EventRecord, EventType
from graphql_api.funds import service as fund_service
from tests.conftest import make_settings
from tests.events.support import WAIT_SECONDS, outbox_rows, positions, record_events, sequence
from tests.factories import create_fund, today


async def drain(db: Database, batch: int) -> list[EventRecord]:
    """Run the sequencer until it finds nothing (bounded), `batch` rows at a time."""
    handed_out: list[EventRecord] = []
    for _ in range(1000):
        records = await sequence(db, limit=batch)
        if not records:
            return handed_out
        handed_out += records
    raise AssertionError("the sequencer never ran dry")


class TestSequencePending:
    async def test_gives_positions_1_to_n_in_insertion_order(self, quiet_db: Database) -> None:
        # Given five committed events of two funds, none sequenced
        first, second = uuid.uuid4(), uuid.uuid4()
        await record_events(quiet_db, first, 2)
        await record_events(quiet_db, second, 1)
        await record_events(quiet_db, first, 2)

        # When the sequencer runs
        records = await sequence(quiet_db)

        # Then positions 1..5 follow the insertion order; none is marked published
        # yet (that happens once the broker has taken them)
        rows = await outbox_rows(quiet_db)
        assert positions(records) == [1, 2, 3, 4, 5]
        assert [row.position for row in rows] == [1, 2, 3, 4, 5]
        assert [record.event_id for record in records] == [row.event_id for row in rows]
        assert [record.fund_id for record in records] == [first, first, second, first, first]
        assert all(row.published_at is None for row in rows)

    async def test_sequences_only_rows_without_a_position(self, quiet_db: Database) -> None:
        # Given three sequenced events, then two new ones
        fund_id = uuid.uuid4()
        await record_events(quiet_db, fund_id, 3)
        await sequence(quiet_db)
        marked = {row.position: row.published_at for row in await outbox_rows(quiet_db)}
        new_numbers = await record_events(quiet_db, fund_id, 2)

        # When the sequencer runs again
        records = await sequence(quiet_db)

        # Then only the new ones get positions, right after the old ones
        assert positions(records) == [4, 5]
        assert [record.payload["n"] for record in records] == new_numbers
        rows = await outbox_rows(quiet_db)
        assert {row.position: row.published_at for row in rows[:3]} == marked

    async def test_finds_nothing_when_every_row_is_sequenced(self, quiet_db: Database) -> None:
        # Given an outbox whose rows are all sequenced
        await record_events(quiet_db, uuid.uuid4(), 2)
        await sequence(quiet_db)

        # When the sequencer runs again, then it hands out nothing
        assert await sequence(quiet_db) == []
        async with quiet_db.read_session() as session:
            assert await outbox.backlog(session) == 0
            assert await outbox.latest_position(session) == 2

    async def test_takes_at_most_its_limit_oldest_first(self, quiet_db: Database) -> None:
        # Given five pending events
        numbers = await record_events(quiet_db, uuid.uuid4(), 5)

        # When the sequencer runs with a limit of two, twice, then once more
        first = await sequence(quiet_db, limit=2)
        second = await sequence(quiet_db, limit=2)
        third = await sequence(quiet_db, limit=2)

        # Then the oldest go first and the positions continue without a gap
        assert [positions(first), positions(second), positions(third)] == [[1, 2], [3, 4], [5]]
        assert [r.payload["n"] for r in first + second + third] == numbers

    async def test_two_concurrent_sequencers_never_share_a_position_or_leave_a_gap(
        self, quiet_db: Database
    ) -> None:
        # Given pending events, and more being committed while two sequencers run
        fund_id = uuid.uuid4()
        await record_events(quiet_db, fund_id, 12)

        async def writer() -> None:
            for _ in range(12):
                await record_events(quiet_db, fund_id, 1)
                await asyncio.sleep(0)

        # When two sequencers drain the outbox concurrently (small batches, many turns)
        one, two, _ = await asyncio.wait_for(
            asyncio.gather(drain(quiet_db, 3), drain(quiet_db, 3), writer()), WAIT_SECONDS * 2
        )
        rest = await drain(quiet_db, 3)

        # Then every event got exactly one position, 1..24 without a gap
        handed_out = positions(one) + positions(two) + positions(rest)
        assert sorted(handed_out) == list(range(1, 25))
        rows = await outbox_rows(quiet_db)
        assert [row.position for row in rows] == list(range(1, 25))
        # And each event id was handed out once, with the position stored for it
        by_event = {record.event_id: record.position for record in one + two + rest}
        assert len(by_event) == 24
        assert by_event == {row.event_id: row.position for row in rows}

    async def test_two_instances_sequencing_at_once_share_out_positions_without_a_gap(
        self, quiet_db: Database
    ) -> None:
        # Given a second instance (its own engine) on the same database, and pending events
        url = quiet_db.engine.url.render_as_string(hide_password=False)
        other = Database(create_engine(make_settings(url)))
        try:
            await record_events(quiet_db, uuid.uuid4(), 20)

            async def writer() -> None:
                for _ in range(10):
                    await record_events(other, uuid.uuid4(), 1)

            # When both instances drain the outbox while the second keeps writing
            one, two, _ = await asyncio.wait_for(
                asyncio.gather(drain(quiet_db, 4), drain(other, 4), writer()), WAIT_SECONDS * 2
            )
            rest = await drain(other, 4)
        finally:
            await other.dispose()

        # Then the positions 1..30 were handed out once each, in insertion order
        assert sorted(positions(one) + positions(two) + positions(rest)) == list(range(1, 31))
        assert [row.position for row in await outbox_rows(quiet_db)] == list(range(1, 31))

    async def test_an_uncommitted_event_is_not_sequenced_until_it_commits(
        self, quiet_db: Database
    ) -> None:
        # Given one committed event
        fund_id = uuid.uuid4()
        (committed,) = await record_events(quiet_db, fund_id, 1)

        if quiet_db.is_sqlite:
            # SQLite has one writer: a sequencer started while a transaction that
            # wrote an event is open waits for it, and then sees that event committed.
            async with quiet_db.unit_of_work() as writer:
                outbox.record(writer.session, EventType.FUND_UPDATED, fund_id, payload={"n": -1})
                await writer.session.flush()
                sequencer = asyncio.create_task(sequence(quiet_db))
                await asyncio.sleep(0.1)
                assert not sequencer.done()
            records = await asyncio.wait_for(sequencer, WAIT_SECONDS)
            assert [(r.position, r.payload["n"]) for r in records] == [(1, committed), (2, -1)]
        else:
            # PostgreSQL: the sequencer runs beside the open transaction and skips its row.
            async with quiet_db.unit_of_work() as writer:
                outbox.record(writer.session, EventType.FUND_UPDATED, fund_id, payload={"n": -1})
                await writer.session.flush()
                during = await asyncio.wait_for(sequence(quiet_db), WAIT_SECONDS)
            assert [(r.position, r.payload["n"]) for r in during] == [(1, committed)]
            # Once committed, the next run gives it the next position
            after = await sequence(quiet_db)
            assert [(r.position, r.payload["n"]) for r in after] == [(2, -1)]

        rows = await outbox_rows(quiet_db)
        assert [row.position for row in rows] == [1, 2]

    async def test_positions_follow_commit_order_not_insertion_order(
        self, quiet_db: Database
    ) -> None:
        # Given an event inserted first but committed last (another fund's event
        # commits in between, and the sequencer runs before and after)
        early, late = uuid.uuid4(), uuid.uuid4()
        if quiet_db.is_sqlite:
            # One writer at a time: insertion order is commit order, nothing to reorder.
            await record_events(quiet_db, late, 1)
            await record_events(quiet_db, early, 1)
            records = await sequence(quiet_db)
        else:
            async with quiet_db.unit_of_work() as slow:
                outbox.record(slow.session, EventType.FUND_UPDATED, early)
                await slow.session.flush()
                await record_events(quiet_db, late, 1)
                records = await sequence(quiet_db)
            records += await sequence(quiet_db)

        # Then the event that committed first has the lower position
        assert [(record.position, record.fund_id) for record in records] == [(1, late), (2, early)]


class TestOneFundsEventsFollowCommitOrder:
    async def test_concurrent_updates_of_a_fund_are_sequenced_in_version_order(
        self, app: Any, db: Database
    ) -> None:
        # Given a fund, and the app's publisher flushing after every commit
        fund = await create_fund(db)

        async def rename(number: int) -> None:
            async with db.unit_of_work() as uow:
                await fund_service.update_fund(
                    uow.session,
                    fund.id,
                    fund_service.FundChanges(name=f"Renamed {number}"),
                    expected_version=None,
                    today=today(),
                )

        # When twelve updates race (each waits for the fund's row lock)
        await asyncio.wait_for(
            asyncio.gather(*(rename(number) for number in range(12))), WAIT_SECONDS * 2
        )
        await asyncio.wait_for(app.state.runtime.events.publisher.idle(), WAIT_SECONDS)

        # Then in position order the versions they announce only go up
        rows: list[OutboxEvent] = sorted(await outbox_rows(db), key=lambda row: row.position or 0)
        assert [row.position for row in rows] == list(range(1, 14))
        assert [row.payload.get("version") for row in rows[1:]] == list(range(2, 14))
