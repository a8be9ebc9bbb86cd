"""Every change to a fund or an investment writes its event in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import FundStatus, OutboxEvent
from graphql_api.db.session import Database
from graphql_api.errors import VersionConflictError
from graphql_api.events import outbox
from graphql_api.events.records import EventType
from graphql_api.funds import service as fund_service
from graphql_api.schema.ids import key_of
from tests.events.support import outbox_rows
from tests.factories import create_fund, create_investor, gid, today
from tests.graphql import data_of

CREATE_FUND = """
mutation CreateFund($input: CreateFundInput!) {
  createFund(input: $input) {
    fund { id name version status }
    errors { code field }
  }
}
"""

UPDATE_FUND = """
mutation UpdateFund($input: UpdateFundInput!) {
  updateFund(input: $input) {
    fund { id name version status }
    errors { code field }
  }
}
"""

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment { id }
    errors { code field }
  }
}
"""


async def mutate(client: httpx.AsyncClient, document: str, **input: Any) -> dict[str, Any]:
    """The single payload of a mutation (its object and `errors`)."""
    data = await data_of(client, document, {"input": input})
    (payload,) = data.values()
    result: dict[str, Any] = payload
    return result


async def settled_rows(app: Any) -> list[OutboxEvent]:
    """The outbox once the flush kicked by the commit (if any) has finished."""
    runtime = app.state.runtime
    await runtime.events.publisher.idle()
    return await outbox_rows(runtime.db)


async def settled_event_ids(app: Any) -> list[uuid.UUID]:
    """The event ids in the outbox, in insertion order, once flushing has finished."""
    return [row.event_id for row in await settled_rows(app)]


def key(global_id: str, type_name: str) -> uuid.UUID:
    value = key_of(global_id, type_name)
    assert value is not None
    return value


class TestFundMutationsRecordEvents:
    async def test_create_fund_writes_one_fund_created_event(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        # Given an empty outbox
        before = datetime.now(UTC)

        # When a fund is created
        payload = await mutate(
            client, CREATE_FUND, name="Atlas I", vintageYear=2021, targetSizeUsd="1000"
        )

        # Then exactly one FUND_CREATED row names it, and the flush sequenced it
        assert payload["errors"] == []
        (row,) = await settled_rows(app)
        assert row.event_type == EventType.FUND_CREATED
        assert row.fund_id == key(payload["fund"]["id"], "Fund")
        assert (row.investment_id, row.investor_id) == (None, None)
        assert row.payload == {"name": "Atlas I"}
        assert before <= row.occurred_at <= datetime.now(UTC)
        assert row.position == 1
        assert row.published_at is not None

    async def test_update_fund_names_the_changed_fields_in_camel_case_with_the_new_version(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fund (its creation event already written)
        fund = await create_fund(db, name="Atlas I", target_size_usd=Decimal(1000))
        created = await settled_rows(app)

        # When its name and target size change
        payload = await mutate(
            client,
            UPDATE_FUND,
            id=gid(fund),
            expectedVersion=1,
            name="Atlas II",
            targetSizeUsd="2000",
        )

        # Then one FUND_UPDATED row lists both fields as clients spell them
        assert payload["errors"] == []
        assert payload["fund"]["version"] == 2
        rows = (await settled_rows(app))[len(created) :]
        assert [(row.event_type, row.fund_id) for row in rows] == [
            (EventType.FUND_UPDATED, fund.id)
        ]
        assert sorted(rows[0].payload["changedFields"]) == ["name", "targetSizeUsd"]
        assert rows[0].payload["version"] == 2

    async def test_a_status_change_adds_fund_status_changed_with_from_and_to(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fundraising fund
        fund = await create_fund(db)
        created = await settled_rows(app)

        # When it moves to INVESTING
        payload = await mutate(client, UPDATE_FUND, id=gid(fund), status="INVESTING")

        # Then FUND_UPDATED (naming status) comes first, then FUND_STATUS_CHANGED
        assert payload["errors"] == []
        rows = (await settled_rows(app))[len(created) :]
        assert [row.event_type for row in rows] == [
            EventType.FUND_UPDATED,
            EventType.FUND_STATUS_CHANGED,
        ]
        assert rows[0].payload == {"changedFields": ["status"], "version": 2}
        assert rows[1].payload == {"from": "FUNDRAISING", "to": "INVESTING"}
        assert {row.fund_id for row in rows} == {fund.id}
        # And they are sequenced in that order
        assert [row.position for row in rows] == [2, 3]

    async def test_an_update_that_keeps_the_status_writes_no_status_event(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fundraising fund
        fund = await create_fund(db, name="Atlas I")
        created = await settled_rows(app)

        # When its name changes and its status is sent unchanged
        payload = await mutate(
            client, UPDATE_FUND, id=gid(fund), name="Atlas II", status="FUNDRAISING"
        )

        # Then only FUND_UPDATED, naming only the name, is written
        assert payload["errors"] == []
        rows = (await settled_rows(app))[len(created) :]
        assert [(row.event_type, row.payload) for row in rows] == [
            (EventType.FUND_UPDATED, {"changedFields": ["name"], "version": 2})
        ]

    async def test_a_no_op_update_writes_nothing(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fund
        fund = await create_fund(db, name="Atlas I", vintage_year=2020)
        created = await settled_event_ids(app)

        # When every field is "changed" to the value it already has
        payload = await mutate(
            client,
            UPDATE_FUND,
            id=gid(fund),
            name="Atlas I",
            vintageYear=2020,
            status="FUNDRAISING",
        )

        # Then the version stays and no event is written
        assert payload["errors"] == []
        assert payload["fund"]["version"] == 1
        assert await settled_event_ids(app) == created


class TestInvestmentMutationRecordsEvents:
    async def test_create_investment_writes_investment_created_with_its_ids_and_amount(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fund and an investor
        fund = await create_fund(db)
        investor = await create_investor(db)
        created = await settled_rows(app)

        # When the investor commits 1,234.50
        payload = await mutate(
            client,
            CREATE_INVESTMENT,
            fundId=gid(fund),
            investorId=gid(investor),
            amountUsd="1234.5",
            investmentDate="2024-03-01",
        )

        # Then one INVESTMENT_CREATED row carries the fund, investment and investor
        assert payload["errors"] == []
        rows = (await settled_rows(app))[len(created) :]
        assert [row.event_type for row in rows] == [EventType.INVESTMENT_CREATED]
        (row,) = rows
        assert row.fund_id == fund.id
        assert row.investment_id == key(payload["investment"]["id"], "Investment")
        assert row.investor_id == investor.id
        assert row.payload == {"amountUsd": "1234.50", "investmentDate": "2024-03-01"}


class TestRefusedMutationsRecordNothing:
    async def test_an_invalid_new_fund_writes_no_event(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        # When a fund with a blank name is refused
        payload = await mutate(
            client, CREATE_FUND, name="   ", vintageYear=2021, targetSizeUsd="1000"
        )

        # Then the outbox is still empty
        assert [error["code"] for error in payload["errors"]] == ["VALIDATION"]
        assert await settled_rows(app) == []

    async def test_a_commitment_above_the_hard_cap_writes_no_event(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fund capped at 1,000 and an investor
        fund = await create_fund(db, target_size_usd=Decimal(1000), hard_cap_usd=Decimal(1000))
        investor = await create_investor(db)
        created = await settled_event_ids(app)

        # When a commitment of 1,000.01 is refused
        payload = await mutate(
            client,
            CREATE_INVESTMENT,
            fundId=gid(fund),
            investorId=gid(investor),
            amountUsd="1000.01",
            investmentDate="2024-03-01",
        )

        # Then nothing was added to the outbox
        assert [error["code"] for error in payload["errors"]] == ["HARD_CAP_EXCEEDED"]
        assert await settled_event_ids(app) == created

    async def test_a_commitment_to_a_closed_fund_writes_no_event(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a closed fund and an investor
        fund = await create_fund(db, status=FundStatus.CLOSED)
        investor = await create_investor(db)
        created = await settled_event_ids(app)

        # When a commitment to it is refused
        payload = await mutate(
            client,
            CREATE_INVESTMENT,
            fundId=gid(fund),
            investorId=gid(investor),
            amountUsd="10",
            investmentDate="2024-03-01",
        )

        # Then nothing was added to the outbox
        assert [error["code"] for error in payload["errors"]] == ["FUND_CLOSED"]
        assert await settled_event_ids(app) == created

    async def test_an_update_with_a_stale_version_writes_no_event(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        # Given a fund at version 1
        fund = await create_fund(db)
        created = await settled_event_ids(app)

        # When an update expecting version 7 is refused
        payload = await mutate(client, UPDATE_FUND, id=gid(fund), expectedVersion=7, name="Renamed")

        # Then nothing was added to the outbox
        assert [error["code"] for error in payload["errors"]] == ["VERSION_CONFLICT"]
        assert await settled_event_ids(app) == created


class AnnouncementCounter:
    """Stands in for the publisher's kick: counts the announcements of committed events."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def announcements(quiet_db: Database) -> Iterator[AnnouncementCounter]:
    counter = AnnouncementCounter()
    quiet_db.on_events_committed = counter
    yield counter
    quiet_db.on_events_committed = None  # quiet_db puts the app's hook back


class TestUnitOfWorkAnnouncesEvents:
    async def test_a_commit_with_events_announces_them_exactly_once(
        self, quiet_db: Database, announcements: AnnouncementCounter
    ) -> None:
        # When one unit of work records two events and commits
        fund_id = uuid.uuid4()
        async with quiet_db.unit_of_work() as uow:
            outbox.record(uow.session, EventType.FUND_UPDATED, fund_id)
            outbox.record(uow.session, EventType.FUND_STATUS_CHANGED, fund_id)
            # Then nothing is announced before the commit
            assert announcements.calls == 0

        # And the commit is announced once
        assert announcements.calls == 1
        assert len(await outbox_rows(quiet_db)) == 2

    async def test_a_commit_without_events_announces_nothing(
        self, quiet_db: Database, announcements: AnnouncementCounter
    ) -> None:
        # When a unit of work changes something that has no events (an investor)
        await create_investor(quiet_db)

        # Then no announcement is made and no event exists
        assert announcements.calls == 0
        assert await outbox_rows(quiet_db) == []

    async def test_a_unit_of_work_that_raises_after_the_change_rolls_back_its_event(
        self, quiet_db: Database, announcements: AnnouncementCounter
    ) -> None:
        # Given a unit of work that fails after the service created a fund
        async def create_then_fail() -> None:
            async with quiet_db.unit_of_work() as uow:
                await fund_service.create_fund(
                    uow.session,
                    fund_service.NewFund("Ghost", 2020, Decimal(1000)),
                    today=today(),
                )
                raise RuntimeError("after the service call")

        # When it runs
        with pytest.raises(RuntimeError, match="after the service call"):
            await create_then_fail()

        # Then neither the fund's event is kept nor an announcement made
        assert await outbox_rows(quiet_db) == []
        assert announcements.calls == 0

    async def test_a_refused_change_is_rolled_back_and_not_announced(
        self, quiet_db: Database, announcements: AnnouncementCounter
    ) -> None:
        # Given a fund (one announced commit)
        fund = await create_fund(quiet_db)
        assert announcements.calls == 1

        # When an update in a unit of work is refused for a stale version
        with pytest.raises(VersionConflictError):
            async with quiet_db.unit_of_work() as uow:
                await fund_service.update_fund(
                    uow.session,
                    fund.id,
                    fund_service.FundChanges(name="Renamed"),
                    expected_version=3,
                    today=today(),
                )

        # Then only the creation event exists and nothing more was announced
        assert [row.event_type for row in await outbox_rows(quiet_db)] == [EventType.FUND_CREATED]
        assert announcements.calls == 1
