"""Concurrency guarantees (issue 7, items 1 and 2), with real parallel requests.

Every request goes through the real ASGI app (httpx.ASGITransport) and they are
sent together with asyncio.gather, on PostgreSQL and on SQLite (where writes
are serialised, with the same outcomes). Counts are bounded and every request
has a deadline, so a deadlock fails the test instead of hanging it.

The app here is the production configuration except for one setting: a request
waits for a pooled connection as long as its own deadline, not the default 5 s.
A hundred requests share 15 connections; on a busy machine the last of them
wait longer than 5 s and are shed with SERVICE_UNAVAILABLE (by design: an
overloaded database ends requests quickly). These tests are about what the
requests do once they run, so they must not depend on how busy the machine is.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import func, select

from graphql_api.app import create_app
from graphql_api.db.models import Fund, Investment, Investor, OutboxEvent
from graphql_api.db.session import Database
from graphql_api.events.records import EventType
from tests.conftest import make_settings
from tests.factories import create_fund, create_investor, gid
from tests.graphql import execute
from tests.integrity.support import committed_total, count

REQUEST_TIMEOUT_SECONDS = 60
T = TypeVar("T")
LEAK_MARKERS = ("traceback", "sqlalchemy", "asyncpg", "sqlite", "internal_server_error")

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment { id amountUsd }
    errors { code message field }
  }
}
"""

CREATE_INVESTOR = """
mutation CreateInvestor($input: CreateInvestorInput!) {
  createInvestor(input: $input) {
    investor { id email }
    errors { code message field }
  }
}
"""

UPDATE_FUND = """
mutation UpdateFund($input: UpdateFundInput!) {
  updateFund(input: $input) {
    fund { id name vintageYear targetSizeUsd hardCapUsd status version }
    errors { code message field }
  }
}
"""

UPDATE_INVESTOR = """
mutation UpdateInvestor($input: UpdateInvestorInput!) {
  updateInvestor(input: $input) {
    investor { id name email investorType version }
    errors { code message field }
  }
}
"""

FUND = """
query Fund($id: ID!) {
  fund(id: $id) {
    name vintageYear targetSizeUsd hardCapUsd status version
    summary { committedUsd investmentCount remainingToHardCapUsd }
  }
}
"""

INVESTOR = """
query Investor($id: ID!) { investor(id: $id) { name email investorType version } }
"""

INVESTORS = """
query Investors { investors { totalCount nodes { email } } }
"""


@pytest.fixture(scope="module")
async def patient_apps(database_urls: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    """The real app per back end, waiting up to the request deadline for a connection."""
    running: dict[str, Any] = {}
    contexts = []
    for name, url in database_urls.items():
        app = create_app(make_settings(url, db_pool_timeout_seconds=REQUEST_TIMEOUT_SECONDS))
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        contexts.append(context)
        running[name] = app
    yield running
    for context in contexts:
        await context.__aexit__(None, None, None)


@pytest.fixture
def app(patient_apps: dict[str, Any], backend: str) -> Any:
    """Overrides conftest's `app`, so `db` and `client` use the patient app."""
    return patient_apps[backend]


@pytest.fixture
async def api(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The ADMIN client, its API key already used once.

    The first use of a key records `last_used_at` (then at most once per
    interval); done by a burst of requests at once, that bookkeeping would be
    the contention under test instead of the mutations.
    """
    await call(client, "{ __typename }", {})
    return client


async def call(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Execute with a deadline; the request must not fail as a whole nor leak internals."""
    body = await asyncio.wait_for(
        execute(client, document, variables), timeout=REQUEST_TIMEOUT_SECONDS
    )
    assert "errors" not in body, body
    text = json.dumps(body).lower()
    assert not [marker for marker in LEAK_MARKERS if marker in text], body
    return body


async def mutate(
    client: httpx.AsyncClient, document: str, field: str, input: dict[str, Any]
) -> dict[str, Any]:
    """The payload of mutation `field` for `input`."""
    payload: dict[str, Any] = (await call(client, document, {"input": input}))["data"][field]
    return payload


async def together(*calls: Awaitable[T]) -> list[T]:
    """Run `calls` at once and wait for all of them, then fail if any failed.

    (A plain gather would fail at the first error and leave the others running
    into the next test.)
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        details = "\n".join(repr(failure)[:2000] for failure in failures[:3])
        raise AssertionError(f"{len(failures)} of {len(results)} calls failed:\n{details}")
    return [r for r in results if not isinstance(r, BaseException)]


def codes(payload: dict[str, Any]) -> tuple[str, ...]:
    return tuple(error["code"] for error in payload["errors"])


def letter_case_variant(address: str, pattern: int) -> str:
    """`address` with the letters whose position is set in `pattern` upper-cased."""
    return "".join(
        char.upper() if (pattern >> index) & 1 else char for index, char in enumerate(address)
    )


async def count_events(db: Database, event_type: EventType, **where: Any) -> int:
    conditions = [OutboxEvent.event_type == event_type.value] + [
        getattr(OutboxEvent, column) == value for column, value in where.items()
    ]
    async with db.read_session() as session:
        statement = select(func.count()).select_from(OutboxEvent).where(*conditions)
        return int((await session.execute(statement)).scalar_one())


class TestHardCapUnderConcurrency:
    PARALLEL = 100
    ROOM_FOR = 10
    AMOUNT = Decimal("250.25")

    async def test_exactly_the_commitments_that_fit_succeed_and_the_total_is_exact(
        self, api: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund whose hard cap leaves room for exactly ten commitments
        cap = self.AMOUNT * self.ROOM_FOR
        fund = await create_fund(db, target_size_usd=cap, hard_cap_usd=cap)
        investors = [await create_investor(db) for _ in range(5)]
        inputs = [
            {
                "fundId": gid(fund),
                "investorId": gid(investors[index % len(investors)]),
                "amountUsd": str(self.AMOUNT),
                "investmentDate": "2024-03-01",
            }
            for index in range(self.PARALLEL)
        ]

        # When a hundred commitments arrive at once
        payloads = await together(
            *(mutate(api, CREATE_INVESTMENT, "createInvestment", i) for i in inputs)
        )

        # Then exactly ten succeeded and ninety were refused by the cap, nothing else
        outcomes = Counter(codes(payload) for payload in payloads)
        assert outcomes == {
            (): self.ROOM_FOR,
            ("HARD_CAP_EXCEEDED",): self.PARALLEL - self.ROOM_FOR,
        }
        for payload in payloads:
            if payload["errors"]:
                assert payload["investment"] is None
                assert payload["errors"][0]["field"] == ["input", "amountUsd"]
        created = {p["investment"]["id"] for p in payloads if not p["errors"]}
        assert len(created) == self.ROOM_FOR
        # and the committed total is exactly ten times the amount, through the API
        fund_data = (await call(api, FUND, {"id": gid(fund)}))["data"]["fund"]
        assert fund_data["summary"] == {
            "committedUsd": f"{cap:.2f}",
            "investmentCount": self.ROOM_FOR,
            "remainingToHardCapUsd": "0.00",
        }
        # and in the database: the running total, the rows and the outbox agree
        async with db.read_session() as session:
            stored = await session.get(Fund, fund.id)
            rows = (
                await session.execute(
                    select(func.count(), func.sum(Investment.amount_usd)).where(
                        Investment.fund_id == fund.id
                    )
                )
            ).one()
        assert stored is not None
        assert stored.committed_usd == cap
        assert (rows[0], Decimal(rows[1])) == (self.ROOM_FOR, cap)
        events = await count_events(db, EventType.INVESTMENT_CREATED, fund_id=fund.id)
        assert events == self.ROOM_FOR


class TestDuplicateEmailUnderConcurrency:
    PARALLEL = 20

    async def test_one_of_many_same_address_requests_succeeds(
        self, api: httpx.AsyncClient, db: Database
    ) -> None:
        # Given twenty spellings of one address that differ only in letter case
        emails = [
            letter_case_variant("same.person@example.com", pattern * 7 + 1)
            for pattern in range(self.PARALLEL)
        ]
        assert len(set(emails)) == self.PARALLEL

        # When they are all submitted at once
        payloads = await together(
            *(
                mutate(
                    api,
                    CREATE_INVESTOR,
                    "createInvestor",
                    {"name": f"Racer {n}", "investorType": "INDIVIDUAL", "email": email},
                )
                for n, email in enumerate(emails)
            )
        )

        # Then exactly one investor exists and the others were refused as duplicates
        outcomes = Counter(codes(payload) for payload in payloads)
        assert outcomes == {(): 1, ("DUPLICATE_EMAIL",): self.PARALLEL - 1}
        investors = (await call(api, INVESTORS, {}))["data"]["investors"]
        assert investors == {"totalCount": 1, "nodes": [{"email": "same.person@example.com"}]}
        async with db.read_session() as session:
            stored = (await session.execute(select(func.count()).select_from(Investor))).scalar()
        assert stored == 1


@dataclass(frozen=True)
class Editable:
    """How to update and read back one kind of versioned record through the API."""

    kind: str
    update: str
    read: str
    event: EventType | None  # what an applied change records in the outbox

    @property
    def mutation(self) -> str:
        return f"update{self.kind}"

    @property
    def field(self) -> str:
        return self.kind.lower()


FUND_EDITS = Editable("Fund", UPDATE_FUND, FUND, EventType.FUND_UPDATED)
INVESTOR_EDITS = Editable("Investor", UPDATE_INVESTOR, INVESTOR, None)
EDITABLES = [pytest.param(FUND_EDITS, id="fund"), pytest.param(INVESTOR_EDITS, id="investor")]


async def record_of(db: Database, editable: Editable) -> tuple[str, Any]:
    """A fresh record of `editable`'s kind at version 1: its global ID and its key."""
    record = await (create_fund(db) if editable is FUND_EDITS else create_investor(db))
    return gid(record), record.id


async def read(client: httpx.AsyncClient, editable: Editable, record_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await call(client, editable.read, {"id": record_id}))["data"]
    current: dict[str, Any] = data[editable.field]
    return current


class TestOptimisticConcurrency:
    PARALLEL = 20
    WRITERS = 10

    @pytest.mark.parametrize("editable", EDITABLES)
    async def test_of_many_updates_at_one_version_exactly_one_applies(
        self, api: httpx.AsyncClient, db: Database, editable: Editable
    ) -> None:
        # Given a record at version 1
        record_id, key = await record_of(db, editable)

        # When twenty clients that all read version 1 change it at once
        payloads = await together(
            *(
                mutate(
                    api,
                    editable.update,
                    editable.mutation,
                    {"id": record_id, "expectedVersion": 1, "name": f"Writer {n:02d}"},
                )
                for n in range(self.PARALLEL)
            )
        )

        # Then exactly one change applied, the others were refused naming the new version
        outcomes = Counter(codes(payload) for payload in payloads)
        assert outcomes == {(): 1, ("VERSION_CONFLICT",): self.PARALLEL - 1}
        [winner] = [p[editable.field] for p in payloads if not p["errors"]]
        assert winner["version"] == 2
        for payload in payloads:
            if payload["errors"]:
                assert payload[editable.field] is None
                [error] = payload["errors"]
                assert error["field"] == ["input", "expectedVersion"]
                assert error["message"].endswith("expected version 1, current version is 2."), error
        stored = await read(api, editable, record_id)
        assert (stored["name"], stored["version"]) == (winner["name"], 2)
        if editable.event is not None:
            assert await count_events(db, editable.event, fund_id=key) == 1

    @pytest.mark.parametrize("editable", EDITABLES)
    async def test_read_then_retry_writers_never_lose_a_write(
        self, api: httpx.AsyncClient, db: Database, editable: Editable
    ) -> None:
        # Given a record named "Base" at version 1
        record_id, key = await record_of(db, editable)
        await mutate(
            api,
            editable.update,
            editable.mutation,
            {"id": record_id, "expectedVersion": 1, "name": "Base"},
        )

        async def append(suffix: str) -> int:
            """Read, append `suffix` at the version read, retry on conflict; the attempts."""
            # Each conflict means another writer's change landed after our read, and
            # there are only WRITERS - 1 others: WRITERS attempts always suffice.
            for attempt in range(1, self.WRITERS + 1):
                current = await read(api, editable, record_id)
                payload = await mutate(
                    api,
                    editable.update,
                    editable.mutation,
                    {
                        "id": record_id,
                        "expectedVersion": current["version"],
                        "name": f"{current['name']} {suffix}",
                    },
                )
                if not payload["errors"]:
                    return attempt
                assert codes(payload) == ("VERSION_CONFLICT",), payload
            pytest.fail(f"writer {suffix} made no progress in {self.WRITERS} attempts")

        # When ten writers append their own suffix at once, each retrying on conflicts
        suffixes = [f"w{n}" for n in range(self.WRITERS)]
        attempts = await together(*(append(suffix) for suffix in suffixes))

        # Then every write is in the final state, once, and each bumped the version
        stored = await read(api, editable, record_id)
        words = stored["name"].split()
        assert words[0] == "Base"
        assert sorted(words[1:]) == sorted(suffixes), (stored, attempts)
        assert stored["version"] == 2 + self.WRITERS
        if editable.event is not None:
            assert await count_events(db, editable.event, fund_id=key) == 1 + self.WRITERS

    async def test_parallel_changes_to_different_fund_fields_all_persist(
        self, api: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund, and five clients changing five different fields without a version
        fund = await create_fund(db, name="Before", vintage_year=2019, hard_cap_usd=None)
        changes = [
            {"name": "After"},
            {"vintageYear": 2021},
            {"targetSizeUsd": "2000000.00"},
            {"hardCapUsd": "3000000.00"},
            {"status": "INVESTING"},
        ]

        # When they all send their partial update at once
        payloads = await together(
            *(
                mutate(api, UPDATE_FUND, "updateFund", {"id": gid(fund), **change})
                for change in changes
            )
        )

        # Then none overwrote another: every field has its new value
        assert [codes(payload) for payload in payloads] == [()] * len(changes)
        stored = await read(api, FUND_EDITS, gid(fund))
        assert {key: stored[key] for key in ("name", "vintageYear", "status", "version")} == {
            "name": "After",
            "vintageYear": 2021,
            "status": "INVESTING",
            "version": 1 + len(changes),
        }
        assert (stored["targetSizeUsd"], stored["hardCapUsd"]) == ("2000000.00", "3000000.00")

    async def test_parallel_changes_to_different_investor_fields_all_persist(
        self, api: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an investor, and three clients changing three different fields
        investor = await create_investor(db, name="Before")
        changes = [
            {"name": "After"},
            {"email": "After.Change@Example.com"},
            {"investorType": "FAMILY_OFFICE"},
        ]

        # When they all send their partial update at once
        payloads = await together(
            *(
                mutate(api, UPDATE_INVESTOR, "updateInvestor", {"id": gid(investor), **change})
                for change in changes
            )
        )

        # Then every field has its new value
        assert [codes(payload) for payload in payloads] == [()] * len(changes)
        assert await read(api, INVESTOR_EDITS, gid(investor)) == {
            "name": "After",
            "email": "after.change@example.com",
            "investorType": "FAMILY_OFFICE",
            "version": 1 + len(changes),
        }


DELETE = """
mutation Delete($input: Delete{kind}Input!) {{
  delete{kind}(input: $input) {{ errors {{ code message field }} }}
}}
"""


class TestDeletesRacingCommitments:
    """A delete and new commitments at once: never a live commitment of a deleted row.

    createInvestment holds the investor FOR KEY SHARE and updates the fund row;
    deleteInvestor / deleteFund lock the row FOR UPDATE. Whichever comes second
    sees the first: a delete that comes second finds the commitments
    (HAS_DEPENDENTS), a commitment that comes second finds the row gone
    (NOT_FOUND, not HARD_CAP_EXCEEDED).
    """

    PARALLEL = 20
    AMOUNT = Decimal("100.00")

    def commitments(self, fund: Fund, investor: Investor) -> list[dict[str, Any]]:
        return [
            {
                "fundId": gid(fund),
                "investorId": gid(investor),
                "amountUsd": str(self.AMOUNT),
                "investmentDate": "2024-03-01",
            }
        ] * self.PARALLEL

    async def race(
        self,
        api: httpx.AsyncClient,
        kind: str,
        target: str,
        inputs: list[dict[str, Any]],
        *,
        after: int,
    ) -> tuple[tuple[str, ...], Counter[tuple[str, ...]]]:
        """The delete (sent after `after` commitments) and a count of the commitments' outcomes."""
        half = after
        creates = [mutate(api, CREATE_INVESTMENT, "createInvestment", i) for i in inputs]
        deletion = mutate(api, DELETE.format(kind=kind), f"delete{kind}", {"id": target})
        results = await together(*creates[:half], deletion, *creates[half:])
        payloads = results[:half] + results[half + 1 :]
        return codes(results[half]), Counter(codes(payload) for payload in payloads)

    async def test_a_deleted_investor_never_keeps_a_live_commitment(
        self, api: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)

        deleted, outcomes = await self.race(
            api,
            "Investor",
            gid(investor),
            self.commitments(fund, investor),
            after=self.PARALLEL // 2,
        )

        live = await count(
            db, Investment, Investment.investor_id == investor.id, Investment.deleted_at.is_(None)
        )
        assert set(outcomes) <= {(), ("NOT_FOUND",)}, outcomes
        assert live == outcomes[()]
        if deleted == ():
            assert live == 0  # every commitment came second and found the investor gone
        else:
            assert deleted == ("HAS_DEPENDENTS",)
            assert live >= 1
        assert await committed_total(db, fund) == self.AMOUNT * live

    async def test_a_deleted_fund_never_keeps_a_live_commitment(
        self, api: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)

        deleted, outcomes = await self.race(
            api, "Fund", gid(fund), self.commitments(fund, investor), after=1
        )

        live = await count(
            db, Investment, Investment.fund_id == fund.id, Investment.deleted_at.is_(None)
        )
        assert set(outcomes) <= {(), ("NOT_FOUND",)}, outcomes
        assert live == outcomes[()]
        if deleted == ():
            assert live == 0
        else:
            assert deleted == ("HAS_DEPENDENTS",)
            assert live >= 1
        async with db.read_session() as session:
            stored = await session.get(Fund, fund.id)
        assert stored is not None
        assert stored.committed_usd == self.AMOUNT * live
