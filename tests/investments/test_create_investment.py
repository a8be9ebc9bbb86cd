"""createInvestment through the real app: SPEC §2's validation order, amounts, dates, hard cap."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import Fund, FundStatus, Investor, InvestorType
from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from graphql_api.investments.service import latest_investment_date
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of, error_codes, execute

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment {
      id amountUsd investmentDate createdAt
      fund { id name summary { committedUsd investmentCount } }
      investor { id name totalCommittedUsd }
    }
    errors { code message field }
  }
}
"""

STATE = """
query State($fundId: ID!, $investorId: ID!) {
  fund(id: $fundId) { summary { committedUsd investmentCount remainingToHardCapUsd } }
  investor(id: $investorId) { totalCommittedUsd }
  investments { totalCount }
}
"""

INVESTMENT_COUNT = """
query InvestmentCount { investments { totalCount } }
"""

VALID_DATE = "2024-01-15"


def _latest_date() -> date:
    """The last allowed investment date, computed as the service does (UTC today + 1 year)."""
    return latest_investment_date(datetime.now(UTC).date())


def _missing(type_name: str) -> str:
    """A well-formed global ID that names no record."""
    return to_global_id(type_name, uuid.uuid4())


async def _commit(
    client: httpx.AsyncClient,
    fund_id: str,
    investor_id: str,
    amount: Any = "100.00",
    investment_date: str = VALID_DATE,
) -> dict[str, Any]:
    variables = {
        "input": {
            "fundId": fund_id,
            "investorId": investor_id,
            "amountUsd": amount,
            "investmentDate": investment_date,
        }
    }
    data = await data_of(client, CREATE_INVESTMENT, variables)
    payload: dict[str, Any] = data["createInvestment"]
    return payload


async def _state(client: httpx.AsyncClient, fund: Fund, investor: Investor) -> dict[str, Any]:
    return await data_of(client, STATE, {"fundId": gid(fund), "investorId": gid(investor)})


async def _investment_count(client: httpx.AsyncClient) -> int:
    return int((await data_of(client, INVESTMENT_COUNT))["investments"]["totalCount"])


async def _stored_committed_total(db: Database, fund: Fund) -> Decimal:
    """The running total the hard-cap check reserves against."""
    async with db.read_session() as session:
        stored = await fund_service.find_fund(session, fund.id)
    assert stored is not None
    return stored.committed_usd


def _problems(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((error["code"], error["field"][-1]) for error in payload["errors"])


@dataclass(frozen=True)
class OrderCase:
    """One row of the validation-order table: what is wrong, and what must be reported."""

    fund: str  # "missing", "closed" or "open" (capped at 1,000.00, nothing committed)
    investor: str  # "missing" or "existing"
    amount: str
    investment_date: str  # "valid" or "too-late"
    expected: list[tuple[str, str]]


ORDER_CASES = {
    "missing-fund-beats-everything": OrderCase(
        "missing", "missing", "1.005", "too-late", [("NOT_FOUND", "fundId")]
    ),
    "missing-fund-with-valid-rest": OrderCase(
        "missing", "existing", "100.00", "valid", [("NOT_FOUND", "fundId")]
    ),
    "closed-fund-beats-missing-investor-and-bad-amount": OrderCase(
        "closed", "missing", "-5", "too-late", [("FUND_CLOSED", "fundId")]
    ),
    "closed-fund-beats-hard-cap": OrderCase(
        "closed", "existing", "1000.01", "valid", [("FUND_CLOSED", "fundId")]
    ),
    "closed-fund-with-valid-rest": OrderCase(
        "closed", "existing", "100.00", "valid", [("FUND_CLOSED", "fundId")]
    ),
    "missing-investor-beats-bad-amount-and-date": OrderCase(
        "open", "missing", "0", "too-late", [("NOT_FOUND", "investorId")]
    ),
    "missing-investor-beats-hard-cap": OrderCase(
        "open", "missing", "1000.01", "valid", [("NOT_FOUND", "investorId")]
    ),
    "amount-and-date-errors-together": OrderCase(
        "open",
        "existing",
        "1.005",
        "too-late",
        [("VALIDATION", "amountUsd"), ("VALIDATION", "investmentDate")],
    ),
    "bad-amount-alone": OrderCase("open", "existing", "0", "valid", [("VALIDATION", "amountUsd")]),
    "bad-date-alone": OrderCase(
        "open", "existing", "100.00", "too-late", [("VALIDATION", "investmentDate")]
    ),
    "bad-date-beats-hard-cap": OrderCase(
        "open", "existing", "1000.01", "too-late", [("VALIDATION", "investmentDate")]
    ),
    "bad-amount-beats-hard-cap": OrderCase(
        "open", "existing", "1000.005", "valid", [("VALIDATION", "amountUsd")]
    ),
    "hard-cap-when-all-else-is-valid": OrderCase(
        "open", "existing", "1000.01", "valid", [("HARD_CAP_EXCEEDED", "amountUsd")]
    ),
}


async def _fund_id_for(db: Database, state: str) -> str:
    if state == "missing":
        return _missing("Fund")
    status = FundStatus.CLOSED if state == "closed" else FundStatus.FUNDRAISING
    fund = await create_fund(
        db,
        target_size_usd=Decimal("1000.00"),
        hard_cap_usd=Decimal("1000.00"),
        status=status,
    )
    return gid(fund)


async def _investor_id_for(db: Database, state: str) -> str:
    if state == "missing":
        return _missing("Investor")
    return gid(await create_investor(db))


class TestValidationOrder:
    @pytest.mark.parametrize("case", list(ORDER_CASES.values()), ids=list(ORDER_CASES))
    async def test_reports_the_first_failure_in_spec_order(
        self, client: httpx.AsyncClient, db: Database, case: OrderCase
    ) -> None:
        # Given the fund and investor this row describes
        fund_id = await _fund_id_for(db, case.fund)
        investor_id = await _investor_id_for(db, case.investor)
        too_late = (_latest_date() + timedelta(days=1)).isoformat()
        investment_date = VALID_DATE if case.investment_date == "valid" else too_late

        # When the commitment is made
        payload = await _commit(client, fund_id, investor_id, case.amount, investment_date)

        # Then only the first failing rule is reported, with its input path
        assert payload["investment"] is None
        assert _problems(payload) == sorted(case.expected)
        assert all(error["field"][0] == "input" for error in payload["errors"])
        assert all(error["message"] for error in payload["errors"])
        # and nothing was committed
        assert await _investment_count(client) == 0

    async def test_accepts_the_commitment_when_every_rule_holds(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund_id = await _fund_id_for(db, "open")
        investor_id = await _investor_id_for(db, "existing")

        payload = await _commit(client, fund_id, investor_id, "1000.00")

        assert payload["errors"] == []
        assert payload["investment"]["amountUsd"] == "1000.00"
        assert await _investment_count(client) == 1


class TestCreateInvestment:
    async def test_returns_the_commitment_with_its_fund_and_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund and an investor
        fund = await create_fund(db, name="Growth Fund I")
        investor = await create_investor(db, name="Acme Pension")

        # When the investor commits
        payload = await _commit(client, gid(fund), gid(investor), "250000.50", "2024-02-29")

        # Then the payload shows the commitment, and totals that already include it
        assert payload["errors"] == []
        investment = payload["investment"]
        assert investment["amountUsd"] == "250000.50"
        assert investment["investmentDate"] == "2024-02-29"
        assert investment["createdAt"].endswith("Z")
        assert investment["fund"] == {
            "id": gid(fund),
            "name": "Growth Fund I",
            "summary": {"committedUsd": "250000.50", "investmentCount": 1},
        }
        assert investment["investor"] == {
            "id": gid(investor),
            "name": "Acme Pension",
            "totalCommittedUsd": "250000.50",
        }

    async def test_accepts_commitments_to_an_investing_fund(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db, status=FundStatus.INVESTING)
        investor = await create_investor(db)

        payload = await _commit(client, gid(fund), gid(investor))

        assert payload["errors"] == []

    async def test_lets_one_investor_commit_to_the_same_fund_repeatedly(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)

        first = await _commit(client, gid(fund), gid(investor), "10.00")
        second = await _commit(client, gid(fund), gid(investor), "10.00")

        assert first["errors"] == second["errors"] == []
        assert first["investment"]["id"] != second["investment"]["id"]
        state = await _state(client, fund, investor)
        assert state["investor"]["totalCommittedUsd"] == "20.00"


class TestAmount:
    @pytest.mark.parametrize(
        ("amount", "shown"),
        [
            ("0.01", "0.01"),
            ("1.5", "1.50"),
            ("42", "42.00"),
            (42, "42.00"),
            ("1.000", "1.00"),
            ("1000000000000000", "1000000000000000.00"),
        ],
        ids=["one-cent", "one-decimal", "whole-string", "json-integer", "trailing-zeros", "1e15"],
    )
    async def test_accepts_a_positive_amount_of_whole_cents(
        self, client: httpx.AsyncClient, db: Database, amount: Any, shown: str
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)

        payload = await _commit(client, gid(fund), gid(investor), amount)

        assert payload["errors"] == []
        assert payload["investment"]["amountUsd"] == shown

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            ("0", "Amount must be greater than 0."),
            ("0.00", "Amount must be greater than 0."),
            ("-0.01", "Amount must be greater than 0."),
            ("-100", "Amount must be greater than 0."),
            ("1.005", "Amount must have at most 2 decimal places."),
            ("0.001", "Amount must have at most 2 decimal places."),
            ("1000000000000000.01", "Amount must be at most 1,000,000,000,000,000."),
            ("999999999999999999999999999999.99", "Amount must be at most 1,000,000,000,000,000."),
        ],
        ids=[
            "zero",
            "zero-cents",
            "minus-one-cent",
            "negative",
            "three-decimals",
            "tenth-of-a-cent",
            "just-over-1e15",
            "thirty-digits",
        ],
    )
    async def test_refuses_an_amount_that_is_not_a_positive_amount_of_whole_cents(
        self, client: httpx.AsyncClient, db: Database, amount: str, message: str
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)

        payload = await _commit(client, gid(fund), gid(investor), amount)

        assert payload["errors"] == [
            {"code": "VALIDATION", "message": message, "field": ["input", "amountUsd"]}
        ]
        assert await _investment_count(client) == 0


class TestInvestmentDate:
    async def test_accepts_exactly_one_year_ahead(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)
        latest = _latest_date().isoformat()

        payload = await _commit(client, gid(fund), gid(investor), investment_date=latest)

        assert payload["errors"] == []
        assert payload["investment"]["investmentDate"] == latest

    async def test_refuses_one_day_more_and_names_the_last_allowed_date(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)
        latest = _latest_date()
        too_late = (latest + timedelta(days=1)).isoformat()

        payload = await _commit(client, gid(fund), gid(investor), investment_date=too_late)

        assert payload["investment"] is None
        [error] = payload["errors"]
        assert error["code"] == "VALIDATION"
        assert error["field"] == ["input", "investmentDate"]
        assert latest.isoformat() in error["message"]
        assert await _investment_count(client) == 0

    @pytest.mark.parametrize("investment_date", ["1900-01-01", "0001-01-01", "today"])
    async def test_accepts_today_and_the_far_past(
        self, client: httpx.AsyncClient, db: Database, investment_date: str
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)
        if investment_date == "today":
            investment_date = datetime.now(UTC).date().isoformat()

        payload = await _commit(client, gid(fund), gid(investor), investment_date=investment_date)

        assert payload["errors"] == []
        assert payload["investment"]["investmentDate"] == investment_date

    @pytest.mark.parametrize(
        "investment_date", ["2024-02-30", "2024-13-01", "24-01-01", "2024-01-01T00:00:00Z"]
    )
    async def test_refuses_what_is_not_a_calendar_date_before_executing(
        self, client: httpx.AsyncClient, db: Database, investment_date: str
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)
        variables = {
            "input": {
                "fundId": gid(fund),
                "investorId": gid(investor),
                "amountUsd": "1.00",
                "investmentDate": investment_date,
            }
        }

        body = await execute(client, CREATE_INVESTMENT, variables)

        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert await _investment_count(client) == 0


class TestHardCap:
    async def _capped_fund_with(
        self, db: Database, committed: str, cap: str = "1000.00"
    ) -> tuple[Fund, Investor]:
        fund = await create_fund(db, target_size_usd=Decimal("500.00"), hard_cap_usd=Decimal(cap))
        investor = await create_investor(db)
        await create_investment(db, fund, investor, amount_usd=Decimal(committed))
        return fund, investor

    async def test_accepts_a_commitment_that_lands_exactly_on_the_cap(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund with 600.00 of its 1,000.00 cap committed
        fund, investor = await self._capped_fund_with(db, "600.00")

        # When exactly the remaining 400.00 is committed
        payload = await _commit(client, gid(fund), gid(investor), "400.00")

        # Then it is accepted and the fund is full
        assert payload["errors"] == []
        state = await _state(client, fund, investor)
        assert state["fund"]["summary"] == {
            "committedUsd": "1000.00",
            "investmentCount": 2,
            "remainingToHardCapUsd": "0.00",
        }

    async def test_refuses_one_cent_more_and_says_how_much_remains(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await self._capped_fund_with(db, "600.00")

        payload = await _commit(client, gid(fund), gid(investor), "400.01")

        assert payload["investment"] is None
        [error] = payload["errors"]
        assert error["code"] == "HARD_CAP_EXCEEDED"
        assert error["field"] == ["input", "amountUsd"]
        assert "400.01" in error["message"]
        assert "400.00 remains" in error["message"]

    async def test_persists_nothing_when_the_cap_refuses(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund with 600.00 of its 1,000.00 cap committed
        fund, investor = await self._capped_fund_with(db, "600.00")
        before = await _state(client, fund, investor)

        # When a commitment over the cap is refused
        refused = await _commit(client, gid(fund), gid(investor), "400.01")

        # Then totals, rows and the fund's running total are unchanged
        assert [e["code"] for e in refused["errors"]] == ["HARD_CAP_EXCEEDED"]
        assert await _state(client, fund, investor) == before
        assert before["investments"]["totalCount"] == 1
        assert await _stored_committed_total(db, fund) == Decimal("600.00")
        # and the exact remainder still fits
        fits = await _commit(client, gid(fund), gid(investor), "400.00")
        assert fits["errors"] == []

    async def test_refuses_even_one_cent_once_the_fund_is_full(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await self._capped_fund_with(db, "1000.00")

        payload = await _commit(client, gid(fund), gid(investor), "0.01")

        [error] = payload["errors"]
        assert error["code"] == "HARD_CAP_EXCEEDED"
        assert "0.00 remains" in error["message"]

    async def test_fills_the_cap_with_many_cent_sized_steps(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await self._capped_fund_with(db, "999.97", cap="1000.00")

        accepted = [await _commit(client, gid(fund), gid(investor), "0.01") for _ in range(3)]
        refused = await _commit(client, gid(fund), gid(investor), "0.01")

        assert [p["errors"] for p in accepted] == [[], [], []]
        assert [e["code"] for e in refused["errors"]] == ["HARD_CAP_EXCEEDED"]
        state = await _state(client, fund, investor)
        assert state["fund"]["summary"]["committedUsd"] == "1000.00"

    async def test_a_fund_without_cap_accepts_up_to_the_largest_fund_size(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund without a hard cap, already past its target
        fund = await create_fund(db, target_size_usd=Decimal("100.00"), hard_cap_usd=None)
        investor = await create_investor(db, investor_type=InvestorType.INDIVIDUAL)

        # When commitments far past the target add up to exactly 10^15
        first = await _commit(client, gid(fund), gid(investor), "600000000000000.00")
        second = await _commit(client, gid(fund), gid(investor), "400000000000000.00")

        # Then both are accepted and the totals are exact
        assert first["errors"] == second["errors"] == []
        state = await _state(client, fund, investor)
        assert state["fund"]["summary"]["committedUsd"] == "1000000000000000.00"
        assert state["fund"]["summary"]["remainingToHardCapUsd"] is None
        assert state["investor"]["totalCommittedUsd"] == "1000000000000000.00"

    async def test_counts_commitments_to_other_funds_separately(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a full fund, and another fund with room
        full, investor = await self._capped_fund_with(db, "1000.00")
        other = await create_fund(
            db, target_size_usd=Decimal("500.00"), hard_cap_usd=Decimal("1000.00")
        )

        # When the investor commits to the other fund, then the full one does not get in the way
        payload = await _commit(client, gid(other), gid(investor), "1000.00")

        assert payload["errors"] == []
        assert await _stored_committed_total(db, full) == Decimal("1000.00")
        assert await _stored_committed_total(db, other) == Decimal("1000.00")
