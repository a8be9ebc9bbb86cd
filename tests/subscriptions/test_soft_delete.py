"""Soft delete in the live streams (issue 7, item 4): deleted funds vanish from subscriptions.

Following one fund that gets deleted ends the subscription with NOT_FOUND;
following every fund, a deleted fund's events are skipped, live and on replay,
until it is restored. An investor's delete and restore are not fund events, so
no fund stream carries them. Runs on SQLite + in-process broker and on
PostgreSQL + Redis.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.graphql import data_of
from tests.subscriptions.client import Message, TransportWsClient
from tests.subscriptions.conftest import settle, wait_for_subscribers
from tests.subscriptions.servers import LiveServer
from tests.subscriptions.support import (
    FUND_EVENTS,
    INVESTMENT_CREATED,
    create_fund,
    create_investor,
    update_fund,
)

CHANGE = """
mutation Change($input: {verb}{kind}Input!) {{
  {field}(input: $input) {{ errors {{ code }} }}
}}
"""


async def change(http: httpx.AsyncClient, verb: str, kind: str, global_id: str) -> None:
    """deleteFund / restoreFund / deleteInvestor ..., which must succeed."""
    field = f"{verb.lower()}{kind}"
    document = CHANGE.format(verb=verb, kind=kind, field=field)
    payload = (await data_of(http, document, {"input": {"id": global_id}}))[field]
    assert payload == {"errors": []}, payload


def error_codes(message: Message) -> list[str]:
    """The codes of an operation's error, as `error` or as `next` with errors."""
    errors: list[dict[str, Any]] = (
        message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    )
    return [error["extensions"]["code"] for error in errors]


async def test_following_a_fund_that_gets_deleted_ends_with_not_found(
    live: LiveServer, http: httpx.AsyncClient
) -> None:
    fund = await create_fund(http)
    await settle(live)
    async with TransportWsClient.connect(live.ws_url) as ws:
        await ws.subscribe("events", FUND_EVENTS, {"fundId": fund})
        await ws.subscribe("created", INVESTMENT_CREATED, {"fundId": fund})
        await wait_for_subscribers(live, 2)

        await change(http, "Delete", "Fund", fund)

        ended = [await ws.receive_for("events"), await ws.receive_for("created")]
        await ws.subscribe("again", FUND_EVENTS, {"fundId": fund})
        refused = await ws.receive_for("again")
        await wait_for_subscribers(live, 0)
    assert [error_codes(message) for message in ended] == [["NOT_FOUND"], ["NOT_FOUND"]]
    assert "deleted" in str(ended[0]["payload"])
    assert error_codes(refused) == ["NOT_FOUND"]


async def test_every_fund_stream_skips_deleted_funds_live_and_on_replay(
    live: LiveServer, http: httpx.AsyncClient
) -> None:
    kept, doomed = await create_fund(http), await create_fund(http)
    await settle(live)
    async with TransportWsClient.connect(live.ws_url) as ws:
        await ws.subscribe("all", FUND_EVENTS)
        await wait_for_subscribers(live, 1)

        await update_fund(http, kept, name="Kept, first")
        first = (await ws.next_data("all"))["fundEvents"]
        await update_fund(http, doomed, name="Doomed, renamed")
        renamed = (await ws.next_data("all"))["fundEvents"]

        # None of these reach the stream: the fund is deleted, the investor is no fund.
        investor = await create_investor(http)
        await change(http, "Delete", "Investor", investor)
        await change(http, "Restore", "Investor", investor)
        await change(http, "Delete", "Fund", doomed)
        await update_fund(http, kept, name="Kept, second")
        second = (await ws.next_data("all"))["fundEvents"]

        # A replay from before the deleted fund's rename skips it too.
        await ws.subscribe("replay", FUND_EVENTS, {"after": first["cursor"]})
        replayed = (await ws.next_data("replay"))["fundEvents"]

        await change(http, "Restore", "Fund", doomed)
        restored = (await ws.next_data("all"))["fundEvents"]
        restored_again = (await ws.next_data("replay"))["fundEvents"]
    assert (first["fund"]["id"], renamed["fund"]["id"]) == (kept, doomed)
    assert (second["fund"]["id"], second["changedFields"]) == (kept, ["name"])
    assert replayed["eventId"] == second["eventId"]
    assert restored["__typename"] == "FundUpdatedEvent"
    assert (restored["fund"]["id"], restored["changedFields"]) == (doomed, ["deletedAt"])
    assert restored_again["eventId"] == restored["eventId"]
