"""Reading the audit log: `auditLog` (ADMIN) and `Fund.history` (ADMIN, MANAGER)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from graphql_api.auth.principal import Role
from graphql_api.db.models import Fund
from graphql_api.db.session import Database
from tests.audit.support import AUDIT_LOG, UPDATE_FUND, KeyCaller, audit_entries, key_caller
from tests.factories import create_fund, create_investor, gid
from tests.graphql import data_of, error_codes, execute
from tests.identity.support import (
    bearer,
    create_user,
    http_client,
    session_of,
    unique_ip,
    user_gid,
)

UPDATE_INVESTOR = """
mutation UpdateInvestor($id: ID!, $name: String!) {
  updateInvestor(input: { id: $id, name: $name }) { errors { code } }
}
"""
CLOSE_FUND = """
mutation Close($id: ID!) { updateFund(input: { id: $id, status: CLOSED }) { errors { code } } }
"""
FUND_HISTORY = """
query History($id: ID!, $first: Int, $after: String) {
  fund(id: $id) {
    history(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { action actorKind actorId entityType entityId before after }
    }
  }
}
"""
EVERY_FUNDS_HISTORY = "{ funds { nodes { id history { totalCount nodes { entityId } } } } }"


@dataclass
class History:
    """Changes made through the API by two actors: an ADMIN key and a MANAGER user."""

    admin: KeyCaller
    manager_id: str
    funds: list[Fund]
    investor_id: str


@pytest.fixture
async def admin(app: Any, db: Database) -> AsyncIterator[KeyCaller]:
    async with key_caller(app) as caller:
        yield caller


@pytest.fixture
async def history(app: Any, db: Database, admin: KeyCaller) -> History:
    """Oldest to newest: 3 fund renames (key), 1 investor rename (key), 2 by the manager."""
    funds = [await create_fund(db, name=f"Seed {n}") for n in range(2)]
    investor = await create_investor(db)
    for name in ("First", "Second", "Third"):
        await data_of(admin.http, UPDATE_FUND, {"id": gid(funds[0]), "name": name})
    await data_of(admin.http, UPDATE_INVESTOR, {"id": gid(investor), "name": "Renamed LP"})
    manager = await create_user(app, role=Role.MANAGER)
    async with http_client(app, ip=unique_ip()) as http:
        token = (await session_of(http, manager.email)).access
        for document, variables in (
            (UPDATE_FUND, {"id": gid(funds[1]), "name": "Managed"}),
            (CLOSE_FUND, {"id": gid(funds[0])}),
        ):
            body = await execute(http, document, variables, headers=bearer(token))
            assert "errors" not in body, body
    return History(admin, user_gid(manager.id), funds, gid(investor))


def moment(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["occurredAt"])


def without_logins(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry["action"] != "login"]


class TestAuditLogAccess:
    @pytest.mark.parametrize("role", [Role.MANAGER, Role.ANALYST, Role.INVESTOR])
    async def test_only_admins_read_the_audit_log(self, app: Any, db: Database, role: Role) -> None:
        async with key_caller(app, role) as caller:
            body = await execute(caller.http, AUDIT_LOG)

        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None

    async def test_anonymous_callers_are_unauthenticated(
        self, anonymous_client: httpx.AsyncClient
    ) -> None:
        body = await execute(anonymous_client, AUDIT_LOG)

        assert error_codes(body) == ["UNAUTHENTICATED"]


class TestAuditLogOrderAndPaging:
    async def test_lists_every_change_newest_first(self, history: History) -> None:
        entries = without_logins(await audit_entries(history.admin.http))

        assert [entry["action"] for entry in entries] == [
            "updateFund",
            "updateFund",
            "updateInvestor",
            "updateFund",
            "updateFund",
            "updateFund",
        ]
        assert [entry["after"]["name"] for entry in entries[3:]] == ["Third", "Second", "First"]
        ids = [int(entry["id"]) for entry in entries]
        assert ids == sorted(ids, reverse=True)

    async def test_pages_follow_each_other_without_gaps_or_overlaps(self, history: History) -> None:
        everything = await audit_entries(history.admin.http)
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            data = await data_of(history.admin.http, AUDIT_LOG, {"first": 2, "after": after})
            page = data["auditLog"]
            seen.extend(node["id"] for node in page["nodes"])
            pages += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert pages < 10

        assert seen == [entry["id"] for entry in everything]
        assert data["auditLog"]["totalCount"] == len(everything)
        assert pages == (len(everything) + 1) // 2

    async def test_more_than_a_hundred_per_page_is_refused(self, admin: KeyCaller) -> None:
        body = await execute(admin.http, AUDIT_LOG, {"first": 101})

        assert error_codes(body) == ["BAD_USER_INPUT"]


class TestAuditLogFilters:
    async def test_by_entity_type(self, history: History) -> None:
        entries = await audit_entries(history.admin.http, entityType=["Investor"])

        assert [entry["entityId"] for entry in entries] == [history.investor_id]

    async def test_by_entity_id(self, history: History) -> None:
        fund = gid(history.funds[1])

        entries = await audit_entries(history.admin.http, entityId=fund)

        assert [(entry["entityId"], entry["after"]["name"]) for entry in entries] == [
            (fund, "Managed")
        ]

    async def test_an_entity_id_that_names_nothing_matches_nothing(self, history: History) -> None:
        entries = await audit_entries(history.admin.http, entityId="not-a-global-id")

        assert entries == []

    async def test_by_action(self, history: History) -> None:
        entries = await audit_entries(history.admin.http, action=["updateInvestor", "nothing"])

        assert [entry["action"] for entry in entries] == ["updateInvestor"]

    async def test_by_acting_user(self, history: History) -> None:
        entries = await audit_entries(history.admin.http, actorId={"eq": history.manager_id})

        assert {entry["actorId"] for entry in entries} == {history.manager_id}
        assert {entry["actorKind"] for entry in entries} == {"USER"}
        assert [entry["action"] for entry in entries] == ["updateFund", "updateFund"]

    async def test_by_time(self, history: History) -> None:
        everything = without_logins(await audit_entries(history.admin.http))
        middle = everything[2]["occurredAt"]

        entries = await audit_entries(history.admin.http, occurredAt={"gt": middle})
        earlier = await audit_entries(history.admin.http, occurredAt={"lte": middle})

        newer_ids = {entry["id"] for entry in entries}
        assert all(moment(entry) > moment(everything[2]) for entry in entries)
        assert all(moment(entry) <= moment(everything[2]) for entry in earlier)
        assert newer_ids.isdisjoint(entry["id"] for entry in earlier)
        assert len(entries) + len(earlier) == len(await audit_entries(history.admin.http))
        assert everything[-1]["id"] not in newer_ids

    async def test_filters_combine(self, history: History) -> None:
        entries = await audit_entries(
            history.admin.http,
            entityType=["Fund"],
            actorId={"in": [history.manager_id]},
            entityId=gid(history.funds[0]),
        )

        assert [(entry["before"]["status"], entry["after"]["status"]) for entry in entries] == [
            ("FUNDRAISING", "CLOSED")
        ]


class TestFundHistory:
    async def test_a_manager_sees_the_funds_changes_newest_first(
        self, app: Any, history: History
    ) -> None:
        async with key_caller(app, Role.MANAGER) as manager:
            data = await data_of(manager.http, FUND_HISTORY, {"id": gid(history.funds[0])})

        changes = data["fund"]["history"]
        assert changes["totalCount"] == 4
        assert [
            node["after"].get("status") or node["after"]["name"] for node in changes["nodes"]
        ] == [
            "CLOSED",
            "Third",
            "Second",
            "First",
        ]
        assert {node["entityId"] for node in changes["nodes"]} == {gid(history.funds[0])}
        assert changes["nodes"][0]["actorId"] == history.manager_id
        assert changes["nodes"][1]["actorId"] == history.admin.key_id

    async def test_pages_through_a_funds_history(self, history: History) -> None:
        fund = gid(history.funds[0])

        first = await data_of(history.admin.http, FUND_HISTORY, {"id": fund, "first": 3})
        page = first["fund"]["history"]
        rest = await data_of(
            history.admin.http,
            FUND_HISTORY,
            {"id": fund, "first": 3, "after": page["pageInfo"]["endCursor"]},
        )

        assert len(page["nodes"]) == 3
        assert page["pageInfo"]["hasNextPage"] is True
        assert [node["after"]["name"] for node in rest["fund"]["history"]["nodes"]] == ["First"]
        assert rest["fund"]["history"]["pageInfo"]["hasNextPage"] is False

    async def test_each_fund_has_only_its_own_history(self, history: History) -> None:
        data = await data_of(history.admin.http, EVERY_FUNDS_HISTORY)

        by_fund = {node["id"]: node["history"] for node in data["funds"]["nodes"]}
        for fund_id, changes in by_fund.items():
            assert {node["entityId"] for node in changes["nodes"]} <= {fund_id}
        assert by_fund[gid(history.funds[0])]["totalCount"] == 4
        assert by_fund[gid(history.funds[1])]["totalCount"] == 1

    async def test_an_analyst_may_not_read_history(self, app: Any, history: History) -> None:
        async with key_caller(app, Role.ANALYST) as analyst:
            body = await execute(analyst.http, FUND_HISTORY, {"id": gid(history.funds[0])})

        assert error_codes(body) == ["FORBIDDEN"]


class TestRequestIds:
    async def test_the_entry_names_the_request_id_the_response_carried(
        self, admin: KeyCaller, db: Database
    ) -> None:
        fund = await create_fund(db)

        response = await admin.http.post(
            "/graphql",
            json={"query": UPDATE_FUND, "variables": {"id": gid(fund), "name": "Traced"}},
            headers={"X-Request-ID": "audit-trace-42"},
        )
        generated = await admin.http.post(
            "/graphql",
            json={"query": UPDATE_FUND, "variables": {"id": gid(fund), "name": "Traced 2"}},
        )

        entries = await audit_entries(admin.http, entityId=gid(fund))
        assert response.headers["x-request-id"] == "audit-trace-42"
        assert [entry["requestId"] for entry in entries] == [
            generated.headers["x-request-id"],
            "audit-trace-42",
        ]
