"""Soft delete in the schema: the `deleted` argument of the top-level connections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import ADMINS
from graphql_api.db.filtering import Deleted
from graphql_api.schema.context import Context
from graphql_api.schema.enums import graphql_enum
from graphql_api.schema.errors import ApiErrorCode, api_error

F = TypeVar("F")

graphql_enum(
    Deleted,
    name="DeletedFilter",
    description="Which rows a list shows with respect to soft deletion.",
    values={
        Deleted.LIVE: "Only rows that are not deleted (the default).",
        Deleted.DELETED: "Only soft-deleted rows (ADMIN only).",
        Deleted.ALL: "Live and soft-deleted rows (ADMIN only).",
    },
)

DeletedArgument = Annotated[
    Deleted | None,
    strawberry.argument(
        description=(
            "LIVE (the default, also when null) lists rows that are not deleted; DELETED and "
            "ALL are for ADMIN only (FORBIDDEN otherwise)."
        )
    ),
]


def admitted_deleted(info: Info[Context, None], deleted: Deleted | None) -> Deleted:
    """The requested `deleted` mode, refused with FORBIDDEN unless LIVE or the caller is ADMIN."""
    mode = Deleted(deleted) if deleted is not None else Deleted.LIVE
    if mode is not Deleted.LIVE and not info.context.principal.has_role(ADMINS):
        raise api_error(ApiErrorCode.FORBIDDEN, "Only ADMIN may list deleted rows.")
    return mode


def with_deleted(criteria: F | None, empty: Callable[[], F], mode: Deleted) -> F | None:
    """The list criteria, showing deleted rows as `mode` says (unchanged for LIVE)."""
    if mode is Deleted.LIVE:
        return criteria
    return replace(criteria if criteria is not None else empty(), deleted=mode)  # type: ignore[type-var]
