"""OpenTelemetry: the span tree of one query and one mutation, continuing the caller's trace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graphql_api.auth.principal import Role
from graphql_api.db.session import Database
from tests.conftest import api_key_for, make_settings
from tests.identity.support import http_client, running_app

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"

_EXPORTER = InMemorySpanExporter()
_INSTALLED: list[bool] = []  # the provider keeps processors for good: add ours once


@pytest.fixture
def spans(app: Any) -> Iterator[InMemorySpanExporter]:
    """The process's provider (the app configured it) with an in-memory exporter added."""
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not _INSTALLED:
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        _INSTALLED.append(True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _of_trace(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.context is not None and format(span.context.trace_id, "032x") == TRACE_ID
    ]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matches = [span for span in spans if span.name == name]
    assert len(matches) == 1, [span.name for span in spans]
    return matches[0]


def _sql(span: ReadableSpan) -> str:
    """The statement a database span ran ('' for other spans), in either naming convention."""
    attributes = span.attributes or {}
    return str(attributes.get("db.statement", attributes.get("db.query.text", "")))


def _descendants(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    found = []
    frontier = [parent]
    while frontier:
        children = _children(spans, frontier.pop())
        found.extend(children)
        frontier.extend(children)
    return found


async def _traced(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": document, "variables": variables or {}},
        headers={"traceparent": TRACEPARENT},
    )


class TestSpanTree:
    async def test_a_query(
        self, client: httpx.AsyncClient, db: Database, spans: InMemorySpanExporter
    ) -> None:
        response = await _traced(client, "query FundNames { funds(first: 3) { nodes { name } } }")
        assert response.status_code == 200

        tree = _of_trace(spans)
        http = _one(tree, "POST /graphql")
        assert http.parent is not None
        assert format(http.parent.span_id, "016x") == CALLER_SPAN
        assert http.kind is trace.SpanKind.SERVER
        assert (http.attributes or {})["http.response.status_code"] == 200
        [operation] = [s for s in _children(tree, http) if s.name.startswith("query")]
        assert operation.name == "query FundNames"
        phases = sorted(_children(tree, operation), key=lambda span: span.start_time or 0)
        assert [span.name for span in phases if span.name.startswith("graphql.")] == [
            "graphql.parse",
            "graphql.validate",
            "graphql.execute",
        ]
        execute = _one(tree, "graphql.execute")
        statements = [_sql(span) for span in _descendants(tree, execute) if _sql(span)]
        assert any(text.lstrip().upper().startswith("SELECT") for text in statements), statements

    async def test_a_mutation(
        self, client: httpx.AsyncClient, db: Database, spans: InMemorySpanExporter
    ) -> None:
        response = await _traced(
            client,
            "mutation NewFund($input: CreateFundInput!) {"
            " createFund(input: $input) { errors { code } } }",
            {"input": {"name": "Traced Fund", "vintageYear": 2024, "targetSizeUsd": "1000000.00"}},
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["createFund"]["errors"] == []

        tree = _of_trace(spans)
        operation = _one(tree, "mutation NewFund")
        [execute] = [span for span in _children(tree, operation) if span.name == "graphql.execute"]
        texts = [_sql(span) for span in _descendants(tree, execute)]
        assert any(text.lstrip().upper().startswith("INSERT INTO FUNDS") for text in texts), texts


class TestResolverSpans:
    async def test_are_off_by_default_and_on_with_the_setting(
        self,
        client: httpx.AsyncClient,
        database_urls: dict[str, str],
        backend: str,
        db: Database,
        spans: InMemorySpanExporter,
    ) -> None:
        document = "query Names { funds(first: 1) { nodes { name } } }"
        await _traced(client, document)
        default = [span.name for span in _of_trace(spans)]
        spans.clear()

        settings = make_settings(database_urls[backend], trace_resolvers=True)
        key = await api_key_for(db, Role.ADMIN)
        async with (
            running_app(settings) as app,
            http_client(app, headers={"x-api-key": key}) as http,
        ):
            response = await _traced(http, document)
        detailed = [span.name for span in _of_trace(spans)]

        assert "errors" not in response.json()
        assert not [name for name in default if name.startswith("resolve ")]
        assert "resolve Query.funds" in detailed
        assert any(name.startswith("SELECT") for name in detailed), detailed
