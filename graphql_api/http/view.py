"""The `/graphql` endpoint: GraphQL over HTTP as the spec says, WebSockets via Strawberry.

HTTP is handled here rather than by Strawberry's view because the spec's status
codes (400 for unparsable or invalid documents with graphql-response+json,
405 for a mutation over GET, 406, 413, 415) and JSON error bodies for malformed
requests are part of our contract. WebSockets (subscriptions) stay Strawberry's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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
from graphql_api.auth.principal import ADMINS, ANONYMOUS
from graphql_api.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON, response_media_type
from graphql_api.http.requests import GraphQLParams, RequestError, read_operations
from graphql_api.http.responses import (
    error_body,
    error_response,
    json_body,
    result_body,
    result_response,
)
from graphql_api.observability.request_id import request_id_of
from graphql_api.schema.build import Schema
from graphql_api.schema.context import Context, Runtime
from graphql_api.schema.errors import ApiErrorCode
from graphql_api.schema.extensions import UNAVAILABLE_MESSAGE, is_unavailable
from graphql_api.schema.persisted import PersistedQueryError
from graphql_api.users.service import UnauthenticatedError

QUERY_ONLY = frozenset({OperationType.QUERY})
QUERY_OR_MUTATION = frozenset({OperationType.QUERY, OperationType.MUTATION})

logger = logging.getLogger(__name__)


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
        except Exception as error:
            # Checking a credential needs the database (and Redis): when one is
            # down the caller gets a clean, retryable refusal, not a 500.
            if not is_unavailable(error):
                raise
            logger.warning("cannot authenticate: %s", type(error).__name__)
            raise RequestError(
                503,
                ApiErrorCode.SERVICE_UNAVAILABLE.value,
                UNAVAILABLE_MESSAGE,
                {"Retry-After": "5"},
                graphql_status=True,
            ) from error

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a WebSocket from its connection_init payload (4403 when refused).

        `{"authorization": "Bearer <token>"}` (any letter case of the key) or
        `{"x-api-key": "<key>"}`. The connection closes when the token expires.
        """
        params = context.connection_params
        payload = params if isinstance(params, dict) else {}
        try:
            credentials = Credentials.from_headers(payload)
            authenticated = await self._authenticate(payload)
        except (RequestError, UnauthenticatedError) as error:
            raise ConnectionRejectionError({"reason": str(error)}) from error
        if not authenticated.principal.is_authenticated:
            raise ConnectionRejectionError(
                {"reason": 'Send credentials in connection_init: {"authorization": "Bearer …"}.'}
            )
        context.sign_in(authenticated, credentials)
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

    def _before_graphql(self, request: Request) -> Response | str:
        """An answer that is not GraphQL (405, GraphiQL, 406), or the response media type."""
        if request.method not in ("GET", "POST"):
            return error_response(
                RequestError(405, "METHOD_NOT_ALLOWED", "Use GET or POST.", {"Allow": "GET, POST"})
            )
        if self._wants_graphiql(request):
            if self.graphql_ide:
                return HTMLResponse(self.graphql_ide_html)
            return error_response(RequestError(404, "NOT_FOUND", "GraphiQL is not enabled here."))
        media_type = response_media_type(request.headers.get("accept"))
        if media_type is None:
            return error_response(
                RequestError(406, "NOT_ACCEPTABLE", f"Accept {GRAPHQL_RESPONSE_JSON} or {JSON}.")
            )
        return media_type

    async def handle_http(self, request: Request) -> Response:
        media_type = self._before_graphql(request)
        if isinstance(media_type, Response):
            return media_type
        request_id = request_id_of(request.scope)
        settings = self.runtime.settings
        try:
            operations = await read_operations(
                request,
                settings.max_body_bytes,
                settings.batching_enabled,
                settings.max_batch_operations,
            )
            context = await self.get_context(request)
            if isinstance(operations, list):
                return await self._run_batch(request, operations, context, media_type)
            result = await self._run(request, operations, context)
        except RequestError as error:
            return error_response(error, media_type)
        return result_response(result, media_type, request_id)

    async def _run_batch(
        self,
        request: Request,
        operations: list[GraphQLParams],
        context: Context,
        media_type: str,
    ) -> Response:
        """Each operation of a batch runs (and is charged) on its own, in order."""
        bodies: list[dict[str, Any]] = []
        for params in operations:
            try:
                result = await self._run(request, params, context)
            except RequestError as error:
                bodies.append(error_body(error))
                continue
            body, _ = result_body(result, context.request_id)
            bodies.append(body)
        return Response(json_body(bodies), 200, media_type=media_type)

    @staticmethod
    def _wants_graphiql(request: Request) -> bool:
        return (
            request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _document(self, params: GraphQLParams, context: Context) -> str | None:
        """The document to run: sent, persisted (APQ) or trusted; within the size limit."""
        persisted = self.runtime.persisted
        if params.query is not None:
            # Before document_for: an APQ registration stores the document, and
            # nothing too large or untrusted may be stored.
            self._check_document(params.query, context)
        try:
            query = await persisted.document_for(params.query, params.extensions)
        except PersistedQueryError as error:
            found = error.status == 200
            raise RequestError(
                400 if found else error.status, error.code, error.message, graphql_status=found
            ) from error
        if query is not None and params.query is None:
            self._check_document(query, context)
        return query

    def _check_document(self, query: str, context: Context) -> None:
        """Refuse a document over the size limit, or untrusted when only trusted ones run."""
        settings = self.runtime.settings
        persisted = self.runtime.persisted
        if len(query) > settings.max_document_chars:
            raise RequestError(
                400,
                "QUERY_TOO_COMPLEX",
                f"The document has {len(query)} characters; the maximum is "
                f"{settings.max_document_chars}.",
                graphql_status=True,
                limit="characters",
                measured=len(query),
                maximum=settings.max_document_chars,
            )
        if settings.trusted_documents_only and not persisted.trusted.trusts(query):
            exempt = settings.trusted_documents_admin_exempt and context.principal.has_role(ADMINS)
            if not exempt:
                raise RequestError(
                    400,
                    "PERSISTED_QUERY_REQUIRED",
                    "This server only runs trusted documents: send the hash of one from the "
                    "manifest as extensions.persistedQuery.sha256Hash.",
                    graphql_status=True,
                )

    async def _run(
        self, request: Request, params: GraphQLParams, context: Context
    ) -> ExecutionResult:
        query = await self._document(params, context)
        is_get = request.method == "GET"
        try:
            async with asyncio.timeout(self.runtime.settings.operation_timeout_seconds):
                return await self.schema.execute(
                    query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types=QUERY_ONLY if is_get else QUERY_OR_MUTATION,
                    operation_extensions=params.extensions,
                )
        except TimeoutError as error:
            limit = self.runtime.settings.operation_timeout_seconds
            raise RequestError(
                504,
                "OPERATION_TIMEOUT",
                f"The operation took longer than {limit:g} second{'' if limit == 1 else 's'} "
                "and was stopped; "
                "ask for less (smaller pages, fewer fields).",
                graphql_status=True,
            ) from error
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
