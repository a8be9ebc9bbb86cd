"""The WebSocket protocols as Strawberry speaks them, with this server's settings.

graphql-transport-ws closes the socket with the protocol's 44xx codes for
messages out of order or malformed; operation errors are messages. The legacy
graphql-ws protocol sends `ka` keep-alives. Origins not listed are refused at
the handshake.

Not covered, because the server gets it wrong (reported separately): a syntax
error in a subscription document is answered with a bare `complete`
(graphql-transport-ws) or nothing at all (graphql-ws), and logged as a crash.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.subscriptions.client import (
    LegacyWsClient,
    TransportWsClient,
    collect,
    open_socket,
)
from tests.subscriptions.conftest import running_server, settings_for, wait_for_subscribers
from tests.subscriptions.servers import LiveServer, http_client
from tests.subscriptions.support import (
    FUND_EVENTS,
    INVESTMENT_CREATED,
    commit,
    create_fund,
    create_investor,
)

INIT_TIMEOUT = 0.5
KEEPALIVE = 0.2
MAX_SUBSCRIPTIONS = 2
ALLOWED_ORIGIN = "https://app.example.com"


@pytest.fixture(scope="module")
async def strict(database_urls: dict[str, str], redis_url: str) -> AsyncIterator[LiveServer]:
    """The embedded server with short timers, few subscriptions per socket, one allowed origin."""
    settings = settings_for(
        "sqlite",
        database_urls,
        redis_url,
        ws_connection_init_timeout_seconds=INIT_TIMEOUT,
        ws_keepalive_seconds=KEEPALIVE,
        ws_max_subscriptions=MAX_SUBSCRIPTIONS,
        allowed_origins=[ALLOWED_ORIGIN],
    )
    async with running_server(settings) as server:
        yield server


@pytest.fixture
async def http(strict: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    await wait_for_subscribers(strict, 0)
    async with http_client(strict.http_url) as client:
        yield client
    await wait_for_subscribers(strict, 0)


class TestGraphqlTransportWs:
    async def test_subscribe_before_connection_init_closes_with_4401(
        self, strict: LiveServer
    ) -> None:
        async with TransportWsClient.connect(strict.ws_url, init=False) as ws:
            await ws.subscribe("early", INVESTMENT_CREATED)
            closed = await ws.closed()
        assert (closed.code, closed.reason) == (4401, "Unauthorized")
        assert closed.messages == []

    async def test_a_second_connection_init_closes_with_4429(self, strict: LiveServer) -> None:
        async with TransportWsClient.connect(strict.ws_url) as ws:
            await ws.send({"type": "connection_init"})
            closed = await ws.closed()
        assert (closed.code, closed.reason) == (4429, "Too many initialisation requests")

    @pytest.mark.parametrize(
        ("message", "reason"),
        [
            ("{not json", "WebSocket message must be valid JSON"),
            ('{"id": "1"}', "Failed to parse message"),
            ('{"type": "hello"}', "Unknown message type: hello"),
            ('{"id": "1", "type": "subscribe"}', "Failed to parse message"),
            (b"\x00\x01", "WebSocket message type must be text"),
        ],
        ids=["not-json", "no-type", "unknown-type", "subscribe-without-payload", "binary"],
    )
    async def test_an_invalid_message_closes_with_4400(
        self, strict: LiveServer, message: str | bytes, reason: str
    ) -> None:
        async with TransportWsClient.connect(strict.ws_url) as ws:
            await ws.socket.send(message)
            closed = await ws.closed()
        assert (closed.code, closed.reason) == (4400, reason)

    async def test_a_connection_init_payload_that_is_not_an_object_closes_with_4400(
        self, strict: LiveServer
    ) -> None:
        async with TransportWsClient.connect(strict.ws_url, init=False) as ws:
            await ws.send({"type": "connection_init", "payload": "token"})
            closed = await ws.closed()
        assert (closed.code, closed.reason) == (4400, "Invalid connection init payload")

    async def test_no_connection_init_in_time_closes_with_4408(self, strict: LiveServer) -> None:
        started = time.monotonic()
        async with TransportWsClient.connect(strict.ws_url, init=False) as ws:
            closed = await ws.closed(within=INIT_TIMEOUT + 3)
        elapsed = time.monotonic() - started
        assert (closed.code, closed.reason) == (4408, "Connection initialisation timeout")
        assert INIT_TIMEOUT <= elapsed < INIT_TIMEOUT + 2

    async def test_an_operation_id_in_use_closes_with_4409(
        self, strict: LiveServer, http: httpx.AsyncClient
    ) -> None:
        async with TransportWsClient.connect(strict.ws_url) as ws:
            await ws.subscribe("same", INVESTMENT_CREATED)
            await wait_for_subscribers(strict, 1)
            await ws.subscribe("same", INVESTMENT_CREATED)
            closed = await ws.closed()
        assert (closed.code, closed.reason) == (4409, "Subscriber for same already exists")

    async def test_an_invalid_document_is_an_error_message_and_the_socket_stays_open(
        self, strict: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        async with TransportWsClient.connect(strict.ws_url) as ws:
            await ws.subscribe("invalid", "subscription { investmentCreated { noSuchField } }")
            answer = await ws.receive_for("invalid")
            await ws.subscribe("valid", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(strict, 1)
            await commit(http, fund, investor, "5.00")
            [event] = await collect(ws, "valid", "investmentCreated", 1)
        assert answer["type"] == "error"
        [error] = answer["payload"]
        assert "noSuchField" in error["message"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert event["investment"]["amountUsd"] == "5.00"

    async def test_more_subscriptions_than_allowed_get_an_error_message_until_one_ends(
        self, strict: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        async with TransportWsClient.connect(strict.ws_url) as ws:
            for number in range(MAX_SUBSCRIPTIONS):
                await ws.subscribe(f"sub{number}", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(strict, MAX_SUBSCRIPTIONS)
            await ws.subscribe("one-too-many", INVESTMENT_CREATED, {"fundId": fund})
            refused = await ws.receive_for("one-too-many")

            await ws.complete("sub0")
            await wait_for_subscribers(strict, MAX_SUBSCRIPTIONS - 1)
            await ws.subscribe("now-allowed", INVESTMENT_CREATED, {"fundId": fund})
            await wait_for_subscribers(strict, MAX_SUBSCRIPTIONS)
            await commit(http, fund, investor, "6.00")
            allowed = await collect(ws, "now-allowed", "investmentCreated", 1)
            others = await collect(ws, "sub1", "investmentCreated", 1)
            stopped = await ws.expect_nothing(0.2)
        assert refused == {
            "id": "one-too-many",
            "type": "error",
            "payload": [
                {
                    "message": "Subscription limit reached",
                    "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
                }
            ],
        }
        assert allowed[0]["eventId"] == others[0]["eventId"]
        assert stopped == []  # nothing more for the completed sub0

    async def test_ping_is_answered_with_pong_and_the_server_sends_no_pings(
        self, strict: LiveServer
    ) -> None:
        async with TransportWsClient.connect(strict.ws_url) as ws:
            idle = await ws.expect_nothing(3 * KEEPALIVE)
            await ws.send({"type": "ping"})
            pong = await ws.receive()
        assert idle == []
        assert pong == {"type": "pong"}

    async def test_without_a_known_subprotocol_the_socket_closes_with_4406(
        self, strict: LiveServer
    ) -> None:
        async with open_socket(strict.ws_url, "graphql-sse") as socket:
            client = TransportWsClient(socket)
            closed = await client.closed()
        assert (closed.code, closed.reason) == (4406, "Subprotocol not acceptable")


class TestLegacyGraphqlWs:
    async def test_keep_alive_messages_come_at_the_configured_interval(
        self, strict: LiveServer
    ) -> None:
        async with LegacyWsClient.connect(strict.ws_url) as ws:
            before = ws.skipped
            quiet = await ws.expect_nothing(5 * KEEPALIVE)
            keep_alives = ws.skipped - before
        assert quiet == []
        assert 3 <= keep_alives <= 7

    async def test_start_before_connection_init_closes_with_4401(self, strict: LiveServer) -> None:
        async with LegacyWsClient.connect(strict.ws_url, init=False) as ws:
            await ws.start("early", INVESTMENT_CREATED)
            closed = await ws.closed()
        assert (closed.code, closed.reason) == (4401, "Unauthorized")

    async def test_invalid_json_is_ignored_and_the_connection_stays_usable(
        self, strict: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        async with LegacyWsClient.connect(strict.ws_url) as ws:
            await ws.send_raw("{not json")
            await ws.start("events", FUND_EVENTS, {"fundId": fund})
            await wait_for_subscribers(strict, 1)
            await commit(http, fund, investor, "7.00")
            [event] = await collect(ws, "events", "fundEvents", 1)
        assert event["investment"]["amountUsd"] == "7.00"

    async def test_more_subscriptions_than_allowed_get_an_error_message_until_one_stops(
        self, strict: LiveServer, http: httpx.AsyncClient
    ) -> None:
        async with LegacyWsClient.connect(strict.ws_url) as ws:
            for number in range(MAX_SUBSCRIPTIONS):
                await ws.start(f"sub{number}", INVESTMENT_CREATED)
            await wait_for_subscribers(strict, MAX_SUBSCRIPTIONS)
            await ws.start("one-too-many", INVESTMENT_CREATED)
            refused = await ws.receive_for("one-too-many")

            await ws.stop("sub0")
            stopped = await ws.receive_for("sub0")
            await wait_for_subscribers(strict, MAX_SUBSCRIPTIONS - 1)
            await ws.start("now-allowed", INVESTMENT_CREATED)
            await wait_for_subscribers(strict, MAX_SUBSCRIPTIONS)
            quiet = await ws.expect_nothing(0.2)
        assert refused == {
            "type": "error",
            "id": "one-too-many",
            "payload": {
                "message": "Subscription limit reached",
                "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
            },
        }
        assert stopped == {"type": "complete", "id": "sub0"}
        assert quiet == []

    async def test_connection_terminate_closes_normally(self, strict: LiveServer) -> None:
        async with LegacyWsClient.connect(strict.ws_url) as ws:
            await ws.send({"type": "connection_terminate"})
            closed = await ws.closed()
        assert closed.code == 1000


class TestOrigins:
    @pytest.mark.parametrize("client_class", [TransportWsClient, LegacyWsClient])
    async def test_an_origin_not_allowed_is_refused_at_the_handshake(
        self, strict: LiveServer, client_class: type[TransportWsClient | LegacyWsClient]
    ) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with client_class.connect(strict.ws_url, origin="https://evil.example.com"):
                pass
        assert refused.value.response.status_code == 403

    @pytest.mark.parametrize(
        "origin",
        [ALLOWED_ORIGIN, "https://APP.example.com:443", None],
        ids=["allowed", "allowed-unnormalised", "no-origin"],
    )
    async def test_an_allowed_origin_or_none_connects(
        self, strict: LiveServer, origin: str | None
    ) -> None:
        async with TransportWsClient.connect(strict.ws_url, origin=origin, init=False) as ws:
            await ws.init()  # asserts the connection_ack
            await ws.send({"type": "ping"})
            assert await ws.receive() == {"type": "pong"}

    async def test_the_servers_own_origin_connects(self, strict: LiveServer) -> None:
        async with TransportWsClient.connect(strict.ws_url, origin=strict.http_url) as ws:
            await ws.send({"type": "ping"})
            assert await ws.receive() == {"type": "pong"}


class TestOverHttp:
    async def test_a_subscription_over_http_is_a_400_pointing_to_websockets(
        self, strict: LiveServer, http: httpx.AsyncClient
    ) -> None:
        response = await http.post("/graphql", json={"query": INVESTMENT_CREATED})

        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "WebSocket" in error["message"]
