"""investment(id), investments(...), and Investment.fund / Investment.investor on every path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of

INVESTMENT = """
query Investment($id: ID!) {
  investment(id: $id) {
    id amountUsd investmentDate createdAt
    fund { id name }
    investor { id name email }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Investment { amountUsd fund { id name } investor { id name email } }
  }
}
"""

INVESTMENTS = """
query Investments($filter: InvestmentFilter, $orderBy: [InvestmentOrder!]) {
  investments(filter: $filter, orderBy: $orderBy) {
    totalCount
    nodes { amountUsd investmentDate }
  }
}
"""

PARTIES = "fund { id name } investor { id name email }"

TOP_LEVEL_NODES = f"{{ investments {{ nodes {{ amountUsd {PARTIES} }} }} }}"
TOP_LEVEL_EDGES = f"{{ investments {{ edges {{ cursor node {{ amountUsd {PARTIES} }} }} }} }}"
TOP_LEVEL_FUND_ONLY = "{ investments { nodes { amountUsd fund { id name } } } }"
TOP_LEVEL_INVESTOR_ONLY = "{ investments { nodes { amountUsd investor { id name email } } } }"
TOP_LEVEL_NEITHER = "{ investments { totalCount nodes { id amountUsd } } }"
TOP_LEVEL_FRAGMENT = f"""
{{ investments {{ ...Page }} }}
fragment Page on InvestmentConnection {{ nodes {{ ...Parties }} }}
fragment Parties on Investment {{ amountUsd {PARTIES} }}
"""
TOP_LEVEL_INLINE_FRAGMENT = (
    f"{{ investments {{ nodes {{ ... on Investment {{ amountUsd {PARTIES} }} }} }} }}"
)
TOP_LEVEL_ALIASED = """
{ investments { items: nodes { amountUsd fund { id name } investor { id name email } } } }
"""
TOP_LEVEL_SKIPPED = """
query Skipped($withFund: Boolean!) {
  investments {
    nodes { amountUsd fund @include(if: $withFund) { id name } investor { id name email } }
  }
}
"""
FUNDS_NESTED = f"""
{{ funds {{ nodes {{ id investments {{ nodes {{ amountUsd {PARTIES} }} }} }} }} }}
"""
FUNDS_NESTED_INVESTOR_ONLY = """
{ funds { nodes { id investments { nodes { amountUsd investor { id name email } } } } } }
"""
INVESTORS_NESTED = f"""
{{ investors {{ nodes {{ id investments {{ nodes {{ amountUsd {PARTIES} }} }} }} }} }}
"""
INVESTORS_NESTED_FUND_ONLY = """
{ investors { nodes { id investments { edges { node { amountUsd fund { id name } } } } } } }
"""
INVESTORS_NESTED_NEITHER = """
{ investors { nodes { id investments { totalCount nodes { amountUsd } } } } }
"""


@dataclass(frozen=True)
class World:
    """Two funds, two investors, three commitments; each amount identifies one commitment."""

    funds: dict[str, dict[str, str]]
    investors: dict[str, dict[str, str]]
    parties: dict[str, tuple[str, str]]  # amount → (fund id, investor id)


async def _world(db: Database) -> World:
    fund_a = await create_fund(db, name="Fund A")
    fund_b = await create_fund(db, name="Fund B")
    ann = await create_investor(db, name="Ann", email="ann@example.com")
    bob = await create_investor(db, name="Bob", email="bob@example.com")
    parties = {"10.00": (fund_a, ann), "20.00": (fund_a, bob), "30.00": (fund_b, ann)}
    for amount, (fund, investor) in parties.items():
        await create_investment(db, fund, investor, amount_usd=Decimal(amount))
    return World(
        funds={gid(f): {"id": gid(f), "name": f.name} for f in (fund_a, fund_b)},
        investors={gid(i): {"id": gid(i), "name": i.name, "email": i.email} for i in (ann, bob)},
        parties={amount: (gid(f), gid(i)) for amount, (f, i) in parties.items()},
    )


def _top_level(data: dict[str, Any], key: str = "nodes") -> list[tuple[str | None, dict[str, Any]]]:
    connection = data["investments"]
    if key == "edges":
        return [(None, edge["node"]) for edge in connection["edges"]]
    return [(None, node) for node in connection[key]]


def _nested(data: dict[str, Any], parents: str) -> list[tuple[str | None, dict[str, Any]]]:
    found: list[tuple[str | None, dict[str, Any]]] = []
    for parent in data[parents]["nodes"]:
        connection = parent["investments"]
        nodes = connection.get("nodes") or [edge["node"] for edge in connection.get("edges", [])]
        found.extend((parent["id"], node) for node in nodes)
    return found


@dataclass(frozen=True)
class RelationCase:
    document: str
    variables: dict[str, Any]
    items: Any  # data → [(parent id or None, investment node)]
    parent: str | None  # "fund" or "investor": the parent each item must belong to


RELATION_CASES = {
    "top-level-nodes": RelationCase(TOP_LEVEL_NODES, {}, _top_level, None),
    "top-level-edges": RelationCase(TOP_LEVEL_EDGES, {}, lambda d: _top_level(d, "edges"), None),
    "top-level-fund-only": RelationCase(TOP_LEVEL_FUND_ONLY, {}, _top_level, None),
    "top-level-investor-only": RelationCase(TOP_LEVEL_INVESTOR_ONLY, {}, _top_level, None),
    "top-level-neither": RelationCase(TOP_LEVEL_NEITHER, {}, _top_level, None),
    "top-level-fragments": RelationCase(TOP_LEVEL_FRAGMENT, {}, _top_level, None),
    "top-level-inline-fragment": RelationCase(TOP_LEVEL_INLINE_FRAGMENT, {}, _top_level, None),
    "top-level-aliased-nodes": RelationCase(
        TOP_LEVEL_ALIASED, {}, lambda d: _top_level(d, "items"), None
    ),
    "top-level-fund-skipped": RelationCase(
        TOP_LEVEL_SKIPPED, {"withFund": False}, _top_level, None
    ),
    "top-level-fund-included": RelationCase(
        TOP_LEVEL_SKIPPED, {"withFund": True}, _top_level, None
    ),
    "funds-nested": RelationCase(FUNDS_NESTED, {}, lambda d: _nested(d, "funds"), "fund"),
    "funds-nested-investor-only": RelationCase(
        FUNDS_NESTED_INVESTOR_ONLY, {}, lambda d: _nested(d, "funds"), "fund"
    ),
    "investors-nested": RelationCase(
        INVESTORS_NESTED, {}, lambda d: _nested(d, "investors"), "investor"
    ),
    "investors-nested-fund-only-via-edges": RelationCase(
        INVESTORS_NESTED_FUND_ONLY, {}, lambda d: _nested(d, "investors"), "investor"
    ),
    "investors-nested-neither": RelationCase(
        INVESTORS_NESTED_NEITHER, {}, lambda d: _nested(d, "investors"), "investor"
    ),
}


class TestInvestmentRelations:
    @pytest.mark.parametrize("case", list(RELATION_CASES.values()), ids=list(RELATION_CASES))
    async def test_each_investment_shows_its_own_fund_and_investor(
        self, client: httpx.AsyncClient, db: Database, case: RelationCase
    ) -> None:
        # Given three commitments between two funds and two investors
        world = await _world(db)

        # When they are read through this path and selection
        data = await data_of(client, case.document, case.variables)
        items = case.items(data)

        # Then every commitment appears once, with exactly its own fund and investor
        assert sorted(node["amountUsd"] for _, node in items) == sorted(world.parties)
        for parent_id, node in items:
            fund_id, investor_id = world.parties[node["amountUsd"]]
            if "fund" in node:
                assert node["fund"] == world.funds[fund_id]
            if "investor" in node:
                assert node["investor"] == world.investors[investor_id]
            if case.parent is not None:
                assert parent_id == (fund_id if case.parent == "fund" else investor_id)

    async def test_a_skipped_field_is_left_out(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await _world(db)

        data = await data_of(client, TOP_LEVEL_SKIPPED, {"withFund": False})

        assert all("fund" not in node for node in data["investments"]["nodes"])
        assert all("investor" in node for node in data["investments"]["nodes"])


class TestInvestmentQuery:
    async def test_returns_the_investment_with_its_fund_and_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db, name="Fund A")
        investor = await create_investor(db, name="Ann", email="ann@example.com")
        investment = await create_investment(
            db, fund, investor, amount_usd=Decimal("1234.56"), investment_date=date(2023, 12, 31)
        )

        data = await data_of(client, INVESTMENT, {"id": gid(investment)})

        found = data["investment"]
        assert found["id"] == gid(investment)
        assert found["amountUsd"] == "1234.56"
        assert found["investmentDate"] == "2023-12-31"
        assert found["createdAt"].endswith("Z")
        assert found["fund"] == {"id": gid(fund), "name": "Fund A"}
        assert found["investor"] == {"id": gid(investor), "name": "Ann", "email": "ann@example.com"}

    async def test_is_reachable_as_a_node(self, client: httpx.AsyncClient, db: Database) -> None:
        fund = await create_fund(db, name="Fund A")
        investor = await create_investor(db, name="Ann")
        investment = await create_investment(db, fund, investor, amount_usd=Decimal("5.00"))

        data = await data_of(client, NODE, {"id": gid(investment)})

        assert data["node"]["__typename"] == "Investment"
        assert data["node"]["amountUsd"] == "5.00"
        assert data["node"]["fund"]["name"] == "Fund A"
        assert data["node"]["investor"]["name"] == "Ann"

    @pytest.mark.parametrize(
        "investment_id",
        [
            to_global_id("Investment", uuid.UUID(int=3)),
            "garbage",
            "Z2FyYmFnZQ==",
            "SW52ZXN0bWVudDpub3QtYS11dWlk",
            "",
            "\x00",
        ],
        ids=["missing", "garbage", "base64-garbage", "base64-bad-uuid", "empty", "nul"],
    )
    async def test_is_null_for_an_id_that_names_no_investment(
        self, client: httpx.AsyncClient, db: Database, investment_id: str
    ) -> None:
        fund = await create_fund(db)
        await create_investment(db, fund, await create_investor(db))

        data = await data_of(client, INVESTMENT, {"id": investment_id})

        assert data["investment"] is None

    async def test_is_null_for_another_types_id(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)
        await create_investment(db, fund, investor)

        for other in (gid(fund), gid(investor)):
            data = await data_of(client, INVESTMENT, {"id": other})
            assert data["investment"] is None


class TestInvestmentsConnection:
    async def _seed(self, db: Database) -> tuple[str, str, str, str]:
        fund_a = await create_fund(db)
        fund_b = await create_fund(db)
        ann = await create_investor(db)
        bob = await create_investor(db)
        rows = [
            (fund_a, ann, "10.00", date(2023, 1, 1)),
            (fund_a, bob, "20.00", date(2023, 6, 1)),
            (fund_b, ann, "30.00", date(2024, 1, 1)),
        ]
        for fund, investor, amount, day in rows:
            await create_investment(
                db, fund, investor, amount_usd=Decimal(amount), investment_date=day
            )
        return gid(fund_a), gid(fund_b), gid(ann), gid(bob)

    @staticmethod
    async def _amounts(client: httpx.AsyncClient, **variables: Any) -> tuple[list[str], int]:
        data = await data_of(client, INVESTMENTS, variables)
        connection = data["investments"]
        return [node["amountUsd"] for node in connection["nodes"]], connection["totalCount"]

    async def test_lists_every_investment_in_creation_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await self._seed(db)

        assert await self._amounts(client) == (["10.00", "20.00", "30.00"], 3)

    async def test_filters_by_fund(self, client: httpx.AsyncClient, db: Database) -> None:
        fund_a, _, _, _ = await self._seed(db)

        amounts = await self._amounts(client, filter={"fundId": {"eq": fund_a}})

        assert amounts == (["10.00", "20.00"], 2)

    async def test_filters_by_investor(self, client: httpx.AsyncClient, db: Database) -> None:
        _, _, ann, _ = await self._seed(db)

        amounts = await self._amounts(client, filter={"investorId": {"in": [ann]}})

        assert amounts == (["10.00", "30.00"], 2)

    async def test_filters_by_amount_and_date(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await self._seed(db)

        amounts = await self._amounts(
            client,
            filter={
                "amountUsd": {"gte": "15.00"},
                "investmentDate": {"lt": "2024-01-01"},
            },
        )

        assert amounts == (["20.00"], 1)

    async def test_sorts_by_amount_descending(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await self._seed(db)

        amounts = await self._amounts(
            client, orderBy=[{"field": "AMOUNT_USD", "direction": "DESC"}]
        )

        assert amounts == (["30.00", "20.00", "10.00"], 3)

    async def test_is_empty_for_an_existing_fund_without_commitments(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await self._seed(db)
        empty = await create_fund(db)

        amounts = await self._amounts(client, filter={"fundId": {"eq": gid(empty)}})

        assert amounts == ([], 0)
