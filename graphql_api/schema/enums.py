"""Expose plain-Python enums (which services use) as described GraphQL enums.

The domain enums live below the GraphQL layer and cannot carry Strawberry's
`enum_value(description=…)`, so descriptions are attached here instead: every
enum value is documented in GraphiQL and in `schema.graphql`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=type[Enum])


def graphql_enum(enum: E, *, name: str, description: str, values: Mapping[Enum, str]) -> E:
    """Register `enum` with Strawberry under `name`, with one description per value."""
    missing = {member.name for member in enum} - {member.name for member in values}
    if missing:
        raise ValueError(f"{name}: values without a description: {sorted(missing)}")
    decorated = strawberry.enum(enum, name=name, description=description)
    by_name = {member.name: text for member, text in values.items()}
    for value in decorated.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = by_name[value.name]
    return decorated
