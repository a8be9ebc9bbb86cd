"""HTTP hardening: CSRF prevention, CORS, security headers, batching, body limits, timeouts."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from graphql_api.db.session import Database
from tests.graphql import PREFLIGHT, error_codes, execute
from tests.http.asgi import request as raw_request
from tests.traffic.support import GRAPHQL_RESPONSE, Apps, available, cost_of, only_error, post

TYPENAME = "{ __typename }"
CREATE_FUND = """mutation { createFund(input: { name: "Forged", vintageYear: 2024,
  targetSizeUsd: "1000.00" }) { fund { id } errors { code } } }"""
ALLOWED_ORIGIN = "https://app.example.com"


async def fund_count(http: httpx.AsyncClient) -> int:
    count: int = (await execute(http, "{ funds { totalCount } }"))["data"]["funds"]["totalCount"]
    return count


class TestCrossSiteRequestForgery:
    async def test_a_plain_get_is_refused(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get("/graphql", params={"query": TYPENAME})
        assert response.status_code == 400
        error = only_error(response.json())
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "cross-site request forgery" in error["message"]
        assert "Apollo-Require-Preflight" in error["message"]

    @pytest.mark.parametrize(
        "headers",
        [
            PREFLIGHT,
            {"X-Apollo-Operation-Name": "Q"},
            {"GraphQL-Preflight": "1"},
            {"Content-Type": "application/json"},  # what Apollo Client sends with its GETs
        ],
        ids=["apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight", "json"],
    )
    async def test_a_get_that_forces_a_preflight_runs(
        self, admin: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await admin.get("/graphql", params={"query": TYPENAME}, headers=headers)
        assert response.status_code == 200
        assert response.json()["data"] == {"__typename": "Query"}

    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
    )
    async def test_a_get_with_a_form_s_content_type_is_refused(
        self, admin: httpx.AsyncClient, content_type: str
    ) -> None:
        response = await admin.get(
            "/graphql", params={"query": TYPENAME}, headers={"Content-Type": content_type}
        )
        assert response.status_code == 400

    @pytest.mark.parametrize(
        ("content_type", "body"),
        [
            ("text/plain", json.dumps({"query": CREATE_FUND})),
            ("application/x-www-form-urlencoded", "query=" + CREATE_FUND),
            (
                "multipart/form-data; boundary=b",
                '--b\r\nContent-Disposition: form-data; name="query"\r\n\r\n'
                f"{CREATE_FUND}\r\n--b--\r\n",
            ),
        ],
        ids=["text/plain", "urlencoded", "multipart"],
    )
    async def test_a_post_a_form_could_send_runs_nothing(
        self, admin: httpx.AsyncClient, db: Database, content_type: str, body: str
    ) -> None:
        response = await admin.post(
            "/graphql", content=body.encode(), headers={"Content-Type": content_type}
        )
        assert response.status_code == 415
        assert error_codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]
        assert await fund_count(admin) == 0

    async def test_a_mutation_is_never_run_over_get(
        self, admin: httpx.AsyncClient, db: Database
    ) -> None:
        response = await admin.get("/graphql", params={"query": CREATE_FUND}, headers=PREFLIGHT)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert await fund_count(admin) == 0


class TestCors:
    async def test_an_allowed_origin_passes_the_preflight(self, instances: Apps) -> None:
        http = await instances.client(
            await instances.start(cors_origins=[ALLOWED_ORIGIN]), role=None
        )
        response = await http.options(
            "/graphql",
            headers={
                "Origin": ALLOWED_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization, x-api-key, "
                "apollo-require-preflight",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        allowed = response.headers["access-control-allow-headers"].lower()
        for header in ("content-type", "authorization", "x-api-key", "apollo-require-preflight"):
            assert header in allowed

    async def test_a_response_to_an_allowed_origin_exposes_retry_after(
        self, instances: Apps
    ) -> None:
        http = await instances.client(
            await instances.start(cors_origins=[ALLOWED_ORIGIN]), role=None
        )
        response = await post(http, TYPENAME, headers={"Origin": ALLOWED_ORIGIN})
        assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "retry-after" in response.headers["access-control-expose-headers"].lower()

    async def test_another_origin_is_not_allowed(self, instances: Apps) -> None:
        http = await instances.client(
            await instances.start(cors_origins=[ALLOWED_ORIGIN]), role=None
        )
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers

        response = await post(http, TYPENAME, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers

    async def test_without_an_allowlist_no_origin_is_allowed(
        self, admin: httpx.AsyncClient
    ) -> None:
        response = await post(admin, TYPENAME, headers={"Origin": ALLOWED_ORIGIN})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


def directives_of(policy: str) -> dict[str, list[str]]:
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def allows(sources: list[str], url: str) -> bool:
    if url.startswith("https://"):
        return "https:" in sources or any(url.startswith(s) for s in sources)
    return url.startswith("/") and "'self'" in sources


class TestSecurityHeaders:
    @pytest.mark.parametrize(
        ("method", "kwargs"),
        [
            ("POST", {"json": {"query": TYPENAME}}),
            ("POST", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
            ("POST", {"content": b"x", "headers": {"Content-Type": "text/plain"}}),
            ("GET", {"params": {"query": TYPENAME}}),
        ],
        ids=["executed", "malformed", "wrong content type", "csrf refusal"],
    )
    async def test_every_api_response_forbids_what_a_browser_could_do_with_it(
        self, admin: httpx.AsyncClient, method: str, kwargs: dict[str, Any]
    ) -> None:
        response = await admin.request(method, "/graphql", **kwargs)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"  # no shared cache keeps it
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "strict-transport-security" not in response.headers  # plain HTTP

    async def test_graphiql_gets_a_policy_that_lets_it_load(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 200
        policy = directives_of(response.headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"]
        assert "'self'" in policy["connect-src"]  # its requests to this server
        page = response.text
        scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
        styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', page)
        icons = re.findall(r'<link[^>]*rel="icon"[^>]*href="([^":]+:)', page)
        assert scripts
        assert styles
        # every script, stylesheet and icon of the page comes from a source the policy allows
        for source in scripts:
            assert allows(policy["script-src"], source), source
        for source in styles:
            assert allows(policy["style-src"], source), source
        for scheme in icons:
            assert scheme in policy["img-src"], scheme
        if re.search(r"<script>", page):  # the page's own inline script
            assert "'unsafe-inline'" in policy["script-src"]

    async def test_hsts_is_sent_over_https(self, app: Any) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://testserver"
        ) as https:
            response = await post(https, TYPENAME)
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )

    async def test_hsts_can_be_turned_off(self, instances: Apps) -> None:
        app = await instances.start(hsts_seconds=0)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://testserver"
        ) as https:
            response = await post(https, TYPENAME)
        assert "strict-transport-security" not in response.headers


class TestBatching:
    async def test_is_off_by_default(self, admin: httpx.AsyncClient) -> None:
        response = await admin.post("/graphql", json=[{"query": TYPENAME}])
        assert response.status_code == 400
        assert "not enabled" in only_error(response.json())["message"]

    async def test_up_to_the_maximum_each_operation_runs_and_is_charged(
        self, instances: Apps
    ) -> None:
        app = await instances.start(
            batching_enabled=True,
            max_batch_operations=3,
            rate_limit_capacity=100,
            rate_limit_refill_per_second=0,
        )
        http = await instances.client(app)
        response = await http.post(
            "/graphql",
            json=[
                {"query": TYPENAME},
                {
                    "query": "query($n: Int) { funds(first: $n) { totalCount } }",
                    "variables": {"n": 1},
                },
                {"query": "{ a: __typename }"},
            ],
        )
        assert response.status_code == 200
        results = response.json()
        assert [r["data"] for r in results] == [
            {"__typename": "Query"},
            {"funds": {"totalCount": 0}},
            {"a": "Query"},
        ]
        assert [available(r) for r in results] == [99, 98, 97]

    async def test_one_more_than_the_maximum_is_refused(self, instances: Apps) -> None:
        app = await instances.start(batching_enabled=True, max_batch_operations=3)
        http = await instances.client(app)
        for batch in ([{"query": TYPENAME}] * 4, []):
            response = await http.post("/graphql", json=batch)
            assert response.status_code == 400
            assert "1 to 3 operations" in only_error(response.json())["message"]

    async def test_a_batch_that_empties_the_bucket_is_refused_from_there_on(
        self, instances: Apps
    ) -> None:
        app = await instances.start(
            batching_enabled=True, rate_limit_capacity=2, rate_limit_refill_per_second=0
        )
        http = await instances.client(app)
        response = await http.post("/graphql", json=[{"query": TYPENAME}] * 3)
        results = response.json()
        assert [error_codes(r) for r in results] == [[], [], ["RATE_LIMITED"]]

    async def test_each_operation_fails_on_its_own(self, instances: Apps) -> None:
        app = await instances.start(batching_enabled=True)
        http = await instances.client(app)
        response = await http.post(
            "/graphql",
            json=[
                {"query": "{ nope }"},
                {"query": TYPENAME},
                {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            ],
        )
        results = response.json()
        assert [error_codes(r) for r in results] == [
            ["GRAPHQL_VALIDATION_FAILED"],
            [],
            ["PERSISTED_QUERY_NOT_FOUND"],
        ]

    async def test_an_item_that_is_not_an_operation_refuses_the_batch(
        self, instances: Apps
    ) -> None:
        app = await instances.start(batching_enabled=True)
        http = await instances.client(app)
        response = await http.post("/graphql", json=[{"query": TYPENAME}, "{ __typename }"])
        assert response.status_code == 400
        assert error_codes(response.json()) == ["BAD_REQUEST"]


def body_of_size(size: int) -> bytes:
    """A valid request body of exactly `size` bytes."""
    body = json.dumps({"query": TYPENAME, "variables": {"pad": ""}}).encode()
    padded = json.dumps({"query": TYPENAME, "variables": {"pad": "x" * (size - len(body))}})
    assert len(padded) == size
    return padded.encode()


class TestRequestBodies:
    async def test_a_body_of_exactly_the_limit_runs(self, instances: Apps) -> None:
        http = await instances.client(await instances.start(max_body_bytes=2048))
        response = await http.post(
            "/graphql", content=body_of_size(2048), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200
        assert response.json()["data"] == {"__typename": "Query"}

    async def test_one_byte_more_is_413(self, instances: Apps) -> None:
        http = await instances.client(await instances.start(max_body_bytes=2048))
        response = await http.post(
            "/graphql", content=body_of_size(2049), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]

    async def test_a_body_without_a_length_is_cut_off_at_the_limit(self, instances: Apps) -> None:
        app = await instances.start(max_body_bytes=2048)
        response = await raw_request(
            app,
            "POST",
            headers=[(b"content-type", b"application/json")],
            chunks=[b"x" * 1024] * 100,
        )
        assert response.status == 413

    @pytest.mark.parametrize(
        ("body", "complaint"),
        [
            (b'{"query": "{ __typename }"', "not valid JSON"),
            (b"\xff\xfe\x00", "not valid JSON"),
            (b"", "not valid JSON"),
            (b'"{ __typename }"', "must be a JSON object"),
            (b"42", "must be a JSON object"),
            (b'{"query": 42}', "`query` must be a string"),
            (b'{"query": "{ __typename }", "variables": []}', "`variables` must be an object"),
            (b'{"query": "{ __typename }", "operationName": 1}', "`operationName`"),
            (b'{"query": "{ __typename }", "extensions": "x"}', "`extensions` must be an object"),
            (b"{}", "No GraphQL query"),
        ],
    )
    async def test_a_malformed_body_is_a_clear_400(
        self, admin: httpx.AsyncClient, body: bytes, complaint: str
    ) -> None:
        response = await admin.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        error = only_error(response.json())
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert complaint in error["message"]

    @pytest.mark.parametrize("content_type", ["application/xml", "application/graphql", None])
    async def test_another_content_type_is_415(
        self, admin: httpx.AsyncClient, content_type: str | None
    ) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await admin.post("/graphql", content=b"{ __typename }", headers=headers)
        assert response.status_code == 415

    async def test_an_unacceptable_accept_header_is_406(self, admin: httpx.AsyncClient) -> None:
        response = await post(admin, TYPENAME, headers={"Accept": "text/csv"})
        assert response.status_code == 406


@asynccontextmanager
async def funds_locked(db: Database) -> AsyncIterator[None]:
    """Another transaction holds an exclusive lock on `funds`: reading it waits until the
    lock is released, however long that is (which makes a slow query deterministic)."""
    async with db.engine.connect() as connection:
        await connection.execute(text("LOCK TABLE funds IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await connection.rollback()


def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip(
            "SQLite readers never wait for a writer (WAL) and its calls run in a thread "
            "that cannot be interrupted: no deterministic slow query there"
        )


class TestTimeouts:
    async def test_an_operation_running_too_long_is_stopped_with_a_clean_error(
        self, instances: Apps, backend: str
    ) -> None:
        postgresql_only(backend)
        app = await instances.start(
            fresh=True, operation_timeout_seconds=1, db_statement_timeout_ms=0
        )
        http = await instances.client(app)

        async with funds_locked(instances.db):
            response = await post(
                http, "{ funds { totalCount } }", headers={"Accept": GRAPHQL_RESPONSE}
            )

        assert response.status_code == 504
        error = only_error(response.json())
        assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
        assert "took longer than 1 second" in error["message"]
        # and the server goes on answering
        assert (await execute(http, "{ funds { totalCount } }"))["data"] == {
            "funds": {"totalCount": 0}
        }

    async def test_a_statement_running_too_long_is_cancelled_by_postgresql(
        self, instances: Apps, backend: str
    ) -> None:
        postgresql_only(backend)
        app = await instances.start(
            fresh=True, operation_timeout_seconds=30, db_statement_timeout_ms=500
        )
        http = await instances.client(app)

        async with funds_locked(instances.db):
            response = await post(http, "{ funds { totalCount } }")

        assert response.status_code == 200
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
        assert "took too long" in error["message"]
        assert "canceling statement" not in response.text  # the driver's words stay inside
        assert cost_of(response.json())["actualQueryCost"] == 0
        assert (await execute(http, "{ funds { totalCount } }"))["data"] == {
            "funds": {"totalCount": 0}
        }
