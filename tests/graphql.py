"""Helpers to talk GraphQL to the app in tests."""

from __future__ import annotations

from typing import Any

import httpx


async def execute(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a document and return the response body, asserting it was executed (200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def data_of(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `data` of a response that must have no errors."""
    body = await execute(client, query, variables)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def without_cost(body: dict[str, Any]) -> dict[str, Any]:
    """The body without `extensions.cost` (every response carries one; see tests/traffic)."""
    extensions = {k: v for k, v in body.get("extensions", {}).items() if k != "cost"}
    trimmed = {k: v for k, v in body.items() if k != "extensions"}
    return {**trimmed, "extensions": extensions} if extensions else trimmed


# GET requests must carry this header (or a non-simple content type): the CSRF
# guard refuses plain GETs, which a browser sends cross-site without a preflight.
PREFLIGHT = {"apollo-require-preflight": "true"}
