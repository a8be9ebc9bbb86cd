"""GraphQL inputs of the identity mutations."""

from __future__ import annotations

import strawberry

from graphql_api.auth.principal import Role
from graphql_api.schema.enums import graphql_enum

__all__ = [
    "ChangePasswordInput",
    "CreateApiKeyInput",
    "CreateUserInput",
    "DeactivateUserInput",
    "LogoutInput",
    "RegisterInput",
    "RequestPasswordResetInput",
    "ResetPasswordInput",
    "RevokeApiKeyInput",
    "Role",
    "SetUserRoleInput",
    "VerifyEmailInput",
]

graphql_enum(
    Role,
    name="Role",
    description="What a user or API key may do (SPEC §4).",
    values={
        Role.ADMIN: "Everything, including users, API keys and the audit log.",
        Role.MANAGER: "Read everything; create and change funds, investors and commitments.",
        Role.ANALYST: "Read everything; change nothing. Investor emails are hidden.",
        Role.INVESTOR: "Read funds, and only its own investor record and commitments.",
    },
)


@strawberry.input(description="Create an account.")
class RegisterInput:
    email: str = strawberry.field(description="Email address to log in with.")
    password: str = strawberry.field(description="12-128 characters, not a common password.")


@strawberry.input(description="End a session.")
class LogoutInput:
    refresh_token: str = strawberry.field(description="The session's refresh token.")


@strawberry.input(description="Confirm an email address.")
class VerifyEmailInput:
    token: str = strawberry.field(description="The token from the verification mail.")


@strawberry.input(description="Ask for a password-reset mail.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The account's email address.")


@strawberry.input(description="Set a new password with an emailed token.")
class ResetPasswordInput:
    token: str = strawberry.field(
        description="The token from the reset mail (one hour, single use)."
    )
    new_password: str = strawberry.field(description="12-128 characters, not a common password.")


@strawberry.input(description="Change your own password.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(description="12-128 characters, not a common password.")


@strawberry.input(description="A new user (ADMIN).")
class CreateUserInput:
    email: str = strawberry.field(description="Email address to log in with.")
    password: str = strawberry.field(description="Initial password, 12-128 characters.")
    role: Role = strawberry.field(description="What the user may do.")
    investor_id: strawberry.ID | None = strawberry.field(
        default=None, description="For an INVESTOR: the investor record it is."
    )


@strawberry.input(description="Change a user's role (ADMIN).")
class SetUserRoleInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    role: Role = strawberry.field(description="The new role.")
    investor_id: strawberry.ID | None = strawberry.field(
        default=None, description="For an INVESTOR: the investor record it is."
    )


@strawberry.input(description="Deactivate a user (ADMIN).")
class DeactivateUserInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")


@strawberry.input(description="A new API key (ADMIN).")
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for (1-255 characters).")
    role: Role = strawberry.field(description="What the key may do.")


@strawberry.input(description="Revoke an API key (ADMIN).")
class RevokeApiKeyInput:
    id: strawberry.ID = strawberry.field(description="The key.")
