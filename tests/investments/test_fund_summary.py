"""Fund.summary: exact decimal aggregates over a fund's commitments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import Fund, InvestorType
from graphql_api.db.session import Database
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of

SUMMARY = """
query Summary($id: ID!) {
  fund(id: $id) {
    summary {
      committedUsd investmentCount investorCount percentOfTarget remainingToHardCapUsd
      byInvestorType { investorType committedUsd investmentCount investorCount }
    }
  }
}
"""

ALL_SUMMARIES = """
query AllSummaries {
  funds(orderBy: [{field: NAME}]) {
    nodes { name summary { committedUsd investmentCount investorCount } }
  }
}
"""


async def _summary(client: httpx.AsyncClient, fund: Fund) -> dict[str, Any]:
    data = await data_of(client, SUMMARY, {"id": gid(fund)})
    summary: dict[str, Any] = data["fund"]["summary"]
    return summary


def _by_type(summary: dict[str, Any]) -> dict[str, tuple[str, int, int]]:
    parts = summary["byInvestorType"]
    by_type = {
        part["investorType"]: (part["committedUsd"], part["investmentCount"], part["investorCount"])
        for part in parts
    }
    assert len(by_type) == len(parts), "an investor type is listed twice"
    return by_type


class TestFundSummary:
    async def test_adds_ten_and_twenty_cents_to_exactly_thirty(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)
        await create_investment(db, fund, investor, amount_usd=Decimal("0.10"))
        await create_investment(db, fund, investor, amount_usd=Decimal("0.20"))

        summary = await _summary(client, fund)

        assert summary["committedUsd"] == "0.30"

    async def test_sums_many_small_amounts_exactly(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given forty commitments of 0.01, 0.02, ..., 0.40
        fund = await create_fund(db)
        investor = await create_investor(db)
        for cents in range(1, 41):
            await create_investment(db, fund, investor, amount_usd=Decimal(cents) / 100)

        # When the summary is read
        summary = await _summary(client, fund)

        # Then the total is exactly 8.20 and every commitment is counted
        assert summary["committedUsd"] == "8.20"
        assert summary["investmentCount"] == 40
        assert summary["investorCount"] == 1

    async def test_remaining_to_hard_cap_is_exact(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(
            db, target_size_usd=Decimal("1000.00"), hard_cap_usd=Decimal("1000.00")
        )
        investor = await create_investor(db)
        for amount in ("0.10", "0.20", "333.33"):
            await create_investment(db, fund, investor, amount_usd=Decimal(amount))

        summary = await _summary(client, fund)

        assert summary["committedUsd"] == "333.63"
        assert summary["remainingToHardCapUsd"] == "666.37"

    @pytest.mark.parametrize(
        ("target", "amounts", "percent"),
        [
            ("1000.00", ["333.33"], 33.333),
            ("300.00", ["0.10", "0.20"], 0.1),
            ("200.00", ["100.00", "100.00"], 100.0),
            ("100.00", ["250.00"], 250.0),
            ("3.00", ["1.00"], 33.3333),
        ],
        ids=["a-third", "tenth-of-a-percent", "exactly-reached", "past-target", "rounded"],
    )
    async def test_percent_of_target(
        self,
        client: httpx.AsyncClient,
        db: Database,
        target: str,
        amounts: list[str],
        percent: float,
    ) -> None:
        fund = await create_fund(db, target_size_usd=Decimal(target))
        investor = await create_investor(db)
        for amount in amounts:
            await create_investment(db, fund, investor, amount_usd=Decimal(amount))

        summary = await _summary(client, fund)

        assert summary["percentOfTarget"] == pytest.approx(percent, abs=1e-9)

    async def test_counts_each_investor_once(self, client: httpx.AsyncClient, db: Database) -> None:
        # Given two investors, one of whom committed three times
        fund = await create_fund(db)
        repeat = await create_investor(db)
        once = await create_investor(db)
        for _ in range(3):
            await create_investment(db, fund, repeat, amount_usd=Decimal("1.00"))
        await create_investment(db, fund, once, amount_usd=Decimal("1.00"))

        summary = await _summary(client, fund)

        assert summary["investmentCount"] == 4
        assert summary["investorCount"] == 2

    async def test_splits_by_investor_type_and_omits_types_without_commitments(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given one individual committing twice and two institutions once each
        fund = await create_fund(db)
        person = await create_investor(db, investor_type=InvestorType.INDIVIDUAL)
        pension = await create_investor(db, investor_type=InvestorType.INSTITUTION)
        insurer = await create_investor(db, investor_type=InvestorType.INSTITUTION)
        await create_investor(db, investor_type=InvestorType.FAMILY_OFFICE)
        await create_investment(db, fund, person, amount_usd=Decimal("0.10"))
        await create_investment(db, fund, person, amount_usd=Decimal("0.20"))
        await create_investment(db, fund, pension, amount_usd=Decimal("1000000.01"))
        await create_investment(db, fund, insurer, amount_usd=Decimal("0.99"))

        # When the summary is read
        summary = await _summary(client, fund)

        # Then each type has its own exact totals, and the family office (no commitments) is absent
        assert _by_type(summary) == {
            "INDIVIDUAL": ("0.30", 2, 1),
            "INSTITUTION": ("1000001.00", 2, 2),
        }
        assert summary["committedUsd"] == "1000001.30"
        assert summary["investorCount"] == 3

    async def test_ignores_commitments_to_other_funds(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        other = await create_fund(db)
        investor = await create_investor(db, investor_type=InvestorType.FAMILY_OFFICE)
        await create_investment(db, fund, investor, amount_usd=Decimal("5.00"))
        await create_investment(db, other, investor, amount_usd=Decimal("7.00"))

        summary = await _summary(client, fund)

        assert summary["committedUsd"] == "5.00"
        assert _by_type(summary) == {"FAMILY_OFFICE": ("5.00", 1, 1)}

    async def test_is_all_zeros_for_a_fund_without_commitments(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(
            db, target_size_usd=Decimal("1000.00"), hard_cap_usd=Decimal("1500.50")
        )

        summary = await _summary(client, fund)

        assert summary == {
            "committedUsd": "0.00",
            "investmentCount": 0,
            "investorCount": 0,
            "percentOfTarget": 0.0,
            "remainingToHardCapUsd": "1500.50",
            "byInvestorType": [],
        }

    async def test_has_no_remaining_amount_without_a_hard_cap(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db, hard_cap_usd=None)
        investor = await create_investor(db)
        await create_investment(db, fund, investor, amount_usd=Decimal("10.00"))

        summary = await _summary(client, fund)

        assert summary["remainingToHardCapUsd"] is None
        assert summary["committedUsd"] == "10.00"

    async def test_gives_every_fund_in_a_list_its_own_totals(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given three funds with different commitments, one with none
        alpha = await create_fund(db, name="Alpha")
        bravo = await create_fund(db, name="Bravo")
        await create_fund(db, name="Charlie")
        first = await create_investor(db)
        second = await create_investor(db)
        await create_investment(db, alpha, first, amount_usd=Decimal("0.10"))
        await create_investment(db, alpha, second, amount_usd=Decimal("0.20"))
        await create_investment(db, bravo, first, amount_usd=Decimal("99.99"))

        # When all funds are listed with their summaries
        data = await data_of(client, ALL_SUMMARIES)

        # Then each summary counts only that fund's commitments
        assert data["funds"]["nodes"] == [
            {
                "name": "Alpha",
                "summary": {"committedUsd": "0.30", "investmentCount": 2, "investorCount": 2},
            },
            {
                "name": "Bravo",
                "summary": {"committedUsd": "99.99", "investmentCount": 1, "investorCount": 1},
            },
            {
                "name": "Charlie",
                "summary": {"committedUsd": "0.00", "investmentCount": 0, "investorCount": 0},
            },
        ]
