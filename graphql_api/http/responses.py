"""Writing GraphQL-over-HTTP responses: bodies (orjson) and the spec's status codes."""

from __future__ import annotations

import math
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.responses import Response
from strawberry.types import ExecutionResult

from graphql_api.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON
from graphql_api.http.requests import RequestError
from graphql_api.schema.extensions import finalize_error


def json_body(payload: object) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


def error_body(error: RequestError) -> dict[str, Any]:
    return {
        "errors": [
            {"message": error.message, "extensions": {"code": error.code, **error.extensions}}
        ]
    }


def error_response(error: RequestError, media_type: str = JSON) -> Response:
    status = 200 if error.graphql_status and media_type == JSON else error.status
    return Response(
        json_body(error_body(error)), status, headers=error.headers, media_type=media_type
    )


def result_body(
    result: ExecutionResult, request_id: str
) -> tuple[dict[str, Any], list[GraphQLError]]:
    errors = [finalize_error(error, request_id, None) for error in result.errors or ()]
    body: dict[str, Any] = {}
    if errors:
        body["errors"] = [error.formatted for error in errors]
    body["data"] = result.data
    if result.extensions:
        body["extensions"] = result.extensions
    return body, errors


def _retry_after(errors: list[GraphQLError]) -> int | None:
    for error in errors:
        extensions = error.extensions or {}
        if extensions.get("code") == "RATE_LIMITED":
            wait = extensions.get("retryAfter")
            return int(wait) if isinstance(wait, (int, float)) and math.isfinite(wait) else 3600
    return None


def result_status(
    result: ExecutionResult, errors: list[GraphQLError], media_type: str
) -> tuple[int, dict[str, str]]:
    """The spec's status: application/json answers 200 to every well-formed request;
    graphql-response+json 400 when nothing executed (unparsable, invalid, bad
    variables), 429 with Retry-After when rate limited."""
    if media_type != GRAPHQL_RESPONSE_JSON:
        return 200, {}
    retry_after = _retry_after(errors)
    if retry_after is not None:
        return 429, {"Retry-After": str(retry_after)}
    not_executed = result.data is None and bool(errors) and all(e.path is None for e in errors)
    return (400 if not_executed else 200), {}


def result_response(result: ExecutionResult, media_type: str, request_id: str) -> Response:
    body, errors = result_body(result, request_id)
    status, headers = result_status(result, errors, media_type)
    return Response(json_body(body), status, headers=headers, media_type=media_type)
