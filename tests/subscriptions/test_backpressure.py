"""Backpressure: a subscriber that stops reading is cut off with a reason, memory stays bounded.

The slow client asks for large events (the fund's name under many aliases) and
stops reading, so the server's socket fills up and its feed stops pulling. The
subscriber's queue then fills to `subscriber_queue_size` and the subscription
ends with SUBSCRIBER_TOO_SLOW; resubscribing with the last cursor loses nothing.
A fast subscriber of the same fund meanwhile gets every event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.subscriptions.client import TransportWsClient, collect
from tests.subscriptions.conftest import (
    CONFIGURATIONS,
    running_server,
    settings_for,
    settle,
    wait_for_subscribers,
)
from tests.subscriptions.servers import LiveServer, http_client
from tests.subscriptions.support import (
    amount,
    amounts,
    commit,
    create_fund,
    create_investor,
    positions,
)

QUEUE_SIZE = 8
COMMITMENTS = 150
UVICORN_HIGH_WATER = 64 * 1024  # asyncio's default write buffer limit, which uvicorn keeps

LARGE_EVENTS = (
    "subscription LargeEvents($fundId: ID, $after: String) {"
    " fundEvents(fundId: $fundId, after: $after) {"
    " cursor eventId ... on InvestmentCreatedEvent { investment { amountUsd } } "
    + " ".join(f"copy{number}: fund {{ name }}" for number in range(200))
    + " } }"
)

SMALL_EVENTS = """
subscription SmallEvents($fundId: ID) { fundEvents(fundId: $fundId) { cursor eventId } }
"""


@pytest.fixture(params=CONFIGURATIONS)
async def small_queues(
    request: pytest.FixtureRequest, database_urls: dict[str, str], redis_url: str
) -> AsyncIterator[LiveServer]:
    settings = settings_for(
        request.param,
        database_urls,
        redis_url,
        subscriber_queue_size=QUEUE_SIZE,
        max_aliases=300,  # 200 aliases make each event large (the limit is not the subject here)
    )
    async with running_server(settings) as server:
        yield server


def queued_events(server: LiveServer) -> int:
    """The most events any subscriber has waiting in its queue (hub internals, read only)."""
    subscribers = tuple(server.runtime.events.hub._subscribers)
    return max((subscriber._queue.qsize() for subscriber in subscribers), default=0)


class TestSlowConsumer:
    async def test_is_closed_with_its_reason_and_resumes_from_its_last_cursor(
        self, small_queues: LiveServer
    ) -> None:
        server = small_queues
        async with http_client(server.http_url) as http:
            fund = await create_fund(http, name="N" * 255)
            investor = await create_investor(http)
            await settle(server)
            async with (
                TransportWsClient.connect(server.ws_url, max_queue=1) as slow,
                TransportWsClient.connect(server.ws_url) as fast,
            ):
                await slow.subscribe("slow", LARGE_EVENTS, {"fundId": fund})
                await fast.subscribe("fast", SMALL_EVENTS, {"fundId": fund})
                await wait_for_subscribers(server, 2)

                most_queued, largest_buffer = 0, 0
                for index in range(COMMITMENTS):
                    await commit(http, fund, investor, amount(index))
                    most_queued = max(most_queued, queued_events(server))
                    largest_buffer = max(largest_buffer, *server.write_buffer_sizes())
                fast_events = await collect(fast, "fast", "fundEvents", COMMITMENTS, within=15)

                # The slow client reads again: what the server had sent, then the reason.
                closed = await slow.until_complete("slow", limit=COMMITMENTS + 2, within=15)

            received = [message["payload"]["data"]["fundEvents"] for message in closed[:-2]]
            refusal, ending = closed[-2:]
            async with TransportWsClient.connect(server.ws_url) as again:
                await again.subscribe(
                    "again", LARGE_EVENTS, {"fundId": fund, "after": received[-1]["cursor"]}
                )
                rest = await collect(
                    again, "again", "fundEvents", COMMITMENTS - len(received), within=15
                )
                late = await again.expect_nothing(0.3)
            await wait_for_subscribers(server, 0)

        assert refusal["type"] == "next"
        assert refusal["payload"]["data"] is None
        [error] = refusal["payload"]["errors"]
        assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
        assert "`after`" in error["message"]
        assert ending == {"id": "slow", "type": "complete"}
        assert 0 < len(received) < COMMITMENTS
        assert amounts(received + rest) == [amount(i) for i in range(COMMITMENTS)]
        assert positions(received + rest) == positions(fast_events)
        assert late == []
        # Memory stayed bounded: never more queued than the queue size, and
        # uvicorn's buffer held at most its high-water mark plus one message.
        message_size = len(json.dumps(closed[0]))
        assert most_queued <= QUEUE_SIZE
        assert largest_buffer <= UVICORN_HIGH_WATER + 2 * message_size
