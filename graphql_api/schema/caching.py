"""Parsed and validated documents, reused: per text through LRU caches, and the
trusted (pinned) documents always, parsed and validated once at start."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache

from graphql_api.schema.persisted import PinnedDocuments


def _pinned(execution_context: Any) -> PinnedDocuments | None:
    runtime = getattr(execution_context.context, "runtime", None)
    traffic = getattr(runtime, "traffic", None)
    return getattr(traffic, "pinned", None)


class DocumentCache(ParserCache):
    """Strawberry's parser cache, plus pinned documents, minus raising from its hook.

    A syntax error raised here escapes Strawberry's handling (over HTTP it lost
    its code, over a WebSocket it was never reported); leaving the document
    unparsed makes Strawberry parse it again inside its own error handling.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        pinned = _pinned(context)
        if pinned is not None and context.query in pinned.documents:
            context.graphql_document = pinned.documents[context.query]
        else:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.cached_parse_document(
                    context.query, **context.parse_options
                )
        yield


class PinnedValidationCache(ValidationCache):
    """Strawberry's validation cache; pinned documents were validated at start."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        pinned = _pinned(context)
        if pinned is not None and pinned.is_validated(context.graphql_document):
            context.pre_execution_errors = []
            yield
            return
        yield from super().on_validate()
