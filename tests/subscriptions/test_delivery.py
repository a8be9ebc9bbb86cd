"""Live delivery: a commitment made over HTTP reaches subscribers, in commit order, per fund.

Runs on the embedded default (SQLite, in-process broker) and on PostgreSQL + Redis,
over both WebSocket protocols.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from graphql_api.events.records import encode_cursor
from graphql_api.schema.ids import to_global_id
from tests.subscriptions.client import LegacyWsClient, TransportWsClient, collect
from tests.subscriptions.conftest import settle, wait_for_subscribers
from tests.subscriptions.servers import LiveServer
from tests.subscriptions.support import (
    FUND_EVENTS,
    FUND_EVENTS_IN_FULL,
    FUND_SUMMARY_ON_COMMITMENT,
    INVESTMENT_CREATED,
    amount,
    amounts,
    commit,
    create_fund,
    create_investor,
    positions,
    try_commit,
    update_fund,
)

CLIENTS = {"graphql-transport-ws": TransportWsClient, "graphql-ws": LegacyWsClient}


@pytest.fixture(params=CLIENTS)
def client_class(request: pytest.FixtureRequest) -> type[TransportWsClient | LegacyWsClient]:
    return CLIENTS[request.param]


class TestLiveDelivery:
    async def test_both_subscriptions_deliver_a_commitment_made_over_http(
        self,
        live: LiveServer,
        http: httpx.AsyncClient,
        client_class: type[TransportWsClient | LegacyWsClient],
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http, name="Ada")
        await settle(live)
        async with client_class.connect(live.ws_url) as ws:
            await ws.subscribe("events", FUND_EVENTS, {"fundId": fund})
            await ws.subscribe("created", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(live, 2)

            investment = await commit(http, fund, investor, "2500.50")

            event = (await ws.next_data("events"))["fundEvents"]
            created = (await ws.next_data("created"))["investmentCreated"]
        assert event["__typename"] == created["__typename"] == "InvestmentCreatedEvent"
        assert event["eventId"] == created["eventId"]
        assert event["cursor"] == created["cursor"]
        assert event["fund"]["id"] == created["fund"]["id"] == fund
        assert event["investment"] == {"id": investment, "amountUsd": "2500.50"}
        assert created["investment"]["investor"] == {"name": "Ada"}

    async def test_events_of_one_fund_arrive_in_commit_order(
        self,
        live: LiveServer,
        http: httpx.AsyncClient,
        client_class: type[TransportWsClient | LegacyWsClient],
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        await settle(live)
        async with client_class.connect(live.ws_url) as ws:
            await ws.subscribe("events", FUND_EVENTS, {"fundId": fund})
            await wait_for_subscribers(live, 1)

            committed = [await commit(http, fund, investor, amount(i)) for i in range(20)]

            events = await collect(ws, "events", "fundEvents", 20)
            late = await ws.expect_nothing(0.3)
        assert [event["investment"]["id"] for event in events] == committed
        assert amounts(events) == [amount(i) for i in range(20)]
        assert positions(events) == sorted(set(positions(events)))
        assert len({event["eventId"] for event in events}) == 20
        assert late == []

    async def test_events_of_other_funds_are_not_delivered(
        self,
        live: LiveServer,
        http: httpx.AsyncClient,
        client_class: type[TransportWsClient | LegacyWsClient],
    ) -> None:
        followed, other = await create_fund(http), await create_fund(http)
        investor = await create_investor(http)
        await settle(live)
        async with client_class.connect(live.ws_url) as ws:
            await ws.subscribe("events", FUND_EVENTS, {"fundId": followed})
            await ws.subscribe("created", INVESTMENT_CREATED, {"fundId": followed})
            await wait_for_subscribers(live, 2)

            for index in range(3):
                await commit(http, other, investor, amount(100 + index))
                await commit(http, followed, investor, amount(index))
            await update_fund(http, other, name="Renamed elsewhere")

            events = await collect(ws, "events", "fundEvents", 3)
            created = await collect(ws, "created", "investmentCreated", 3)
            late = await ws.expect_nothing(0.3)
        assert {event["fund"]["id"] for event in events + created} == {followed}
        assert amounts(events) == amounts(created) == [amount(i) for i in range(3)]
        assert late == []

    async def test_a_subscription_to_every_fund_gets_each_concurrent_commitment_once(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        funds = [await create_fund(http) for _ in range(3)]
        investor = await create_investor(http)
        await settle(live)
        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("all", INVESTMENT_CREATED)
            await wait_for_subscribers(live, 1)

            committed = await asyncio.gather(
                *(commit(http, fund, investor, amount(i)) for i in range(8) for fund in funds)
            )

            events = await collect(ws, "all", "investmentCreated", len(committed), within=10)
            late = await ws.expect_nothing(0.3)
        assert sorted(event["investment"]["id"] for event in events) == sorted(committed)
        # Nothing else happened meanwhile: the positions follow each other without a gap.
        first = positions(events)[0]
        assert positions(events) == list(range(first, first + len(committed)))
        assert late == []

    async def test_event_fields_resolve(
        self,
        live: LiveServer,
        http: httpx.AsyncClient,
        client_class: type[TransportWsClient | LegacyWsClient],
    ) -> None:
        fund = await create_fund(http, name="Resolved Fund")
        investor = await create_investor(http, name="Grace")
        await settle(live)
        async with client_class.connect(live.ws_url) as ws:
            await ws.subscribe("events", FUND_EVENTS_IN_FULL, {"fundId": fund})
            await wait_for_subscribers(live, 1)

            await update_fund(http, fund, name="Renamed Fund", hardCapUsd="5000000.00")
            await update_fund(http, fund, status="INVESTING")
            investment = await commit(http, fund, investor, "1234.56")

            renamed, status_field, status_moved, created = await collect(
                ws, "events", "fundEvents", 4
            )
        assert renamed["__typename"] == "FundUpdatedEvent"
        assert sorted(renamed["changedFields"]) == ["hardCapUsd", "name"]
        assert renamed["fund"]["name"] == "Renamed Fund"
        assert status_field["__typename"] == "FundUpdatedEvent"
        assert status_field["changedFields"] == ["status"]
        assert status_moved["__typename"] == "FundStatusChangedEvent"
        assert (status_moved["from"], status_moved["to"]) == ("FUNDRAISING", "INVESTING")
        assert created["__typename"] == "InvestmentCreatedEvent"
        assert created["investment"]["id"] == investment
        assert created["investment"]["amountUsd"] == "1234.56"
        assert created["investment"]["investmentDate"] == "2024-01-15"
        assert created["investment"]["investor"]["name"] == "Grace"
        assert created["investment"]["fund"] == {"id": fund}
        assert created["fund"]["status"] == "INVESTING"
        assert all(event["occurredAt"].endswith(("Z", "+00:00")) for event in (renamed, created))
        assert len({e["eventId"] for e in (renamed, status_field, status_moved, created)}) == 4

    async def test_the_fund_summary_of_an_event_counts_its_commitment(
        self,
        live: LiveServer,
        http: httpx.AsyncClient,
        client_class: type[TransportWsClient | LegacyWsClient],
    ) -> None:
        # One event per connection: the summary of later events on the same
        # connection is stale (reported separately: loaders live as long as the socket).
        fund = await create_fund(http)
        first, second = await create_investor(http), await create_investor(http)
        await commit(http, fund, first, "100.00")
        await settle(live)
        async with client_class.connect(live.ws_url) as ws:
            await ws.subscribe("created", FUND_SUMMARY_ON_COMMITMENT, {"fundId": fund})
            await wait_for_subscribers(live, 1)

            await commit(http, fund, second, "250.25")

            [event] = await collect(ws, "created", "investmentCreated", 1)
        assert event["investment"]["amountUsd"] == "250.25"
        assert event["fund"]["name"].startswith("Subscribed fund")
        assert event["fund"]["summary"] == {
            "committedUsd": "350.25",
            "investmentCount": 2,
            "investorCount": 2,
        }


class TestFailedMutations:
    async def test_a_refused_commitment_emits_no_event(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund = await create_fund(http, hard_cap="1000000.00")
        investor = await create_investor(http)
        await settle(live)
        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("events", FUND_EVENTS, {"fundId": fund})
            await wait_for_subscribers(live, 1)

            await commit(http, fund, investor, "600000.00")
            refused = await try_commit(http, fund, investor, "600000.00")
            await commit(http, fund, investor, "400000.00")

            events = await collect(ws, "events", "fundEvents", 2)
            late = await ws.expect_nothing(0.3)
        assert [error["code"] for error in refused["errors"]] == ["HARD_CAP_EXCEEDED"]
        assert amounts(events) == ["600000.00", "400000.00"]
        assert late == []

    async def test_the_outbox_keeps_no_event_of_a_refused_change(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund = await create_fund(http, hard_cap="1000000.00")
        investor = await create_investor(http)
        await commit(http, fund, investor, "900000.00")
        refused = await try_commit(http, fund, investor, "200000.00")
        stale = await http.post(
            "/graphql",
            json={
                "query": "mutation($input: UpdateFundInput!) "
                "{ updateFund(input: $input) { errors { code } } }",
                "variables": {"input": {"id": fund, "expectedVersion": 99, "name": "Stale"}},
            },
        )

        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("replay", FUND_EVENTS, {"fundId": fund, "after": encode_cursor(0)})
            history = await collect(ws, "replay", "fundEvents", 2)
            late = await ws.expect_nothing(0.3)
        assert [error["code"] for error in refused["errors"]] == ["HARD_CAP_EXCEEDED"]
        assert stale.json()["data"]["updateFund"]["errors"] == [{"code": "VERSION_CONFLICT"}]
        assert [event["__typename"] for event in history] == [
            "FundCreatedEvent",
            "InvestmentCreatedEvent",
        ]
        assert amounts(history[1:]) == ["900000.00"]
        assert late == []


class TestRefusedSubscriptions:
    @pytest.mark.parametrize(
        ("variables", "extensions"),
        [
            ({"after": "not-a-cursor"}, {"code": "BAD_USER_INPUT", "argument": "after"}),
            ({"after": "ZXY6LTE"}, {"code": "BAD_USER_INPUT", "argument": "after"}),  # "ev:-1"
            ({"after": encode_cursor(10**9)}, {"code": "BAD_USER_INPUT"}),  # not happened yet
            ({"fundId": "not-an-id"}, {"code": "NOT_FOUND", "argument": "fundId"}),
            (
                {"fundId": to_global_id("Fund", uuid.uuid4())},
                {"code": "NOT_FOUND", "argument": "fundId"},
            ),
            (
                {"fundId": to_global_id("Investor", uuid.uuid4())},
                {"code": "NOT_FOUND", "argument": "fundId"},
            ),
        ],
        ids=[
            "garbage-cursor",
            "negative-cursor",
            "future-cursor",
            "garbage-id",
            "unknown-fund",
            "investor-id",
        ],
    )
    async def test_graphql_transport_ws_answers_next_with_the_error_then_complete(
        self,
        live: LiveServer,
        http: httpx.AsyncClient,
        variables: dict[str, str],
        extensions: dict[str, str],
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        await settle(live)
        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("refused", FUND_EVENTS, variables)
            answer = await ws.receive_for("refused")
            ending = await ws.receive_for("refused")

            # The connection stays usable.
            await ws.subscribe("refused", FUND_EVENTS, {"fundId": fund})
            await wait_for_subscribers(live, 1)
            await commit(http, fund, investor, "10.00")
            event = (await ws.next_data("refused"))["fundEvents"]
        assert answer["type"] == "next"
        assert answer["payload"]["data"] is None
        [error] = answer["payload"]["errors"]
        assert error["extensions"] == extensions
        assert ending == {"id": "refused", "type": "complete"}
        assert event["investment"]["amountUsd"] == "10.00"

    async def test_legacy_graphql_ws_answers_data_with_the_error_then_complete(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        missing = to_global_id("Fund", uuid.uuid4())
        await settle(live)
        async with LegacyWsClient.connect(live.ws_url) as ws:
            await ws.start("refused", INVESTMENT_CREATED, {"fundId": missing})
            answer = await ws.receive_for("refused")
            ending = await ws.receive_for("refused")

            await ws.start("ok", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(live, 1)
            await commit(http, fund, investor, "11.00")
            event = (await ws.next_data("ok"))["investmentCreated"]
        assert answer["type"] == "data"
        assert answer["payload"]["data"] is None
        assert [e["extensions"]["code"] for e in answer["payload"]["errors"]] == ["NOT_FOUND"]
        assert ending == {"type": "complete", "id": "refused"}
        assert event["investment"]["amountUsd"] == "11.00"
