"""A faster path through graphql-core for the most common field: a plain attribute.

graphql-core resolves every field the same way: a path object, a resolve-info
object, the resolver (Strawberry's wrapper around `getattr`), then value
completion. A response of 50 funds with 20 commitments each has about 6,000
fields, two thirds of them scalars read straight off an object; profiling put
most of the server's CPU time in that machinery.

For a field that Strawberry itself treats as "basic" (no resolver, no field
extensions, no arguments) whose type is a scalar or an enum, this executor
reads the attribute and serialises it directly. Anything unusual (a missing or
null value, a value that does not serialise, middleware) goes through
graphql-core's own path, so errors are reported exactly as before.
graphql-core documents `ExecutionContext` subclassing (Strawberry passes it as
`execution_context_class`); tests/schema/test_execution.py pins the behaviour.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

_BACKREF = "strawberry-definition"


class _LeafPlan(NamedTuple):
    attribute: str
    leaf_type: GraphQLLeafType


_NOT_PLANNED = object()
_plans: dict[int, _LeafPlan | None] = {}


def _plan(field_def: GraphQLField) -> _LeafPlan | None:
    """How to read this field directly, or None when it needs the full machinery."""
    key = id(field_def)
    plan = _plans.get(key, _NOT_PLANNED)
    if plan is not _NOT_PLANNED:
        return plan  # type: ignore[return-value]
    field = (field_def.extensions or {}).get(_BACKREF)
    field_type = field_def.type
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    simple = isinstance(field, StrawberryField) and field.is_basic_field and not field_def.args
    plan = (
        _LeafPlan(field.python_name, inner)
        if simple and isinstance(field, StrawberryField) and is_leaf_type(inner)
        else None
    )
    _plans[key] = plan
    return plan


class FastExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with a direct path for plain scalar attributes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One plan per selection set, reused for every object of a list.
        self._selection_plans: dict[tuple[int, int], tuple[Any, list[Any]]] = {}

    def _selection_plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[Any]:
        key = (id(parent_type), id(grouped_field_set))
        cached = self._selection_plans.get(key)
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        get_field = self.schema.get_field
        entries = []
        for response_name, field_details_list in grouped_field_set.items():
            field_def = get_field(parent_type, field_details_list[0].node.name.value)
            plan = _plan(field_def) if field_def is not None else None
            entries.append((response_name, plan, field_details_list))
        # The grouped field set is kept alive with its plan, so its id stays unique.
        self._selection_plans[key] = (grouped_field_set, entries)
        return entries

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        direct: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, plan, field_details_list in self._selection_plan(
            parent_type, grouped_field_set
        ):
            if plan is not None:
                value = getattr(source_value, plan.attribute, None)
                if value is not None:
                    try:
                        serialized = plan.leaf_type.coerce_output_value(value)
                    except Exception:  # graphql-core reports it properly below
                        serialized = None
                    if serialized is not None and serialized is not Undefined:
                        direct[response_name] = serialized
                        continue
            rest[response_name] = field_details_list
        if not rest:
            return direct
        completed = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if isinstance(completed, dict):
            return _in_order(grouped_field_set, direct, completed)

        async def merged() -> dict[str, Any]:
            return _in_order(grouped_field_set, direct, await completed)

        return merged()


def _in_order(
    grouped_field_set: Any, direct: dict[str, Any], completed: dict[str, Any]
) -> dict[str, Any]:
    """Both halves in the order the query asked for them (responses keep field order)."""
    if not direct:
        return completed
    return {
        name: direct[name] if name in direct else completed[name]
        for name in grouped_field_set
        if name in direct or name in completed
    }
