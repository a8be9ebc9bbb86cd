"""The back ends with and without Redis: the pairs the other modules' servers do not run.

Elsewhere a server runs SQLite with the in-process broker (the embedded
default) or PostgreSQL with Redis (production); here PostgreSQL alone and
SQLite with Redis deliver the same way. Own module: these servers empty the
tables that a module-wide server would otherwise still be following.
"""

from __future__ import annotations

import pytest

from tests.subscriptions.client import LegacyWsClient, TransportWsClient, collect
from tests.subscriptions.conftest import (
    running_server,
    settings_for,
    settle,
    wait_for_subscribers,
)
from tests.subscriptions.servers import http_client
from tests.subscriptions.support import (
    FUND_EVENTS,
    INVESTMENT_CREATED,
    amount,
    commit,
    create_fund,
    create_investor,
)


class TestEveryBackendWithAndWithoutRedis:
    @pytest.mark.parametrize("configuration", ["postgresql", "sqlite+redis"])
    async def test_commitments_arrive_once_each_in_order_and_only_for_their_fund(
        self, configuration: str, database_urls: dict[str, str], redis_url: str
    ) -> None:
        settings = settings_for(configuration, database_urls, redis_url)
        async with running_server(settings) as server, http_client(server.http_url) as http:
            followed, other = await create_fund(http), await create_fund(http)
            investor = await create_investor(http)
            await settle(server)
            async with (
                TransportWsClient.connect(server.ws_url) as modern,
                LegacyWsClient.connect(server.ws_url) as legacy,
            ):
                await modern.subscribe("events", FUND_EVENTS, {"fundId": followed})
                await legacy.subscribe("created", INVESTMENT_CREATED, {"fundId": followed})
                await wait_for_subscribers(server, 2)

                committed = []
                for index in range(10):
                    await commit(http, other, investor, amount(100 + index))
                    committed.append(await commit(http, followed, investor, amount(index)))

                events = await collect(modern, "events", "fundEvents", 10)
                created = await collect(legacy, "created", "investmentCreated", 10)
                late = await modern.expect_nothing(0.3) + await legacy.expect_nothing(0.1)
            await wait_for_subscribers(server, 0)

        for received in (events, created):
            assert [event["investment"]["id"] for event in received] == committed
            assert {event["fund"]["id"] for event in received} == {followed}
        assert [e["eventId"] for e in events] == [e["eventId"] for e in created]
        assert late == []
