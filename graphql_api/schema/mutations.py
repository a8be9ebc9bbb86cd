"""Running a mutation: one unit of work, domain errors turned into payload errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from graphql_api.db.session import Database, UnitOfWork
from graphql_api.errors import DomainError
from graphql_api.schema.errors import UserError, user_errors

T = TypeVar("T")

INPUT = strawberry.argument(description="What to create or change.")


async def in_unit_of_work(
    db: Database, action: Callable[[UnitOfWork], Awaitable[T]]
) -> tuple[T | None, list[UserError]]:
    """Run `action` in a transaction that commits once; a DomainError rolls it back.

    Returns the action's result and no errors, or no result and the user errors.
    Anything else propagates (and is masked by the schema's error handling).
    """
    try:
        async with db.unit_of_work() as uow:
            result = await action(uow)
    except DomainError as error:
        return None, user_errors(error)
    return result, []
