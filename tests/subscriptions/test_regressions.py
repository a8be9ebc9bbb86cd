"""Subscription bugs found once, kept from coming back."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.events.records import encode_cursor
from tests.subscriptions.client import TransportWsClient, collect
from tests.subscriptions.processes import fresh_sqlite, server_env
from tests.subscriptions.servers import LiveServer, ServerProcess, http_client
from tests.subscriptions.support import (
    FUND_EVENTS,
    FUND_SUMMARY_ON_COMMITMENT,
    amount,
    amounts,
    commit,
    create_fund,
    create_investor,
)

BROKEN_DOCUMENT = "subscription { investmentCreated {"
TYPED_VARIABLE = "subscription($f: ID!) { investmentCreated(fundId: $f) { eventId } }"
EXIT_WITHIN = 20.0


class TestEventFieldsAreCurrent:
    async def test_each_event_sees_the_totals_as_of_that_event(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        fund, investor = await create_fund(http), await create_investor(http)
        events = []
        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("summary", FUND_SUMMARY_ON_COMMITMENT, {"fundId": fund})
            await asyncio.sleep(0.2)
            for _ in range(3):  # one at a time: each event is resolved before the next commit
                await commit(http, fund, investor, "10.00")
                events += await collect(ws, "summary", "investmentCreated", 1)

        summaries = [event["fund"]["summary"] for event in events]
        assert [s["committedUsd"] for s in summaries] == ["10.00", "20.00", "30.00"]
        assert [s["investmentCount"] for s in summaries] == [1, 2, 3]


class TestErrorsOverWebSockets:
    async def test_a_syntax_error_closes_with_4400_and_says_what_is_wrong(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("broken", BROKEN_DOCUMENT)
            closed = await ws.closed()

        # graphql-transport-ws: a document that cannot be parsed ends the connection
        assert closed.code == 4400
        assert "Syntax Error" in closed.reason

    async def test_variables_that_do_not_fit_are_bad_user_input(
        self, live: LiveServer, http: httpx.AsyncClient
    ) -> None:
        async with TransportWsClient.connect(live.ws_url) as ws:
            await ws.subscribe("typed", TYPED_VARIABLE, {"f": None})
            message = await ws.receive_for("typed")

        errors: list[dict[str, Any]] = (
            message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        )
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]


@pytest.mark.slow
class TestShutdownDelivers:
    async def test_events_committed_just_before_sigterm_arrive_before_the_1001(
        self, tmp_path: Path
    ) -> None:
        count = 150
        env = server_env(await fresh_sqlite(tmp_path), None)
        async with ServerProcess(env, tmp_path / "server.log") as server:
            async with http_client(server.http_url) as http:
                fund, investor = await create_fund(http), await create_investor(http)
                async with TransportWsClient.connect(server.ws_url) as ws:
                    await ws.subscribe(
                        "events", FUND_EVENTS, {"fundId": fund, "after": encode_cursor(0)}
                    )
                    await collect(ws, "events", "fundEvents", 1)  # the fund's creation
                    for index in range(count):
                        await commit(http, fund, investor, amount(index))
                    server.terminate()  # at once: nothing read yet
                    received = await collect(ws, "events", "fundEvents", count, within=EXIT_WITHIN)
                    closed = await ws.closed(within=EXIT_WITHIN)
            exit_code = await server.wait_exit(EXIT_WITHIN)

        assert amounts(received) == [amount(i) for i in range(count)]
        assert closed.code == 1001
        assert exit_code in (0, -signal.SIGTERM)

    async def test_a_client_that_stopped_reading_does_not_hold_the_shutdown_up(
        self, tmp_path: Path
    ) -> None:
        env = server_env(await fresh_sqlite(tmp_path), None)
        async with (
            ServerProcess(env, tmp_path / "server.log") as server,
            http_client(server.http_url) as http,
        ):
            fund, investor = await create_fund(http), await create_investor(http)
            async with TransportWsClient.connect(server.ws_url, max_queue=1) as ws:
                await ws.subscribe(
                    "events", FUND_EVENTS, {"fundId": fund, "after": encode_cursor(0)}
                )
                for index in range(120):  # enough to fill the socket buffers
                    await commit(http, fund, investor, amount(index))
                signalled = time.monotonic()
                server.terminate()
                exit_code = await server.wait_exit(EXIT_WITHIN)
                exited_after = time.monotonic() - signalled

        assert exit_code is not None
        assert exited_after < EXIT_WITHIN
