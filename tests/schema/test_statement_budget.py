"""The nested list query costs a fixed number of SQL statements, however many funds."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from graphql_api.db.session import Database
from tests.conftest import StatementCounter
from tests.factories import create_fund, create_investment, create_investor
from tests.graphql import data_of

NESTED_QUERY = """
query Nested($first: Int!, $withCount: Boolean!) {
  funds(first: $first, orderBy: [{field: NAME}]) {
    totalCount @include(if: $withCount)
    nodes {
      name
      investments(first: 20) {
        totalCount @include(if: $withCount)
        nodes { amountUsd investor { name email } }
      }
    }
  }
}
"""


async def _seed_funds(db: Database, funds: int, investments_each: int) -> None:
    investors = [await create_investor(db) for _ in range(5)]
    for _ in range(funds):
        fund = await create_fund(db, target_size_usd=Decimal("100000000"))
        for index in range(investments_each):
            await create_investment(db, fund, investors[index % len(investors)])


class TestNestedFundsQuery:
    @pytest.mark.parametrize("funds", [5, 50])
    async def test_costs_at_most_four_statements_whatever_the_number_of_funds(
        self,
        client: httpx.AsyncClient,
        db: Database,
        count_statements: StatementCounter,
        funds: int,
    ) -> None:
        # Given funds that each have more investments than one page holds
        await _seed_funds(db, funds, investments_each=3)
        await count_statements.reset(client)

        # When the nested query runs without counts
        data = await data_of(client, NESTED_QUERY, {"first": 50, "withCount": False})

        # Then every fund and its investors came back in a fixed number of statements
        assert len(data["funds"]["nodes"]) == funds
        assert all(len(f["investments"]["nodes"]) == 3 for f in data["funds"]["nodes"])
        assert all(
            f["investments"]["nodes"][0]["investor"]["email"] for f in data["funds"]["nodes"]
        )
        # One statement authenticates the caller; the query itself takes two
        assert count_statements.count <= 4, count_statements.statements
        assert count_statements.count == 3

    @pytest.mark.parametrize("funds", [5, 50])
    async def test_costs_at_most_five_statements_with_total_counts(
        self,
        client: httpx.AsyncClient,
        db: Database,
        count_statements: StatementCounter,
        funds: int,
    ) -> None:
        await _seed_funds(db, funds, investments_each=2)
        await count_statements.reset(client)

        data = await data_of(client, NESTED_QUERY, {"first": 50, "withCount": True})

        assert data["funds"]["totalCount"] == funds
        assert {f["investments"]["totalCount"] for f in data["funds"]["nodes"]} == {2}
        assert count_statements.count <= 5, count_statements.statements
        assert count_statements.count == 5
