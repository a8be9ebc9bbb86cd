"""How big and how expensive an operation is, measured before it runs.

`measure` walks the document's shape (depth, aliases, directives, root fields),
following fragments (each fragment is measured once; a fragment that spreads
itself, directly or not, is refused). `requested_cost` estimates the work as
GitHub and Shopify do: every field returning an object counts one, and a
connection multiplies what is under it by its `first`/`last` (or the default
page size). `actual_cost` counts the objects a response really contains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

MAX_PAGE = 100


class CircularFragmentError(ValueError):
    """A fragment spreads itself (directly or through others)."""


@dataclass(frozen=True, slots=True)
class Shape:
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    root_fields: int = 0


@dataclass(frozen=True, slots=True)
class _Counts:
    depth: int
    aliases: int
    directives: int
    fields: int


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


class _ShapeWalker:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._memo: dict[str, _Counts] = {}
        self._open: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None) -> _Counts:
        depth = aliases = directives = fields = 0
        for selection in selection_set.selections if selection_set else ():
            directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                inner = self.selection_set(selection.selection_set)
                depth = max(depth, 1 + inner.depth)
                aliases += inner.aliases + (1 if selection.alias else 0)
                directives += inner.directives
                fields += 1
            else:
                if isinstance(selection, FragmentSpreadNode):
                    inner = self.fragment(selection.name.value)
                elif isinstance(selection, InlineFragmentNode):
                    inner = self.selection_set(selection.selection_set)
                else:  # pragma: no cover (the three kinds of selection)
                    continue
                depth = max(depth, inner.depth)
                aliases += inner.aliases
                directives += inner.directives
                fields += inner.fields
        return _Counts(depth, aliases, directives, fields)

    def fragment(self, name: str) -> _Counts:
        if name in self._memo:
            return self._memo[name]
        if name in self._open:
            raise CircularFragmentError(f"Fragment {name} spreads itself.")
        definition = self._fragments.get(name)
        if definition is None:
            return _Counts(0, 0, 0, 0)  # validation reports the unknown fragment
        self._open.add(name)
        counts = self.selection_set(definition.selection_set)
        directives = counts.directives + len(definition.directives or ())
        self._open.discard(name)
        self._memo[name] = _Counts(counts.depth, counts.aliases, directives, counts.fields)
        return self._memo[name]


def measure(document: DocumentNode, operation: OperationDefinitionNode) -> Shape:
    """The shape of `operation`; CircularFragmentError for fragments that spread themselves."""
    walker = _ShapeWalker(fragments_of(document))
    for name in fragments_of(document):
        walker.fragment(name)  # refuse cycles even in fragments the operation does not use
    counts = walker.selection_set(operation.selection_set)
    return Shape(
        depth=counts.depth,
        aliases=counts.aliases,
        directives=counts.directives + len(operation.directives or ()),
        root_fields=counts.fields,
    )


@dataclass
class _CostWalker:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    default_page: int

    def __post_init__(self) -> None:
        self._memo: dict[tuple[str, str | None], int] = {}
        self._open: set[tuple[str, str | None]] = set()

    def page_size(self, field: FieldNode) -> int:
        size: int | None = None
        for argument in field.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                size = int(value.value)
            elif isinstance(value, VariableNode):
                raw = self.variables.get(value.name.value)
                size = raw if isinstance(raw, int) and not isinstance(raw, bool) else size
        return max(0, min(MAX_PAGE, size if size is not None else self.default_page))

    def selection_set(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, narrowed or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, parent)
        return total

    def fragment(self, name: str, parent: Any) -> int:
        """A fragment's cost, computed once (a fragment spread twice in each of 30 nested
        fragments would otherwise be walked 2^30 times); a cycle costs nothing more."""
        key = (name, getattr(parent, "name", None))
        if key in self._memo:
            return self._memo[key]
        definition = self.fragments.get(name)
        if definition is None or key in self._open:
            return 0
        self._open.add(key)
        narrowed = self.schema.get_type(definition.type_condition.name.value)
        cost = self.selection_set(definition.selection_set, narrowed or parent)
        self._open.discard(key)
        self._memo[key] = cost
        return cost

    def field(self, node: FieldNode, parent: Any) -> int:
        if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return 0
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0  # __typename, or a field validation refuses anyway
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        multiplier = self.page_size(node) if named.name.endswith("Connection") else 1
        return (
            1 + self.list_items(node) + multiplier * self.selection_set(node.selection_set, named)
        )

    def list_items(self, field: FieldNode) -> int:
        """Each item of a list argument is work of its own (`createInvestments(inputs:)`
        with 1,000 items, `nodes(ids:)` with 100), so each counts one point."""
        items = 0
        for argument in field.arguments or ():
            value = argument.value
            if isinstance(value, ListValueNode):
                items += len(value.values)
            elif isinstance(value, VariableNode):
                raw = self.variables.get(value.name.value)
                items += len(raw) if isinstance(raw, list) else 0
        return items


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    default_page: int,
) -> int:
    """The most work the operation can ask for, in points (see the module docstring)."""
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]
    walker = _CostWalker(schema, fragments_of(document), variables or {}, default_page)
    return max(1, walker.selection_set(operation.selection_set, root))


def _objects(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + sum(_objects(value) for value in data.values())
    if isinstance(data, list):
        return sum(_objects(item) for item in data)
    return 0


def actual_cost(data: Mapping[str, Any]) -> int:
    """The objects a response really contains, counted as `requested_cost` counts them:
    the root (`data` itself) is not one of them, and the least an operation costs is 1."""
    return max(1, sum(_objects(value) for value in data.values()))
