"""Hostile input on every investment input path: a clear outcome, never a leak of internals."""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import Fund, Investor
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import error_codes, execute, without_cost

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) {
    investment { id amountUsd }
    errors { code message field }
  }
}
"""

INVESTMENT = """
query Investment($id: ID!) { investment(id: $id) { id amountUsd } }
"""

INVESTMENTS = """
query Investments($filter: InvestmentFilter, $after: String) {
  investments(filter: $filter, after: $after) { totalCount nodes { amountUsd } }
}
"""

LEAK_MARKERS = ("traceback", "sqlalchemy", "asyncpg", "sqlite", "internal_server_error")
HUGE = "x" * 100_000

HOSTILE_IDS = {
    "100k-characters": HUGE,
    "garbage": "definitely-not-an-id",
    "base64-of-garbage": b64encode(b"\xff\xfe\x00garbage").decode(),
    "base64-of-sql": b64encode(b"Fund:' OR 1=1 --").decode(),
    "sql": "1' OR '1'='1",
    "nul": "\x00",
    "unicode": "ファンド🚀",
    "empty": "",
}

HOSTILE_AMOUNTS = {
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "exponent": "1e10",
    "double-minus": "--1",
    "thousands-separator": "1,000.00",
    "underscore": "1_000",
    "hex": "0x10",
    "currency-sign": "$100",
    "two-points": "1.2.3",
    "empty": "",
    "blank": "   ",
    "sql": "1; DROP TABLE investments; --",
    "100k-digits": "1" * 100_000,
    "nul": "1\x00",
    "json-float": 12.5,
    "json-float-whole": 100.0,
    "json-bool": True,
    "json-list": ["1.00"],
    "json-object": {"amount": "1.00"},
    "null": None,
}

HOSTILE_DATES = {
    "100k-characters": HUGE,
    "nul": "2024-01-01\x00",
    "sql": "2024-01-01'; DROP TABLE investments; --",
    "full-width-digits": "\uff12\uff10\uff12\uff14-01-01",
    "json-integer": 20240101,
    "json-float": 2024.0,
    "year-10000": "10000-01-01",
    "empty": "",
    "null": None,
}


def _assert_no_leak(body: dict[str, Any]) -> None:
    text = json.dumps(body).lower()
    leaked = [marker for marker in LEAK_MARKERS if marker in text]
    assert not leaked, body


async def _count(client: httpx.AsyncClient) -> int:
    body = await execute(client, INVESTMENTS)
    return int(body["data"]["investments"]["totalCount"])


async def _parties(db: Database) -> tuple[Fund, Investor]:
    return await create_fund(db), await create_investor(db)


def _input(fund: Fund, investor: Investor, **overrides: Any) -> dict[str, Any]:
    return {
        "fundId": gid(fund),
        "investorId": gid(investor),
        "amountUsd": "100.00",
        "investmentDate": "2024-01-15",
    } | overrides


class TestHostileInvestmentReferences:
    @pytest.mark.parametrize("fund_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
    async def test_a_hostile_fund_id_is_a_missing_fund(
        self, client: httpx.AsyncClient, db: Database, fund_id: str
    ) -> None:
        fund, investor = await _parties(db)

        body = await execute(
            client, CREATE_INVESTMENT, {"input": _input(fund, investor, fundId=fund_id)}
        )

        _assert_no_leak(body)
        payload = body["data"]["createInvestment"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("NOT_FOUND", ["input", "fundId"])
        ]
        assert await _count(client) == 0

    @pytest.mark.parametrize("investor_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
    async def test_a_hostile_investor_id_is_a_missing_investor(
        self, client: httpx.AsyncClient, db: Database, investor_id: str
    ) -> None:
        fund, investor = await _parties(db)

        body = await execute(
            client, CREATE_INVESTMENT, {"input": _input(fund, investor, investorId=investor_id)}
        )

        _assert_no_leak(body)
        payload = body["data"]["createInvestment"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("NOT_FOUND", ["input", "investorId"])
        ]
        assert await _count(client) == 0

    async def test_ids_of_other_types_name_nothing(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an existing commitment, whose fund, investor and own IDs are all well formed
        fund, investor = await _parties(db)
        investment = await create_investment(db, fund, investor)

        # When those IDs are passed in each other's places
        swapped = await execute(
            client,
            CREATE_INVESTMENT,
            {"input": _input(fund, investor, fundId=gid(investor), investorId=gid(fund))},
        )
        investment_as_investor = await execute(
            client, CREATE_INVESTMENT, {"input": _input(fund, investor, investorId=gid(investment))}
        )

        # Then each refers to nothing of the expected type
        assert [e["field"] for e in swapped["data"]["createInvestment"]["errors"]] == [
            ["input", "fundId"]
        ]
        assert [
            (e["code"], e["field"])
            for e in investment_as_investor["data"]["createInvestment"]["errors"]
        ] == [("NOT_FOUND", ["input", "investorId"])]
        assert await _count(client) == 1

    @pytest.mark.parametrize(
        "input_value",
        [
            {"fundId": 12.5},
            {"fundId": True},
            {"investorId": ["a", "b"]},
            {"fundId": None},
            {"investorId": {"$gt": ""}},
        ],
        ids=["float-id", "bool-id", "list-id", "null-id", "object-id"],
    )
    async def test_ill_typed_ids_are_refused_before_executing(
        self, client: httpx.AsyncClient, db: Database, input_value: dict[str, Any]
    ) -> None:
        fund, investor = await _parties(db)

        body = await execute(
            client, CREATE_INVESTMENT, {"input": _input(fund, investor, **input_value)}
        )

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert await _count(client) == 0


class TestHostileInvestmentValues:
    @pytest.mark.parametrize("amount", list(HOSTILE_AMOUNTS.values()), ids=list(HOSTILE_AMOUNTS))
    async def test_a_malformed_amount_is_refused_before_executing(
        self, client: httpx.AsyncClient, db: Database, amount: Any
    ) -> None:
        fund, investor = await _parties(db)

        body = await execute(
            client, CREATE_INVESTMENT, {"input": _input(fund, investor, amountUsd=amount)}
        )

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "amountUsd" in body["errors"][0]["message"]
        assert await _count(client) == 0

    @pytest.mark.parametrize(
        "investment_date", list(HOSTILE_DATES.values()), ids=list(HOSTILE_DATES)
    )
    async def test_a_malformed_date_is_refused_before_executing(
        self, client: httpx.AsyncClient, db: Database, investment_date: Any
    ) -> None:
        fund, investor = await _parties(db)

        body = await execute(
            client,
            CREATE_INVESTMENT,
            {"input": _input(fund, investor, investmentDate=investment_date)},
        )

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert await _count(client) == 0

    async def test_a_huge_but_well_formed_amount_is_a_validation_error(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await _parties(db)

        body = await execute(
            client,
            CREATE_INVESTMENT,
            {"input": _input(fund, investor, amountUsd="9" * 30 + ".99")},
        )

        _assert_no_leak(body)
        errors = body["data"]["createInvestment"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("VALIDATION", ["input", "amountUsd"])]
        assert await _count(client) == 0


class TestHostileInvestmentQueries:
    @pytest.mark.parametrize(
        "investment_id",
        [
            *HOSTILE_IDS.values(),
            f"Investment:{uuid.UUID(int=5)}",
            to_global_id("Investment", uuid.UUID(int=5)),
        ],
        ids=[*HOSTILE_IDS, "not-encoded", "missing"],
    )
    async def test_investment_query_answers_null(
        self, client: httpx.AsyncClient, db: Database, investment_id: str
    ) -> None:
        fund, investor = await _parties(db)
        await create_investment(db, fund, investor)

        body = await execute(client, INVESTMENT, {"id": investment_id})

        _assert_no_leak(body)
        assert without_cost(body) == {"data": {"investment": None}}

    @pytest.mark.parametrize(
        ("variables", "argument"),
        [
            ({"filter": {"fundId": {"eq": "garbage"}}}, "fundId"),
            ({"filter": {"fundId": {"eq": HUGE}}}, "fundId"),
            ({"filter": {"investorId": {"in": ["\x00"]}}}, "investorId"),
            ({"filter": {"investorId": {"in": ["garbage"] * 101}}}, "in"),
            ({"filter": {"amountUsd": {"eq": "1.005"}}}, "eq"),
            ({"filter": {"amountUsd": {"gte": "9" * 30}}}, "gte"),
            ({"after": "' OR 1=1 --"}, "after"),
            ({"after": HUGE}, "after"),
        ],
        ids=[
            "garbage-fund-id",
            "100k-fund-id",
            "nul-investor-id",
            "101-investor-ids",
            "three-decimals",
            "thirty-digits",
            "sql-cursor",
            "100k-cursor",
        ],
    )
    async def test_investments_refuse_unusable_arguments(
        self,
        client: httpx.AsyncClient,
        db: Database,
        variables: dict[str, Any],
        argument: str,
    ) -> None:
        fund, investor = await _parties(db)
        await create_investment(db, fund, investor)

        body = await execute(client, INVESTMENTS, variables)

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["extensions"]["argument"] == argument

    async def test_a_filter_on_another_types_id_is_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await _parties(db)
        await create_investment(db, fund, investor)

        body = await execute(client, INVESTMENTS, {"filter": {"fundId": {"eq": gid(investor)}}})

        _assert_no_leak(body)
        assert error_codes(body) == ["BAD_USER_INPUT"]

    @pytest.mark.parametrize(
        "amount",
        ["NaN", "1e3", 1.5, "--1"],
        ids=["nan", "exponent", "json-float", "double-minus"],
    )
    async def test_a_malformed_amount_filter_is_refused_before_executing(
        self, client: httpx.AsyncClient, db: Database, amount: Any
    ) -> None:
        fund, investor = await _parties(db)
        await create_investment(db, fund, investor, amount_usd=Decimal("5.00"))

        body = await execute(client, INVESTMENTS, {"filter": {"amountUsd": {"eq": amount}}})

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_ids_of_existing_records_in_a_filter_match_exactly(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund, investor = await _parties(db)
        other = await create_fund(db)
        await create_investment(db, fund, investor, amount_usd=Decimal("5.00"))
        await create_investment(db, other, investor, amount_usd=Decimal("6.00"))
        missing = to_global_id("Fund", uuid.uuid4())

        body = await execute(
            client, INVESTMENTS, {"filter": {"fundId": {"in": [gid(other), missing]}}}
        )

        _assert_no_leak(body)
        assert body["data"]["investments"] == {"totalCount": 1, "nodes": [{"amountUsd": "6.00"}]}
