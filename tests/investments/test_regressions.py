"""Commitment bugs found once, kept from coming back."""

from __future__ import annotations

import base64
from decimal import Decimal

import httpx
import pytest

from graphql_api.db.models import FundStatus
from graphql_api.db.session import Database
from graphql_api.money import MAX_FUND_SIZE_USD
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of

CREATE = """
mutation Commit($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment { amountUsd fund { summary { committedUsd } } }
    errors { code message field }
  }
}
"""
MISSING_FUND = base64.b64encode(b"Fund:00000000-0000-4000-8000-000000000000").decode()


def commitment(fund_id: str, investor_id: str, amount: str = "100.00") -> dict[str, object]:
    return {
        "input": {
            "fundId": fund_id,
            "investorId": investor_id,
            "amountUsd": amount,
            "investmentDate": "2024-01-01",
        }
    }


class TestValidationOrderWithMalformedIds:
    @pytest.mark.parametrize("investor_id", ["garbage", MISSING_FUND])
    async def test_a_closed_fund_is_reported_before_a_bad_investor_id(
        self, client: httpx.AsyncClient, db: Database, investor_id: str
    ) -> None:
        fund = await create_fund(db, status=FundStatus.CLOSED)

        payload = (await data_of(client, CREATE, commitment(gid(fund), investor_id)))[
            "createInvestment"
        ]

        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("FUND_CLOSED", ["input", "fundId"])
        ]

    async def test_a_missing_fund_is_reported_before_a_bad_investor_id(
        self, client: httpx.AsyncClient
    ) -> None:
        payload = (await data_of(client, CREATE, commitment(MISSING_FUND, "garbage")))[
            "createInvestment"
        ]

        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("NOT_FOUND", ["input", "fundId"])
        ]


class TestFundsWithoutACap:
    async def test_total_commitments_stop_at_the_largest_fund_size(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db, hard_cap_usd=None)
        investor = await create_investor(db)
        await create_investment(db, fund, investor, amount_usd=MAX_FUND_SIZE_USD - Decimal("1"))

        exact = (await data_of(client, CREATE, commitment(gid(fund), gid(investor), "1.00")))[
            "createInvestment"
        ]
        over = (await data_of(client, CREATE, commitment(gid(fund), gid(investor), "0.01")))[
            "createInvestment"
        ]

        assert exact["errors"] == []
        assert exact["investment"]["fund"]["summary"]["committedUsd"] == f"{MAX_FUND_SIZE_USD:.2f}"
        assert [e["code"] for e in over["errors"]] == ["HARD_CAP_EXCEEDED"]
        assert "0.00 remains" in over["errors"][0]["message"]
