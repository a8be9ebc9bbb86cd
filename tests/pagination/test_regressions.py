"""Paging bugs found once, kept from coming back."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal

import httpx
import orjson
import pytest

from graphql_api.db.session import Database
from tests.conftest import StatementCounter
from tests.factories import create_fund, create_investor, gid
from tests.graphql import data_of, error_codes, execute, without_cost

FUNDS_PAGE = """
query Page($first: Int, $after: String, $orderBy: [FundOrder!]) {
  funds(first: $first, after: $after, orderBy: $orderBy) {
    pageInfo { hasNextPage endCursor }
    nodes { name targetSizeUsd }
  }
}
"""
INVESTORS_PAGE = "query { investors(first: 1) { pageInfo { endCursor } } }"
FUNDS_AFTER = "query After($after: String) { funds(first: 1, after: $after) { nodes { name } } }"
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"
TWO_OPERATIONS = "query A { funds { totalCount } } query B { investors { totalCount } }"


def forged(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


class TestPagingByMoney:
    @pytest.mark.parametrize("direction", ["ASC", "DESC"])
    async def test_every_page_moves_on(
        self, client: httpx.AsyncClient, db: Database, direction: str
    ) -> None:
        for size in ("1000", "1001", "1002", "1003"):
            await create_fund(db, target_size_usd=Decimal(size))
        order = [{"field": "TARGET_SIZE_USD", "direction": direction}]

        seen: list[str] = []
        after = None
        for _ in range(6):  # bounded: four funds need four pages
            page = (
                await data_of(client, FUNDS_PAGE, {"first": 1, "after": after, "orderBy": order})
            )["funds"]
            seen += [fund["targetSizeUsd"] for fund in page["nodes"]]
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break

        expected = ["1000.00", "1001.00", "1002.00", "1003.00"]
        assert seen == (expected if direction == "ASC" else expected[::-1])


class TestForgedCursors:
    @pytest.mark.parametrize(
        ("order", "values"),
        [
            ("VINTAGE_YEAR", [2**64 - 1]),
            ("VINTAGE_YEAR", [2**31]),
            ("TARGET_SIZE_USD", ["0.001"]),
            ("TARGET_SIZE_USD", ["1E+999999"]),
            ("CREATED_AT", ["0001-01-01T00:00:00+14:00"]),
        ],
    )
    async def test_out_of_range_values_are_bad_input(
        self, client: httpx.AsyncClient, order: str, values: list[object]
    ) -> None:
        cursor = forged([f"{order}:a,FUND_ID:a", [*values, str(uuid.uuid4())]])

        body = await execute(client, FUNDS_PAGE, {"after": cursor, "orderBy": [{"field": order}]})

        assert error_codes(body) == ["BAD_USER_INPUT"]


class TestLongCursors:
    async def test_the_cursor_of_a_255_character_name_is_accepted_back(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_fund(db, name="\U00020000" * 255)
        await create_fund(db, name="\U00020001" * 255)
        order = [{"field": "NAME"}]

        first = (await data_of(client, FUNDS_PAGE, {"first": 1, "orderBy": order}))["funds"]
        second = (
            await data_of(
                client,
                FUNDS_PAGE,
                {"first": 1, "after": first["pageInfo"]["endCursor"], "orderBy": order},
            )
        )["funds"]

        assert second["nodes"][0]["name"] == "\U00020001" * 255


class TestCursorsBelongToTheirList:
    async def test_an_investors_cursor_is_refused_by_funds(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investor(db)
        cursor = (await data_of(client, INVESTORS_PAGE))["investors"]["pageInfo"]["endCursor"]

        body = await execute(client, FUNDS_AFTER, {"after": cursor})

        assert error_codes(body) == ["BAD_USER_INPUT"]


class TestNodesBatching:
    async def test_many_ids_of_one_type_cost_one_statement(
        self, client: httpx.AsyncClient, db: Database, count_statements: StatementCounter
    ) -> None:
        funds = [await create_fund(db) for _ in range(10)]
        await count_statements.reset(client)

        data = await data_of(client, NODES, {"ids": [gid(f) for f in funds]})

        assert [node["id"] for node in data["nodes"]] == [gid(f) for f in funds]
        assert count_statements.count == 2  # one authenticates the caller


class TestSeveralOperations:
    async def test_without_an_operation_name_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/graphql",
            json={"query": TWO_OPERATIONS},
            headers={"Accept": "application/graphql-response+json"},
        )

        assert response.status_code == 400
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        assert "operationName" in response.json()["errors"][0]["message"]

    async def test_with_an_operation_name_runs_that_one(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"}
        )

        assert without_cost(response.json()) == {"data": {"investors": {"totalCount": 0}}}
