"""Regression tests for authorization fixes the other authorization tests left out.

* `Fund.summary` (and the totals under it) as an INVESTOR adds up only that
  investor's own commitments, in queries and in subscription events alike;
* sorting or filtering investors by email is FORBIDDEN to a viewer who may not
  read emails (the order of the answer would give them away);
* an open WebSocket feed ends once its credential is withdrawn (user
  deactivated, API key revoked, access token logged out).

Everything runs through the real app of each back end; feeds go over an ASGI
WebSocket in this event loop, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.auth.principal import Role
from graphql_api.db.models import Fund, Investor, InvestorType
from graphql_api.db.session import Database
from graphql_api.schema.context import REVALIDATE_SECONDS
from graphql_api.schema.ids import to_global_id
from graphql_api.users import service as user_service
from tests.authorization.asgi_ws import AsgiWebSocket, Closed
from tests.authorization.support import (
    access_token,
    bearer,
    create_user,
    http_client,
    user_gid,
)
from tests.conftest import api_key_for
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of, error_codes, execute
from tests.subscriptions.conftest import polls
from tests.subscriptions.support import commit

SUMMARY_FIELDS = """
  committedUsd investmentCount investorCount percentOfTarget remainingToHardCapUsd
  byInvestorType { investorType committedUsd investmentCount investorCount }
"""
FUND_SUMMARY = (
    f"query FundSummary($id: ID!) {{ fund(id: $id) {{ summary {{ {SUMMARY_FIELDS} }} }} }}"
)
EVERY_FUND_SUMMARY = f"{{ funds {{ nodes {{ id summary {{ {SUMMARY_FIELDS} }} }} }} }}"

INVESTORS_ORDERED = """
query Ordered($orderBy: [InvestorOrder!]) {
  investors(orderBy: $orderBy) { totalCount nodes { id } }
}
"""
INVESTORS_FILTERED = """
query Filtered($filter: InvestorFilter) {
  investors(filter: $filter) { totalCount nodes { id } }
}
"""
FUND_1_TARGET = "5000.00"
FUND_2_TARGET = "1000000.00"  # the factory's default
COUNT_FILTERED = """
query Counted($filter: InvestorFilter) { investors(filter: $filter) { totalCount } }
"""


@dataclass
class World:
    """Fund 1 (target 5,000, hard cap 10,000) and fund 2 (no cap); A (an individual)
    and B (an institution) commit to both."""

    fund_1: Fund
    fund_2: Fund
    investor_a: Investor
    investor_b: Investor
    clients: dict[str, httpx.AsyncClient]

    def client(self, name: str) -> httpx.AsyncClient:
        return self.clients[name]


@pytest.fixture
async def world(app: Any, db: Database) -> AsyncIterator[World]:
    fund_1 = await create_fund(
        db, target_size_usd=Decimal(FUND_1_TARGET), hard_cap_usd=Decimal("10000.00")
    )
    fund_2 = await create_fund(db)
    # emails in the opposite order of creation, so sorting by email is visible
    investor_a = await create_investor(
        db, investor_type=InvestorType.INDIVIDUAL, email=f"zz-a-{fund_1.id.hex[:8]}@example.com"
    )
    investor_b = await create_investor(
        db, investor_type=InvestorType.INSTITUTION, email=f"aa-b-{fund_1.id.hex[:8]}@example.com"
    )
    for fund, investor, amount in (
        (fund_1, investor_a, "100.00"),
        (fund_2, investor_a, "200.00"),
        (fund_1, investor_b, "1000.00"),
        (fund_2, investor_b, "2000.00"),
        (fund_1, investor_b, "3000.00"),
    ):
        await create_investment(db, fund, investor, amount_usd=Decimal(amount))
    investor_user = await create_user(app, db, Role.INVESTOR, investor_a.id)
    unlinked_user = await create_user(app, db, Role.INVESTOR)
    headers = {
        "investor": bearer(access_token(app, investor_user)),
        "unlinked": bearer(access_token(app, unlinked_user)),
        "analyst": {"X-API-Key": await api_key_for(db, Role.ANALYST)},
        "manager": {"X-API-Key": await api_key_for(db, Role.MANAGER)},
        "admin": {"X-API-Key": await api_key_for(db, Role.ADMIN)},
    }
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(http_client(app, sent))
            for name, sent in headers.items()
        }
        yield World(fund_1, fund_2, investor_a, investor_b, clients)


def summary(
    committed: str,
    investments: int,
    investors: int,
    remaining: str | None,
    by_type: list[tuple[str, str, int, int]],
    target: str = FUND_1_TARGET,
) -> dict[str, Any]:
    """A summary as the API spells it, for a fund of this target size."""
    return {
        "committedUsd": committed,
        "investmentCount": investments,
        "investorCount": investors,
        "percentOfTarget": round(float(Decimal(committed) * 100 / Decimal(target)), 4),
        "remainingToHardCapUsd": remaining,
        "byInvestorType": [
            {
                "investorType": kind,
                "committedUsd": amount,
                "investmentCount": count,
                "investorCount": distinct,
            }
            for kind, amount, count, distinct in by_type
        ],
    }


def normalised(found: dict[str, Any]) -> dict[str, Any]:
    """Amounts compared as numbers (the scale of a zero total is not the point)."""

    def number(value: str | None) -> str | None:
        return None if value is None else f"{Decimal(value):.2f}"

    return {
        **found,
        "committedUsd": number(found["committedUsd"]),
        "remainingToHardCapUsd": number(found["remainingToHardCapUsd"]),
        "byInvestorType": [
            {**part, "committedUsd": number(part["committedUsd"])}
            for part in found["byInvestorType"]
        ],
    }


class TestAnInvestorsFundSummaryCountsOnlyItsOwn:
    async def test_a_fund_by_id(self, world: World) -> None:
        data = await data_of(world.client("investor"), FUND_SUMMARY, {"id": gid(world.fund_1)})

        assert normalised(data["fund"]["summary"]) == summary(
            "100.00", 1, 1, "9900.00", [("INDIVIDUAL", "100.00", 1, 1)]
        )

    async def test_every_fund_of_a_list(self, world: World) -> None:
        data = await data_of(world.client("investor"), EVERY_FUND_SUMMARY)

        found = {fund["id"]: normalised(fund["summary"]) for fund in data["funds"]["nodes"]}
        assert found == {
            gid(world.fund_1): summary("100.00", 1, 1, "9900.00", [("INDIVIDUAL", "100.00", 1, 1)]),
            gid(world.fund_2): summary(
                "200.00", 1, 1, None, [("INDIVIDUAL", "200.00", 1, 1)], FUND_2_TARGET
            ),
        }

    async def test_an_investor_user_linked_to_no_investor_sees_empty_totals(
        self, world: World
    ) -> None:
        data = await data_of(world.client("unlinked"), FUND_SUMMARY, {"id": gid(world.fund_1)})

        assert normalised(data["fund"]["summary"]) == summary("0.00", 0, 0, "10000.00", [])

    @pytest.mark.parametrize("caller", ["analyst", "manager", "admin"])
    async def test_control_every_other_role_sees_every_commitment(
        self, world: World, caller: str
    ) -> None:
        data = await data_of(world.client(caller), FUND_SUMMARY, {"id": gid(world.fund_1)})

        assert normalised(data["fund"]["summary"]) == summary(
            "4100.00",
            3,
            2,
            "5900.00",
            [("INDIVIDUAL", "100.00", 1, 1), ("INSTITUTION", "4000.00", 2, 1)],
        )

    async def test_the_summary_in_its_events_counts_only_its_own(
        self, app: Any, db: Database, world: World
    ) -> None:
        investor_user = await create_user(app, db, Role.INVESTOR, world.investor_a.id)
        init = {"authorization": f"Bearer {access_token(app, investor_user)}"}
        fund = gid(world.fund_1)
        async with AsgiWebSocket(app) as ws:
            await acknowledged(ws, init)
            await subscribe(ws, "mine", fund)
            await until_subscribers(app, 1)
            await commit(world.client("admin"), fund, gid(world.investor_b), "500.00")
            own = await commit(world.client("admin"), fund, gid(world.investor_a), "50.00")

            event = await next_event(ws, "mine")
            await ws.send({"id": "mine", "type": "complete"})
            await until_subscribers(app, 0)

        assert event["investment"]["id"] == own
        assert event["fund"]["summary"] == {
            "committedUsd": "150.00",
            "investmentCount": 2,
            "investorCount": 1,
        }


class TestSortingOrFilteringByAHiddenEmailIsForbidden:
    @pytest.mark.parametrize("caller", ["analyst", "investor", "unlinked"])
    @pytest.mark.parametrize(
        "order_by",
        [
            [{"field": "EMAIL"}],
            [{"field": "EMAIL", "direction": "DESC"}],
            [{"field": "NAME"}, {"field": "EMAIL"}],
        ],
        ids=["email", "email-desc", "email-second"],
    )
    async def test_ordering_by_email(
        self, world: World, caller: str, order_by: list[dict[str, str]]
    ) -> None:
        body = await execute(world.client(caller), INVESTORS_ORDERED, {"orderBy": order_by})

        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None

    @pytest.mark.parametrize("caller", ["analyst", "investor", "unlinked"])
    @pytest.mark.parametrize(
        "document", [INVESTORS_FILTERED, COUNT_FILTERED], ids=["page", "count"]
    )
    @pytest.mark.parametrize(
        "condition",
        [{"eq": "aa-b@example.com"}, {"startsWith": "aa"}],
        ids=["eq", "startsWith"],
    )
    async def test_filtering_by_email(
        self, world: World, caller: str, document: str, condition: dict[str, Any]
    ) -> None:
        body = await execute(world.client(caller), document, {"filter": {"email": condition}})

        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None

    @pytest.mark.parametrize("caller", ["analyst", "investor"])
    async def test_control_other_orders_and_filters_still_work(
        self, world: World, caller: str
    ) -> None:
        ordered = await data_of(
            world.client(caller), INVESTORS_ORDERED, {"orderBy": [{"field": "NAME"}]}
        )
        filtered = await data_of(
            world.client(caller),
            INVESTORS_FILTERED,
            {"filter": {"name": {"eq": world.investor_a.name}}},
        )

        visible = 2 if caller == "analyst" else 1
        assert ordered["investors"]["totalCount"] == visible
        assert filtered["investors"]["nodes"] == [{"id": gid(world.investor_a)}]

    @pytest.mark.parametrize("caller", ["manager", "admin"])
    async def test_control_viewers_of_emails_may_sort_and_filter_by_them(
        self, world: World, caller: str
    ) -> None:
        ordered = await data_of(
            world.client(caller), INVESTORS_ORDERED, {"orderBy": [{"field": "EMAIL"}]}
        )
        filtered = await data_of(
            world.client(caller),
            INVESTORS_FILTERED,
            {"filter": {"email": {"eq": world.investor_a.email}}},
        )

        assert [node["id"] for node in ordered["investors"]["nodes"]] == [
            gid(world.investor_b),
            gid(world.investor_a),
        ]
        assert filtered["investors"] == {
            "totalCount": 1,
            "nodes": [{"id": gid(world.investor_a)}],
        }


# --- open feeds end with their credential ---------------------------------------------

FOLLOW = """
subscription Follow($fundId: ID) {
  fundEvents(fundId: $fundId) {
    __typename
    fund { id summary { committedUsd investmentCount investorCount } }
    ... on InvestmentCreatedEvent { investment { id } }
  }
}
"""
DEACTIVATE = """
mutation Deactivate($id: ID!) { deactivateUser(input: { userId: $id }) { errors { code } } }
"""
REVOKE_KEY = """
mutation Revoke($id: ID!) { revokeApiKey(input: { id: $id }) { errors { code } } }
"""
LOGOUT = """
mutation { logout(input: { refreshToken: "not-this-sessions-token" }) { ok errors { code } } }
"""
REVOKED = Closed(4403, "Credentials revoked; reconnect.")
STEP_SECONDS = 0.25
ROUNDS = int((REVALIDATE_SECONDS + 10) / STEP_SECONDS)


async def acknowledged(ws: AsgiWebSocket, init: dict[str, str]) -> None:
    answer = await ws.init(init)
    assert not isinstance(answer, Closed), answer
    assert answer["type"] == "connection_ack", answer


async def subscribe(ws: AsgiWebSocket, operation_id: str, fund_id: str) -> None:
    payload = {"query": FOLLOW, "variables": {"fundId": fund_id}}
    await ws.send({"id": operation_id, "type": "subscribe", "payload": payload})


async def until_subscribers(app: Any, count: int, within: float = 5.0) -> None:
    hub = app.state.runtime.events.hub
    for _ in polls(within):
        if hub.subscriber_count == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{hub.subscriber_count} subscribers, expected {count}")


async def next_event(ws: AsgiWebSocket, operation_id: str) -> dict[str, Any]:
    message = await ws.receive()
    assert not isinstance(message, Closed), message
    assert (message["type"], message.get("id")) == ("next", operation_id), message
    assert "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["fundEvents"]
    return event


@dataclass
class Credential:
    """A connection_init payload, and how an ADMIN (or its owner) withdraws it."""

    init: dict[str, str]
    document: str
    variables: dict[str, Any]
    headers: dict[str, str] | None = None


async def credential(app: Any, db: Database, kind: str, investor: Investor) -> Credential:
    if kind == "deactivated user":
        user = await create_user(app, db, Role.INVESTOR, investor.id)
        token = access_token(app, user)
        return Credential({"authorization": f"Bearer {token}"}, DEACTIVATE, {"id": user_gid(user)})
    if kind == "logged-out token":
        user = await create_user(app, db, Role.INVESTOR, investor.id)
        token = access_token(app, user)
        return Credential({"authorization": f"Bearer {token}"}, LOGOUT, {}, bearer(token))
    async with db.unit_of_work() as uow:
        key, secret = await user_service.create_api_key(
            uow.session, "followed", Role.ANALYST, None, datetime.now(UTC)
        )
    return Credential({"x-api-key": secret}, REVOKE_KEY, {"id": to_global_id("ApiKey", key.id)})


class TestAnOpenFeedEndsWithItsCredential:
    @pytest.mark.parametrize("kind", ["deactivated user", "revoked API key", "logged-out token"])
    async def test_the_feed_closes_and_the_connection_may_start_no_other(
        self, app: Any, db: Database, kind: str
    ) -> None:
        # given: two connections with one credential, one of them following a fund
        fund, investor = await create_fund(db), await create_investor(db)
        withdrawn = await credential(app, db, kind, investor)
        admin_key = await api_key_for(db, Role.ADMIN)
        async with (
            http_client(app, {"X-API-Key": admin_key}) as admin,
            AsgiWebSocket(app) as following,
            AsgiWebSocket(app) as idle,
        ):
            await acknowledged(following, withdrawn.init)
            await acknowledged(idle, withdrawn.init)
            await subscribe(following, "feed", gid(fund))
            await until_subscribers(app, 1)
            first = await commit(admin, gid(fund), gid(investor), "10.00")
            heard_before = await next_event(following, "feed")
            # when: the credential is withdrawn
            async with http_client(app, withdrawn.headers or {}) as owner:
                caller = owner if withdrawn.headers else admin
                answer = await data_of(caller, withdrawn.document, withdrawn.variables)
            # then: the feed ends at the next revalidation (events keep coming meanwhile)
            closed: Closed | None = None
            for _ in range(ROUNDS):
                await commit(admin, gid(fund), gid(investor), "1.00")
                message = await following.receive()
                if isinstance(message, Closed):
                    closed = message
                    break
                assert message["type"] == "next", message
                await asyncio.sleep(STEP_SECONDS)
            await until_subscribers(app, 0)
            # and the other connection may not start a feed any more
            await subscribe(idle, "late", gid(fund))
            late = await idle.receive()
            subscribers_after = app.state.runtime.events.hub.subscriber_count

        assert heard_before["investment"]["id"] == first
        [payload] = answer.values()
        assert payload.get("errors", []) == []
        assert closed == REVOKED
        assert late == REVOKED
        assert subscribers_after == 0
