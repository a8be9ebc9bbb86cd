"""Structured logs: every line of a request carries its context; secrets never appear."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from graphql_api.db.session import Database
from graphql_api.observability.redaction import REDACTED, redact, redact_text
from tests.conftest import make_settings
from tests.identity.support import http_client, running_app
from tests.operations.support import json_log_lines

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
FUNDS = "query FundNames { funds(first: 2) { nodes { name } } }"
SIGN_IN = """
mutation SignIn($password: String!) {
  login(email: "ann@example.com", password: $password) { accessToken }
}
"""


def _access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "graphql_api.access"]


class TestAccessLine:
    async def test_one_line_per_operation_with_the_request_context(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        with json_log_lines() as lines:
            response = await client.post(
                "/graphql",
                json={"query": FUNDS},
                headers={"x-request-id": "report-1234", "traceparent": TRACEPARENT},
            )
        assert response.status_code == 200

        [line] = [x for x in _access_lines(lines) if x["level"] == "INFO"]
        assert line["request_id"] == "report-1234" == response.headers["x-request-id"]
        assert line["trace_id"] == TRACE_ID
        assert line["operation_name"] == "FundNames"
        assert line["operation_type"] == "query"
        assert line["outcome"] == "ok"
        assert line["principal_kind"] == "API_KEY"
        assert line["principal_id"]
        assert line["duration_ms"] >= 0

    async def test_errors_are_an_outcome_with_their_codes(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        with json_log_lines() as lines:
            await client.post("/graphql", json={"query": "query Broken { funds { nope } }"})

        [line] = _access_lines(lines)
        assert line["outcome"] == "error"
        assert line["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]

    async def test_a_generated_request_id_is_logged_and_returned(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        with json_log_lines() as lines:
            response = await client.post("/graphql", json={"query": FUNDS})

        [line] = _access_lines(lines)
        assert line["request_id"] == response.headers["x-request-id"]
        assert len(line["trace_id"]) == 32


class TestSlowOperations:
    async def test_are_logged_at_warning_with_the_document_minus_its_secrets(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        settings = make_settings(database_urls[backend], slow_operation_seconds=0.000001)
        async with running_app(settings) as app, http_client(app) as http:
            with json_log_lines(logging.WARNING) as lines:
                await http.post(
                    "/graphql",
                    json={
                        "query": SIGN_IN,
                        "variables": {"password": "correct horse battery staple"},
                    },
                )

        [warning] = [x for x in lines if x["logger"] == "graphql_api.access"]
        assert warning["level"] == "WARNING"
        assert warning["message"].startswith("slow operation: mutation SignIn took")
        assert "login(" in warning["document"]
        text = json.dumps(warning)
        assert "ann@example.com" not in text
        assert "correct horse" not in text
        assert warning["variables"] == {"password": REDACTED}


class TestRedaction:
    def test_secret_keys_are_redacted_at_any_depth(self) -> None:
        value = {
            "input": {"email": "a@b.c", "newPassword": "p", "nested": [{"apiKey": "k"}]},
            "Authorization": "Bearer abc",
            "refresh_token": "r",
            "count": 3,
        }

        assert redact(value) == {
            "input": {"email": "a@b.c", "newPassword": REDACTED, "nested": [{"apiKey": REDACTED}]},
            "Authorization": REDACTED,
            "refresh_token": REDACTED,
            "count": 3,
        }

    def test_secrets_inside_free_text_are_redacted(self) -> None:
        jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
        key = "gak_0123abcd_" + "s" * 43
        text = (
            f"header Authorization: Bearer {jwt} key={key} "
            "dsn postgresql://app:hunter2@db/x password=hunter3"
        )

        cleaned = redact_text(text)

        for secret in (jwt, key, "hunter2", "hunter3"):
            assert secret not in cleaned
        assert "postgresql://app:" in cleaned

    async def test_a_secret_passed_to_a_log_call_never_reaches_the_log(self) -> None:
        logger = logging.getLogger("graphql_api.test")
        with json_log_lines() as lines:
            logger.info("calling with %s", "Bearer abc.def.ghi", extra={"api_key": "gak_x"})
            try:
                raise RuntimeError("password=hunter2 failed")
            except RuntimeError:
                logger.exception("boom")

        text = json.dumps(lines)
        assert "abc.def.ghi" not in text
        assert "gak_x" not in text
        assert "hunter2" not in text
        assert lines[0]["api_key"] == REDACTED
