"""Parallel createInvestor calls with one address in many letter cases: one winner."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx

from tests.graphql import data_of, execute

PARALLEL_REQUESTS = 30
REQUEST_TIMEOUT_SECONDS = 30

CREATE_INVESTOR = """
mutation CreateInvestor($input: CreateInvestorInput!) {
  createInvestor(input: $input) {
    investor { id email }
    errors { code message field }
  }
}
"""

INVESTORS = """
query Investors { investors { totalCount nodes { email } } }
"""

LEAK_MARKERS = ("traceback", "sqlalchemy", "asyncpg", "sqlite", "internal_server_error")


def _letter_case_variant(address: str, pattern: int) -> str:
    """`address` with the letters whose position is set in `pattern` upper-cased."""
    return "".join(
        char.upper() if (pattern >> index) & 1 else char for index, char in enumerate(address)
    )


async def _create(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    variables = {"input": {"name": "Racer", "investorType": "INDIVIDUAL", "email": email}}
    return await asyncio.wait_for(
        execute(client, CREATE_INVESTOR, variables), timeout=REQUEST_TIMEOUT_SECONDS
    )


class TestParallelCreateInvestor:
    async def test_only_one_of_many_same_address_requests_succeeds(
        self, client: httpx.AsyncClient
    ) -> None:
        # Given thirty spellings of one address that differ only in letter case
        emails = [
            _letter_case_variant("racecondition@example.com", pattern)
            for pattern in range(PARALLEL_REQUESTS)
        ]
        assert len(set(emails)) == PARALLEL_REQUESTS

        # When they are all submitted at once
        bodies = await asyncio.gather(*(_create(client, email) for email in emails))

        # Then nothing failed unexpectedly or leaked internals
        for body in bodies:
            assert "errors" not in body, body
            text = json.dumps(body).lower()
            assert not [marker for marker in LEAK_MARKERS if marker in text], body
        # and exactly one investor was created, the others refused as duplicates
        outcomes = Counter(
            tuple(error["code"] for error in body["data"]["createInvestor"]["errors"])
            for body in bodies
        )
        assert outcomes == {(): 1, ("DUPLICATE_EMAIL",): PARALLEL_REQUESTS - 1}
        data = await data_of(client, INVESTORS)
        assert data["investors"] == {
            "totalCount": 1,
            "nodes": [{"email": "racecondition@example.com"}],
        }
