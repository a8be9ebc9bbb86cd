"""Prometheus metrics, correct with one process or with several workers.

With `PROMETHEUS_MULTIPROC_DIR` set (`graphql-api serve --workers N` sets it),
prometheus-client keeps each worker's values in files there and `/metrics`
adds them up, whichever worker answers the scrape. Gauges say how to combine
workers (`livesum`: the sum over live processes).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

OPERATION_SECONDS = Histogram(
    "graphql_operation_duration_seconds",
    "Time to answer one GraphQL operation.",
    ["operation_name", "operation_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ERRORS = Counter("graphql_errors_total", "Errors in GraphQL responses, by code.", ["code"])
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP responses, by method, route and status.",
    ["method", "route", "status"],
)
WEBSOCKETS = Gauge(
    "websocket_connections_active", "Open WebSocket connections.", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "graphql_subscriptions_active", "Running subscriptions.", multiprocess_mode="livesum"
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Database connections checked out.", multiprocess_mode="livesum"
)
DB_POOL_OVERFLOW = Gauge(
    "db_pool_overflow",
    "Connections open beyond the pool size (negative: room left in the pool).",
    multiprocess_mode="livesum",
)
OUTBOX_BACKLOG = Gauge(
    "outbox_backlog_events",
    "Committed events not yet published to the broker (seen by the relay).",
    multiprocess_mode="max",
)
PUBLISH_LAG = Histogram(
    "outbox_publish_lag_seconds",
    "Time from an event's commit to its publication.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300),
)
RATE_LIMITED = Counter(
    "rate_limit_rejections_total", "Requests refused by rate limits.", ["limiter"]
)
CACHE_LOOKUPS = Counter(
    "cache_lookups_total", "Cache lookups by cache and result (hit or miss).", ["cache", "result"]
)
FALLBACKS = Counter(
    "dependency_fallbacks_total",
    "Calls served by in-process state because a dependency was unreachable.",
    ["dependency"],
)


def hit(cache: str, found: bool) -> None:
    CACHE_LOOKUPS.labels(cache, "hit" if found else "miss").inc()


def render() -> tuple[bytes, str]:
    """The exposition text for every worker (or this process alone)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_pool(engine: AsyncEngine) -> None:
    """Keep the pool gauges current from the pool's own checkout and checkin events."""
    pool = engine.sync_engine.pool

    def checked_out(*_: object) -> None:
        DB_POOL_IN_USE.inc()
        overflow = getattr(pool, "overflow", None)
        if callable(overflow):
            DB_POOL_OVERFLOW.set(overflow())

    def checked_in(*_: object) -> None:
        DB_POOL_IN_USE.dec()

    event.listen(engine.sync_engine, "checkout", checked_out)
    event.listen(engine.sync_engine, "checkin", checked_in)
