"""Content negotiation: `application/graphql-response+json` status codes, `Accept` and q-values."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from graphql_api.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON, response_media_type
from tests.graphql import without_cost

GRAPHQL_RESPONSE = {"accept": GRAPHQL_RESPONSE_JSON}
FUNDS_FIRST = "query Funds($first: Int) { funds(first: $first) { totalCount } }"

# Requests that GraphQL never executes, with the code each error carries.
NOT_EXECUTED = [
    pytest.param({"query": "query { funds { "}, "GRAPHQL_PARSE_FAILED", id="syntax error"),
    pytest.param({"query": "query { funds { nope } }"}, "GRAPHQL_VALIDATION_FAILED", id="invalid"),
    pytest.param(
        {"query": FUNDS_FIRST, "variables": {"first": "ten"}}, "BAD_USER_INPUT", id="bad variable"
    ),
    pytest.param(
        {"query": "query Q($first: Int!) { funds(first: $first) { totalCount } }"},
        "BAD_USER_INPUT",
        id="missing variable",
    ),
]


def _media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


class TestResponseMediaType:
    @pytest.mark.parametrize(
        ("accept", "expected"),
        [
            (None, JSON),
            ("", JSON),
            ("   ", JSON),
            ("*/*", JSON),
            ("application/*", JSON),
            ("application/json", JSON),
            ("APPLICATION/JSON", JSON),
            (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
            (f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", GRAPHQL_RESPONSE_JSON),
            (f"application/json;q=0.5, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
            (f"{GRAPHQL_RESPONSE_JSON};q=0.4, application/json", JSON),
            (f"{GRAPHQL_RESPONSE_JSON}, application/json", GRAPHQL_RESPONSE_JSON),
            (f"application/json, {GRAPHQL_RESPONSE_JSON}", JSON),
            (f"text/html, {GRAPHQL_RESPONSE_JSON};q=0.9, */*;q=0.1", GRAPHQL_RESPONSE_JSON),
            ("text/plain", None),
            ("text/html, image/png", None),
            ("application/json;q=0", None),
            ("*/*;q=0", None),
            ("application/json;q=nonsense", None),
            (f"application/json;q=0, {GRAPHQL_RESPONSE_JSON};q=0.1", GRAPHQL_RESPONSE_JSON),
        ],
    )
    def test_picks_the_type_the_client_prefers_among_those_served(
        self, accept: str | None, expected: str | None
    ) -> None:
        assert response_media_type(accept) == expected


class TestGraphQLResponseJson:
    async def test_an_executed_request_is_200_with_that_content_type(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql", json={"query": FUNDS_FIRST}, headers=GRAPHQL_RESPONSE
        )

        assert response.status_code == 200
        assert _media_type(response) == GRAPHQL_RESPONSE_JSON
        assert without_cost(response.json()) == {"data": {"funds": {"totalCount": 0}}}

    async def test_an_executed_request_with_a_field_error_is_still_200(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql",
            json={"query": FUNDS_FIRST, "variables": {"first": 101}},
            headers=GRAPHQL_RESPONSE,
        )

        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    @pytest.mark.parametrize(("body", "code"), NOT_EXECUTED)
    async def test_a_request_that_was_never_executed_is_400(
        self, client: httpx.AsyncClient, db: Database, body: dict[str, Any], code: str
    ) -> None:
        response = await client.post("/graphql", json=body, headers=GRAPHQL_RESPONSE)

        assert response.status_code == 400
        assert _media_type(response) == GRAPHQL_RESPONSE_JSON
        payload = response.json()
        assert [error["extensions"]["code"] for error in payload["errors"]] == [code]
        assert payload.get("data") is None

    @pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
    @pytest.mark.parametrize(("body", "code"), NOT_EXECUTED)
    async def test_with_plain_json_the_same_requests_are_200(
        self,
        client: httpx.AsyncClient,
        db: Database,
        body: dict[str, Any],
        code: str,
        accept: str | None,
    ) -> None:
        headers = {"accept": accept} if accept else {}
        if accept is None:
            client.headers.pop("accept", None)

        response = await client.post("/graphql", json=body, headers=headers)

        assert response.status_code == 200
        assert _media_type(response) == JSON
        assert [error["extensions"]["code"] for error in response.json()["errors"]] == [code]

    async def test_q_values_choose_between_the_two_types(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        prefer_new = f"application/json;q=0.5, {GRAPHQL_RESPONSE_JSON}"
        prefer_old = f"{GRAPHQL_RESPONSE_JSON};q=0.5, application/json"
        invalid = {"query": "query { funds { nope } }"}

        new = await client.post("/graphql", json=invalid, headers={"accept": prefer_new})
        old = await client.post("/graphql", json=invalid, headers={"accept": prefer_old})

        assert (new.status_code, _media_type(new)) == (400, GRAPHQL_RESPONSE_JSON)
        assert (old.status_code, _media_type(old)) == (200, JSON)

    @pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/xml, text/*"])
    async def test_a_client_accepting_neither_json_type_gets_406(
        self, client: httpx.AsyncClient, db: Database, accept: str
    ) -> None:
        response = await client.post(
            "/graphql", json={"query": FUNDS_FIRST}, headers={"accept": accept}
        )

        assert response.status_code == 406
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"

    async def test_errors_of_malformed_requests_use_the_negotiated_type(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.post(
            "/graphql",
            content=b"{not json",
            headers={"content-type": "application/json", **GRAPHQL_RESPONSE},
        )

        assert response.status_code == 400
        assert _media_type(response) == GRAPHQL_RESPONSE_JSON
