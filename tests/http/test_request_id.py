"""`X-Request-ID`: on every response; the caller's own id echoed when it is safe to."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from tests.http.asgi import request

GENERATED = re.compile(r"[0-9a-f]{32}")
TYPENAME = {"query": "{ __typename }"}


class TestRequestIdHeader:
    @pytest.mark.parametrize(
        ("method", "path", "kwargs", "status"),
        [
            ("POST", "/graphql", {"json": TYPENAME}, 200),
            ("POST", "/graphql", {"json": {"query": "{"}}, 200),
            (
                "POST",
                "/graphql",
                {"content": b"{", "headers": {"content-type": "application/json"}},
                400,
            ),
            ("POST", "/graphql", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
            ("POST", "/graphql", {"json": TYPENAME, "headers": {"accept": "text/plain"}}, 406),
            ("PUT", "/graphql", {"json": TYPENAME}, 405),
            ("GET", "/graphql", {"headers": {"accept": "text/html"}}, 200),
            ("GET", "/healthz", {}, 200),
            ("GET", "/", {}, 307),
            ("GET", "/no-such-page", {}, 404),
        ],
    )
    async def test_every_response_carries_a_fresh_request_id(
        self,
        client: httpx.AsyncClient,
        db: Database,
        method: str,
        path: str,
        kwargs: dict[str, Any],
        status: int,
    ) -> None:
        first = await client.request(method, path, **kwargs)
        second = await client.request(method, path, **kwargs)

        assert first.status_code == status
        assert GENERATED.fullmatch(first.headers["x-request-id"])
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    @pytest.mark.parametrize(
        "request_id",
        ["abc-123", "0b1f7c4e-1d2a-4c7e-9b1a-3f5d6e7a8b9c", "trace:span.1_2", "x" * 128],
    )
    async def test_a_sane_id_sent_by_the_client_is_echoed(
        self, client: httpx.AsyncClient, db: Database, request_id: str
    ) -> None:
        response = await client.post(
            "/graphql", json=TYPENAME, headers={"x-request-id": request_id}
        )

        assert response.headers["x-request-id"] == request_id

    @pytest.mark.parametrize(
        "request_id",
        [b"has spaces", b"x" * 200, b"line\nbreak", b"tab\tbed", b"<script>", b"", b"caf\xe9"],
        ids=["spaces", "200 chars", "newline", "tab", "markup", "empty", "latin-1"],
    )
    async def test_an_unsafe_id_is_replaced_by_a_fresh_one(
        self, app: Any, db: Database, request_id: bytes
    ) -> None:
        response = await request(
            app,
            "POST",
            headers=[(b"content-type", b"application/json"), (b"x-request-id", request_id)],
            chunks=[b'{"query": "{ __typename }"}'],
        )

        assert response.status == 200
        assert GENERATED.fullmatch(response.headers["x-request-id"])
