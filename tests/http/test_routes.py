"""The other routes: GraphiQL on `/graphql`, `/` redirecting to it, and `/healthz`."""

from __future__ import annotations

import httpx

from graphql_api.db.session import Database
from tests.graphql import PREFLIGHT, without_cost

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class TestGraphiQL:
    async def test_a_browser_opening_graphql_gets_the_graphiql_page(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get("/graphql", headers={**PREFLIGHT, "accept": BROWSER_ACCEPT})

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "<html" in response.text.lower()
        assert "graphiql" in response.text.lower()

    async def test_a_get_with_a_query_is_executed_even_from_a_browser(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get(
            "/graphql",
            params={"query": "{ __typename }"},
            headers={**PREFLIGHT, "accept": BROWSER_ACCEPT},
        )

        assert response.status_code == 200
        assert without_cost(response.json()) == {"data": {"__typename": "Query"}}


class TestRoot:
    async def test_the_root_redirects_to_graphql(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await client.get("/")

        assert response.is_redirect
        assert httpx.URL(response.headers["location"]).path == "/graphql"


class TestHealthz:
    async def test_answers_ok(self, client: httpx.AsyncClient, db: Database) -> None:
        response = await client.get("/healthz")

        assert response.status_code == 200
        assert response.text == "ok"
