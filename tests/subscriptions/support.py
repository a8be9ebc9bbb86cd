"""GraphQL documents and HTTP helpers shared by the subscription tests.

Data is made through the server's own HTTP API, as a client would: a commit
through the API is what announces events (the server kicks its publisher).
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx

from graphql_api.events.records import decode_cursor
from tests.graphql import data_of

FUND_EVENTS = """
subscription FundEvents($fundId: ID, $after: String) {
  fundEvents(fundId: $fundId, after: $after) {
    __typename eventId cursor occurredAt
    fund { id name }
    ... on InvestmentCreatedEvent { investment { id amountUsd } }
    ... on FundUpdatedEvent { changedFields }
    ... on FundStatusChangedEvent { from to }
  }
}
"""

FUND_EVENTS_IN_FULL = """
subscription FundEventsInFull($fundId: ID) {
  fundEvents(fundId: $fundId) {
    __typename eventId cursor occurredAt
    fund { id name status }
    ... on InvestmentCreatedEvent {
      investment { id amountUsd investmentDate investor { id name } fund { id } }
    }
    ... on FundUpdatedEvent { changedFields }
    ... on FundStatusChangedEvent { from to }
  }
}
"""

FUND_SUMMARY_ON_COMMITMENT = """
subscription FundSummaryOnCommitment($fundId: ID) {
  investmentCreated(fundId: $fundId) {
    fund { name summary { committedUsd investmentCount investorCount } }
    investment { amountUsd }
  }
}
"""

INVESTMENT_CREATED = """
subscription InvestmentCreated($fundId: ID) {
  investmentCreated(fundId: $fundId) {
    __typename eventId cursor
    fund { id }
    investment { id amountUsd investor { name } }
  }
}
"""

CREATE_FUND = """
mutation CreateFund($input: CreateFundInput!) {
  createFund(input: $input) { fund { id name } errors { code message field } }
}
"""

UPDATE_FUND = """
mutation UpdateFund($input: UpdateFundInput!) {
  updateFund(input: $input) { fund { id status version } errors { code message field } }
}
"""

CREATE_INVESTOR = """
mutation CreateInvestor($input: CreateInvestorInput!) {
  createInvestor(input: $input) { investor { id name } errors { code message field } }
}
"""

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) { investment { id amountUsd } errors { code message field } }
}
"""

_numbers = itertools.count(1)


async def create_fund(
    http: httpx.AsyncClient, *, name: str | None = None, hard_cap: str | None = None
) -> str:
    """A new fund's global ID."""
    fund_input: dict[str, Any] = {
        "name": name or f"Subscribed fund {next(_numbers)}",
        "vintageYear": 2022,
        "targetSizeUsd": "1000000.00",
    }
    if hard_cap is not None:
        fund_input["hardCapUsd"] = hard_cap
    payload = (await data_of(http, CREATE_FUND, {"input": fund_input}))["createFund"]
    assert payload["errors"] == [], payload
    fund_id: str = payload["fund"]["id"]
    return fund_id


async def create_investor(http: httpx.AsyncClient, *, name: str | None = None) -> str:
    number = next(_numbers)
    investor_input = {
        "name": name or f"Investor {number}",
        "investorType": "INSTITUTION",
        "email": f"subs-{number}-{uuid.uuid4().hex[:8]}@example.com",
    }
    payload = (await data_of(http, CREATE_INVESTOR, {"input": investor_input}))["createInvestor"]
    assert payload["errors"] == [], payload
    investor_id: str = payload["investor"]["id"]
    return investor_id


async def try_commit(
    http: httpx.AsyncClient, fund_id: str, investor_id: str, amount: str
) -> dict[str, Any]:
    """The createInvestment payload, whatever it says."""
    commitment = {
        "fundId": fund_id,
        "investorId": investor_id,
        "amountUsd": amount,
        "investmentDate": "2024-01-15",
    }
    payload: dict[str, Any] = (await data_of(http, CREATE_INVESTMENT, {"input": commitment}))[
        "createInvestment"
    ]
    return payload


async def commit(http: httpx.AsyncClient, fund_id: str, investor_id: str, amount: str) -> str:
    """Commit capital; the new investment's global ID."""
    payload = await try_commit(http, fund_id, investor_id, amount)
    assert payload["errors"] == [], payload
    investment_id: str = payload["investment"]["id"]
    return investment_id


async def update_fund(http: httpx.AsyncClient, fund_id: str, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (
        await data_of(http, UPDATE_FUND, {"input": {"id": fund_id, **changes}})
    )["updateFund"]
    assert payload["errors"] == [], payload
    return payload


def amount(index: int) -> str:
    """A distinct amount per commitment, so the order of events shows in their amounts."""
    return f"{1000 + index}.00"


def positions(events: list[dict[str, Any]]) -> list[int]:
    """The outbox positions behind the events' cursors (cursors are opaque to clients)."""
    return [decode_cursor(event["cursor"]) for event in events]


def amounts(events: list[dict[str, Any]]) -> list[str]:
    return [event["investment"]["amountUsd"] for event in events]
