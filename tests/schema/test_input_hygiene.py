"""Awkward input that once caused trouble: each case gets a clean, coded answer."""

from __future__ import annotations

import uuid
from base64 import b64encode
from decimal import Decimal

import httpx
import pytest

from graphql_api.db.session import Database
from tests.factories import create_fund, gid
from tests.graphql import data_of, error_codes, execute

FUNDS_NAMED = """
query Named($filter: FundFilter) { funds(filter: $filter) { totalCount nodes { name } } }
"""
FUND = "query One($id: ID!) { fund(id: $id) { id name } }"
CREATE_WITH_LITERAL = """
mutation {
  createFund(input: {name: "x", vintageYear: 2020, targetSizeUsd: %s}) { errors { code } }
}
"""
CREATE = """
mutation Create($input: CreateFundInput!) {
  createFund(input: $input) { fund { name targetSizeUsd } errors { code message field } }
}
"""
UPDATE = """
mutation Update($input: UpdateFundInput!) {
  updateFund(input: $input) { fund { targetSizeUsd } errors { code message field } }
}
"""


class TestTextFilters:
    @pytest.mark.parametrize("operator", ["contains", "eq", "startsWith"])
    async def test_refuse_a_nul_character_as_bad_input(
        self, client: httpx.AsyncClient, operator: str
    ) -> None:
        body = await execute(client, FUNDS_NAMED, {"filter": {"name": {operator: "a\x00b"}}})

        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "NUL" in body["errors"][0]["message"]

    async def test_refuse_a_nul_character_in_a_list(self, client: httpx.AsyncClient) -> None:
        body = await execute(client, FUNDS_NAMED, {"filter": {"name": {"in": ["ok", "\x00"]}}})

        assert error_codes(body) == ["BAD_USER_INPUT"]

    async def test_contains_ignores_letter_case_beyond_ascii_on_both_back_ends(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_fund(db, name="Éclair Growth")
        await create_fund(db, name="Straße Capital")

        found = await data_of(client, FUNDS_NAMED, {"filter": {"name": {"contains": "éCLAIR"}}})
        street = await data_of(client, FUNDS_NAMED, {"filter": {"name": {"startsWith": "STRASSE"}}})
        upper = await data_of(client, FUNDS_NAMED, {"filter": {"name": {"contains": "STRAßE"}}})

        assert [f["name"] for f in found["funds"]["nodes"]] == ["Éclair Growth"]
        assert street["funds"]["totalCount"] == 0  # case folding, not transliteration
        assert [f["name"] for f in upper["funds"]["nodes"]] == ["Straße Capital"]


class TestLiteralValues:
    @pytest.mark.parametrize("literal", ["5.5", "true", '"1e3"', '"abc"', "9" * 5000])
    async def test_a_bad_decimal_literal_is_a_validation_error_not_an_internal_one(
        self, client: httpx.AsyncClient, literal: str
    ) -> None:
        body = await execute(client, CREATE_WITH_LITERAL % literal)

        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Decimal" in body["errors"][0]["message"] or "digits" in body["errors"][0]["message"]


class TestDecimalDigits:
    @pytest.mark.parametrize("amount", ["\u0665", "\uff11\uff12", "1.\u0665"])
    async def test_only_ascii_digits_make_an_amount(
        self, client: httpx.AsyncClient, amount: str
    ) -> None:
        variables = {"input": {"name": "F", "vintageYear": 2020, "targetSizeUsd": amount}}
        body = await execute(client, CREATE, variables)

        assert error_codes(body) == ["BAD_USER_INPUT"]


class TestGlobalIds:
    async def test_only_the_canonical_form_finds_the_record(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        variants = [
            f"Fund:{fund.id.hex}",
            f"Fund:{str(fund.id).upper()}",
            f"Fund:{{{fund.id}}}",
            f"Fund:urn:uuid:{fund.id}",
        ]

        canonical = await data_of(client, FUND, {"id": gid(fund)})
        others = [
            await data_of(client, FUND, {"id": b64encode(v.encode()).decode()}) for v in variants
        ]

        assert canonical["fund"]["id"] == gid(fund)
        assert all(other["fund"] is None for other in others)
        assert str(uuid.UUID(str(fund.id))) == str(fund.id)


class TestNames:
    @pytest.mark.parametrize("name", ["\u200b", "\ufeff\u200e", "\u2800", "\u3164", " \u0301 "])
    async def test_a_name_of_invisible_characters_is_blank(
        self, client: httpx.AsyncClient, name: str
    ) -> None:
        variables = {"input": {"name": name, "vintageYear": 2020, "targetSizeUsd": "10"}}
        payload = (await data_of(client, CREATE, variables))["createFund"]

        assert payload["errors"] == [
            {"code": "VALIDATION", "message": "Name must not be blank.", "field": ["input", "name"]}
        ]

    async def test_a_name_with_letters_and_marks_is_kept_exactly(
        self, client: httpx.AsyncClient
    ) -> None:
        name = "Cafe\u0301 \u05e7\u05e8\u05df 🚀"
        variables = {"input": {"name": name, "vintageYear": 2020, "targetSizeUsd": "10"}}
        payload = (await data_of(client, CREATE, variables))["createFund"]

        assert payload["fund"]["name"] == name


class TestTargetAboveExistingCap:
    async def test_blames_the_target_the_client_sent(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db, target_size_usd=Decimal(100), hard_cap_usd=Decimal(150))

        payload = (
            await data_of(client, UPDATE, {"input": {"id": gid(fund), "targetSizeUsd": "200"}})
        )["updateFund"]

        assert payload["errors"] == [
            {
                "code": "VALIDATION",
                "message": "Target size must not exceed the fund's hard cap of 150.00.",
                "field": ["input", "targetSizeUsd"],
            }
        ]
