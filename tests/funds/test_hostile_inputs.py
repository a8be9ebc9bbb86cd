"""Hostile and malformed inputs on every fund input path: refused cleanly, or stored verbatim.

Every response is also checked for leaks: no traceback, SQL, driver name or
masked internal error ever reaches the client (see `tests.funds.support.send`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from graphql_api.schema.ids import to_global_id
from tests.funds.support import (
    CREATE_FUND,
    FUNDS,
    UPDATE_FUND,
    assert_no_leak,
    create_fund_payload,
    create_fund_via_api,
    fetch_fund,
    fund_count,
    fund_input,
    send,
    update_fund,
)
from tests.graphql import error_codes, without_cost

HUGE = 100_000
SQL_INJECTION = "'; DROP TABLE funds; --"

CREATE_FUND_LITERAL_TARGET = """
mutation {
  createFund(input: {name: "Literal", vintageYear: 2020, targetSizeUsd: %s}) {
    fund { targetSizeUsd }
    errors { code message field }
  }
}
"""

CREATE_FUND_LITERAL_VINTAGE_YEAR = """
mutation {
  createFund(input: {name: "Literal", vintageYear: %s, targetSizeUsd: "1000"}) {
    fund { vintageYear }
    errors { code message field }
  }
}
"""

FUND_BY_ID = """
query FundById($id: ID!) {
  fund(id: $id) { id name }
}
"""


def assert_refused_by_graphql(body: dict[str, Any], code: str = "BAD_USER_INPUT") -> None:
    """A top-level error with this code; nothing was executed."""
    assert error_codes(body) == [code], body
    assert body.get("data") is None, body


class TestHostileCreateFundInput:
    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("🚀 Growth Fund 👩‍👩‍👧‍👦", id="emoji-and-zwj-sequence"),
            pytest.param("صندوق النمو الأول", id="arabic-rtl"),
            pytest.param("קרן צמיחה", id="hebrew-rtl"),
            pytest.param("Fund \u202eevil\u202c name", id="bidi-override"),
            pytest.param("Z\u0351\u0352\u0353a\u0300\u0301\u0302lgo", id="combining-marks"),
            pytest.param("成長ファンド 一号", id="cjk"),
            pytest.param("\U0001d509\U0001d532\U0001d52b\U0001d521 \U0001d7d9", id="astral-plane"),
            pytest.param(SQL_INJECTION, id="sql-injection"),
            pytest.param("Robert'); DELETE FROM funds;--", id="sql-injection-2"),
            pytest.param("<script>alert(1)</script>", id="html"),
            pytest.param("{{7*7}} ${jndi:ldap://x} %s %n", id="template-and-format"),
            pytest.param("\\x00 \\u0000 not a real nul", id="escaped-nul-text"),
        ],
    )
    async def test_stores_unusual_but_valid_names_verbatim(
        self, client: httpx.AsyncClient, name: str
    ) -> None:
        # When a fund is created with an unusual but valid name
        fund = await create_fund_via_api(client, name=name)

        # Then it is stored and read back exactly as sent
        assert fund["name"] == name
        assert (await fetch_fund(client, fund["id"]) or {})["name"] == name

    async def test_leaves_the_table_intact_after_a_sql_looking_name(
        self, client: httpx.AsyncClient
    ) -> None:
        # Given a fund whose name looks like SQL
        await create_fund_via_api(client, name=SQL_INJECTION)

        # When another fund is created and the list is read
        await create_fund_via_api(client, name="Next fund")
        body = await send(client, FUNDS, {"filter": {"name": {"eq": SQL_INJECTION}}})

        # Then both exist and the SQL-looking one matches itself exactly
        assert await fund_count(client) == 2
        assert [f["name"] for f in body["data"]["funds"]["nodes"]] == [SQL_INJECTION]

    async def test_refuses_a_lone_surrogate_as_malformed_json(
        self, client: httpx.AsyncClient
    ) -> None:
        # Given a request body whose name is an unpaired UTF-16 surrogate escape
        body = json.dumps({"query": CREATE_FUND, "variables": {"input": fund_input(name="?")}})
        body = body.replace('"name": "?"', '"name": "\\ud800"')

        # When it is posted
        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )

        # Then the request is refused as malformed, without leaking anything
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert_no_leak(response.json())
        assert await fund_count(client) == 0

    async def test_accepts_a_name_of_255_emoji(self, client: httpx.AsyncClient) -> None:
        fund = await create_fund_via_api(client, name="🚀" * 255)

        assert fund["name"] == "🚀" * 255

    async def test_refuses_a_100k_character_name_with_its_length(
        self, client: httpx.AsyncClient
    ) -> None:
        payload = await create_fund_payload(client, **fund_input(name="n" * HUGE))

        assert payload == {
            "fund": None,
            "errors": [
                {
                    "code": "VALIDATION",
                    "message": f"Name must be at most 255 characters (got {HUGE}).",
                    "field": ["input", "name"],
                }
            ],
        }

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("Fund\x00One", id="nul-inside"),
            pytest.param("\x00", id="only-nul"),
            pytest.param("Fund One\x00", id="trailing-nul"),
            pytest.param("Fund\x1bOne", id="escape"),
            pytest.param("Fund\tOne", id="tab-inside"),
        ],
    )
    async def test_refuses_control_characters_in_the_name(
        self, client: httpx.AsyncClient, name: str
    ) -> None:
        payload = await create_fund_payload(client, **fund_input(name=name))

        assert payload == {
            "fund": None,
            "errors": [
                {
                    "code": "VALIDATION",
                    "message": "Name must not contain control characters.",
                    "field": ["input", "name"],
                }
            ],
        }
        assert await fund_count(client) == 0

    @pytest.mark.parametrize(
        "amount",
        [
            pytest.param(5.5, id="float"),
            pytest.param(5.0, id="integral-float"),
            pytest.param(1e40, id="huge-float"),
            pytest.param(True, id="boolean"),
            pytest.param("1e3", id="exponent"),
            pytest.param("NaN", id="nan"),
            pytest.param("Infinity", id="infinity"),
            pytest.param("-Infinity", id="minus-infinity"),
            pytest.param("", id="empty"),
            pytest.param("   ", id="blank"),
            pytest.param("1,000.00", id="thousands-separator"),
            pytest.param("$1000", id="currency-sign"),
            pytest.param("0x10", id="hex"),
            pytest.param(".5", id="no-integer-part"),
            pytest.param("5.", id="no-fraction-digits"),
            pytest.param("5\x00", id="nul-byte"),
            pytest.param("1" * 31, id="31-digits"),
            pytest.param("1" * 1_000, id="1000-digits"),
            pytest.param("9" * HUGE, id="100k-digits"),
            pytest.param("0." + "0" * 40 + "1", id="40-decimals"),
            pytest.param(SQL_INJECTION, id="sql-injection"),
            pytest.param([], id="list"),
            pytest.param({"amount": "5"}, id="object"),
        ],
    )
    @pytest.mark.parametrize("field", ["targetSizeUsd", "hardCapUsd"])
    async def test_refuses_a_money_value_that_is_not_a_decimal_string(
        self, client: httpx.AsyncClient, field: str, amount: object
    ) -> None:
        # When a money field is sent as something other than an exact decimal string
        body = await send(client, CREATE_FUND, {"input": fund_input(**{field: amount})})

        # Then GraphQL refuses the variables, and nothing was created
        assert_refused_by_graphql(body)
        assert await fund_count(client) == 0

    @pytest.mark.parametrize(
        "amount",
        [
            pytest.param("9" * 30, id="30-digits"),
            pytest.param(10**18, id="integer-above-10^15"),
        ],
    )
    async def test_refuses_a_long_but_well_formed_amount_as_too_large(
        self, client: httpx.AsyncClient, amount: object
    ) -> None:
        payload = await create_fund_payload(client, **fund_input(targetSizeUsd=amount))

        assert payload == {
            "fund": None,
            "errors": [
                {
                    "code": "VALIDATION",
                    "message": "Target size must be at most 1,000,000,000,000,000.",
                    "field": ["input", "targetSizeUsd"],
                }
            ],
        }

    @pytest.mark.parametrize(
        ("literal", "returned"),
        [pytest.param("5", "5.00", id="integer"), pytest.param('"5.1"', "5.10", id="string")],
    )
    async def test_accepts_a_money_literal_that_is_a_decimal(
        self, client: httpx.AsyncClient, literal: str, returned: str
    ) -> None:
        body = await send(client, CREATE_FUND_LITERAL_TARGET % literal)

        assert body["data"]["createFund"] == {"fund": {"targetSizeUsd": returned}, "errors": []}

    async def test_refuses_a_40_digit_integer_literal_as_too_large(
        self, client: httpx.AsyncClient
    ) -> None:
        body = await send(client, CREATE_FUND_LITERAL_TARGET % ("9" * 40))

        assert [e["code"] for e in body["data"]["createFund"]["errors"]] == ["VALIDATION"]

    @pytest.mark.parametrize(
        "year",
        [
            pytest.param(2**31, id="int32-max-plus-one"),
            pytest.param(-(2**31) - 1, id="int32-min-minus-one"),
            pytest.param(2**53, id="2^53"),
            pytest.param(10**20, id="above-64-bits"),
            pytest.param(2020.5, id="fraction"),
            pytest.param("2020", id="string"),
            pytest.param(True, id="boolean"),
            pytest.param(None, id="null"),
            pytest.param([2020], id="list"),
        ],
    )
    async def test_refuses_a_vintage_year_that_is_not_a_32_bit_integer(
        self, client: httpx.AsyncClient, year: object
    ) -> None:
        body = await send(client, CREATE_FUND, {"input": fund_input(vintageYear=year)})

        assert_refused_by_graphql(body)

    @pytest.mark.parametrize("literal", ["2147483648", "-2147483649", "9" * 40, "2020.5", '"2020"'])
    async def test_refuses_a_vintage_year_literal_that_is_not_a_32_bit_integer(
        self, client: httpx.AsyncClient, literal: str
    ) -> None:
        body = await send(client, CREATE_FUND_LITERAL_VINTAGE_YEAR % literal)

        assert_refused_by_graphql(body, "GRAPHQL_VALIDATION_FAILED")

    @pytest.mark.parametrize("year", [2**31 - 1, -(2**31)])
    async def test_refuses_a_32_bit_vintage_year_outside_the_rule_as_a_user_error(
        self, client: httpx.AsyncClient, year: int
    ) -> None:
        payload = await create_fund_payload(client, **fund_input(vintageYear=year))

        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("VALIDATION", ["input", "vintageYear"])
        ]

    @pytest.mark.parametrize(
        "input",
        [
            pytest.param(fund_input(name=123), id="name-number"),
            pytest.param(fund_input(name=True), id="name-boolean"),
            pytest.param(fund_input(name=["Fund"]), id="name-list"),
            pytest.param(fund_input(name={"text": "Fund"}), id="name-object"),
            pytest.param(fund_input(name=None), id="name-null"),
            pytest.param(fund_input(status="OPEN"), id="status-unknown"),
            pytest.param(fund_input(status="fundraising"), id="status-lower-case"),
            pytest.param(fund_input(status=SQL_INJECTION), id="status-sql"),
            pytest.param(fund_input(status=1), id="status-number"),
            pytest.param(fund_input(status=None), id="status-null"),
            pytest.param(fund_input(targetSizeUsd=None), id="target-null"),
            pytest.param(fund_input(bogus="x"), id="unknown-field"),
            pytest.param({"name": "No year", "targetSizeUsd": "5"}, id="missing-field"),
            pytest.param(None, id="input-null"),
            pytest.param("createFund", id="input-string"),
        ],
    )
    async def test_refuses_values_of_the_wrong_type(
        self, client: httpx.AsyncClient, input: object
    ) -> None:
        body = await send(client, CREATE_FUND, {"input": input})

        assert_refused_by_graphql(body)
        assert await fund_count(client) == 0


class TestHostileUpdateFundInput:
    @pytest.mark.parametrize(
        "fund_id",
        [
            pytest.param("F" * HUGE, id="100k-characters"),
            pytest.param("\x00", id="nul-byte"),
            pytest.param(to_global_id("Fund", uuid.uuid4()) + "\x00", id="nul-after-a-valid-id"),
            pytest.param(SQL_INJECTION, id="sql-injection"),
            pytest.param("' OR '1'='1", id="sql-tautology"),
            pytest.param("🚀", id="emoji"),
            pytest.param(123, id="integer"),
        ],
    )
    async def test_answers_not_found_for_a_hostile_id(
        self, client: httpx.AsyncClient, fund_id: object
    ) -> None:
        # Given a fund exists
        fund = await create_fund_via_api(client)

        # When a hostile ID is updated
        payload = await update_fund(client, id=fund_id, name="Hijacked")

        # Then no fund is found, and the real one is untouched
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("NOT_FOUND", ["input", "id"])
        ]
        assert await fetch_fund(client, fund["id"]) == fund

    async def test_stores_a_sql_looking_name_verbatim(self, client: httpx.AsyncClient) -> None:
        fund = await create_fund_via_api(client)

        payload = await update_fund(client, id=fund["id"], name=SQL_INJECTION)

        assert payload["fund"]["name"] == SQL_INJECTION
        assert await fund_count(client) == 1

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            pytest.param(
                "n" * HUGE, f"Name must be at most 255 characters (got {HUGE}).", id="100k"
            ),
            pytest.param("a\x00b", "Name must not contain control characters.", id="nul-byte"),
        ],
    )
    async def test_refuses_a_hostile_name(
        self, client: httpx.AsyncClient, name: str, message: str
    ) -> None:
        fund = await create_fund_via_api(client)

        payload = await update_fund(client, id=fund["id"], name=name)

        assert payload == {
            "fund": None,
            "errors": [{"code": "VALIDATION", "message": message, "field": ["input", "name"]}],
        }
        assert await fetch_fund(client, fund["id"]) == fund

    @pytest.mark.parametrize(
        "changes",
        [
            pytest.param({"targetSizeUsd": 5.5}, id="float-target"),
            pytest.param({"hardCapUsd": 5000000.0}, id="float-cap"),
            pytest.param({"targetSizeUsd": "9" * HUGE}, id="100k-digit-target"),
            pytest.param({"vintageYear": 2**31}, id="vintage-beyond-32-bits"),
            pytest.param({"expectedVersion": 2**31}, id="version-beyond-32-bits"),
            pytest.param({"expectedVersion": "1"}, id="version-string"),
            pytest.param({"status": "REOPENED"}, id="status-unknown"),
            pytest.param({"name": 42}, id="name-number"),
            pytest.param({"id": None}, id="id-null"),
            pytest.param({"id": ["a", "b"]}, id="id-list"),
        ],
    )
    async def test_refuses_values_of_the_wrong_type(
        self, client: httpx.AsyncClient, changes: dict[str, Any]
    ) -> None:
        fund = await create_fund_via_api(client)

        body = await send(client, UPDATE_FUND, {"input": {"id": fund["id"]} | changes})

        assert_refused_by_graphql(body)
        assert await fetch_fund(client, fund["id"]) == fund

    @pytest.mark.parametrize("version", [0, -1, 2**31 - 1])
    async def test_answers_a_version_conflict_for_an_impossible_expected_version(
        self, client: httpx.AsyncClient, version: int
    ) -> None:
        fund = await create_fund_via_api(client)

        payload = await update_fund(client, id=fund["id"], expectedVersion=version, name="X")

        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("VERSION_CONFLICT", ["input", "expectedVersion"])
        ]


class TestHostileFundQueries:
    @pytest.mark.parametrize(
        "fund_id",
        [
            pytest.param("F" * HUGE, id="100k-characters"),
            pytest.param("\x00", id="nul-byte"),
            pytest.param(SQL_INJECTION, id="sql-injection"),
            pytest.param("🚀" * 1_000, id="emoji"),
            pytest.param(" " * 200, id="spaces"),
        ],
    )
    async def test_fund_answers_null_for_a_hostile_id(
        self, client: httpx.AsyncClient, fund_id: str
    ) -> None:
        await create_fund_via_api(client)

        body = await send(client, FUND_BY_ID, {"id": fund_id})

        assert without_cost(body) == {"data": {"fund": None}}

    @pytest.mark.parametrize(
        "variables",
        [
            pytest.param({"filter": {"name": {"contains": "n" * HUGE}}}, id="100k-contains"),
            pytest.param({"filter": {"name": {"eq": "n" * 256}}}, id="256-eq"),
            pytest.param({"filter": {"targetSizeUsd": {"gte": 5.5}}}, id="float-amount"),
            pytest.param({"filter": {"targetSizeUsd": {"gte": "1.001"}}}, id="sub-cent-amount"),
            pytest.param(
                {"filter": {"targetSizeUsd": {"gte": "9" * 25}}}, id="amount-beyond-storage"
            ),
            pytest.param({"filter": {"vintageYear": {"gte": 2**31}}}, id="year-beyond-32-bits"),
            pytest.param({"filter": {"status": {"in": ["OPEN"]}}}, id="unknown-status"),
            pytest.param({"filter": {"status": {"in": ["CLOSED"] * 101}}}, id="101-statuses"),
            pytest.param({"after": "x" * HUGE}, id="100k-cursor"),
            pytest.param({"after": SQL_INJECTION}, id="sql-cursor"),
            pytest.param({"first": -1}, id="negative-page-size"),
            pytest.param({"first": 2**31}, id="page-size-beyond-32-bits"),
        ],
    )
    async def test_funds_refuses_hostile_arguments_with_a_top_level_error(
        self, client: httpx.AsyncClient, variables: dict[str, Any]
    ) -> None:
        await create_fund_via_api(client)

        body = await send(client, FUNDS, variables)

        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["data"] is None

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param(SQL_INJECTION, id="sql-injection"),
            pytest.param("' OR '1'='1", id="sql-tautology"),
            pytest.param("%", id="percent"),
            pytest.param("_", id="underscore"),
            pytest.param("\\", id="backslash"),
            pytest.param("/", id="slash"),
            pytest.param("🚀", id="emoji"),
        ],
    )
    async def test_funds_treats_filter_text_as_plain_text(
        self, client: httpx.AsyncClient, text: str
    ) -> None:
        # Given a fund whose name contains none of the special characters
        await create_fund_via_api(client, name="Plain Fund")

        # When the list is filtered by text containing them
        body = await send(client, FUNDS, {"filter": {"name": {"contains": text}}})

        # Then nothing matches (no wildcard, no injection) and nothing fails
        assert body["data"]["funds"]["nodes"] == []
        assert body["data"]["funds"]["totalCount"] == 0
