"""The `/graphql` endpoint: GraphQL over HTTP as the spec says, WebSockets via Strawberry.

HTTP is handled here rather than by Strawberry's view because the spec's status
codes (400 for unparsable or invalid documents with graphql-response+json,
405 for a mutation over GET, 406, 413, 415) and JSON error bodies for malformed
requests are part of our contract. WebSockets (subscriptions) stay Strawberry's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from graphql_api.auth.authenticate import Authenticated, Credentials, authenticate
from graphql_api.auth.principal import ANONYMOUS
from graphql_api.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON, response_media_type
from graphql_api.observability.request_id import request_id_of
from graphql_api.schema.build import Schema
from graphql_api.schema.context import Context, Runtime
from graphql_api.schema.extensions import finalize_error
from graphql_api.users.service import UnauthenticatedError

QUERY_ONLY = frozenset({OperationType.QUERY})
QUERY_OR_MUTATION = frozenset({OperationType.QUERY, OperationType.MUTATION})


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


class RequestError(Exception):
    """A request the server cannot treat as a GraphQL request at all."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def _json_body(payload: object) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


def _error_response(error: RequestError, media_type: str = JSON) -> Response:
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}
    return Response(_json_body(body), error.status, headers=error.headers, media_type=media_type)


def _decode_json_object(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "BAD_REQUEST", f"{what} is not valid JSON: {error.msg}.") from error


def _params_from(data: Any) -> GraphQLParams:
    if isinstance(data, list):
        raise RequestError(400, "BAD_REQUEST", "Batched operations are not enabled.")
    if not isinstance(data, dict):
        raise RequestError(400, "BAD_REQUEST", "The request body must be a JSON object.")
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


def _coded(error: object) -> object:
    if isinstance(error, dict) and not (error.get("extensions") or {}).get("code"):
        message = str(error.get("message", ""))
        if message.startswith("Subscription limit"):
            code = "TOO_MANY_SUBSCRIPTIONS"
        else:
            code = "BAD_USER_INPUT" if error.get("path") is None else "INTERNAL_SERVER_ERROR"
        return {**error, "extensions": {**(error.get("extensions") or {}), "code": code}}
    return error


def with_error_codes(message: Mapping[str, object]) -> Mapping[str, object]:
    """Give every error in an outgoing WebSocket message an `extensions.code`.

    Strawberry writes some errors itself (the subscription limit, variables that
    do not fit), bypassing the schema's error handling.
    """
    payload = message.get("payload")
    if isinstance(payload, list):
        return {**message, "payload": [_coded(error) for error in payload]}
    if isinstance(payload, dict):
        if isinstance(payload.get("errors"), list):
            return {
                **message,
                "payload": {**payload, "errors": [_coded(e) for e in payload["errors"]]},
            }
        if message.get("type") == "error" and "message" in payload:
            return {**message, "payload": _coded(payload)}
    return message


class CodedWebSocketAdapter(ASGIWebSocketAdapter):
    async def send_json(self, message: Mapping[str, object]) -> None:
        await super().send_json(with_error_codes(message))


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view with our HTTP handling (see the module docstring)."""

    websocket_adapter_class = CodedWebSocketAdapter

    def __init__(self, schema: Schema, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            keep_alive=True,
            keep_alive_interval=settings.ws_keepalive_seconds,
            connection_init_wait_timeout=timedelta(
                seconds=settings.ws_connection_init_timeout_seconds
            ),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            allowed_origins=settings.allowed_origins,
        )
        self.runtime = runtime
        self.max_body_bytes = settings.max_body_bytes
        self._websockets: set[WebSocket] = set()
        self._expiry_tasks: dict[WebSocket, asyncio.Task[None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            response = await self.handle_http(Request(scope, receive))
            await response(scope, receive, send)
        elif scope["type"] == "websocket":
            websocket = WebSocket(scope, receive=receive, send=send)
            self._websockets.add(websocket)
            try:
                await self.run(websocket)
            finally:
                self._websockets.discard(websocket)
                expiry = self._expiry_tasks.pop(websocket, None)
                if expiry is not None:
                    expiry.cancel()

    async def close_websockets(self, code: int, reason: str, within: float = 2.0) -> None:
        """Close every open WebSocket at once, none taking longer than `timeout`
        (a client that stopped reading must not hold the shutdown up)."""
        timeout = within

        async def close(websocket: WebSocket) -> None:
            with contextlib.suppress(RuntimeError, OSError, TimeoutError):
                if websocket.application_state == WebSocketState.CONNECTED:
                    await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout)

        await asyncio.gather(*(close(websocket) for websocket in tuple(self._websockets)))

    async def get_context(self, request: Request | WebSocket, response: Any = None) -> Context:
        """A request's context; HTTP callers are authenticated from their headers here,
        WebSocket callers later, from their connection_init payload."""
        authenticated = Authenticated(ANONYMOUS)
        if isinstance(request, Request):
            authenticated = await self._authenticate(request.headers)
        return Context(
            runtime=self.runtime,
            request=request,
            request_id=request_id_of(request.scope),
            authenticated=authenticated,
        )

    async def _authenticate(self, headers: Mapping[str, str]) -> Authenticated:
        identity = self.runtime.identity
        try:
            credentials = Credentials.from_headers(headers)
            return await authenticate(
                self.runtime.db, identity.identity, identity.store, credentials, datetime.now(UTC)
            )
        except UnauthenticatedError as error:
            raise RequestError(
                401,
                "UNAUTHENTICATED",
                str(error),
                {"WWW-Authenticate": 'Bearer realm="graphql-api"'},
            ) from error

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket from its connection_init payload (4403 when refused).

        `{"authorization": "Bearer <token>"}` (any letter case of the key) or
        `{"x-api-key": "<key>"}`. The connection closes when the token expires.
        """
        params = context.connection_params
        payload = params if isinstance(params, dict) else {}
        try:
            authenticated = await self._authenticate(payload)
        except RequestError as error:
            raise ConnectionRejectionError({"reason": error.message}) from error
        if not authenticated.principal.is_authenticated:
            raise ConnectionRejectionError(
                {"reason": 'Send credentials in connection_init: {"authorization": "Bearer …"}.'}
            )
        context.sign_in(authenticated)
        if authenticated.expires_at is not None and isinstance(context.request, WebSocket):
            self._close_at_expiry(context.request, authenticated.expires_at)
        return UNSET  # type: ignore[no-any-return]

    def _close_at_expiry(self, websocket: WebSocket, expires_at: datetime) -> None:
        async def close_when_expired() -> None:
            delay = (expires_at - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(max(0.0, delay))
            with contextlib.suppress(RuntimeError, OSError):
                if websocket.application_state == WebSocketState.CONNECTED:
                    await websocket.close(
                        code=4403, reason="Access token expired; reconnect with a fresh one."
                    )

        task = asyncio.create_task(close_when_expired(), name="websocket-token-expiry")
        self._expiry_tasks[websocket] = task

    async def handle_http(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            return _error_response(
                RequestError(405, "METHOD_NOT_ALLOWED", "Use GET or POST.", {"Allow": "GET, POST"})
            )
        if self._wants_graphiql(request):
            if self.graphql_ide:
                return HTMLResponse(self.graphql_ide_html)
            return _error_response(RequestError(404, "NOT_FOUND", "GraphiQL is not enabled here."))
        media_type = response_media_type(request.headers.get("accept"))
        if media_type is None:
            return _error_response(
                RequestError(406, "NOT_ACCEPTABLE", f"Accept {GRAPHQL_RESPONSE_JSON} or {JSON}.")
            )
        try:
            params = await self._read_params(request)
            context = await self.get_context(request)
            result = await self._execute(request, params, context)
        except RequestError as error:
            return _error_response(error, media_type)
        return self._result_response(result, media_type, request_id_of(request.scope))

    @staticmethod
    def _wants_graphiql(request: Request) -> bool:
        return (
            request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _read_params(self, request: Request) -> GraphQLParams:
        if request.method == "GET":
            query_params = request.query_params
            variables = query_params.get("variables")
            extensions = query_params.get("extensions")
            return _params_from(
                {
                    "query": query_params.get("query"),
                    "operationName": query_params.get("operationName"),
                    "variables": _decode_json_object(variables, "`variables`")
                    if variables
                    else None,
                    "extensions": _decode_json_object(extensions, "`extensions`")
                    if extensions
                    else None,
                }
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise RequestError(
                415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json."
            )
        return _params_from(_decode_json_object(await self._read_body(request), "The request body"))

    async def _read_body(self, request: Request) -> bytes:
        """The body, refused with 413 as soon as it grows past the limit."""
        too_large = RequestError(
            413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {self.max_body_bytes} bytes."
        )
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_large
        chunks = bytearray()
        async for chunk in request.stream():
            chunks.extend(chunk)
            if len(chunks) > self.max_body_bytes:
                raise too_large
        return bytes(chunks)

    async def _execute(
        self, request: Request, params: GraphQLParams, context: Context
    ) -> ExecutionResult:
        is_get = request.method == "GET"
        try:
            return await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=QUERY_ONLY if is_get else QUERY_OR_MUTATION,
                operation_extensions=params.extensions,
            )
        except InvalidOperationTypeError as error:
            if is_get and error.operation_type is OperationType.MUTATION:
                raise RequestError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "Mutations are only accepted over POST.",
                    {"Allow": "POST"},
                ) from error
            raise RequestError(
                400,
                "BAD_REQUEST",
                "Subscriptions need a WebSocket connection (graphql-transport-ws).",
            ) from error
        except CannotGetOperationTypeError as error:
            raise RequestError(400, "BAD_REQUEST", error.as_http_error_reason()) from error
        except MissingQueryError as error:
            raise RequestError(
                400, "BAD_REQUEST", "No GraphQL query found in the request."
            ) from error

    @staticmethod
    def _result_response(result: ExecutionResult, media_type: str, request_id: str) -> Response:
        body: dict[str, Any] = {}
        errors = [finalize_error(error, request_id, None) for error in result.errors or ()]
        if errors:
            body["errors"] = [error.formatted for error in errors]
        body["data"] = result.data
        if result.extensions:
            body["extensions"] = result.extensions
        # A request that never reached execution (unparsable, invalid, bad
        # variables) is a 400 with graphql-response+json; application/json
        # answers 200 to every well-formed request, as the spec asks.
        not_executed = result.data is None and bool(errors) and all(e.path is None for e in errors)
        status = 400 if media_type == GRAPHQL_RESPONSE_JSON and not_executed else 200
        return Response(_json_body(body), status, media_type=media_type)
