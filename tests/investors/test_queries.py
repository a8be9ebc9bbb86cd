"""investor(id), investors(...) and Investor.totalCommittedUsd through the real app."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import InvestorType
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of, error_codes, execute

INVESTOR = """
query Investor($id: ID!) {
  investor(id: $id) { id name investorType email version createdAt updatedAt totalCommittedUsd }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) { __typename id ... on Investor { name email } }
}
"""

INVESTORS = """
query Investors(
  $first: Int, $after: String, $filter: InvestorFilter, $orderBy: [InvestorOrder!]
) {
  investors(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    nodes { id name email investorType }
  }
}
"""

TOTALS = """
query Totals {
  investors(orderBy: [{field: NAME}]) { nodes { name totalCommittedUsd } }
}
"""


async def _investors(client: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    data = await data_of(client, INVESTORS, variables)
    connection: dict[str, Any] = data["investors"]
    return connection


def _names(connection: dict[str, Any]) -> list[str]:
    return [node["name"] for node in connection["nodes"]]


class TestInvestorQuery:
    async def test_returns_the_investor_by_its_id(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(
            db, name="Acme", email="acme@example.com", investor_type=InvestorType.FAMILY_OFFICE
        )

        data = await data_of(client, INVESTOR, {"id": gid(investor)})

        found = data["investor"]
        assert found["id"] == gid(investor)
        assert (found["name"], found["email"], found["investorType"]) == (
            "Acme",
            "acme@example.com",
            "FAMILY_OFFICE",
        )
        assert found["version"] == 1
        assert found["createdAt"].endswith("Z")

    @pytest.mark.parametrize(
        "investor_id",
        [
            to_global_id("Investor", uuid.UUID(int=7)),
            "garbage",
            "Z2FyYmFnZQ==",
            "",
            "x" * 100_000,
        ],
        ids=["missing", "garbage", "base64-garbage", "empty", "100k-characters"],
    )
    async def test_is_null_for_an_id_that_names_no_investor(
        self, client: httpx.AsyncClient, db: Database, investor_id: str
    ) -> None:
        await create_investor(db)

        data = await data_of(client, INVESTOR, {"id": investor_id})

        assert data["investor"] is None

    async def test_is_null_for_another_types_id(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)

        data = await data_of(client, INVESTOR, {"id": gid(fund)})

        assert data["investor"] is None

    async def test_is_reachable_as_a_node(self, client: httpx.AsyncClient, db: Database) -> None:
        investor = await create_investor(db, name="Acme")

        data = await data_of(client, NODE, {"id": gid(investor)})

        assert data["node"]["__typename"] == "Investor"
        assert data["node"]["name"] == "Acme"


class TestInvestorsConnection:
    async def test_lists_investors_in_creation_order_by_default(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        for name in ("Charlie", "Alpha", "Bravo"):
            await create_investor(db, name=name)

        connection = await _investors(client)

        assert _names(connection) == ["Charlie", "Alpha", "Bravo"]
        assert connection["totalCount"] == 3

    async def test_sorts_by_name_descending(self, client: httpx.AsyncClient, db: Database) -> None:
        for name in ("Charlie", "Alpha", "Bravo"):
            await create_investor(db, name=name)

        connection = await _investors(client, orderBy=[{"field": "NAME", "direction": "DESC"}])

        assert _names(connection) == ["Charlie", "Bravo", "Alpha"]

    async def test_filters_by_investor_type(self, client: httpx.AsyncClient, db: Database) -> None:
        await create_investor(db, name="Person", investor_type=InvestorType.INDIVIDUAL)
        await create_investor(db, name="Pension", investor_type=InvestorType.INSTITUTION)
        await create_investor(db, name="Family", investor_type=InvestorType.FAMILY_OFFICE)

        connection = await _investors(
            client, filter={"investorType": {"in": ["INDIVIDUAL", "FAMILY_OFFICE"]}}
        )

        assert sorted(_names(connection)) == ["Family", "Person"]
        assert connection["totalCount"] == 2

    async def test_matches_names_ignoring_letter_case(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investor(db, name="Acme Capital")
        await create_investor(db, name="Other Partners")

        connection = await _investors(client, filter={"name": {"contains": "aCmE"}})

        assert _names(connection) == ["Acme Capital"]

    async def test_treats_like_wildcards_in_a_filter_as_plain_text(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investor(db, name="100% Capital")
        await create_investor(db, name="Plain Capital")

        percent = await _investors(client, filter={"name": {"contains": "%"}})
        underscore = await _investors(client, filter={"name": {"contains": "_"}})

        assert _names(percent) == ["100% Capital"]
        assert _names(underscore) == []

    async def test_finds_an_investor_by_its_stored_email(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investor(db, name="Jane", email="jane@example.com")
        await create_investor(db, name="John", email="john@example.com")

        connection = await _investors(client, filter={"email": {"eq": "jane@example.com"}})

        assert _names(connection) == ["Jane"]

    async def test_email_equality_ignores_letter_case_as_emails_do(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Emails are stored normalised to lower case; a filter in any case finds them.
        await create_investor(db, name="Jane", email="Jane@Example.com")
        await create_investor(db, name="John", email="john@example.com")

        by_eq = await _investors(client, filter={"email": {"eq": "JANE@example.COM"}})
        by_in = await _investors(client, filter={"email": {"in": ["John@Example.com"]}})

        assert (_names(by_eq), _names(by_in)) == (["Jane"], ["John"])

    async def test_pages_forward_without_gaps_or_repeats(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        for index in range(5):
            await create_investor(db, name=f"Investor {index}")

        first = await _investors(client, first=2, orderBy=[{"field": "NAME"}])
        second = await _investors(
            client, first=2, after=first["pageInfo"]["endCursor"], orderBy=[{"field": "NAME"}]
        )
        third = await _investors(
            client, first=2, after=second["pageInfo"]["endCursor"], orderBy=[{"field": "NAME"}]
        )

        assert _names(first) + _names(second) + _names(third) == [
            f"Investor {index}" for index in range(5)
        ]
        assert first["pageInfo"]["hasNextPage"] is True
        assert third["pageInfo"]["hasNextPage"] is False
        assert third["totalCount"] == 5

    async def test_refuses_a_page_larger_than_100(self, client: httpx.AsyncClient) -> None:
        body = await execute(client, INVESTORS, {"first": 101})

        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_is_empty_without_investors(self, client: httpx.AsyncClient) -> None:
        connection = await _investors(client)

        assert connection["nodes"] == []
        assert connection["totalCount"] == 0
        assert connection["pageInfo"]["hasNextPage"] is False


class TestTotalCommittedUsd:
    async def test_is_zero_without_investments(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        data = await data_of(client, INVESTOR, {"id": gid(investor)})

        assert data["investor"]["totalCommittedUsd"] == "0.00"

    async def test_sums_exactly_across_funds(self, client: httpx.AsyncClient, db: Database) -> None:
        # Given commitments to three funds whose float sum would not be exact
        investor = await create_investor(db)
        amounts = ["0.10", "0.20", "1234567.89"]
        for amount in amounts:
            fund = await create_fund(db)
            await create_investment(db, fund, investor, amount_usd=Decimal(amount))

        # When the investor's total is read
        data = await data_of(client, INVESTOR, {"id": gid(investor)})

        # Then it is the exact decimal sum
        assert data["investor"]["totalCommittedUsd"] == "1234568.19"

    async def test_sums_several_commitments_to_one_fund(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)
        fund = await create_fund(db)
        for _ in range(10):
            await create_investment(db, fund, investor, amount_usd=Decimal("0.10"))

        data = await data_of(client, INVESTOR, {"id": gid(investor)})

        assert data["investor"]["totalCommittedUsd"] == "1.00"

    async def test_counts_only_each_investors_own_commitments_in_a_list(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given three investors, one without commitments
        fund = await create_fund(db)
        alpha = await create_investor(db, name="Alpha")
        bravo = await create_investor(db, name="Bravo")
        await create_investor(db, name="Charlie")
        await create_investment(db, fund, alpha, amount_usd=Decimal("100.01"))
        await create_investment(db, fund, alpha, amount_usd=Decimal("0.99"))
        await create_investment(db, fund, bravo, amount_usd=Decimal("999999999.99"))

        # When all are listed with their totals
        data = await data_of(client, TOTALS)

        # Then each total is that investor's own
        assert data["investors"]["nodes"] == [
            {"name": "Alpha", "totalCommittedUsd": "101.00"},
            {"name": "Bravo", "totalCommittedUsd": "999999999.99"},
            {"name": "Charlie", "totalCommittedUsd": "0.00"},
        ]
