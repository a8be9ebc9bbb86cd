"""Prometheus /metrics: what operators graph and alert on."""

from __future__ import annotations

import uuid

import httpx

from graphql_api.db.session import Database
from graphql_api.observability.metrics import render
from graphql_api.schema.observing import MAX_OPERATION_LABELS, operation_label
from tests.conftest import make_settings
from tests.identity.support import http_client, running_app
from tests.operations.support import metric_samples, sample


def _unique_name() -> str:
    return "Op" + uuid.uuid4().hex[:12]


class TestOperations:
    async def test_durations_are_counted_by_operation_name_and_type(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        name = _unique_name()
        for _ in range(3):
            await client.post("/graphql", json={"query": f"query {name} {{ __typename }}"})

        samples = await metric_samples(client)

        labels = {"operation_name": name, "operation_type": "query"}
        assert sample(samples, "graphql_operation_duration_seconds_count", **labels) == 3
        assert sample(samples, "graphql_operation_duration_seconds_sum", **labels) > 0

    async def test_errors_are_counted_by_code(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        before = sample(
            await metric_samples(client), "graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED"
        )

        await client.post("/graphql", json={"query": "{ funds { nope } }"})
        await client.post("/graphql", json={"query": "{ funds { nope nada } }"})

        after = sample(
            await metric_samples(client), "graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED"
        )
        assert after - before == 3

    async def test_http_responses_are_counted_by_route_and_status(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        labels = {"method": "POST", "route": "/graphql", "status": "415"}
        before = sample(await metric_samples(client), "http_requests_total", **labels)

        await client.post("/graphql", content=b"x", headers={"content-type": "text/csv"})

        after = sample(await metric_samples(client), "http_requests_total", **labels)
        assert after - before == 1

    async def test_unknown_paths_share_one_route_label(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await client.get(f"/{uuid.uuid4().hex}")

        samples = await metric_samples(client)

        routes = {
            dict(labels).get("route") for (name, labels) in samples if name == "http_requests_total"
        }
        assert "other" in routes
        assert all(
            route in {"/", "/graphql", "/healthz", "/readyz", "/metrics", "other"}
            for route in routes
        )

    async def test_parse_cache_hits_and_misses_are_counted(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        document = f"query {_unique_name()} {{ __typename }}"
        before = await metric_samples(client)

        await client.post("/graphql", json={"query": document})
        await client.post("/graphql", json={"query": document})

        after = await metric_samples(client)
        for result in ("hit", "miss"):
            labels = {"cache": "parsed_documents", "result": result}
            assert (
                sample(after, "cache_lookups_total", **labels)
                - sample(before, "cache_lookups_total", **labels)
                >= 1
            )


class TestLabels:
    def test_client_chosen_operation_names_cannot_grow_the_label_set_without_bound(self) -> None:
        labels = {
            operation_label(f"Generated{index}") for index in range(MAX_OPERATION_LABELS + 50)
        }

        assert len(labels) <= MAX_OPERATION_LABELS + 1
        assert "other" in labels
        assert operation_label("not a name!") == "other"
        assert operation_label(None) == "anonymous"


class TestExposition:
    def test_every_documented_metric_is_exposed(self) -> None:
        text, content_type = render()

        assert content_type.startswith("text/plain")
        for name in (
            "graphql_operation_duration_seconds",
            "graphql_errors_total",
            "http_requests_total",
            "websocket_connections_active",
            "graphql_subscriptions_active",
            "db_pool_connections_in_use",
            "db_pool_overflow",
            "outbox_backlog_events",
            "outbox_publish_lag_seconds",
            "rate_limit_rejections_total",
            "cache_lookups_total",
            "dependency_fallbacks_total",
        ):
            assert f"# TYPE {name}".encode() in text, name


class TestToken:
    async def test_with_a_token_the_page_needs_it(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        settings = make_settings(database_urls[backend], metrics_token="s3cret-metrics-token")
        async with running_app(settings) as app, http_client(app) as http:
            missing = await http.get("/metrics")
            wrong = await http.get("/metrics", headers={"authorization": "Bearer nope"})
            right = await http.get(
                "/metrics", headers={"authorization": "Bearer s3cret-metrics-token"}
            )

        assert missing.status_code == wrong.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "graphql_operation" not in missing.text
        assert right.status_code == 200
        assert "graphql_operation_duration_seconds" in right.text

    async def test_an_empty_token_means_an_open_page(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        settings = make_settings(database_urls[backend], metrics_token="")
        async with running_app(settings) as app, http_client(app) as http:
            response = await http.get("/metrics")

        assert response.status_code == 200
