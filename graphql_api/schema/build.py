"""Build the Strawberry schema: types, scalars, and the extensions settings ask for."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig

from graphql_api.fund_events.types import EVENT_TYPES
from graphql_api.schema.caching import DocumentCache, PinnedValidationCache
from graphql_api.schema.execution import FastExecutor
from graphql_api.schema.extensions import ErrorHandling
from graphql_api.schema.observing import Observability, ResolverTracing
from graphql_api.schema.root import Mutation, Query, Subscription
from graphql_api.schema.scalars import SCALAR_OVERRIDES
from graphql_api.schema.traffic import TrafficControl
from graphql_api.settings import Settings


class Schema(strawberry.Schema):
    """Strawberry's schema, minus its own error logging (ErrorHandling logs what matters)."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None


def build_schema(settings: Settings | None = None) -> Schema:
    """The schema for these settings (production hides introspection and suggestions)."""
    settings = settings or Settings()
    extensions: list[type[SchemaExtension] | Any] = [
        Observability,
        ErrorHandling,
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: DocumentCache(maxsize=settings.parser_cache_size),
        lambda: PinnedValidationCache(maxsize=settings.validation_cache_size),
        TrafficControl,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    if settings.trace_resolvers:
        extensions.append(ResolverTracing)
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
