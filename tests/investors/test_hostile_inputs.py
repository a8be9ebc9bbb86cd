"""Hostile input on every investor input path: a clear outcome, never a leak of internals."""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investor, gid
from tests.graphql import error_codes, execute, without_cost

CREATE_INVESTOR = """
mutation CreateInvestor($input: CreateInvestorInput!) {
  createInvestor(input: $input) {
    investor { id name email }
    errors { code message field }
  }
}
"""

UPDATE_INVESTOR = """
mutation UpdateInvestor($input: UpdateInvestorInput!) {
  updateInvestor(input: $input) {
    investor { id name email }
    errors { code message field }
  }
}
"""

INVESTOR = """
query Investor($id: ID!) { investor(id: $id) { id name } }
"""

INVESTORS = """
query Investors($filter: InvestorFilter, $after: String) {
  investors(filter: $filter, after: $after) { totalCount nodes { name } }
}
"""

LEAK_MARKERS = ("traceback", "sqlalchemy", "asyncpg", "sqlite", "internal_server_error")
HUGE = "x" * 100_000
SQL_NAME = "Robert'); DROP TABLE investors; --"
UNICODE_NAME = "名前 Ünïcødé 🚀 \u202eevil\u202c Ελληνικά"

HOSTILE_IDS = {
    "100k-characters": HUGE,
    "garbage": "definitely-not-an-id",
    "base64-of-garbage": b64encode(b"\xff\xfe\x00garbage").decode(),
    "base64-of-sql": b64encode(b"Investor:' OR 1=1 --").decode(),
    "sql": "' OR 1=1 --",
    "nul": "\x00",
    "emoji": "🚀",
    "not-encoded": f"Investor:{uuid.UUID(int=9)}",
    "missing": to_global_id("Investor", uuid.UUID(int=9)),
    "empty": "",
}


def _assert_no_leak(body: dict[str, Any]) -> None:
    text = json.dumps(body).lower()
    leaked = [marker for marker in LEAK_MARKERS if marker in text]
    assert not leaked, body


async def _count(client: httpx.AsyncClient) -> int:
    body = await execute(client, INVESTORS)
    return int(body["data"]["investors"]["totalCount"])


def _create_input(**overrides: Any) -> dict[str, Any]:
    return {"name": "Acme", "investorType": "INSTITUTION", "email": "acme@example.com"} | overrides


class TestHostileCreateInvestor:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", HUGE),
            ("name", "\x00" * 10),
            ("name", "Acme\x00'; DROP TABLE investors; --"),
            ("email", HUGE + "@example.com"),
            ("email", "acme@example.com\x00"),
            ("email", "'; DROP TABLE investors; --@example.com"),
            ("email", "acme@example.com' OR '1'='1"),
            ("email", "🚀"),
        ],
        ids=[
            "100k-name",
            "nul-name",
            "nul-and-sql-name",
            "100k-email",
            "nul-email",
            "sql-email-with-spaces",
            "sql-after-email",
            "emoji-email",
        ],
    )
    async def test_refuses_the_field_and_creates_nothing(
        self, client: httpx.AsyncClient, field: str, value: str
    ) -> None:
        body = await execute(client, CREATE_INVESTOR, {"input": _create_input(**{field: value})})

        _assert_no_leak(body)
        payload = body["data"]["createInvestor"]
        assert payload["investor"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("VALIDATION", ["input", field])
        ]
        assert await _count(client) == 0

    @pytest.mark.parametrize(
        ("name", "email", "stored_email"),
        [
            (SQL_NAME, "admin'--@example.com", "admin'--@example.com"),
            (UNICODE_NAME, "用户@example.com", "用户@example.com"),
            ("%_\\'\"`;", "percent%sign@example.com", "percent%sign@example.com"),
        ],
        ids=["sql-looking", "unicode", "wildcards-and-quotes"],
    )
    async def test_stores_odd_but_valid_text_verbatim(
        self, client: httpx.AsyncClient, name: str, email: str, stored_email: str
    ) -> None:
        body = await execute(
            client, CREATE_INVESTOR, {"input": _create_input(name=name, email=email)}
        )

        _assert_no_leak(body)
        payload = body["data"]["createInvestor"]
        assert payload["errors"] == []
        stored = await execute(client, INVESTOR, {"id": payload["investor"]["id"]})
        assert stored["data"]["investor"]["name"] == name
        assert payload["investor"]["email"] == stored_email
        assert await _count(client) == 1

    @pytest.mark.parametrize(
        "input_value",
        [
            _create_input(name=12),
            _create_input(name=["Acme"]),
            _create_input(email={"$ne": None}),
            _create_input(investorType="institution"),
            _create_input(investorType="INSTITUTION' OR 1=1"),
            _create_input(investorType=1),
            {"name": "Acme", "investorType": "INSTITUTION"},
            _create_input(extra="field"),
            _create_input(name=None),
        ],
        ids=[
            "number-name",
            "list-name",
            "object-email",
            "lower-case-type",
            "sql-type",
            "number-type",
            "missing-email",
            "unknown-field",
            "null-name",
        ],
    )
    async def test_refuses_ill_typed_input_before_executing(
        self, client: httpx.AsyncClient, input_value: dict[str, Any]
    ) -> None:
        body = await execute(client, CREATE_INVESTOR, {"input": input_value})

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert await _count(client) == 0


class TestHostileInvestorIds:
    @pytest.mark.parametrize("investor_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
    async def test_investor_query_answers_null(
        self, client: httpx.AsyncClient, db: Database, investor_id: str
    ) -> None:
        await create_investor(db)

        body = await execute(client, INVESTOR, {"id": investor_id})

        _assert_no_leak(body)
        assert without_cost(body) == {"data": {"investor": None}}

    @pytest.mark.parametrize("investor_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
    async def test_update_answers_not_found_and_changes_nothing(
        self, client: httpx.AsyncClient, db: Database, investor_id: str
    ) -> None:
        investor = await create_investor(db, name="Untouched")

        body = await execute(client, UPDATE_INVESTOR, {"input": {"id": investor_id, "name": "X"}})

        _assert_no_leak(body)
        payload = body["data"]["updateInvestor"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("NOT_FOUND", ["input", "id"])
        ]
        stored = await execute(client, INVESTOR, {"id": gid(investor)})
        assert stored["data"]["investor"]["name"] == "Untouched"

    async def test_another_types_id_names_no_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)
        await create_investor(db)

        query = await execute(client, INVESTOR, {"id": gid(fund)})
        update = await execute(client, UPDATE_INVESTOR, {"input": {"id": gid(fund), "name": "X"}})

        assert without_cost(query) == {"data": {"investor": None}}
        assert update["data"]["updateInvestor"]["errors"][0]["code"] == "NOT_FOUND"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", HUGE),
            ("name", "\x00"),
            ("email", HUGE),
            ("email", "x\x00@example.com"),
        ],
        ids=["100k-name", "nul-name", "100k-email", "nul-email"],
    )
    async def test_update_refuses_hostile_values_and_changes_nothing(
        self, client: httpx.AsyncClient, db: Database, field: str, value: str
    ) -> None:
        investor = await create_investor(db, name="Untouched", email="untouched@example.com")

        body = await execute(
            client, UPDATE_INVESTOR, {"input": {"id": gid(investor), field: value}}
        )

        _assert_no_leak(body)
        payload = body["data"]["updateInvestor"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("VALIDATION", ["input", field])
        ]
        stored = await execute(client, INVESTOR, {"id": gid(investor)})
        assert stored["data"]["investor"]["name"] == "Untouched"


class TestHostileInvestorFilters:
    @pytest.mark.parametrize(
        "filter_value",
        [
            {"name": {"contains": "' OR 1=1 --"}},
            {"name": {"startsWith": "%"}},
            {"email": {"eq": "' OR ''='"}},
            {"name": {"in": ["a", "' OR 1=1 --", "🚀"]}},
        ],
        ids=["sql-contains", "wildcard-starts-with", "sql-eq", "sql-in"],
    )
    async def test_sql_looking_text_matches_literally(
        self, client: httpx.AsyncClient, db: Database, filter_value: dict[str, Any]
    ) -> None:
        await create_investor(db, name="Acme", email="acme@example.com")

        body = await execute(client, INVESTORS, {"filter": filter_value})

        _assert_no_leak(body)
        assert body["data"]["investors"] == {"totalCount": 0, "nodes": []}

    async def test_unicode_text_matches_ignoring_case(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investor(db, name=UNICODE_NAME)
        await create_investor(db, name="Plain")

        body = await execute(client, INVESTORS, {"filter": {"name": {"contains": "名前 Ü"}}})

        _assert_no_leak(body)
        assert body["data"]["investors"]["nodes"] == [{"name": UNICODE_NAME}]

    @pytest.mark.parametrize(
        ("variables", "argument"),
        [
            ({"filter": {"name": {"contains": HUGE}}}, "contains"),
            ({"filter": {"email": {"eq": HUGE}}}, "eq"),
            ({"filter": {"name": {"in": [str(n) for n in range(101)]}}}, "in"),
            ({"filter": {"investorType": {"in": ["INDIVIDUAL"] * 101}}}, "in"),
            ({"after": "garbage"}, "after"),
            ({"after": HUGE}, "after"),
            ({"after": b64encode(b'["x",["\' OR 1=1 --"]]').decode()}, "after"),
        ],
        ids=[
            "100k-contains",
            "100k-eq",
            "101-names",
            "101-types",
            "garbage-cursor",
            "100k-cursor",
            "forged-cursor",
        ],
    )
    async def test_refuses_oversized_or_forged_arguments(
        self,
        client: httpx.AsyncClient,
        db: Database,
        variables: dict[str, Any],
        argument: str,
    ) -> None:
        await create_investor(db)

        body = await execute(client, INVESTORS, variables)

        _assert_no_leak(body)
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["extensions"]["argument"] == argument
