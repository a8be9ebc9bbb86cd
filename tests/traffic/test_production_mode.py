"""APP_ENV=production: no introspection, no suggestions, no GraphiQL, nothing unexpected leaks."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from graphql_api.db.session import Database
from tests.conftest import make_settings
from tests.factories import create_fund
from tests.graphql import error_codes, execute
from tests.traffic.support import PRODUCTION, Apps

INTROSPECTION = [
    pytest.param("{ __schema { queryType { name } } }", id="__schema"),
    pytest.param('{ __type(name: "Fund") { fields { name } } }', id="__type"),
    pytest.param(
        "{ ...T } fragment T on Query { __schema { types { name } } }",
        id="in a fragment",
    ),
]

# Each document or variable is one letter off, so graphql-core would suggest the right name.
MISTAKES = [
    pytest.param("{ funds { nodes { nam } } }", None, id="field"),
    pytest.param("{ funds(frst: 2) { totalCount } }", None, id="argument"),
    pytest.param("{ ...F } fragment F on Qury { __typename }", None, id="type"),
    pytest.param(
        "{ funds(orderBy: [{ field: NAM }]) { totalCount } }", None, id="enum value literal"
    ),
    pytest.param(
        '{ funds(filter: { nam: { eq: "x" } }) { totalCount } }', None, id="input field literal"
    ),
    pytest.param(
        "query($f: FundFiltr) { funds(filter: $f) { totalCount } }", None, id="variable type"
    ),
    pytest.param(
        "query($f: FundFilter) { funds(filter: $f) { totalCount } }",
        {"f": {"nam": {"eq": "x"}}},
        id="input field variable",
    ),
    pytest.param(
        "query($s: FundStatus!) { funds(filter: { status: { eq: $s } }) { totalCount } }",
        {"s": "FUNDRAISNG"},
        id="enum value variable",
    ),
]


async def production(instances: Apps, **overrides: Any) -> httpx.AsyncClient:
    return await instances.client(await instances.start(**PRODUCTION, **overrides))


class TestIntrospection:
    @pytest.mark.parametrize("query", INTROSPECTION)
    async def test_is_refused(self, instances: Apps, query: str) -> None:
        error = (await execute(await production(instances), query))["errors"][0]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection has been disabled" in error["message"]

    async def test_typename_is_not_introspection(self, instances: Apps) -> None:
        body = await execute(await production(instances), "{ __typename }")
        assert body["data"] == {"__typename": "Query"}

    async def test_can_be_enabled(self, instances: Apps) -> None:
        http = await production(instances, introspection_enabled=True)
        body = await execute(http, "{ __schema { queryType { name } } }")
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}

    async def test_is_on_in_development(self, admin: httpx.AsyncClient) -> None:
        body = await execute(admin, "{ __schema { queryType { name } } }")
        assert "errors" not in body


class TestSuggestions:
    @pytest.mark.parametrize(("query", "variables"), MISTAKES)
    async def test_no_error_suggests_a_name(
        self, instances: Apps, query: str, variables: dict[str, Any] | None
    ) -> None:
        body = await execute(await production(instances), query, variables)
        [error] = body["errors"]
        assert error["extensions"]["code"] in ("GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT")
        assert "Did you mean" not in error["message"], error["message"]
        # the message still says what is wrong
        assert re.search(
            r"Unknown|Cannot query|not exist|not defined|unknown field", error["message"]
        )

    @pytest.mark.parametrize(("query", "variables"), MISTAKES)
    async def test_development_does_suggest(
        self, admin: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
    ) -> None:
        # (which shows the documents above really are one letter off)
        body = await execute(admin, query, variables)
        assert "Did you mean" in body["errors"][0]["message"]


class TestGraphiQL:
    async def test_is_not_served(self, instances: Apps) -> None:
        http = await production(instances)
        response = await http.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 404
        assert "<html" not in response.text.lower()
        assert error_codes(response.json()) == ["NOT_FOUND"]

    async def test_can_be_enabled(self, instances: Apps) -> None:
        http = await production(instances, graphiql_enabled=True)
        response = await http.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


class TestUnsafeSettings:
    def test_production_refuses_a_wildcard_cors_origin(self) -> None:
        with pytest.raises(ValueError, match="CORS_ORIGINS may not contain"):
            make_settings("sqlite+aiosqlite://", **PRODUCTION, cors_origins=["*"])

    def test_production_refuses_the_development_secret(self) -> None:
        with pytest.raises(ValueError, match="JWT_SECRET must be set"):
            make_settings("sqlite+aiosqlite://", app_env="production")


@asynccontextmanager
async def fund_with_unknown_status(db: Database) -> AsyncIterator[uuid.UUID]:
    """A fund whose status no release of this server knows (as if written by a newer one).

    The check constraint is lifted only while the row is written and put back after.
    """
    fund = await create_fund(db)
    async with db.engine.begin() as connection:
        if db.is_sqlite:
            await connection.execute(text("PRAGMA ignore_check_constraints = ON"))
            await connection.execute(
                text("UPDATE funds SET status = 'ARCHIVED' WHERE name = :name"), {"name": fund.name}
            )
            await connection.execute(text("PRAGMA ignore_check_constraints = OFF"))
            constraint = None
        else:
            constraint = (
                await connection.execute(
                    text(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = 'funds'::regclass AND contype = 'c' "
                        "AND pg_get_constraintdef(oid) LIKE '%status%'"
                    )
                )
            ).one()
            await connection.execute(text(f'ALTER TABLE funds DROP CONSTRAINT "{constraint[0]}"'))
            await connection.execute(
                text("UPDATE funds SET status = 'ARCHIVED' WHERE name = :name"), {"name": fund.name}
            )
    try:
        yield fund.id
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text("DELETE FROM funds WHERE status = 'ARCHIVED'"))
            if constraint is not None:
                await connection.execute(
                    text(f'ALTER TABLE funds ADD CONSTRAINT "{constraint[0]}" {constraint[1]}')
                )


class TestUnexpectedErrors:
    async def test_are_masked(self, instances: Apps, db: Database) -> None:
        # Given a row the server cannot read
        async with fund_with_unknown_status(db):
            http = await production(instances)

            # When a client asks for it
            response = await http.post("/graphql", json={"query": "{ funds { nodes { name } } }"})

        # Then it gets a generic error with its request id, and nothing of the cause
        assert response.status_code == 200
        [error] = response.json()["errors"]
        assert error["extensions"] == {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": response.headers["x-request-id"],
        }
        assert error["message"].startswith("Internal server error")
        for leak in ("ARCHIVED", "LookupError", "enum", "Traceback", "sqlalchemy", "funds."):
            assert leak not in response.text, leak
