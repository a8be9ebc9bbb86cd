"""Traffic control before execution: operation limits, query cost, cost-based rate limiting.

Every response carries `extensions.cost` (as GitHub's and Shopify's APIs do):
the requested cost was taken from the caller's bucket before the operation
ran; what the response did not use (its actual cost) is given back after.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graphql_api.auth.principal import Principal, PrincipalKind, Role
from graphql_api.observability import metrics
from graphql_api.ratelimit import BucketLimits, Buckets, MemoryBuckets, RedisBuckets, Taken
from graphql_api.resilience import CircuitBreaker, FallbackBuckets
from graphql_api.schema.errors import ApiErrorCode, api_error
from graphql_api.schema.limits import (
    CircularFragmentError,
    Shape,
    actual_cost,
    measure,
    requested_cost,
    select_operation,
)
from graphql_api.schema.persisted import PinnedDocuments
from graphql_api.settings import Settings

# graphql-core's suggestion text: " Did you mean 'a', 'b', or 'c'?" (or "the enum value 'a'").
SUGGESTION = re.compile(r" Did you mean [^?]*\?")


@dataclass(frozen=True, slots=True)
class OperationLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_directives: int = 50
    max_root_fields: int = 20
    max_cost: int = 5_000
    default_page_size: int = 20


@dataclass
class TrafficPolicy:
    """What the traffic controls allow, and the buckets they draw from."""

    limits: OperationLimits
    buckets: Buckets | None
    default_bucket: BucketLimits
    bucket_by_role: dict[Role, BucketLimits] = field(default_factory=dict)
    pinned: PinnedDocuments = field(default_factory=PinnedDocuments)
    # By parsed document and operation name: each operation of a document has its own shape.
    _shapes: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Shape | str]] = field(
        default_factory=OrderedDict
    )

    @classmethod
    def from_settings(cls, settings: Settings, pinned: PinnedDocuments) -> TrafficPolicy:
        buckets: Buckets | None = None
        if settings.rate_limit_enabled:
            buckets = (
                FallbackBuckets(RedisBuckets(settings.redis_url), CircuitBreaker("rate limits"))
                if settings.redis_url
                else MemoryBuckets()
            )
        return cls(
            limits=OperationLimits(
                max_depth=settings.max_depth,
                max_aliases=settings.max_aliases,
                max_directives=settings.max_directives,
                max_root_fields=settings.max_root_fields,
                max_cost=settings.max_query_cost,
            ),
            buckets=buckets,
            default_bucket=BucketLimits(
                settings.rate_limit_capacity, settings.rate_limit_refill_per_second
            ),
            bucket_by_role={
                Role(role): BucketLimits(capacity, refill)
                for role, (capacity, refill) in settings.rate_limits_by_role.items()
            },
            pinned=pinned,
        )

    async def close(self) -> None:
        if self.buckets is not None:
            await self.buckets.close()

    def bucket_for(self, principal: Principal, client_ip: str) -> tuple[str, BucketLimits]:
        """Whose bucket pays: the user, the API key, or the client IP for anonymous calls."""
        limits = (
            self.bucket_by_role.get(principal.role, self.default_bucket)
            if principal.role
            else self.default_bucket
        )
        if principal.kind is PrincipalKind.ANONYMOUS or principal.id is None:
            return f"ip:{client_ip}", limits
        return f"{principal.kind.value.lower()}:{principal.id}", limits

    def shape_of(self, document: DocumentNode, operation_name: str | None) -> Shape | str | None:
        """The operation's shape, measured once per parsed document and operation name
        (or why it is refused)."""
        key = (id(document), operation_name)
        cached = self._shapes.get(key)
        if cached is not None and cached[0] is document:
            return cached[1]
        operation = select_operation(document, operation_name)
        if operation is None:
            return None
        try:
            shape: Shape | str = measure(document, operation)
        except CircularFragmentError as error:
            shape = str(error)
        self._shapes[key] = (document, shape)
        if len(self._shapes) > 2048:
            self._shapes.popitem(last=False)
        return shape


def _policy(execution_context: Any) -> TrafficPolicy | None:
    runtime = getattr(execution_context.context, "runtime", None)
    return getattr(runtime, "traffic", None)


def _too_complex(what: str, measured: int, maximum: int) -> GraphQLError:
    return api_error(
        ApiErrorCode.QUERY_TOO_COMPLEX,
        f"The operation has {measured} {what}; the maximum is {maximum}.",
        limit=what,
        measured=measured,
        maximum=maximum,
    )


def shape_errors(shape: Shape | str, limits: OperationLimits) -> list[GraphQLError]:
    if isinstance(shape, str):
        return [api_error(ApiErrorCode.QUERY_TOO_COMPLEX, shape, limit="circular fragments")]
    checks = (
        ("levels of nesting", shape.depth, limits.max_depth),
        ("aliases", shape.aliases, limits.max_aliases),
        ("directives", shape.directives, limits.max_directives),
        ("root fields", shape.root_fields, limits.max_root_fields),
    )
    return [
        _too_complex(what, measured, maximum)
        for what, measured, maximum in checks
        if measured > maximum
    ]


def limit_errors(execution_context: Any) -> list[GraphQLError]:
    """The operation limits a document breaks (QUERY_TOO_COMPLEX), measured once per
    document. Checked by the validation cache before it validates (caching.py)."""
    policy = _policy(execution_context)
    document = execution_context.graphql_document
    if policy is None or document is None:
        return []
    shape = policy.shape_of(document, execution_context.operation_name)
    return shape_errors(shape, policy.limits) if shape is not None else []


class TrafficControl(SchemaExtension):
    """Refuse operations past the cost limit, charge their cost, report it (module
    docstring); the shape limits are refused before validation (`limit_errors`)."""

    def __init__(self) -> None:
        self._charge: tuple[str, BucketLimits, int] | None = None
        self._cost: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        policy = _policy(context)
        document = context.graphql_document
        operation = select_operation(document, context.operation_name) if document else None
        if policy is None or operation is None or document is None:
            yield
            self._hide_suggestions()
            return
        cost = requested_cost(
            context.schema._schema,
            document,
            operation,
            context.variables,
            policy.limits.default_page_size,
        )
        request = context.context
        key, limits = policy.bucket_for(request.principal, request.client_ip)
        if cost > policy.limits.max_cost:
            # Nothing is taken; the caller still learns what its bucket holds.
            available = limits.capacity
            if policy.buckets is not None:
                available = (await policy.buckets.take(key, 0, limits)).remaining
            self._cost = _report(cost, 0, limits, available)
            refuse(
                context,
                api_error(
                    ApiErrorCode.QUERY_TOO_COMPLEX,
                    f"The operation's cost is {cost} points; the maximum is "
                    f"{policy.limits.max_cost}. Ask for smaller pages (first/last) or fewer "
                    "nested connections.",
                    cost=cost,
                    maximumCost=policy.limits.max_cost,
                ),
            )
            yield
            return
        taken = Taken(True, limits.capacity, 0.0)
        if policy.buckets is not None:
            taken = await policy.buckets.take(key, cost, limits)
            if not taken.allowed:
                self._cost = _report(cost, 0, limits, taken.remaining)
                refuse(context, _rate_limited(cost, taken, limits))
                yield
                return
            self._charge = (key, limits, cost)
        self._cost = _report(cost, cost, limits, taken.remaining)
        yield
        self._hide_suggestions()
        result = context.result
        data = getattr(result, "data", None)
        actual = min(cost, actual_cost(data)) if data is not None else 0
        remaining = taken.remaining
        if policy.buckets is not None and actual < cost:
            remaining = await policy.buckets.give_back(key, cost - actual, limits)
        self._cost = _report(cost, actual, limits, remaining)

    def _hide_suggestions(self) -> None:
        """Variables that do not fit their types are reported during execution, where
        "Did you mean …" would name schema members introspection hides (production)."""
        context = self.execution_context
        if not context.schema.config.disable_field_suggestions:
            return
        for error in getattr(context.result, "errors", None) or ():
            if error.path is None and SUGGESTION.search(error.message):
                error.message = SUGGESTION.sub("", error.message)

    def get_results(self) -> dict[str, Any]:
        return {"cost": self._cost} if self._cost is not None else {}


def refuse(context: Any, error: GraphQLError) -> None:
    """Refuse the operation by giving it its result before it runs: Strawberry then skips
    execution, and every extension's hook still finishes. (Raised from the hook, the
    error would leave the hooks of the extensions before this one suspended until
    garbage collection.) A subscription has no such result: there it is raised."""
    if context.operation_type is OperationType.SUBSCRIPTION:
        raise error
    context.result = ExecutionResult(data=None, errors=[error])


def _rate_limited(cost: int, taken: Taken, limits: BucketLimits) -> GraphQLError:
    metrics.RATE_LIMITED.labels("cost").inc()
    available = int(taken.remaining)
    if cost > limits.capacity:
        return api_error(
            ApiErrorCode.RATE_LIMITED,
            f"Rate limit reached: the operation costs {cost} points, more than the "
            f"{limits.capacity:g} this rate limit ever holds; ask for less (smaller pages, "
            "fewer nested connections).",
            retryAfter=None,
            cost=cost,
        )
    if math.isinf(taken.retry_after):
        return api_error(
            ApiErrorCode.RATE_LIMITED,
            f"Rate limit reached: the operation costs {cost} points and {available} are "
            "available; this rate limit does not refill.",
            retryAfter=None,
            cost=cost,
        )
    wait = max(1, math.ceil(taken.retry_after))
    return api_error(
        ApiErrorCode.RATE_LIMITED,
        f"Rate limit reached: the operation costs {cost} points and {available} are "
        f"available; retry in {wait} seconds.",
        retryAfter=wait,
        cost=cost,
    )


def _report(requested: int, actual: int, limits: BucketLimits, available: float) -> dict[str, Any]:
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {
            "maximumAvailable": limits.capacity,
            "currentlyAvailable": int(available),
            "restoreRate": limits.refill_per_second,
        },
    }
