"""Build the Strawberry schema: types, scalars, and the extensions settings ask for."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from graphql_api.fund_events.types import EVENT_TYPES
from graphql_api.schema.execution import FastExecutor
from graphql_api.schema.extensions import ErrorHandling
from graphql_api.schema.root import Mutation, Query, Subscription
from graphql_api.schema.scalars import SCALAR_OVERRIDES
from graphql_api.settings import Settings


class ReportingParserCache(ParserCache):
    """Strawberry's parser cache, minus raising a syntax error from its hook.

    Raised there, the error escapes Strawberry's handling: over HTTP it lost its
    code, over a WebSocket it was never reported. Leaving the document unparsed
    makes Strawberry parse it again inside its own error handling.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class Schema(strawberry.Schema):
    """Strawberry's schema, minus its own error logging (ErrorHandling logs what matters)."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None


def build_schema(settings: Settings | None = None) -> Schema:
    """The schema for these settings (production hides introspection and suggestions)."""
    settings = settings or Settings()
    extensions: list[type[SchemaExtension] | Any] = [
        ErrorHandling,
        lambda: ReportingParserCache(maxsize=settings.parser_cache_size),
        lambda: ValidationCache(maxsize=settings.validation_cache_size),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=EVENT_TYPES,
        extensions=extensions,
        scalar_overrides=dict(SCALAR_OVERRIDES),
        config=StrawberryConfig(disable_field_suggestions=settings.is_production),
        execution_context_class=FastExecutor,
    )
