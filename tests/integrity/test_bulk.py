"""createInvestments (issue 7, item 5): up to 1,000 commitments, per-item results, few statements.

Through the real ASGI app, on PostgreSQL and SQLite. What was committed is
counted in the database: investments, INVESTMENT_CREATED events, audit entries
and the funds' running totals.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from graphql_api.db.models import AuditEntry, Fund, FundStatus, Investor, OutboxEvent
from graphql_api.db.session import Database
from graphql_api.events.records import EventType
from graphql_api.investments.batch import MAX_BATCH_SIZE
from graphql_api.schema.ids import key_of, to_global_id
from tests.conftest import StatementCounter
from tests.factories import create_fund, create_investor, gid
from tests.graphql import error_codes, execute
from tests.integrity.support import committed, committed_total, count

REQUEST_TIMEOUT_SECONDS = 120
# 1,000 commitments over 3 funds: one statement authenticates the caller, then
# the funds (locked), the investors, one UPDATE of the funds' totals, and one
# INSERT each (executemany) for the investments, their events, their audit entries.
STATEMENT_BUDGET = 7
KEYED_STATEMENT_BUDGET = STATEMENT_BUDGET + 2  # the key row's INSERT, and its result

CREATE_INVESTMENTS = """
mutation CreateInvestments($inputs: [CreateInvestmentInput!]!, $atomic: Boolean, $key: String) {
  createInvestments(inputs: $inputs, atomic: $atomic, idempotencyKey: $key) {
    results { index investment { id amountUsd } errors { code message field } }
    investments { id }
    errors { code message field }
    replayed
  }
}
"""

IDS_ONLY = """
mutation CreateInvestments($inputs: [CreateInvestmentInput!]!, $key: String) {
  createInvestments(inputs: $inputs, idempotencyKey: $key) {
    investments { id }
    errors { code }
  }
}
"""

SUMMARY = """
query Summary($id: ID!) {
  fund(id: $id) { summary { committedUsd investmentCount remainingToHardCapUsd } }
}
"""


def item(fund: Fund | str, investor: Investor | str, amount: str = "100.00") -> dict[str, Any]:
    return {
        "fundId": fund if isinstance(fund, str) else gid(fund),
        "investorId": investor if isinstance(investor, str) else gid(investor),
        "amountUsd": amount,
        "investmentDate": "2024-01-15",
    }


async def bulk(
    client: httpx.AsyncClient,
    inputs: list[dict[str, Any]],
    *,
    atomic: bool | None = None,
    key: str | None = None,
    document: str = CREATE_INVESTMENTS,
) -> dict[str, Any]:
    """createInvestments' payload; the request itself must succeed."""
    variables: dict[str, Any] = {"inputs": inputs, "key": key}
    if atomic is not None:
        variables["atomic"] = atomic
    body = await asyncio.wait_for(
        execute(client, document, variables), timeout=REQUEST_TIMEOUT_SECONDS
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["createInvestments"]
    return payload


def problems(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(error["code"], error["field"]) for error in payload["errors"]]


async def mixed_batch(db: Database) -> tuple[list[dict[str, Any]], Fund, Fund]:
    """Items 0 and 3 are valid; 1, 2, 4 and 5 each break one rule."""
    fund = await create_fund(db)
    closed = await create_fund(db, status=FundStatus.CLOSED)
    investor = await create_investor(db)
    missing_fund = to_global_id("Fund", investor.id)  # well-formed, names no fund
    inputs = [
        item(fund, investor, "100.00"),
        item(fund, investor, "1.005"),
        item(missing_fund, investor, "100.00"),
        item(fund, investor, "200.00"),
        item(closed, investor, "100.00"),
        item(fund, "not-an-id", "100.00"),
    ]
    return inputs, fund, closed


MIXED_PROBLEMS = [
    ("VALIDATION", ["inputs", "1", "amountUsd"]),
    ("NOT_FOUND", ["inputs", "2", "fundId"]),
    ("FUND_CLOSED", ["inputs", "4", "fundId"]),
    ("NOT_FOUND", ["inputs", "5", "investorId"]),
]


class TestAValidBatch:
    async def test_commits_every_item_with_its_event_and_audit_entry(
        self, app: Any, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given two funds and two investors
        fund_a, fund_b = await create_fund(db), await create_fund(db)
        alice, bob = await create_investor(db), await create_investor(db)
        inputs = [
            item(fund_a, alice, "100.00"),
            item(fund_b, bob, "50.50"),
            item(fund_a, bob, "25.25"),
        ]

        # When they are committed in one batch
        payload = await bulk(client, inputs)

        # Then each item has its investment, in input order
        assert payload["errors"] == []
        assert payload["replayed"] is False
        assert [(r["index"], r["investment"]["amountUsd"]) for r in payload["results"]] == [
            (0, "100.00"),
            (1, "50.50"),
            (2, "25.25"),
        ]
        assert [i["id"] for i in payload["investments"]] == [
            r["investment"]["id"] for r in payload["results"]
        ]
        # and the totals, events and audit entries are all there
        assert await committed_total(db, fund_a) == Decimal("125.25")
        assert await committed_total(db, fund_b) == Decimal("50.50")
        assert await committed(db) == (3, 3)
        await app.state.runtime.events.publisher.drain()
        async with db.read_session() as session:
            events = await session.execute(
                select(OutboxEvent.investment_id, OutboxEvent.payload)
                .where(OutboxEvent.event_type == EventType.INVESTMENT_CREATED.value)
                .order_by(OutboxEvent.position)
            )
            entries = (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.action == "createInvestments")
                    .order_by(AuditEntry.id)
                )
            ).scalars()
            audited = [(e.entity_type, e.before, e.after) for e in entries]
        # events delivered in input order
        made = [r["investment"] for r in payload["results"]]
        assert [(str(row[0]), row[1]["amountUsd"]) for row in events] == [
            (str(key_of(i["id"], "Investment")), i["amountUsd"]) for i in made
        ]
        # one entry per fund's total and per investment, as createInvestment records them
        assert [(kind, before) for kind, before, _ in audited] == [
            ("Fund", {"committed_usd": "0.00"}),
            ("Fund", {"committed_usd": "0.00"}),
            ("Investment", None),
            ("Investment", None),
            ("Investment", None),
        ]
        assert sorted(after["committed_usd"] for _, _, after in audited[:2]) == ["125.25", "50.50"]
        first = audited[2][2]
        assert first["amount_usd"] == "100.00"
        assert first["fund_id"] == str(fund_a.id)
        assert first["investor_id"] == str(alice.id)
        assert first["investment_date"] == "2024-01-15"
        assert set(first) == {
            "id",
            "fund_id",
            "investor_id",
            "amount_usd",
            "investment_date",
            "created_at",
            "deleted_at",
        }

    async def test_an_empty_batch_commits_nothing(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        payload = await bulk(client, [])

        assert payload == {"results": [], "investments": [], "errors": [], "replayed": False}
        assert await committed(db) == (0, 0)


class TestAnAtomicBatch:
    async def test_with_invalid_items_commits_nothing_and_reports_them_by_index(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a batch with two valid and four invalid items
        inputs, fund, _ = await mixed_batch(db)

        # When it is sent all-or-nothing (the default)
        payload = await bulk(client, inputs)

        # Then nothing was committed, and each invalid item is reported under its index
        assert problems(payload) == MIXED_PROBLEMS
        assert payload["investments"] == []
        assert [(r["index"], r["investment"]) for r in payload["results"]] == [
            (index, None) for index in range(6)
        ]
        assert [len(r["errors"]) for r in payload["results"]] == [0, 1, 1, 0, 1, 1]
        assert await committed(db) == (0, 0)
        assert await committed_total(db, fund) == Decimal("0.00")
        assert await count(db, AuditEntry, AuditEntry.action == "createInvestments") == 0

    async def test_is_the_default_also_when_atomic_is_null(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        inputs, _, _ = await mixed_batch(db)

        body = await execute(client, CREATE_INVESTMENTS, {"inputs": inputs, "atomic": None})

        assert problems(body["data"]["createInvestments"]) == MIXED_PROBLEMS
        assert await committed(db) == (0, 0)


class TestANonAtomicBatch:
    async def test_commits_the_valid_items_and_reports_the_others(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given the same mixed batch
        inputs, fund, _ = await mixed_batch(db)

        # When it is sent with atomic: false
        payload = await bulk(client, inputs, atomic=False)

        # Then items 0 and 3 were committed, the others reported under their index
        assert problems(payload) == MIXED_PROBLEMS
        made = [r["index"] for r in payload["results"] if r["investment"] is not None]
        assert made == [0, 3]
        assert len(payload["investments"]) == 2
        assert await committed(db) == (2, 2)
        assert await committed_total(db, fund) == Decimal("300.00")


class TestTheHardCapAcrossItems:
    AMOUNTS = ("100.00", "100.00", "150.00", "100.00", "50.00")  # room for 300.00

    async def _capped_fund(self, db: Database) -> tuple[Fund, list[dict[str, Any]]]:
        fund = await create_fund(
            db, target_size_usd=Decimal("300.00"), hard_cap_usd=Decimal("300.00")
        )
        investor = await create_investor(db)
        return fund, [item(fund, investor, amount) for amount in self.AMOUNTS]

    async def test_counts_the_earlier_items_of_the_batch(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund with room for 300.00, and items of 100, 100, 150, 100 and 50
        fund, inputs = await self._capped_fund(db)

        # When they are sent without atomicity
        payload = await bulk(client, inputs, atomic=False)

        # Then, in order: 100 and 100 fit, 150 does not, 100 fits, 50 no longer does
        assert problems(payload) == [
            ("HARD_CAP_EXCEEDED", ["inputs", "2", "amountUsd"]),
            ("HARD_CAP_EXCEEDED", ["inputs", "4", "amountUsd"]),
        ]
        assert "100.00 remains" in payload["errors"][0]["message"]
        assert await committed_total(db, fund) == Decimal("300.00")
        summary = (await execute(client, SUMMARY, {"id": gid(fund)}))["data"]["fund"]["summary"]
        assert summary == {
            "committedUsd": "300.00",
            "investmentCount": 3,
            "remainingToHardCapUsd": "0.00",
        }

    async def test_refuses_an_atomic_batch_that_would_overshoot(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, inputs = await self._capped_fund(db)

        payload = await bulk(client, inputs)

        assert [code for code, _ in problems(payload)] == ["HARD_CAP_EXCEEDED"] * 2
        assert await committed_total(db, fund) == Decimal("0.00")
        assert await committed(db) == (0, 0)

    async def test_holds_for_parallel_batches_over_the_same_funds(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a capped fund with room for ten items of 10.00, and an uncapped one
        capped = await create_fund(
            db, target_size_usd=Decimal("100.00"), hard_cap_usd=Decimal("100.00")
        )
        open_ended = await create_fund(db)
        investor = await create_investor(db)
        halves = ([item(capped, investor, "10.00")] * 5, [item(open_ended, investor, "1.00")] * 5)

        # When four batches of ten arrive at once, naming the funds in different orders
        payloads = await asyncio.gather(
            *(bulk(client, halves[n % 2] + halves[1 - n % 2], atomic=False) for n in range(4))
        )

        # Then exactly ten commitments fit under the cap and every other one was made
        refused = Counter(code for p in payloads for code, _ in problems(p))
        assert refused == {"HARD_CAP_EXCEEDED": 10}
        assert await committed_total(db, capped) == Decimal("100.00")
        assert await committed_total(db, open_ended) == Decimal("20.00")
        assert await committed(db) == (30, 30)


class TestLimits:
    async def test_more_than_a_thousand_items_are_refused_before_anything_runs(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)

        body = await execute(
            client, IDS_ONLY, {"inputs": [item(fund, investor, "1.00")] * (MAX_BATCH_SIZE + 1)}
        )

        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "at most 1000" in body["errors"][0]["message"]
        assert body["data"] is None
        assert await committed(db) == (0, 0)

    async def test_an_item_with_its_own_idempotency_key_is_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)

        body = await execute(
            client, IDS_ONLY, {"inputs": [item(fund, investor) | {"idempotencyKey": "k"}]}
        )

        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert await committed(db) == (0, 0)


class TestIdempotentBatches:
    async def test_the_same_key_returns_the_original_batch(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a non-atomic batch committed with a key (two items made, four refused)
        inputs, _, _ = await mixed_batch(db)
        first = await bulk(client, inputs, atomic=False, key="import-2024-01")

        # When it is sent again
        again = await bulk(client, inputs, atomic=False, key="import-2024-01")

        # Then the same investments and the same errors come back; nothing new committed
        assert again["replayed"] is True
        assert again["results"] == first["results"]
        assert again["errors"] == first["errors"]
        assert await committed(db) == (2, 2)

    async def test_a_different_batch_under_the_same_key_is_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        await bulk(client, [item(fund, investor, "1.00")], key="batch-9")

        changed = await bulk(client, [item(fund, investor, "2.00")], key="batch-9")
        other_mode = await bulk(client, [item(fund, investor, "1.00")], atomic=False, key="batch-9")

        for payload in (changed, other_mode):
            assert problems(payload) == [("IDEMPOTENCY_KEY_REUSED", ["idempotencyKey"])]
            assert payload["results"] == []
            assert payload["investments"] == []
        assert await committed(db) == (1, 1)

    async def test_parallel_duplicates_commit_once(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        inputs = [item(fund, investor, "3.00")] * 20

        payloads = await asyncio.gather(*(bulk(client, inputs, key="once") for _ in range(5)))

        assert len({json.dumps(p["investments"]) for p in payloads}) == 1
        assert Counter(p["replayed"] for p in payloads) == {False: 1, True: 4}
        assert await committed(db) == (20, 20)
        assert await committed_total(db, fund) == Decimal("60.00")


class TestStatementCount:
    @pytest.mark.parametrize(
        ("key", "budget"), [(None, STATEMENT_BUDGET), ("big-batch", KEYED_STATEMENT_BUDGET)]
    )
    async def test_a_thousand_items_over_three_funds_take_a_handful_of_statements(
        self,
        client: httpx.AsyncClient,
        db: Database,
        count_statements: StatementCounter,
        key: str | None,
        budget: int,
    ) -> None:
        # Given three funds and ten investors
        funds = [await create_fund(db) for _ in range(3)]
        investors = [await create_investor(db) for _ in range(10)]
        inputs = [
            item(funds[n % 3], investors[n % 10], f"{n + 1}.00") for n in range(MAX_BATCH_SIZE)
        ]
        await count_statements.reset(client)

        # When a thousand commitments are made in one request
        payload = await bulk(client, inputs, key=key, document=IDS_ONLY)

        # Then all of them are committed, with a handful of statements
        assert payload["errors"] == []
        assert len(payload["investments"]) == MAX_BATCH_SIZE
        print(f"\n{MAX_BATCH_SIZE} items, 3 funds, key={key}: {count_statements.count} statements")
        assert count_statements.count <= budget, count_statements.statements
        # and every one has its event and audit entry, and the totals are exact
        assert await committed(db) == (MAX_BATCH_SIZE, MAX_BATCH_SIZE)
        entries = AuditEntry.action == "createInvestments"
        assert await count(db, AuditEntry, entries, AuditEntry.entity_type == "Investment") == (
            MAX_BATCH_SIZE
        )
        assert await count(db, AuditEntry, entries, AuditEntry.entity_type == "Fund") == 3
        expected = sum(Decimal(n + 1) for n in range(MAX_BATCH_SIZE))
        totals = [await committed_total(db, fund) for fund in funds]
        assert sum(totals) == expected
