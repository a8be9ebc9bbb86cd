"""`create_app(settings)`: the Starlette application with its routes and lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from graphql_api.db.engine import create_engine
from graphql_api.db.session import Database
from graphql_api.http.view import GraphQLView
from graphql_api.observability.logging import configure_logging
from graphql_api.observability.request_id import RequestIdMiddleware
from graphql_api.schema.build import build_schema
from graphql_api.schema.context import Runtime
from graphql_api.settings import Settings

# Responses allocate thousands of short-lived objects; with CPython's default
# thresholds the cyclic collector ran for most of a nested query's CPU time.
# Collecting the young generation less often (and freezing the objects that
# live as long as the process) halves that cost; bench/results.md measures it.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_garbage_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def to_graphiql(_: Request) -> Response:
    return RedirectResponse("/graphql")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings)
    runtime = Runtime(settings=settings, db=Database(create_engine(settings)))
    view = GraphQLView(build_schema(settings), runtime)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if settings.gc_freeze:
            tune_garbage_collector()
        try:
            yield
        finally:
            await runtime.db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/", to_graphiql),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
