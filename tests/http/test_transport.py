"""GraphQL over HTTP: methods, content types, malformed bodies and the body size limit."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from tests.graphql import PREFLIGHT, data_of, without_cost
from tests.http.asgi import request

FUNDS_COUNT = "query FundsCount { funds { totalCount } }"
CREATE_FUND = """
mutation CreateFund {
  createFund(input: {name: "Over GET", vintageYear: 2020, targetSizeUsd: "1000000"}) {
    fund { name }
    errors { code }
  }
}
"""
ONE_MIB = 1_048_576


def _error_of(response: httpx.Response) -> dict[str, Any]:
    """The single error of a request refused before GraphQL ran; always JSON with a code."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    [error] = body["errors"]
    assert error["message"]
    assert error["extensions"]["code"]
    result: dict[str, Any] = error
    return result


def _padded_query(size: int) -> bytes:
    """A valid JSON request whose body is about `size` bytes.

    The padding is an undeclared variable (ignored when executing), not part of
    the document, which has its own, smaller, size limit.
    """
    return json.dumps({"query": FUNDS_COUNT, "variables": {"padding": "x" * size}}).encode()


class TestPost:
    async def test_a_json_body_is_executed(self, client: httpx.AsyncClient, db: Database) -> None:
        response = await client.post("/graphql", json={"query": FUNDS_COUNT})

        assert response.status_code == 200
        assert without_cost(response.json()) == {"data": {"funds": {"totalCount": 0}}}

    async def test_a_json_content_type_with_a_charset_is_accepted(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql",
            content=json.dumps({"query": FUNDS_COUNT}),
            headers={"content-type": "application/json; charset=utf-8"},
        )

        assert response.status_code == 200
        assert response.json()["data"] == {"funds": {"totalCount": 0}}

    async def test_variables_and_operation_name_are_used(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        document = """
        query A($first: Int!) { funds(first: $first) { pageInfo { hasNextPage } } }
        query B { __typename }
        """

        response = await client.post(
            "/graphql",
            json={"query": document, "variables": {"first": 1}, "operationName": "A"},
        )

        assert without_cost(response.json()) == {
            "data": {"funds": {"pageInfo": {"hasNextPage": False}}}
        }

    async def test_a_mutation_is_executed(self, client: httpx.AsyncClient, db: Database) -> None:
        data = await data_of(client, CREATE_FUND)

        assert data["createFund"] == {"fund": {"name": "Over GET"}, "errors": []}


class TestGet:
    async def test_a_query_in_the_url_is_executed(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get("/graphql", params={"query": FUNDS_COUNT}, headers=PREFLIGHT)

        assert response.status_code == 200
        assert without_cost(response.json()) == {"data": {"funds": {"totalCount": 0}}}

    async def test_variables_in_the_url_are_json(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get(
            "/graphql",
            params={
                "query": "query Q($first: Int) { funds(first: $first) { nodes { id } } }",
                "variables": json.dumps({"first": 0}),
            },
            headers=PREFLIGHT,
        )

        assert without_cost(response.json()) == {"data": {"funds": {"nodes": []}}}

    async def test_variables_that_are_not_json_are_a_bad_request(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get(
            "/graphql", params={"query": FUNDS_COUNT, "variables": "{first: 1"}, headers=PREFLIGHT
        )

        assert response.status_code == 400
        assert "not valid JSON" in _error_of(response)["message"]

    async def test_a_mutation_is_refused_with_405_and_not_run(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # When a mutation arrives over GET (which proxies and crawlers may repeat)
        response = await client.get("/graphql", params={"query": CREATE_FUND}, headers=PREFLIGHT)

        # Then it is refused, with the method that would work
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert _error_of(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        # And nothing was created
        assert await data_of(client, FUNDS_COUNT) == {"funds": {"totalCount": 0}}


class TestMethods:
    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
    async def test_other_methods_are_refused_with_405_and_allow(
        self, client: httpx.AsyncClient, db: Database, method: str
    ) -> None:
        response = await client.request(method, "/graphql", json={"query": FUNDS_COUNT})

        assert response.status_code == 405
        assert {part.strip() for part in response.headers["allow"].split(",")} == {"GET", "POST"}
        assert _error_of(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"


class TestMalformedRequests:
    @pytest.mark.parametrize(
        ("content_type", "content"),
        [
            ("text/plain", json.dumps({"query": FUNDS_COUNT})),
            ("application/x-www-form-urlencoded", f"query={FUNDS_COUNT}"),
            ("multipart/form-data; boundary=x", "--x\r\n\r\n--x--"),
            ("application/graphql", FUNDS_COUNT),
        ],
    )
    async def test_a_body_that_is_not_json_is_refused_with_415(
        self, client: httpx.AsyncClient, db: Database, content_type: str, content: str
    ) -> None:
        response = await client.post(
            "/graphql", content=content, headers={"content-type": content_type}
        )

        assert response.status_code == 415
        assert _error_of(response)["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"

    async def test_a_post_without_a_content_type_is_refused_with_415(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post("/graphql", content=b'{"query": "{ __typename }"}')

        assert response.status_code == 415

    @pytest.mark.parametrize(
        "content", ['{"query": "{ __typename }"', "{query: 1}", "", "\xff\xfe", "nul\x00"]
    )
    async def test_malformed_json_is_a_bad_request_saying_so(
        self, client: httpx.AsyncClient, db: Database, content: str
    ) -> None:
        response = await client.post(
            "/graphql",
            content=content.encode("latin-1"),
            headers={"content-type": "application/json"},
        )

        assert response.status_code == 400
        error = _error_of(response)
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "not valid JSON" in error["message"]

    async def test_a_batch_is_refused_because_batching_is_off(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql", json=[{"query": FUNDS_COUNT}, {"query": FUNDS_COUNT}]
        )

        assert response.status_code == 400
        assert "Batch" in _error_of(response)["message"]

    @pytest.mark.parametrize(
        ("body", "complaint"),
        [
            ({"query": 42}, "`query` must be a string"),
            ({"query": ["{ __typename }"]}, "`query` must be a string"),
            ({"query": FUNDS_COUNT, "variables": []}, "`variables` must be an object"),
            ({"query": FUNDS_COUNT, "variables": "{}"}, "`variables` must be an object"),
            ({"query": FUNDS_COUNT, "operationName": 1}, "`operationName` must be a string"),
            ({"query": FUNDS_COUNT, "extensions": []}, "`extensions` must be an object"),
            ("{ __typename }", "must be a JSON object"),
            ({}, "No GraphQL query"),
            ({"variables": {}}, "No GraphQL query"),
        ],
        ids=str,
    )
    async def test_a_body_of_the_wrong_shape_is_a_bad_request(
        self, client: httpx.AsyncClient, db: Database, body: Any, complaint: str
    ) -> None:
        response = await client.post("/graphql", json=body)

        assert response.status_code == 400
        assert complaint in _error_of(response)["message"]

    async def test_a_get_without_a_query_is_a_bad_request(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get("/graphql", headers={**PREFLIGHT, "accept": "application/json"})

        assert response.status_code == 400
        assert "No GraphQL query" in _error_of(response)["message"]

    async def test_an_unknown_operation_name_is_a_bad_request(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql", json={"query": FUNDS_COUNT, "operationName": "Missing"}
        )

        assert response.status_code == 400
        assert "Missing" in _error_of(response)["message"]


class TestBodySizeLimit:
    async def test_a_body_just_under_the_limit_is_executed(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        body = _padded_query(ONE_MIB - 200)
        assert len(body) <= ONE_MIB

        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )

        assert response.status_code == 200
        assert response.json()["data"] == {"funds": {"totalCount": 0}}

    async def test_a_body_over_1_mib_is_refused_with_413(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql",
            content=_padded_query(ONE_MIB + 10),
            headers={"content-type": "application/json"},
        )

        assert response.status_code == 413
        assert _error_of(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def test_a_declared_length_over_the_limit_is_refused_before_reading(
        self, app: Any, db: Database
    ) -> None:
        response = await request(
            app,
            "POST",
            headers=[(b"content-type", b"application/json"), (b"content-length", b"5000000")],
            chunks=[b'{"query": "{ __typename }"}'],
        )

        assert response.status == 413

    async def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
        self, app: Any, db: Database
    ) -> None:
        body = _padded_query(ONE_MIB + 10)
        chunks = [body[start : start + 65536] for start in range(0, len(body), 65536)]

        response = await request(
            app, "POST", headers=[(b"content-type", b"application/json")], chunks=chunks
        )

        assert response.status == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def test_a_content_length_that_understates_the_body_does_not_get_past_the_limit(
        self, app: Any, db: Database
    ) -> None:
        body = _padded_query(2 * ONE_MIB)
        chunks = [body[start : start + 65536] for start in range(0, len(body), 65536)]

        response = await request(
            app,
            "POST",
            headers=[(b"content-type", b"application/json"), (b"content-length", b"100")],
            chunks=chunks,
        )

        assert response.status == 413
