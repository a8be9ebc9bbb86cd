"""A list argument's items each cost a point: a 1,000-item bulk is not a 1-point request."""

from __future__ import annotations

from typing import Any

import httpx

from graphql_api.db.session import Database
from tests.graphql import execute

BULK = """
mutation Bulk($inputs: [CreateInvestmentInput!]!) {
  createInvestments(inputs: $inputs, atomic: true) { errors { code } }
}
"""


def _requested(body: dict[str, Any]) -> int:
    return int(body["extensions"]["cost"]["requestedQueryCost"])


class TestListArgumentCost:
    async def test_each_item_of_a_bulk_input_counts(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        item = {
            "fundId": "RnVuZDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA=",
            "investorId": "SW52ZXN0b3I6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw",
            "amountUsd": "100.00",
            "investmentDate": "2024-01-01",
        }

        one = await execute(client, BULK, {"inputs": [item]})
        many = await execute(client, BULK, {"inputs": [item] * 300})

        assert _requested(many) - _requested(one) == 299

    async def test_ids_of_nodes_count_too(self, client: httpx.AsyncClient, db: Database) -> None:
        two = await execute(client, '{ nodes(ids: ["a", "b"]) { id } }')
        five = await execute(client, '{ nodes(ids: ["a", "b", "c", "d", "e"]) { id } }')

        assert _requested(five) - _requested(two) == 3
