"""A cursor older than the outbox's retention is refused: replaying from it would leave a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from graphql_api.events.records import encode_cursor
from tests.subscriptions.client import TransportWsClient, collect
from tests.subscriptions.conftest import CONFIGURATIONS, running_server, settings_for
from tests.subscriptions.servers import LiveServer, http_client
from tests.subscriptions.support import (
    FUND_EVENTS,
    amount,
    amounts,
    commit,
    create_fund,
    create_investor,
    positions,
)

RETENTION_DAYS = 1e-5  # 0.864 s


@pytest.fixture(params=CONFIGURATIONS)
async def short_memory(
    request: pytest.FixtureRequest, database_urls: dict[str, str], redis_url: str
) -> AsyncIterator[LiveServer]:
    """A server keeping delivered events for under a second."""
    settings = settings_for(
        request.param, database_urls, redis_url, outbox_retention_days=RETENTION_DAYS
    )
    async with running_server(settings) as server:
        yield server


class TestRetention:
    async def test_a_purged_cursor_is_refused_and_one_at_the_edge_replays_the_rest(
        self, short_memory: LiveServer
    ) -> None:
        async with http_client(short_memory.http_url) as http:
            fund, investor = await create_fund(http), await create_investor(http)
            for index in range(5):
                await commit(http, fund, investor, amount(index))
            await asyncio.sleep(RETENTION_DAYS * 86_400 + 0.2)
            kept = [await commit(http, fund, investor, amount(5 + i)) for i in range(2)]
            removed = await short_memory.runtime.events.publisher.purge()

            async with TransportWsClient.connect(short_memory.ws_url) as ws:
                await ws.subscribe("old", FUND_EVENTS, {"fundId": fund, "after": encode_cursor(2)})
                refused = await ws.receive_for("old")
                ending = await ws.receive_for("old")
                await ws.subscribe("edge", FUND_EVENTS, {"after": encode_cursor(6)})
                replayed = await collect(ws, "edge", "fundEvents", 2)

        assert removed == 6  # the fund's creation and the first five commitments
        assert refused["type"] == "next"
        assert refused["payload"]["data"] is None
        [error] = refused["payload"]["errors"]
        assert error["extensions"]["code"] == "CURSOR_EXPIRED"
        assert "subscribe without `after`" in error["message"]
        assert ending == {"id": "old", "type": "complete"}
        assert [event["investment"]["id"] for event in replayed] == kept
        assert positions(replayed) == [7, 8]
        assert amounts(replayed) == [amount(5), amount(6)]
