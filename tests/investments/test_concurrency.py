"""Parallel commitments through the ASGI app never overshoot a hard cap."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx

from graphql_api.db.models import Fund
from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from tests.factories import create_fund, create_investor, gid
from tests.graphql import data_of, execute

PARALLEL_REQUESTS = 30
ROOM_FOR = 10
REQUEST_TIMEOUT_SECONDS = 30

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment { id amountUsd }
    errors { code message field }
  }
}
"""

SUMMARY = """
query Summary($id: ID!) {
  fund(id: $id) { summary { committedUsd investmentCount remainingToHardCapUsd } }
  investments { totalCount }
}
"""

LEAK_MARKERS = ("traceback", "sqlalchemy", "asyncpg", "sqlite", "internal_server_error")


async def _commit(client: httpx.AsyncClient, variables: dict[str, Any]) -> dict[str, Any]:
    return await asyncio.wait_for(
        execute(client, CREATE_INVESTMENT, variables), timeout=REQUEST_TIMEOUT_SECONDS
    )


async def _stored_committed_total(db: Database, fund: Fund) -> Decimal:
    async with db.read_session() as session:
        stored = await fund_service.find_fund(session, fund.id)
    assert stored is not None
    return stored.committed_usd


class TestParallelCommitments:
    async def test_exactly_the_commitments_that_fit_under_the_cap_succeed(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund whose hard cap leaves room for exactly ten commitments of 100.01
        amount = Decimal("100.01")
        fund = await create_fund(
            db, target_size_usd=amount * ROOM_FOR, hard_cap_usd=amount * ROOM_FOR
        )
        investor = await create_investor(db)
        variables = {
            "input": {
                "fundId": gid(fund),
                "investorId": gid(investor),
                "amountUsd": str(amount),
                "investmentDate": "2024-01-15",
            }
        }

        # When thirty such commitments arrive at once
        bodies = await asyncio.gather(
            *(_commit(client, variables) for _ in range(PARALLEL_REQUESTS))
        )

        # Then none failed unexpectedly or leaked internals
        for body in bodies:
            assert "errors" not in body, body
            text = json.dumps(body).lower()
            assert not [marker for marker in LEAK_MARKERS if marker in text], body
        # and exactly ten succeeded while the rest hit the cap
        outcomes = Counter(
            tuple(error["code"] for error in body["data"]["createInvestment"]["errors"])
            for body in bodies
        )
        assert outcomes == {(): ROOM_FOR, ("HARD_CAP_EXCEEDED",): PARALLEL_REQUESTS - ROOM_FOR}
        # and the committed total is exactly the cap
        data = await data_of(client, SUMMARY, {"id": gid(fund)})
        assert data["fund"]["summary"] == {
            "committedUsd": "1000.10",
            "investmentCount": ROOM_FOR,
            "remainingToHardCapUsd": "0.00",
        }
        assert data["investments"]["totalCount"] == ROOM_FOR
        assert await _stored_committed_total(db, fund) == Decimal("1000.10")

    async def test_parallel_commitments_to_a_fund_without_cap_all_count(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund without a cap
        fund = await create_fund(db, hard_cap_usd=None)
        investor = await create_investor(db)
        variables = {
            "input": {
                "fundId": gid(fund),
                "investorId": gid(investor),
                "amountUsd": "0.10",
                "investmentDate": "2024-01-15",
            }
        }

        # When thirty commitments of 0.10 arrive at once
        bodies = await asyncio.gather(
            *(_commit(client, variables) for _ in range(PARALLEL_REQUESTS))
        )

        # Then every one succeeded and none of them was lost from the totals
        assert all(body["data"]["createInvestment"]["errors"] == [] for body in bodies), bodies
        data = await data_of(client, SUMMARY, {"id": gid(fund)})
        assert data["fund"]["summary"]["committedUsd"] == "3.00"
        assert data["fund"]["summary"]["investmentCount"] == PARALLEL_REQUESTS
        assert await _stored_committed_total(db, fund) == Decimal("3.00")
