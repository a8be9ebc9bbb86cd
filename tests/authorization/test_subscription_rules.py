"""Who may subscribe, and what an INVESTOR hears: over real WebSockets to a real uvicorn.

The server is the `live` pattern of tests/subscriptions (the embedded SQLite
default, and PostgreSQL + Redis), shared by this module's tests. Commitments are
made over HTTP by an ADMIN, as a client would; an ADMIN subscriber beside the
INVESTOR shows that every event was really published.

Not covered, because the server gets it wrong (reported separately): an open
connection keeps its principal after the API key is revoked or the user is
deactivated (its feeds go on, and it may even start new ones), and
`fund { summary }` in an INVESTOR's events adds up every investor's commitments.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from graphql_api.auth.principal import Role
from graphql_api.schema.ids import key_of
from tests.authorization.support import access_token, create_user
from tests.subscriptions.client import (
    LegacyWsClient,
    TransportWsClient,
    collect,
)
from tests.subscriptions.conftest import (
    CONFIGURATIONS,
    running_server,
    settings_for,
    settle,
    wait_for_subscribers,
)
from tests.subscriptions.credentials import ADMIN_KEY
from tests.subscriptions.servers import LiveServer, http_client
from tests.subscriptions.support import commit, create_fund, create_investor, update_fund

FUND_EVENTS = """
subscription FundEvents($fundId: ID, $after: String) {
  fundEvents(fundId: $fundId, after: $after) {
    __typename cursor
    fund { id }
    ... on InvestmentCreatedEvent {
      investment { id amountUsd investor { id email } fund { id } }
    }
  }
}
"""

INVESTMENT_CREATED = """
subscription InvestmentCreated($fundId: ID) {
  investmentCreated(fundId: $fundId) {
    fund { id }
    investment { id amountUsd investor { id } }
  }
}
"""

EXPIRED = (4403, "Access token expired; reconnect with a fresh one.")
WsClass = type[TransportWsClient] | type[LegacyWsClient]
CLIENTS: dict[str, WsClass] = {
    "graphql-transport-ws": TransportWsClient,
    "graphql-ws": LegacyWsClient,
}


@pytest.fixture(scope="module", params=CONFIGURATIONS)
async def live(
    request: pytest.FixtureRequest, database_urls: dict[str, str], redis_url: str
) -> AsyncIterator[LiveServer]:
    async with running_server(settings_for(request.param, database_urls, redis_url)) as server:
        yield server


@pytest.fixture
async def admin(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """The ADMIN's HTTP client; the test starts and ends with no subscriber left."""
    await wait_for_subscribers(live, 0)
    async with http_client(live.http_url) as client:
        yield client
    await wait_for_subscribers(live, 0)


@pytest.fixture(params=CLIENTS)
def ws_class(request: pytest.FixtureRequest) -> WsClass:
    return CLIENTS[request.param]


class Parties:
    """Two funds; investors A and B; A's INVESTOR user and its connection_init payload."""

    def __init__(self, funds: list[str], a: str, b: str, token: str) -> None:
        self.funds, self.a, self.b, self.token = funds, a, b, token

    @property
    def init_payload(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


async def investor_token(
    live: LiveServer, investor_id: str | None, lifetime: timedelta | None = None
) -> str:
    """An access token of a new INVESTOR user linked to `investor_id` (a global ID)."""
    key = key_of(investor_id, "Investor") if investor_id else None
    user = await create_user(live.app, live.db, Role.INVESTOR, key)
    return access_token(live.app, user, lifetime)


async def parties(live: LiveServer, admin: httpx.AsyncClient) -> Parties:
    funds = [await create_fund(admin), await create_fund(admin)]
    a, b = await create_investor(admin), await create_investor(admin)
    token = await investor_token(live, a)
    await settle(live)
    return Parties(funds, a, b, token)


@asynccontextmanager
async def connected_as(
    ws_class: WsClass, live: LiveServer, payload: dict[str, str]
) -> AsyncIterator[Any]:
    """A connection acknowledged after a connection_init with `payload`."""
    async with ws_class.connect(live.ws_url, init=False) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        ack = await ws.receive()
        assert ack["type"] == "connection_ack", ack
        yield ws


async def init_answer(ws_class: WsClass, live: LiveServer, payload: Any) -> tuple[Any, Any]:
    """The close code and reason, and the messages sent, after a connection_init."""
    async with ws_class.connect(live.ws_url, init=False) as ws:
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await ws.send(message)
        closed = await ws.closed()
    types = [sent["type"] for sent in closed.messages]
    return (closed.code, closed.reason), types


class TestAnInvestorsFeed:
    async def test_fund_events_bring_only_its_own_commitments_never_fund_updates(
        self, live: LiveServer, admin: httpx.AsyncClient, ws_class: WsClass
    ) -> None:
        # given: A's INVESTOR and an ADMIN, both following every fund
        world = await parties(live, admin)
        fund_1, fund_2 = world.funds
        async with (
            connected_as(ws_class, live, world.init_payload) as investor,
            ws_class.connect(live.ws_url) as everyone,
        ):
            await investor.subscribe("mine", FUND_EVENTS)
            await everyone.subscribe("all", FUND_EVENTS)
            await wait_for_subscribers(live, 2)
            # when: B, A, a fund update, B, A — in two funds
            b_1 = await commit(admin, fund_1, world.b, "1000.00")
            a_1 = await commit(admin, fund_1, world.a, "100.00")
            await update_fund(admin, fund_1, name="Renamed while followed")
            b_2 = await commit(admin, fund_2, world.b, "2000.00")
            a_2 = await commit(admin, fund_2, world.a, "200.00")
            seen_by_all = await collect(everyone, "all", "fundEvents", 5)
            # then: events come in commit order, so anything of B's would come before A's last
            mine = await collect(investor, "mine", "fundEvents", 2)
            late = await investor.expect_nothing(0.2)
        assert [event["__typename"] for event in seen_by_all] == [
            "InvestmentCreatedEvent",
            "InvestmentCreatedEvent",
            "FundUpdatedEvent",
            "InvestmentCreatedEvent",
            "InvestmentCreatedEvent",
        ]
        assert [event["investment"]["id"] for event in seen_by_all if "investment" in event] == [
            b_1,
            a_1,
            b_2,
            a_2,
        ]
        assert [event["investment"]["id"] for event in mine] == [a_1, a_2]
        assert {event["investment"]["investor"]["id"] for event in mine} == {world.a}
        assert all(event["investment"]["investor"]["email"] for event in mine)
        assert [event["fund"]["id"] for event in mine] == [fund_1, fund_2]
        assert late == []

    async def test_investment_created_brings_only_its_own_commitments(
        self, live: LiveServer, admin: httpx.AsyncClient, ws_class: WsClass
    ) -> None:
        # given: A's INVESTOR following one fund
        world = await parties(live, admin)
        fund = world.funds[0]
        async with connected_as(ws_class, live, world.init_payload) as investor:
            await investor.subscribe("mine", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(live, 1)
            # when
            await commit(admin, fund, world.b, "1000.00")
            a_1 = await commit(admin, fund, world.a, "100.00")
            await commit(admin, fund, world.b, "3000.00")
            a_2 = await commit(admin, fund, world.a, "300.00")
            # then
            mine = await collect(investor, "mine", "investmentCreated", 2)
            late = await investor.expect_nothing(0.2)
        assert [event["investment"]["id"] for event in mine] == [a_1, a_2]
        assert [event["investment"]["amountUsd"] for event in mine] == ["100.00", "300.00"]
        assert {event["investment"]["investor"]["id"] for event in mine} == {world.a}
        assert late == []

    async def test_a_replay_after_a_cursor_skips_every_other_investors_event(
        self, live: LiveServer, admin: httpx.AsyncClient
    ) -> None:
        # given: a cursor taken before B's and A's commitments, and a fund update
        world = await parties(live, admin)
        fund = world.funds[0]
        async with TransportWsClient.connect(live.ws_url) as everyone:
            await everyone.subscribe("all", FUND_EVENTS, {"fundId": fund})
            await wait_for_subscribers(live, 1)
            await update_fund(admin, fund, name="Before the replay")
            start = (await collect(everyone, "all", "fundEvents", 1))[0]["cursor"]
        await commit(admin, fund, world.b, "1000.00")
        a_1 = await commit(admin, fund, world.a, "100.00")
        await update_fund(admin, fund, name="During the replay")
        await commit(admin, fund, world.b, "2000.00")
        a_2 = await commit(admin, fund, world.a, "200.00")
        await settle(live)
        # when
        async with connected_as(TransportWsClient, live, world.init_payload) as investor:
            await investor.subscribe("replay", FUND_EVENTS, {"fundId": fund, "after": start})
            replayed = await collect(investor, "replay", "fundEvents", 2)
            late = await investor.expect_nothing(0.2)
        # then
        assert [event["investment"]["id"] for event in replayed] == [a_1, a_2]
        assert late == []

    async def test_an_investor_user_linked_to_no_investor_hears_nothing(
        self, live: LiveServer, admin: httpx.AsyncClient
    ) -> None:
        # given
        world = await parties(live, admin)
        fund = world.funds[0]
        unlinked = await investor_token(live, None)
        async with connected_as(
            TransportWsClient, live, {"authorization": f"Bearer {unlinked}"}
        ) as investor:
            async with TransportWsClient.connect(live.ws_url) as everyone:
                await investor.subscribe("none", FUND_EVENTS)
                await everyone.subscribe("all", FUND_EVENTS)
                await wait_for_subscribers(live, 2)
                # when
                await commit(admin, fund, world.a, "100.00")
                await update_fund(admin, fund, name="Unheard")
                await commit(admin, fund, world.b, "1000.00")
                await collect(everyone, "all", "fundEvents", 3)
            # then: the hub has offered all three to both subscribers by now
            heard = await investor.expect_nothing(0.3)
        assert heard == []


class TestConnectionInit:
    @pytest.mark.parametrize(
        "payload",
        [
            None,
            {},
            {"authorization": "Bearer not.a.token"},
            {"authorization": "Basic dXNlcjpwYXNz"},
            {"x-api-key": "gak_not_a_key"},
        ],
        ids=["no-payload", "empty", "bad-token", "not-bearer", "bad-key"],
    )
    async def test_graphql_transport_ws_closes_with_4403_without_valid_credentials(
        self, live: LiveServer, admin: httpx.AsyncClient, payload: Any
    ) -> None:
        # when
        closed, sent = await init_answer(TransportWsClient, live, payload)
        # then
        assert closed == (4403, "Forbidden")
        assert sent == []

    @pytest.mark.parametrize(
        "payload",
        [{}, {"authorization": "Bearer not.a.token"}, {"x-api-key": "gak_not_a_key"}],
        ids=["empty", "bad-token", "bad-key"],
    )
    async def test_graphql_ws_answers_connection_error_without_valid_credentials(
        self, live: LiveServer, admin: httpx.AsyncClient, payload: dict[str, str]
    ) -> None:
        # when
        closed, sent = await init_answer(LegacyWsClient, live, payload)
        # then
        assert sent == ["connection_error"]
        assert closed[0] == 1011

    @pytest.mark.parametrize("key", ["Authorization", "AUTHORIZATION", "authorization"])
    async def test_the_authorization_key_works_in_any_letter_case(
        self, live: LiveServer, admin: httpx.AsyncClient, key: str
    ) -> None:
        # given
        world = await parties(live, admin)
        fund = world.funds[0]
        async with connected_as(
            TransportWsClient, live, {key: f"Bearer {world.token}"}
        ) as investor:
            await investor.subscribe("mine", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(live, 1)
            # when
            await commit(admin, fund, world.b, "1000.00")
            own = await commit(admin, fund, world.a, "100.00")
            # then: B's commitment was held back, so it is A's INVESTOR that subscribed
            [event] = await collect(investor, "mine", "investmentCreated", 1)
        assert event["investment"]["id"] == own

    @pytest.mark.parametrize("key", ["x-api-key", "X-API-Key", "X-API-KEY"])
    async def test_an_api_key_works(
        self, live: LiveServer, admin: httpx.AsyncClient, key: str
    ) -> None:
        # given
        world = await parties(live, admin)
        fund = world.funds[0]
        async with connected_as(TransportWsClient, live, {key: ADMIN_KEY}) as ws:
            await ws.subscribe("all", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(live, 1)
            # when
            others = await commit(admin, fund, world.b, "1000.00")
            # then: an ADMIN hears every investor's commitments
            [event] = await collect(ws, "all", "investmentCreated", 1)
        assert event["investment"]["id"] == others


class TestTokenExpiry:
    async def test_a_token_expiring_during_a_subscription_closes_the_connection(
        self, live: LiveServer, admin: httpx.AsyncClient, ws_class: WsClass
    ) -> None:
        # given: a token with about two seconds to live (JWT times are whole seconds)
        investor = await create_investor(admin)
        token = await investor_token(live, investor, lifetime=timedelta(seconds=2))
        async with ws_class.connect(live.ws_url, init=False) as ws:
            await ws.send(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert (await ws.receive())["type"] == "connection_ack"
            await ws.subscribe("mine", FUND_EVENTS)
            await wait_for_subscribers(live, 1)
            started = time.monotonic()
            # when
            closed = await ws.closed(within=6.0)
            elapsed = time.monotonic() - started
        # then
        assert (closed.code, closed.reason) == EXPIRED
        assert elapsed < 3.5
        await wait_for_subscribers(live, 0)

    async def test_an_expired_token_is_refused_at_connection_init(
        self, live: LiveServer, admin: httpx.AsyncClient
    ) -> None:
        # given: a token that expired a minute ago (past the verifier's leeway)
        investor = await create_investor(admin)
        token = await investor_token(live, investor, lifetime=timedelta(seconds=-60))
        # when
        closed, sent = await init_answer(
            TransportWsClient, live, {"authorization": f"Bearer {token}"}
        )
        # then
        assert closed == (4403, "Forbidden")
        assert sent == []
