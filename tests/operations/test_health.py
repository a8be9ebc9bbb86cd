"""Liveness and readiness probes."""

from __future__ import annotations

import httpx

from graphql_api.db.session import Database
from tests.conftest import make_settings
from tests.identity.support import http_client, running_app


class TestHealthz:
    async def test_answers_without_touching_dependencies(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        settings = make_settings(database_urls[backend], redis_url="redis://127.0.0.1:1/0")
        async with running_app(settings) as app, http_client(app) as http:
            response = await http.get("/healthz")

        assert response.status_code == 200
        assert response.text == "ok"


class TestReadyz:
    async def test_ready_when_every_dependency_answers(
        self, database_urls: dict[str, str], backend: str, redis_url: str, db: Database
    ) -> None:
        settings = make_settings(database_urls[backend], redis_url=redis_url)
        async with running_app(settings) as app, http_client(app) as http:
            response = await http.get("/readyz")

        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
        assert response.headers["cache-control"] == "no-store"

    async def test_the_embedded_mode_checks_only_its_database(
        self, client: httpx.AsyncClient, db: Database, app: object
    ) -> None:
        response = await client.get("/readyz")

        assert response.status_code == 200
        assert response.json()["checks"]["database"] == "ok"

    async def test_not_ready_names_the_dependency_that_failed(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        settings = make_settings(
            database_urls[backend],
            redis_url="redis://127.0.0.1:1/0",
            readiness_timeout_seconds=1,
        )
        async with running_app(settings) as app, http_client(app) as http:
            response = await http.get("/readyz")

        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"] != "ok"
