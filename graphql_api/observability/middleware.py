"""The HTTP side of observability: a server span, the log context, request counts.

Runs right after the request-id middleware, so every line logged while the
request is handled carries its request id and trace id. An incoming W3C
`traceparent` header continues the caller's trace.
"""

from __future__ import annotations

from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.observability import context as log_context
from graphql_api.observability import metrics
from graphql_api.observability.request_id import request_id_of
from graphql_api.observability.tracing import tracer

KNOWN_ROUTES = frozenset({"/", "/graphql", "/healthz", "/readyz", "/metrics"})


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers") or ()
        }
        path = scope.get("path", "")
        route = path if path in KNOWN_ROUTES else "other"
        method = scope.get("method", "WS")
        with tracer().start_as_current_span(
            f"{method} {route}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        ) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            with log_context.scope(request_id=request_id_of(scope), trace_id=trace_id):
                if scope["type"] == "websocket":
                    metrics.WEBSOCKETS.inc()
                    try:
                        await self.app(scope, receive, send)
                    finally:
                        metrics.WEBSOCKETS.dec()
                    return
                status = 500

                async def observe(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = int(message["status"])
                    await send(message)

                try:
                    await self.app(scope, receive, observe)
                finally:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                    metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
