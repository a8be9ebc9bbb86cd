"""Unexpected failures are masked for the client and logged in full; every error has a code."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from graphql_api.investments import service as investment_service
from tests.factories import create_fund, gid

SECRET = "secret detail from the database"
FUNDS = "query Funds { funds(first: 5) { totalCount nodes { name } } }"
FUND_INVESTMENTS = """
query FundInvestments($id: ID!) {
  fund(id: $id) { name investments(first: 5) { nodes { id } } }
}
"""


def _failing(exception: BaseException) -> Any:
    async def fail(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise exception

    return fail


def _dependency_failures() -> list[Any]:
    return [
        pytest.param(
            OperationalError(
                "SELECT * FROM funds /* secret detail from the database */",
                {},
                ConnectionRefusedError(SECRET),
            ),
            id="database unreachable",
        ),
        pytest.param(ConnectionRefusedError(111, SECRET), id="connection refused"),
        pytest.param(TimeoutError(SECRET), id="timeout"),
    ]


class TestMaskingOfUnexpectedErrors:
    async def test_an_unexpected_failure_is_masked_and_quotes_the_request_id(
        self,
        client: httpx.AsyncClient,
        db: Database,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given a resolver that fails with a message nobody outside should see
        monkeypatch.setattr(fund_service, "list_funds", _failing(RuntimeError(SECRET)))

        # When a client runs a query that reaches it
        with caplog.at_level(logging.ERROR, logger="graphql_api.errors"):
            response = await client.post("/graphql", json={"query": FUNDS})

        # Then it sees a generic internal error that quotes its request id
        assert response.status_code == 200
        [error] = response.json()["errors"]
        request_id = response.headers["x-request-id"]
        assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        assert error["path"] == ["funds"]
        assert SECRET not in response.text
        assert "Traceback" not in response.text
        assert "RuntimeError" not in response.text
        # And the log has the exception, under the same request id
        [record] = [r for r in caplog.records if r.name == "graphql_api.errors"]
        assert record.levelno == logging.ERROR
        assert getattr(record, "request_id", None) == request_id
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        assert SECRET in caplog.text

    async def test_the_client_s_own_request_id_is_quoted_in_the_error(
        self, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(fund_service, "list_funds", _failing(KeyError(SECRET)))

        response = await client.post(
            "/graphql", json={"query": FUNDS}, headers={"x-request-id": "support-ticket-42"}
        )

        [error] = response.json()["errors"]
        assert error["extensions"]["requestId"] == "support-ticket-42"
        assert SECRET not in response.text

    async def test_a_failure_in_a_nested_loader_is_masked_at_its_field(
        self,
        client: httpx.AsyncClient,
        db: Database,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        fund = await create_fund(db, name="Fund Masked")
        monkeypatch.setattr(investment_service, "pages_by_parent", _failing(ValueError(SECRET)))

        with caplog.at_level(logging.ERROR, logger="graphql_api.errors"):
            response = await client.post(
                "/graphql", json={"query": FUND_INVESTMENTS, "variables": {"id": gid(fund)}}
            )

        body = response.json()
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["path"] == ["fund", "investments"]
        assert body["data"] == {"fund": None}
        assert SECRET not in response.text
        assert SECRET in caplog.text

    async def test_a_masked_error_is_still_200_with_graphql_response_json(
        self, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(fund_service, "list_funds", _failing(RuntimeError(SECRET)))

        response = await client.post(
            "/graphql",
            json={"query": FUNDS},
            headers={"accept": "application/graphql-response+json"},
        )

        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"

    @pytest.mark.parametrize("exception", _dependency_failures())
    async def test_a_dependency_failure_is_reported_as_service_unavailable(
        self,
        client: httpx.AsyncClient,
        db: Database,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        exception: BaseException,
    ) -> None:
        # Given the database cannot be reached
        monkeypatch.setattr(fund_service, "list_funds", _failing(exception))

        # When a client asks for funds
        with caplog.at_level(logging.ERROR, logger="graphql_api.errors"):
            response = await client.post("/graphql", json={"query": FUNDS})

        # Then it is told to retry later, without any detail of the failure
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
        assert "retry" in error["message"].lower()
        assert SECRET not in response.text
        assert "SELECT" not in response.text
        assert SECRET in caplog.text


class TestEveryErrorHasACode:
    @pytest.mark.parametrize(
        ("kwargs", "status"),
        [
            ({"json": {"query": "{ funds { "}}, 200),
            ({"json": {"query": "{ funds { nope nada } investors { zilch } }"}}, 200),
            (
                {
                    "json": {
                        "query": "query Q($n: Int) { funds(first: $n) { totalCount } }",
                        "variables": {"n": "x"},
                    }
                },
                200,
            ),
            ({"json": {"query": "{ a: funds(first: 101) { totalCount } }"}}, 200),
            ({"json": {"query": "{ funds(first: 1, last: 1) { totalCount } }"}}, 200),
            ({"json": {"query": '{ funds(after: "nope") { totalCount } }'}}, 200),
            (
                {
                    "json": {
                        "query": '{ funds(filter: {targetSizeUsd: {eq: "1.001"}}) { totalCount } }'
                    }
                },
                200,
            ),
            ({"json": {"query": "{ __typename }", "operationName": "Nope"}}, 400),
            ({"json": [{"query": "{ __typename }"}]}, 400),
            ({"json": {"query": "{ __typename }"}, "headers": {"accept": "text/plain"}}, 406),
            ({"content": b"{", "headers": {"content-type": "application/json"}}, 400),
            ({"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
        ],
        ids=[
            "syntax",
            "validation",
            "variables",
            "page size",
            "first and last",
            "cursor",
            "decimal bound",
            "unknown operation",
            "batch",
            "not acceptable",
            "malformed json",
            "unsupported media type",
        ],
    )
    async def test_every_top_level_error_carries_a_code(
        self, client: httpx.AsyncClient, db: Database, kwargs: dict[str, Any], status: int
    ) -> None:
        response = await client.post("/graphql", **kwargs)

        assert response.status_code == status
        errors = response.json()["errors"]
        assert errors
        assert all(isinstance(error["extensions"]["code"], str) for error in errors), errors
        assert all(error["extensions"]["code"] for error in errors)
