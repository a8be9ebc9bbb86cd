"""Idempotency keys (issue 7, item 3): a retried request returns its original result.

Through the real ASGI app, on PostgreSQL and SQLite. What was committed is
counted in the database itself: investments, INVESTMENT_CREATED events in the
outbox, audit entries and key rows. Parallel requests are bounded in number,
and every wait has a deadline, so a deadlock fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from graphql_api.auth.principal import Role
from graphql_api.db.models import (
    AuditEntry,
    Fund,
    IdempotencyKey,
    Investor,
)
from graphql_api.db.session import Database
from graphql_api.db.types import utcnow
from graphql_api.funds import service as fund_service
from graphql_api.idempotency import service as idempotency
from tests.conftest import api_key_for
from tests.factories import create_fund, create_investor, gid
from tests.graphql import error_codes, execute
from tests.integrity.support import committed, committed_total, count

REQUEST_TIMEOUT_SECONDS = 60
PARALLEL_DUPLICATES = 10

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment { id amountUsd investmentDate }
    errors { code message field }
    replayed
  }
}
"""

CREATE_INVESTMENTS = """
mutation CreateInvestments($inputs: [CreateInvestmentInput!]!, $key: String) {
  createInvestments(inputs: $inputs, idempotencyKey: $key) {
    investments { id }
    errors { code message field }
    replayed
  }
}
"""

HOSTILE_KEYS = {
    "empty": "",
    "only-spaces": "   ",
    "256-characters": "k" * 256,
    "10k-characters": "k" * 10_000,
    "nul": "\x00",
    "nul-inside": "order-1\x00",
    "line-break": "order-1\nX-Injected: yes",
    "terminal-escape": "\x1b[31mred",
    "zero-width-space": "order\u200b1",
    "right-to-left-override": "order\u202e1",
}


def commitment(
    fund: Fund, investor: Investor, amount: str = "100.00", key: str | None = None
) -> dict[str, Any]:
    values = {
        "fundId": gid(fund),
        "investorId": gid(investor),
        "amountUsd": amount,
        "investmentDate": "2024-01-15",
    }
    return values | ({"idempotencyKey": key} if key is not None else {})


async def create(client: httpx.AsyncClient, input: dict[str, Any]) -> dict[str, Any]:
    """createInvestment's payload; the request itself must succeed."""
    body = await asyncio.wait_for(
        execute(client, CREATE_INVESTMENT, {"input": input}), timeout=REQUEST_TIMEOUT_SECONDS
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["createInvestment"]
    return payload


async def post_escaped(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any], status: int = 200
) -> dict[str, Any]:
    """POST with every non-ASCII character escaped (as JSON allows, lone surrogates too)."""
    body = json.dumps({"query": document, "variables": variables}, ensure_ascii=True)
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def backdate_keys(db: Database, age: timedelta, *keys: str) -> None:
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_(keys))
            .values(created_at=utcnow() - age)
            .execution_options(synchronize_session=False)
        )


@pytest.fixture
async def manager(app: Any, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A second caller (a MANAGER's API key) next to `client` (an ADMIN's)."""
    key = await api_key_for(db, Role.MANAGER)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"X-API-Key": key}
    ) as http:
        yield http


class TestTheSameKeyWithTheSameInput:
    async def test_returns_the_original_commitment_and_commits_nothing_new(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a commitment made with a key
        fund, investor = await create_fund(db), await create_investor(db)
        input = commitment(fund, investor, "250.00", key="order-42")
        first = await create(client, input)

        # When the same request is sent again
        second = await create(client, input)

        # Then it returns the same investment, says so, and nothing more was committed
        assert first["errors"] == []
        assert second["errors"] == []
        assert second["investment"] == first["investment"]
        assert (first["replayed"], second["replayed"]) == (False, True)
        assert await committed(db) == (1, 1)
        assert await committed_total(db, fund) == Decimal("250.00")
        assert await count(db, AuditEntry, AuditEntry.entity_type == "Investment") == 1
        assert await count(db, IdempotencyKey) == 1

    async def test_the_same_amount_written_differently_is_the_same_request(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        first = await create(client, commitment(fund, investor, "250.00", key="order-43"))

        again = await create(client, commitment(fund, investor, "250", key="order-43"))

        assert again["replayed"] is True
        assert again["investment"]["id"] == first["investment"]["id"]
        assert await committed(db) == (1, 1)

    async def test_a_refused_request_leaves_no_key_and_its_retry_is_judged_afresh(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a request refused for the hard cap (nothing committed)
        fund = await create_fund(
            db, target_size_usd=Decimal("100.00"), hard_cap_usd=Decimal("100.00")
        )
        investor = await create_investor(db)
        input = commitment(fund, investor, "150.00", key="too-big")
        refused = await create(client, input)

        # When the cap is raised and the same request is retried
        async with db.unit_of_work() as uow:
            await fund_service.update_fund(
                uow.session,
                fund.id,
                fund_service.FundChanges(hard_cap_usd=Decimal("200.00")),
                expected_version=None,
                today=utcnow().date(),
            )
        retried = await create(client, input)

        # Then the retry commits: only committed results are ever replayed
        assert [error["code"] for error in refused["errors"]] == ["HARD_CAP_EXCEEDED"]
        assert retried["errors"] == []
        assert retried["replayed"] is False
        assert await committed(db) == (1, 1)


class TestTheSameKeyWithAnotherInput:
    async def test_is_refused_with_idempotency_key_reused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a commitment made with a key
        fund, investor = await create_fund(db), await create_investor(db)
        original = await create(client, commitment(fund, investor, "100.00", key="order-7"))

        # When the key comes back with another amount
        reused = await create(client, commitment(fund, investor, "999.00", key="order-7"))

        # Then it is refused, nothing is committed, and the original still replays
        assert reused["investment"] is None
        assert [(e["code"], e["field"]) for e in reused["errors"]] == [
            ("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])
        ]
        assert await committed(db) == (1, 1)
        replay = await create(client, commitment(fund, investor, "100.00", key="order-7"))
        assert replay["investment"]["id"] == original["investment"]["id"]

    async def test_a_key_of_one_mutation_is_not_a_key_of_the_other(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        await create(client, commitment(fund, investor, key="shared"))

        body = await execute(
            client, CREATE_INVESTMENTS, {"inputs": [commitment(fund, investor)], "key": "shared"}
        )

        assert body["data"]["createInvestments"]["errors"] == []
        assert body["data"]["createInvestments"]["replayed"] is False
        assert await committed(db) == (2, 2)


class TestKeysArePerPrincipal:
    async def test_two_callers_with_the_same_key_each_commit(
        self, client: httpx.AsyncClient, manager: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        input = commitment(fund, investor, key="checkout-1")

        as_admin = await create(client, input)
        as_manager = await create(client=manager, input=input)

        assert as_admin["errors"] == []
        assert as_manager["errors"] == []
        assert as_admin["investment"]["id"] != as_manager["investment"]["id"]
        assert as_manager["replayed"] is False
        assert await committed(db) == (2, 2)
        assert await count(db, IdempotencyKey) == 2


class TestARetryAfterAClientTimeout:
    async def test_returns_what_the_first_request_committed(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a first request that cannot finish yet: the test holds the fund's row
        # lock (PostgreSQL) or the write lock (SQLite), so its commit has to wait
        fund, investor = await create_fund(db), await create_investor(db)
        input = commitment(fund, investor, "300.00", key="slow-network")
        async with db.unit_of_work() as blocker:
            await blocker.session.execute(
                select(Fund.id).where(Fund.id == fund.id).with_for_update()
            )
            first = asyncio.create_task(create(client, input))
            # When the client stops waiting for it (the server carries on)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(first), timeout=0.5)
            assert not first.done()
        # and retries once the server is free again
        retried = await create(client, input)
        original = await asyncio.wait_for(first, timeout=REQUEST_TIMEOUT_SECONDS)

        # Then both answer with one investment, committed once. Which of the two
        # commits is up to the scheduler once the lock is released (on SQLite the
        # retry often wins the writer's lock); the other replays it.
        assert original["errors"] == retried["errors"] == []
        assert retried["investment"] == original["investment"]
        assert sorted([original["replayed"], retried["replayed"]]) == [False, True]
        assert await committed(db) == (1, 1)
        assert await committed_total(db, fund) == Decimal("300.00")


class TestParallelDuplicates:
    async def test_commit_exactly_once(self, client: httpx.AsyncClient, db: Database) -> None:
        # Given one request
        fund, investor = await create_fund(db), await create_investor(db)
        input = commitment(fund, investor, "10.00", key=str(uuid.uuid4()))

        # When ten copies of it arrive at once
        payloads = await asyncio.gather(
            *(create(client, input) for _ in range(PARALLEL_DUPLICATES))
        )

        # Then one committed, every copy answers with that same investment
        assert all(payload["errors"] == [] for payload in payloads), payloads
        assert len({payload["investment"]["id"] for payload in payloads}) == 1
        assert Counter(payload["replayed"] for payload in payloads) == {
            False: 1,
            True: PARALLEL_DUPLICATES - 1,
        }
        assert await committed(db) == (1, 1)
        assert await committed_total(db, fund) == Decimal("10.00")

    async def test_racing_different_inputs_commit_one_and_refuse_the_others(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given two different requests under one key, five copies of each, sent at once
        fund, investor = await create_fund(db), await create_investor(db)
        inputs = [commitment(fund, investor, amount, key="contested") for amount in ("1", "2")]
        payloads = await asyncio.gather(*(create(client, inputs[n % 2]) for n in range(10)))

        # Then exactly one of them committed; its copies replay it, the others are refused
        winners = {p["investment"]["amountUsd"] for p in payloads if p["investment"]}
        assert len(winners) == 1
        outcomes = Counter(
            (
                p["investment"]["amountUsd"] if p["investment"] else None,
                p["replayed"],
                *tuple(e["code"] for e in p["errors"]),
            )
            for p in payloads
        )
        (winner,) = winners
        assert outcomes == {
            (winner, False): 1,
            (winner, True): 4,
            (None, False, "IDEMPOTENCY_KEY_REUSED"): 5,
        }
        assert await committed(db) == (1, 1)


class TestExpiry:
    async def test_the_purge_removes_keys_older_than_24_hours(
        self, app: Any, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a key used 25 hours ago and one used now
        fund, investor = await create_fund(db), await create_investor(db)
        await create(client, commitment(fund, investor, key="yesterday"))
        await create(client, commitment(fund, investor, key="today"))
        await backdate_keys(db, timedelta(hours=25), "yesterday")

        # When the outbox relay's periodic purge runs
        await app.state.runtime.events.publisher.purge()

        # Then only the old key is gone (and the commitments stay)
        async with db.read_session() as session:
            kept = (await session.execute(select(IdempotencyKey.key))).scalars().all()
        assert kept == ["today"]
        assert await committed(db) == (2, 2)

    async def test_purge_expired_counts_what_it_removed(self, db: Database) -> None:
        async with db.unit_of_work() as uow:
            for age, key in (
                (timedelta(hours=23), "fresh"),
                (timedelta(hours=24, seconds=1), "old"),
            ):
                uow.session.add(
                    IdempotencyKey(
                        principal_kind="API_KEY",
                        principal_id=str(uuid.uuid4()),
                        operation="createInvestment",
                        key=key,
                        request_hash="0" * 64,
                        result={"investmentIds": []},
                        created_at=utcnow() - age,
                    )
                )

        assert await idempotency.purge_expired_keys(db) == 1
        assert await count(db, IdempotencyKey) == 1

    async def test_an_expired_key_not_yet_purged_starts_a_new_request(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        input = commitment(fund, investor, key="weekly-order")
        first = await create(client, input)
        await backdate_keys(db, timedelta(hours=25), "weekly-order")

        again = await create(client, input)

        assert again["replayed"] is False
        assert again["investment"]["id"] != first["investment"]["id"]
        assert await committed(db) == (2, 2)
        assert await count(db, IdempotencyKey) == 1


class TestHostileKeys:
    @pytest.mark.parametrize("key", HOSTILE_KEYS.values(), ids=HOSTILE_KEYS.keys())
    async def test_are_refused_as_bad_input_before_anything_runs(
        self, client: httpx.AsyncClient, db: Database, key: str
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)

        single = await post_escaped(
            client, CREATE_INVESTMENT, {"input": commitment(fund, investor, key=key)}
        )
        bulk = await post_escaped(
            client, CREATE_INVESTMENTS, {"inputs": [commitment(fund, investor)], "key": key}
        )

        for body in (single, bulk):
            assert error_codes(body) == ["BAD_USER_INPUT"], body
            assert "idempotencyKey" in body["errors"][0]["message"]
            assert key not in body["errors"][0]["message"] or not key.strip()
            assert body["data"] is None
        assert await committed(db) == (0, 0)
        assert await count(db, IdempotencyKey) == 0

    async def test_a_lone_surrogate_is_refused_with_the_request_body(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        variables = {"input": commitment(fund, investor, key="order-\ud800")}

        body = await post_escaped(client, CREATE_INVESTMENT, variables, status=400)

        assert error_codes(body) == ["BAD_REQUEST"]
        assert await committed(db) == (0, 0)

    @pytest.mark.parametrize("key", ["k" * 255, "ключ-🚀", "a b", "0" * 64])
    async def test_printable_keys_up_to_255_characters_are_accepted(
        self, client: httpx.AsyncClient, db: Database, key: str
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)

        first = await create(client, commitment(fund, investor, key=key))
        again = await create(client, commitment(fund, investor, key=key))

        assert first["errors"] == []
        assert again["replayed"] is True
        assert await committed(db) == (1, 1)


class TestKeyRules:
    def test_an_anonymous_caller_is_told_apart_by_its_address(self) -> None:
        someone = uuid.uuid4()

        assert idempotency.principal_key(someone, "203.0.113.9") == str(someone)
        assert idempotency.principal_key(None, "203.0.113.9") == "ip:203.0.113.9"
        assert len(idempotency.principal_key(None, "f" * 200)) == 64

    def test_the_request_hash_ignores_key_order_but_not_values(self) -> None:
        first = idempotency.request_hash({"a": "1", "b": ["x", "y"]})

        assert idempotency.request_hash({"b": ["x", "y"], "a": "1"}) == first
        assert idempotency.request_hash({"a": "1", "b": ["y", "x"]}) != first
        assert len(first) == 64
