"""`create_app(settings)`: the Starlette application with its routes and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from graphql_api.audit import recorder as audit_recorder
from graphql_api.db.engine import create_engine
from graphql_api.db.session import Database
from graphql_api.events.system import EventSystem
from graphql_api.http.security import SecurityHeadersMiddleware
from graphql_api.http.view import GraphQLView
from graphql_api.observability import metrics
from graphql_api.observability.health import healthz, metrics_endpoint, readyz_endpoint
from graphql_api.observability.logging import configure_logging
from graphql_api.observability.middleware import ObservabilityMiddleware
from graphql_api.observability.request_id import RequestIdMiddleware
from graphql_api.observability.tracing import configure_tracing, trace_engine
from graphql_api.schema.build import build_schema
from graphql_api.schema.context import Runtime
from graphql_api.schema.persisted import PersistedQueries, PinnedDocuments, TrustedDocuments
from graphql_api.schema.traffic import TrafficPolicy
from graphql_api.settings import Settings
from graphql_api.users.runtime import IdentityRuntime

# Responses allocate thousands of short-lived objects, and CPython's default
# thresholds run the cyclic collector over them again and again. Collecting the
# young generation less often (and freezing the objects that live as long as
# the process) cuts that; bench/results.md measures it (GC_FREEZE=false rows).
GC_THRESHOLDS = (50_000, 50, 100)


def tune_garbage_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def shut_down_subscriptions(
    runtime: Runtime, view: GraphQLView, drain_seconds: float = 10.0
) -> None:
    """Close subscriptions without losing what they were owed, then close with 1001.

    Events already committed are sequenced and delivered first; every feed then
    ends after the events in its queue; feeds get `drain_seconds` to be sent
    (a client that stopped reading is not waited for beyond that).
    """
    events = runtime.events
    with contextlib.suppress(Exception):
        await events.publisher.drain()
        await events.hub.catch_up()
    await events.hub.shutdown()
    await events.hub.until_no_subscribers(drain_seconds)
    await view.close_websockets(code=1001, reason="Server is shutting down; reconnect.")


def graceful_sigterm(runtime: Runtime, view: GraphQLView) -> Callable[[], None]:
    """On SIGTERM, close subscriptions cleanly before uvicorn starts its own shutdown.

    uvicorn closes open websockets with 1012 when it shuts down; we want clients
    to get the events already in flight and then 1001 ("going away"). So the
    handler uvicorn installed is wrapped: ours runs first, then hands over.
    Returns a function that restores the previous handler.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    async def close_then_hand_over(signum: int, frame: FrameType | None) -> None:
        await shut_down_subscriptions(runtime, view)
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(
            lambda: loop.create_task(close_then_hand_over(signum, frame), name="graceful-sigterm")
        )

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


async def to_graphiql(_: Request) -> Response:
    return RedirectResponse("/graphql")


def middleware(settings: Settings) -> list[Middleware]:
    """Request ids first, then spans and log context (everything after logs with them),
    then security headers (outside CORS, so its preflight answers carry them too), then CORS."""
    stack = [
        Middleware(RequestIdMiddleware),
        Middleware(ObservabilityMiddleware),
        Middleware(SecurityHeadersMiddleware, hsts_seconds=settings.hsts_seconds),
    ]
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "X-API-Key",
                    "X-Request-ID",
                    "Apollo-Require-Preflight",
                    "X-Apollo-Operation-Name",
                ],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
        )
    return stack


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings)
    tracer_provider = configure_tracing(settings)
    audit_recorder.install()
    engine = create_engine(settings)
    trace_engine(engine, tracer_provider)
    metrics.observe_pool(engine)
    db = Database(engine)
    identity = IdentityRuntime.from_settings(settings)
    schema = build_schema(settings)
    pinned = PinnedDocuments()
    trusted = (
        TrustedDocuments.load(Path(settings.trusted_documents_path), schema._schema, pinned)
        if settings.trusted_documents_path
        else TrustedDocuments()
    )
    runtime = Runtime(
        settings=settings,
        db=db,
        events=EventSystem(settings, db),
        identity=identity,
        traffic=TrafficPolicy.from_settings(settings, pinned),
        persisted=PersistedQueries(identity.store, trusted, settings.apq_ttl_seconds),
    )
    view = GraphQLView(schema, runtime)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.events.start()
        restore_signals = graceful_sigterm(runtime, view)
        if settings.gc_freeze:
            tune_garbage_collector()
        try:
            yield
        finally:
            restore_signals()
            await shut_down_subscriptions(runtime, view)
            await runtime.events.stop()
            await runtime.drain_background()
            await runtime.identity.close()
            await runtime.traffic.close()
            await runtime.db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/readyz", readyz_endpoint(settings, db)),
            Route("/metrics", metrics_endpoint(settings)),
            Route("/", to_graphiql),
        ],
        middleware=middleware(settings),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
