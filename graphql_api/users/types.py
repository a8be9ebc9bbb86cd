"""GraphQL types for users, sessions and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from graphql_api.db.models.user import ApiKey as ApiKeyModel
from graphql_api.db.models.user import User as UserModel
from graphql_api.investors.types import Investor
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError
from graphql_api.schema.ids import to_global_id
from graphql_api.schema.node import Node
from graphql_api.users.inputs import Role

USER_TYPE = "User"
API_KEY_TYPE = "ApiKey"


@strawberry.type(description="Someone who logs in.")
class User(Node):
    email: str = strawberry.field(description="Login email address (lower case).")
    role: Role = strawberry.field(description="What the user may do.")
    is_active: bool = strawberry.field(
        description="False once deactivated: every request is refused."
    )
    email_verified: bool = strawberry.field(description="Whether the email address was confirmed.")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")
    investor_key: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(to_global_id(USER_TYPE, user.id)),
            email=user.email,
            role=user.role,
            is_active=user.is_active,
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
            investor_key=user.investor_id,
        )

    @strawberry.field(description="The investor record an INVESTOR user is linked to.")
    async def investor(self, info: Info[Context, None]) -> Investor | None:
        if self.investor_key is None:
            return None
        row = await info.context.loaders.investor_by_id.load(self.investor_key)
        return Investor.from_row(row, info.context.viewer) if row is not None else None


@strawberry.type(description="A credential for a service (sent as the `X-API-Key` header).")
class ApiKey(Node):
    name: str = strawberry.field(description="What the key is for.")
    prefix: str = strawberry.field(description="The visible start of the key, to recognise it.")
    role: Role = strawberry.field(description="What the key may do.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    last_used_at: datetime | None = strawberry.field(description="When it was last used (UTC).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            id=strawberry.ID(to_global_id(API_KEY_TYPE, key.id)),
            name=key.name,
            prefix=key.prefix,
            role=key.role,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


@strawberry.type(description="A new session: an access token and a refresh token.")
class AuthPayload:
    access_token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <token>`; valid for `expiresIn` seconds."
    )
    refresh_token: str | None = strawberry.field(
        description="Exchange for a new session with `refreshToken`; single use, 30 days."
    )
    expires_in: int | None = strawberry.field(description="Seconds until the access token expires.")
    user: User | None = strawberry.field(description="Who is logged in.")
    errors: list[UserError] = strawberry.field(
        description="Why there is no session; empty on success."
    )
