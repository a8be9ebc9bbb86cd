"""Relay `node(id)` and `nodes(ids)`: any record by global ID, null for what does not exist."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal

import httpx
import pytest

from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import gid
from tests.graphql import data_of
from tests.pagination.seed import create_funds, create_investments, create_investors
from tests.pagination.walk import bad_user_input

NODE_FIELDS = """
  __typename
  id
  ... on Fund { name }
  ... on Investor { email }
  ... on Investment { amountUsd fund { name } }
"""

NODE_QUERY = f"query Node($id: ID!) {{ node(id: $id) {{ {NODE_FIELDS} }} }}"
NODES_QUERY = f"query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {{ {NODE_FIELDS} }} }}"

MISSING_FUND = to_global_id("Fund", uuid.UUID("0190d2a8-0000-7000-8000-000000000000"))
UNRESOLVABLE_IDS = [
    MISSING_FUND,
    to_global_id("User", uuid.UUID("0190d2a8-0000-7000-8000-000000000000")),
    base64.b64encode(b"Fund:not-a-uuid").decode(),
    base64.b64encode(b"no separator").decode(),
    "definitely not base64!",
    "",
    "RnVuZA",
    base64.b64encode(b"Fund:" + b"0" * 200).decode(),
]


async def _one_of_each(db: Database) -> dict[str, str]:
    [fund] = await create_funds(db, [{"name": "Fund Node"}])
    [investor] = await create_investors(db, [{"email": "node@example.com"}])
    [investment] = await create_investments(
        db, [(fund, investor, {"amount_usd": Decimal("42.50")})]
    )
    return {"Fund": gid(fund), "Investor": gid(investor), "Investment": gid(investment)}


class TestNodeQuery:
    async def test_each_type_resolves_with_its_typename_and_fields(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given one record of each type
        ids = await _one_of_each(db)

        # When each is fetched through node(id)
        fund = (await data_of(client, NODE_QUERY, {"id": ids["Fund"]}))["node"]
        investor = (await data_of(client, NODE_QUERY, {"id": ids["Investor"]}))["node"]
        investment = (await data_of(client, NODE_QUERY, {"id": ids["Investment"]}))["node"]

        # Then each comes back as its own type, with the same id
        assert fund == {"__typename": "Fund", "id": ids["Fund"], "name": "Fund Node"}
        assert investor == {
            "__typename": "Investor",
            "id": ids["Investor"],
            "email": "node@example.com",
        }
        assert investment == {
            "__typename": "Investment",
            "id": ids["Investment"],
            "amountUsd": "42.50",
            "fund": {"name": "Fund Node"},
        }

    @pytest.mark.parametrize("global_id", UNRESOLVABLE_IDS)
    async def test_an_unknown_or_malformed_id_is_null_not_an_error(
        self, client: httpx.AsyncClient, db: Database, global_id: str
    ) -> None:
        await _one_of_each(db)

        data = await data_of(client, NODE_QUERY, {"id": global_id})

        assert data == {"node": None}

    async def test_an_id_with_the_key_of_another_type_is_null(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund's key wrapped as if it were an investor's
        ids = await _one_of_each(db)
        key = base64.b64decode(ids["Fund"]).decode().partition(":")[2]
        disguised = to_global_id("Investor", uuid.UUID(key))

        data = await data_of(client, NODE_QUERY, {"id": disguised})

        assert data == {"node": None}


class TestNodesQuery:
    async def test_keeps_the_order_asked_for_with_null_for_each_miss(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        ids = await _one_of_each(db)
        asked = [ids["Investment"], MISSING_FUND, ids["Fund"], "junk", ids["Investor"], ids["Fund"]]

        nodes = (await data_of(client, NODES_QUERY, {"ids": asked}))["nodes"]

        assert [node and node["__typename"] for node in nodes] == [
            "Investment",
            None,
            "Fund",
            None,
            "Investor",
            "Fund",
        ]
        assert [node and node["id"] for node in nodes] == [
            ids["Investment"],
            None,
            ids["Fund"],
            None,
            ids["Investor"],
            ids["Fund"],
        ]

    async def test_an_empty_list_gives_an_empty_list(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        assert await data_of(client, NODES_QUERY, {"ids": []}) == {"nodes": []}

    async def test_100_ids_are_accepted(self, client: httpx.AsyncClient, db: Database) -> None:
        ids = await _one_of_each(db)

        nodes = (await data_of(client, NODES_QUERY, {"ids": [ids["Fund"]] * 100}))["nodes"]

        assert len(nodes) == 100
        assert {node["id"] for node in nodes} == {ids["Fund"]}

    async def test_more_than_100_ids_are_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        error = await bad_user_input(client, NODES_QUERY, {"ids": [MISSING_FUND] * 101})

        assert "at most 100" in error["message"]
        assert error["path"] == ["nodes"]
