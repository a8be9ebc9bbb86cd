"""Field-level authorization: who may call a query, mutation or subscription.

The first of two checks (the second is row-level visibility in repositories).
Every root field declares its roles with `allow(...)`; a test fails when one
does not. Anonymous callers get UNAUTHENTICATED, the wrong role FORBIDDEN.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from graphql_api.auth.principal import Role
from graphql_api.schema.errors import ApiErrorCode, api_error

ROLE_SETS_KEY = "graphql_api_roles"


class RequireRole(BasePermission):
    """Pass when the caller has one of `roles`; `None` means anyone, even anonymous."""

    def __init__(self, roles: frozenset[Role] | None) -> None:
        self.roles = roles

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if self.roles is None:
            return True
        principal = info.context.principal
        if not principal.is_authenticated:
            raise api_error(
                ApiErrorCode.UNAUTHENTICATED,
                "Authentication required: send `Authorization: Bearer <access token>` "
                "or `X-API-Key: <key>`.",
            )
        if not principal.has_role(self.roles):
            allowed = ", ".join(sorted(role.value for role in self.roles))
            raise api_error(
                ApiErrorCode.FORBIDDEN,
                f"Your role may not do this (allowed: {allowed}).",
            )
        return True


def allow(*roles: Role) -> PermissionExtension:
    """A field extension admitting only these roles (no schema directive is added)."""
    extension = PermissionExtension([RequireRole(frozenset(roles))], use_directives=False)
    setattr(extension, ROLE_SETS_KEY, frozenset(roles))
    return extension


def allow_anyone() -> PermissionExtension:
    """Explicitly public (login, register, password reset...): stated, not forgotten."""
    extension = PermissionExtension([RequireRole(None)], use_directives=False)
    setattr(extension, ROLE_SETS_KEY, None)
    return extension


def declared_roles(extensions: list[Any]) -> frozenset[Role] | str | None:
    """The roles a field declared with allow()/allow_anyone(), or "undeclared"."""
    for extension in extensions:
        if hasattr(extension, ROLE_SETS_KEY):
            value: frozenset[Role] | None = getattr(extension, ROLE_SETS_KEY)
            return value
    return "undeclared"
