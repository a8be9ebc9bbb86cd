"""Graceful shutdown: on SIGTERM, open subscriptions are closed with 1001 and the process exits.

Events committed just before SIGTERM, and a client that stopped reading, are
covered in test_regressions.py.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from graphql_api.events.records import encode_cursor
from tests.subscriptions.client import LegacyWsClient, TransportWsClient, collect
from tests.subscriptions.processes import fresh_postgres, fresh_sqlite, server_env
from tests.subscriptions.servers import ServerProcess, http_client
from tests.subscriptions.support import (
    FUND_EVENTS,
    amount,
    amounts,
    commit,
    create_fund,
    create_investor,
)

COMMITMENTS = 10
EXIT_WITHIN = 10.0


@pytest.mark.slow
class TestSigterm:
    @pytest.mark.parametrize("configuration", ["sqlite", "postgresql+redis"])
    async def test_subscribers_are_closed_with_1001_and_the_process_exits(
        self, configuration: str, tmp_path: Path, redis_url: str
    ) -> None:
        if configuration == "sqlite":
            env = server_env(await fresh_sqlite(tmp_path), None)
        else:
            env = server_env(await fresh_postgres("shutdown"), redis_url)
        async with ServerProcess(env, tmp_path / "server.log") as server:
            async with http_client(server.http_url) as http:
                fund, investor = await create_fund(http), await create_investor(http)
                since_creation = {"fundId": fund, "after": encode_cursor(0)}
                async with (
                    TransportWsClient.connect(server.ws_url) as modern,
                    LegacyWsClient.connect(server.ws_url) as legacy,
                ):
                    await modern.subscribe("events", FUND_EVENTS, since_creation)
                    await legacy.subscribe("events", FUND_EVENTS, since_creation)
                    # The replayed creation shows both subscriptions are registered.
                    await collect(modern, "events", "fundEvents", 1)
                    await collect(legacy, "events", "fundEvents", 1)

                    for index in range(COMMITMENTS):
                        await commit(http, fund, investor, amount(index))
                    modern_events = await collect(modern, "events", "fundEvents", COMMITMENTS)
                    legacy_events = await collect(legacy, "events", "fundEvents", COMMITMENTS)
                    server.terminate()
                    signalled = time.monotonic()

                    modern_closed = await modern.closed(within=EXIT_WITHIN)
                    legacy_closed = await legacy.closed(within=EXIT_WITHIN)
            exit_code = await server.wait_exit(EXIT_WITHIN)
            exited_after = time.monotonic() - signalled
            log = server.log()

        expected = [amount(i) for i in range(COMMITMENTS)]
        assert amounts(modern_events) == amounts(legacy_events) == expected
        for closed in (modern_closed, legacy_closed):
            assert closed.code == 1001
            assert closed.reason == "Server is shutting down; reconnect."
            assert [m for m in closed.messages if m["type"] not in ("complete",)] == []
        # uvicorn re-raises SIGTERM once it has shut down, for the parent to see.
        assert exit_code in (0, -signal.SIGTERM)
        assert exited_after < EXIT_WITHIN
        assert "Application shutdown complete." in log
