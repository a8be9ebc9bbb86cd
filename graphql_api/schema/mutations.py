"""Running a mutation: one unit of work, domain errors turned into payload errors."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from graphql_api.audit.recorder import AUDIT_CONTEXT, AuditContext
from graphql_api.db.session import UnitOfWork
from graphql_api.errors import DomainError, ErrorCode, NotFoundError
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError, user_errors
from graphql_api.schema.ids import key_of

T = TypeVar("T")

INPUT = strawberry.argument(description="What to create or change.")


def audit_context(info: Info[Context, None]) -> AuditContext:
    """Who acts (the principal), through which mutation, in which request."""
    context = info.context
    principal = context.principal
    return AuditContext(
        actor_kind=principal.kind.value,
        actor_id=principal.id,
        action=info.field_name,
        request_id=context.request_id,
    )


async def in_unit_of_work(
    info: Info[Context, None],
    action: Callable[[UnitOfWork], Awaitable[T]],
    input_path: Sequence[str] = ("input",),
) -> tuple[T | None, list[UserError]]:
    """Run `action` in a transaction that commits once; a DomainError rolls it back.

    Every change it makes is audited in the same transaction. Returns the
    action's result and no errors, or no result and the user errors; anything
    else propagates (and is masked by the schema's error handling).
    `input_path` prefixes the error fields: `()` for mutations whose values are
    top-level arguments rather than an `input` object.
    """
    db = info.context.db
    try:
        async with db.unit_of_work({AUDIT_CONTEXT: audit_context(info)}) as uow:
            result = await action(uow)
    except DomainError as error:
        return None, user_errors(error, input_path)
    return result, []


async def on_record(
    info: Info[Context, None],
    global_id: str,
    type_name: str,
    action: Callable[[AsyncSession, uuid.UUID], Awaitable[T]],
) -> tuple[T | None, list[UserError]]:
    """`in_unit_of_work` for a mutation on the record a global ID names: `action(session,
    key)` (a use case such as `deletion.delete_fund`), or NOT_FOUND on `id` when the ID
    names no `type_name` (malformed, or of another type)."""
    key = key_of(global_id, type_name)

    async def run(uow: UnitOfWork) -> T:
        if key is None:
            raise NotFoundError.single(ErrorCode.NOT_FOUND, f"{type_name} not found.", "id")
        return await action(uow.session, key)

    return await in_unit_of_work(info, run)
