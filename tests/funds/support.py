"""GraphQL documents and small helpers shared by the fund API tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.graphql import data_of, execute

FUND_FIELDS = """
fragment FundFields on Fund {
  id
  name
  vintageYear
  targetSizeUsd
  hardCapUsd
  status
  version
  createdAt
  updatedAt
}
"""

CREATE_FUND = (
    FUND_FIELDS
    + """
mutation CreateFund($input: CreateFundInput!) {
  createFund(input: $input) {
    fund { ...FundFields }
    errors { code message field }
  }
}
"""
)

UPDATE_FUND = (
    FUND_FIELDS
    + """
mutation UpdateFund($input: UpdateFundInput!) {
  updateFund(input: $input) {
    fund { ...FundFields }
    errors { code message field }
  }
}
"""
)

FUND = (
    FUND_FIELDS
    + """
query Fund($id: ID!) {
  fund(id: $id) { ...FundFields }
}
"""
)

FUNDS = """
query Funds(
  $first: Int, $after: String, $filter: FundFilter, $orderBy: [FundOrder!]
) {
  funds(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

LEAKS = ("Traceback", "sqlalchemy", "asyncpg", "sqlite", "INTERNAL_SERVER_ERROR")


def current_year() -> int:
    return datetime.now(UTC).year


def fund_input(**overrides: Any) -> dict[str, Any]:
    """A valid `CreateFundInput`, with some fields replaced (None values are kept as null)."""
    return {
        "name": "Northwind Growth I",
        "vintageYear": 2020,
        "targetSizeUsd": "1000000.00",
    } | overrides


def assert_no_leak(body: dict[str, Any]) -> None:
    """Nothing internal (tracebacks, driver or SQL text, masked errors) reached the client."""
    text = json.dumps(body)
    for leak in LEAKS:
        assert leak not in text, body


async def send(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Execute a document and check the response leaks nothing internal."""
    body = await execute(client, document, variables)
    assert_no_leak(body)
    return body


async def create_fund_via_api(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Create a fund through `createFund`; the mutation must succeed."""
    data = await data_of(client, CREATE_FUND, {"input": fund_input(**overrides)})
    payload: dict[str, Any] = data["createFund"]
    assert payload["errors"] == [], payload["errors"]
    fund: dict[str, Any] = payload["fund"]
    return fund


async def fetch_fund(client: httpx.AsyncClient, fund_id: str) -> dict[str, Any] | None:
    data = await data_of(client, FUND, {"id": fund_id})
    fund: dict[str, Any] | None = data["fund"]
    return fund


async def update_fund(client: httpx.AsyncClient, **input: Any) -> dict[str, Any]:
    """The `updateFund` payload (fund and errors) for this input."""
    body = await send(client, UPDATE_FUND, {"input": input})
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"]["updateFund"]
    return payload


async def create_fund_payload(client: httpx.AsyncClient, **input: Any) -> dict[str, Any]:
    """The `createFund` payload (fund and errors) for this exact input."""
    body = await send(client, CREATE_FUND, {"input": input})
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"]["createFund"]
    return payload


async def fund_count(client: httpx.AsyncClient) -> int:
    data = await data_of(client, FUNDS, {})
    return int(data["funds"]["totalCount"])
