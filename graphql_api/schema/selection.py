"""Look-ahead: which fields below this one did the query select?

A connection resolver uses it to fetch related rows in the same statement as
the page (`investments { nodes { investor { name } } }` → one JOIN) instead of
one loader round per item. Fragments and inline fragments are followed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _fields(selection.selections)


def _children(parents: Iterable[SelectedField], name: str) -> list[SelectedField]:
    return [
        field for parent in parents for field in _fields(parent.selections) if field.name == name
    ]


def selected_paths(info: Info, *paths: tuple[str, ...]) -> list[bool]:
    """For each path of field names below the current field, whether the query selects it."""
    roots = list(_fields(info.selected_fields))
    found = []
    for path in paths:
        level = roots
        for name in path:
            level = _children(level, name)
        found.append(bool(level))
    return found


def connection_item_selects(info: Info, field_name: str) -> bool:
    """Whether a connection's items (`nodes { … }` or `edges { node { … } }`) select a field."""
    via_nodes, via_edges = selected_paths(
        info, ("nodes", field_name), ("edges", "node", field_name)
    )
    return via_nodes or via_edges
