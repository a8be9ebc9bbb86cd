"""OpenTelemetry: one tracer provider per process, spans exported only when asked.

Spans exist always (so logs carry trace ids and incoming W3C `traceparent`
headers continue the caller's trace); they leave the process only when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set, by OTLP over HTTP in batches. SQL
statements are traced through SQLAlchemy's instrumentation, Redis commands
through redis-py's.
"""

from __future__ import annotations

import logging
import threading

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

from graphql_api.settings import Settings

logger = logging.getLogger(__name__)
TRACER_NAME = "graphql_api"
_lock = threading.Lock()


def configure_tracing(settings: Settings) -> TracerProvider:
    """The process's provider (created once; later apps in the process share it)."""
    with _lock:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider(
                resource=Resource.create({"service.name": settings.otel_service_name})
            )
            trace.set_tracer_provider(provider)
            RedisInstrumentor().instrument(tracer_provider=provider)
        exporting = getattr(provider, "_graphql_api_otlp", False)
        if settings.otel_exporter_otlp_endpoint and not exporting:
            endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            provider._graphql_api_otlp = True  # type: ignore[attr-defined]
            logger.info("exporting traces to %s", endpoint)
        return provider


def trace_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    """A span for each SQL statement this engine runs.

    The instrumentation's engine tracer is attached to this engine alone:
    `SQLAlchemyInstrumentor().instrument()` would patch `create_engine` for the
    whole process, and does nothing the second time it is called.
    """
    usage = metrics.get_meter(TRACER_NAME).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(  # type: ignore[no-untyped-call]
        provider.get_tracer("graphql_api.sql"), engine.sync_engine, usage
    )


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)
