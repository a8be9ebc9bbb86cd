"""Reading the audit log in tests, and callers whose identity the log should name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from graphql_api.auth.principal import Role
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from graphql_api.users import service as user_service
from tests.graphql import data_of
from tests.identity.support import http_client, unique_ip

AUDIT_LOG = """
query Audit($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor }
    nodes {
      id occurredAt actorKind actorId action entityType entityId before after requestId
    }
  }
}
"""
REDACTED = "[REDACTED]"

CREATE_FUND = """
mutation CreateFund($name: String!) {
  createFund(input: { name: $name, vintageYear: 2021, targetSizeUsd: "1000000.00" }) {
    fund { id version } errors { code }
  }
}
"""
UPDATE_FUND = """
mutation UpdateFund($id: ID!, $name: String, $expected: Int) {
  updateFund(input: { id: $id, name: $name, expectedVersion: $expected }) {
    fund { id version } errors { code }
  }
}
"""


@dataclass(frozen=True)
class KeyCaller:
    """An HTTP client authenticated with an API key whose id the test knows."""

    http: httpx.AsyncClient
    key_id: str  # global ID, as the audit log shows actors


@asynccontextmanager
async def key_caller(app: Any, role: Role = Role.ADMIN) -> AsyncIterator[KeyCaller]:
    db: Database = app.state.runtime.db
    async with db.unit_of_work() as uow:
        key, secret = await user_service.create_api_key(
            uow.session, f"audit {role.value}", role, None, datetime.now(UTC)
        )
    async with http_client(app, ip=unique_ip(), headers={"X-API-Key": secret}) as http:
        yield KeyCaller(http, to_global_id("ApiKey", key.id))


async def audit_entries(
    admin: httpx.AsyncClient, first: int = 100, **filters: Any
) -> list[dict[str, Any]]:
    """The newest entries (newest first), optionally filtered."""
    data = await data_of(admin, AUDIT_LOG, {"filter": filters or None, "first": first})
    entries: list[dict[str, Any]] = data["auditLog"]["nodes"]
    return entries


async def entries_of(admin: httpx.AsyncClient, action: str) -> list[dict[str, Any]]:
    """The entries one mutation wrote, oldest first."""
    return list(reversed(await audit_entries(admin, action=[action])))


def only(entries: list[dict[str, Any]], entity_type: str) -> dict[str, Any]:
    matching = [entry for entry in entries if entry["entityType"] == entity_type]
    assert len(matching) == 1, entries
    return matching[0]
