"""`me`: who is calling."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import READERS, PrincipalKind
from graphql_api.schema.context import Context
from graphql_api.schema.permissions import allow
from graphql_api.users import service as user_service
from graphql_api.users.types import User


@strawberry.type
class UserQueries:
    @strawberry.field(
        description="The logged-in user (null for an API key).", extensions=[allow(*READERS)]
    )
    async def me(self, info: Info[Context, None]) -> User | None:
        principal = info.context.principal
        if principal.kind is not PrincipalKind.USER or principal.id is None:
            return None
        async with info.context.db.read_session() as session:
            user = await user_service.find_user(session, principal.id)
        return User.from_model(user) if user is not None else None
