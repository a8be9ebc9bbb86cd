"""Reading a GraphQL-over-HTTP request: parameters, body limits, CSRF prevention.

Everything here refuses with a RequestError carrying the HTTP status and a
code; nothing here executes anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from graphql_api.http.negotiation import JSON

# A GET carrying one of these cannot come from a plain <form> or <img> of another
# site: browsers send them only after a CORS preflight (Apollo Server's rule).
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight")
# What a plain HTML form (or a no-cors fetch) may send without a preflight.
SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


class RequestError(Exception):
    """A request the server refuses before (or instead of) executing it.

    `graphql_status` errors are GraphQL-level refusals (a persisted query not
    found, a document too large): with application/json they answer 200 like
    any executed request, with graphql-response+json the given status.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        graphql_status: bool = False,
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.graphql_status = graphql_status
        self.extensions = extensions


def decode_json(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "BAD_REQUEST", f"{what} is not valid JSON: {error.msg}.") from error


def params_from(data: Any) -> GraphQLParams:
    if not isinstance(data, dict):
        raise RequestError(400, "BAD_REQUEST", "Each operation must be a JSON object.")
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if query is not None and not isinstance(query, str):
        raise RequestError(400, "BAD_REQUEST", "`query` must be a string.")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "BAD_REQUEST", "`variables` must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "BAD_REQUEST", "`operationName` must be a string.")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "BAD_REQUEST", "`extensions` must be an object.")
    return GraphQLParams(query, variables, operation_name, extensions)


def _preflighted(request: Request) -> bool:
    """A browser sends this only after a CORS preflight: a preflight-forcing header, or a
    content type no <form> can send (Apollo Client's GETs carry application/json)."""
    if any(h in request.headers for h in PREFLIGHT_HEADERS):
        return True
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return bool(content_type) and content_type not in SIMPLE_CONTENT_TYPES


def check_csrf(request: Request) -> None:
    """Refuse a GET that a browser could send cross-site without a preflight."""
    if request.method == "GET" and not _preflighted(request):
        raise RequestError(
            400,
            "BAD_REQUEST",
            "This GET request was blocked as a possible cross-site request forgery: send it "
            "with an `Apollo-Require-Preflight: true` header (or use POST with application/json).",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past `limit` bytes."""
    too_large = RequestError(413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {limit} bytes.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise too_large
    return bytes(chunks)


async def read_operations(
    request: Request, body_limit: int, batching: bool, max_batch: int
) -> list[GraphQLParams] | GraphQLParams:
    """The operation of the request, or the list of a batch (when batching is enabled)."""
    if request.method == "GET":
        check_csrf(request)
        query_params = request.query_params
        variables = query_params.get("variables")
        extensions = query_params.get("extensions")
        return params_from(
            {
                "query": query_params.get("query"),
                "operationName": query_params.get("operationName"),
                "variables": decode_json(variables, "`variables`") if variables else None,
                "extensions": decode_json(extensions, "`extensions`") if extensions else None,
            }
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise RequestError(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json."
        )
    data = decode_json(await read_body(request, body_limit), "The request body")
    if not isinstance(data, list):
        return params_from(data)
    if not batching:
        raise RequestError(400, "BAD_REQUEST", "Batched operations are not enabled.")
    if not data or len(data) > max_batch:
        raise RequestError(
            400, "BAD_REQUEST", f"A batch holds 1 to {max_batch} operations (got {len(data)})."
        )
    return [params_from(item) for item in data]
