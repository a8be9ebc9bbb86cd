"""Parsed and validated documents, reused: per text through LRU caches, and the
trusted (pinned) documents always, parsed and validated once at start."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from graphql_api.observability import metrics
from graphql_api.schema.persisted import PinnedDocuments
from graphql_api.schema.traffic import limit_errors


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
            cache_info = getattr(self.cached_parse_document, "cache_info", None)
            hits_before = cache_info().hits if cache_info else 0
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.cached_parse_document(
                    context.query, **context.parse_options
                )
            if cache_info is not None:
                metrics.hit("parsed_documents", cache_info().hits > hits_before)
        yield


@cache
def _validator(maxsize: int | None) -> Callable[..., list[GraphQLError]]:
    """Strawberry's validation (its rules added), cached per document, optionally
    without "Did you mean …" suggestions (which would name what introspection hides)."""

    @lru_cache(maxsize=maxsize)
    def validate_document(
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        hide_suggestions: bool,
    ) -> list[GraphQLError]:
        return validate(
            schema,
            document,
            (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
            hide_suggestions=hide_suggestions,
        )

    return validate_document


class PinnedValidationCache(ValidationCache):
    """Strawberry's validation cache; pinned documents were validated at start.

    With field suggestions disabled (production), every suggestion is left out:
    unknown arguments, types, enum values and input fields as well as fields.
    """

    def __init__(self, maxsize: int | None = 128) -> None:
        super().__init__(maxsize=maxsize)
        self._validate = _validator(maxsize)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        # The operation limits come first, pinned documents included: validating a
        # hostile document within the token limit (hundreds of fields with the same
        # name) costs far more than measuring it.
        if refusals := limit_errors(context):
            context.pre_execution_errors = refusals
            yield
            return
        pinned = _pinned(context)
        if pinned is not None and pinned.is_validated(context.graphql_document):
            context.pre_execution_errors = []
            yield
            return
        context.pre_execution_errors = self._validate(
            context.schema._schema,
            context.graphql_document,
            context.validation_rules,
            context.schema.config.disable_field_suggestions,
        )
        yield
