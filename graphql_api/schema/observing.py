"""Observe every GraphQL operation: a span tree, metrics, and one log line.

Outermost of the schema's extensions, so what it records is the final word:
the error codes the client received and the time the whole operation took.
Spans: `graphql.operation` (renamed `query FundsPage` once the operation is
known) with `graphql.parse`, `graphql.validate` and `graphql.execute` below it;
SQL and Redis spans nest under whichever is running. Resolver spans cost a
wrapper per field, so they exist only in `ResolverTracing`, which the schema
includes when TRACE_RESOLVERS is set.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from graphql import StringValueNode, parse, print_ast
from graphql.language import Visitor, visit
from opentelemetry.trace import Status, StatusCode
from strawberry.extensions import SchemaExtension

from graphql_api.observability import context as log_context
from graphql_api.observability import metrics
from graphql_api.observability.redaction import redact
from graphql_api.observability.tracing import tracer

access_log = logging.getLogger("graphql_api.access")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_OPERATION_LABELS = 500
_labelled_names: set[str] = set()
MAX_LOGGED_DOCUMENT_CHARS = 4000


def operation_label(name: str | None) -> str:
    """A bounded set of label values: client-chosen names must not explode metrics."""
    if name is None:
        return "anonymous"
    if name in _labelled_names:
        return name
    if _NAME.fullmatch(name) and len(_labelled_names) < MAX_OPERATION_LABELS:
        _labelled_names.add(name)
        return name
    return "other"


class _HideStrings(Visitor):
    def enter_string_value(self, node: StringValueNode, *_: Any) -> StringValueNode:
        return StringValueNode(value="***", block=False)


def sanitised_document(document: str | None) -> str | None:
    """The document without its string literals (where people put emails and secrets)."""
    if not document:
        return None
    try:
        printed = print_ast(visit(parse(document, no_location=True), _HideStrings()))
    except Exception:  # a document that did not parse: log nothing of it
        return "(unparsable document)"
    return printed[:MAX_LOGGED_DOCUMENT_CHARS]


class Observability(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        execution = self.execution_context
        request = execution.context
        principal = getattr(request, "principal", None)
        fields = {
            "principal_id": str(principal.id) if principal and principal.id else None,
            "principal_kind": principal.kind.value if principal else None,
        }
        with (
            tracer().start_as_current_span("graphql.operation") as span,
            log_context.scope(**fields),
        ):
            yield
            name = execution.operation_name
            try:
                kind = execution.operation_type.value
            except Exception:  # no document (it did not parse)
                kind = "unknown"
            span.update_name(f"{kind} {name or 'anonymous'}")
            span.set_attribute("graphql.operation.name", name or "")
            span.set_attribute("graphql.operation.type", kind)
            codes = _error_codes(execution.result)
            if codes:
                span.set_status(Status(StatusCode.ERROR, ",".join(sorted(set(codes)))))
            self._record(execution, name, kind, codes, time.perf_counter() - started)

    def _record(
        self, execution: Any, name: str | None, kind: str, codes: list[str], seconds: float
    ) -> None:
        metrics.OPERATION_SECONDS.labels(operation_label(name), kind).observe(seconds)
        for code in codes:
            metrics.ERRORS.labels(code).inc()
        settings = getattr(getattr(execution.context, "runtime", None), "settings", None)
        details = {
            "operation_name": name,
            "operation_type": kind,
            "duration_ms": round(seconds * 1000, 2),
            "outcome": "error" if codes else "ok",
            "error_codes": sorted(set(codes)) or None,
        }
        access_log.info("%s %s %s", kind, name or "anonymous", details["outcome"], extra=details)
        if settings is not None and seconds >= settings.slow_operation_seconds:
            access_log.warning(
                "slow operation: %s %s took %.0f ms",
                kind,
                name or "anonymous",
                seconds * 1000,
                extra={
                    **details,
                    "document": sanitised_document(execution.query),
                    "variables": redact(execution.variables),
                },
            )

    def on_parse(self) -> Iterator[None]:
        with tracer().start_as_current_span("graphql.parse"):
            yield

    def on_validate(self) -> Iterator[None]:
        with tracer().start_as_current_span("graphql.validate"):
            yield

    def on_execute(self) -> Iterator[None]:
        with tracer().start_as_current_span("graphql.execute"):
            yield


class ResolverTracing(SchemaExtension):
    """A span per resolved field (TRACE_RESOLVERS=true): detailed, and not free."""

    async def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        with tracer().start_as_current_span(f"resolve {info.parent_type.name}.{info.field_name}"):
            result = _next(root, info, *args, **kwargs)
            if isinstance(result, Awaitable):
                result = await result
            return result


def _error_codes(result: Any) -> list[str]:
    errors = getattr(result, "errors", None) or []
    return [str((error.extensions or {}).get("code", "UNKNOWN")) for error in errors]
