"""All SQL of idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.ids import new_id
from graphql_api.db.keyset import AnyRow
from graphql_api.db.models import IdempotencyKey

_UNIQUE = ("principal_kind", "principal_id", "operation", "key")


async def insert_or_take_over(
    session: AsyncSession,
    principal_kind: str,
    principal_id: str,
    operation: str,
    key: str,
    request_hash: str,
    *,
    now: datetime,
    expired_before: datetime,
) -> uuid.UUID | None:
    """Insert the key row, or take over an expired one; None when a live row holds the key.

    One statement: on PostgreSQL it waits for a transaction that inserted the
    same key and has not ended yet, so the caller then sees its outcome.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(IdempotencyKey).values(
        id=new_id(),
        principal_kind=principal_kind,
        principal_id=principal_id,
        operation=operation,
        key=key,
        request_hash=request_hash,
        result=None,
        created_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=list(_UNIQUE),
        set_={
            "request_hash": statement.excluded.request_hash,
            "result": None,
            "created_at": statement.excluded.created_at,
        },
        where=IdempotencyKey.created_at < expired_before,
    ).returning(IdempotencyKey.id)
    row_id: uuid.UUID | None = (await session.execute(statement)).scalar_one_or_none()
    return row_id


async def fetch(
    session: AsyncSession, principal_kind: str, principal_id: str, operation: str, key: str
) -> AnyRow | None:
    """The stored request hash, result and creation time of a key, if the row exists."""
    statement = select(
        IdempotencyKey.request_hash, IdempotencyKey.result, IdempotencyKey.created_at
    ).where(
        IdempotencyKey.principal_kind == principal_kind,
        IdempotencyKey.principal_id == principal_id,
        IdempotencyKey.operation == operation,
        IdempotencyKey.key == key,
    )
    return (await session.execute(statement)).one_or_none()


async def store_result(session: AsyncSession, row_id: uuid.UUID, result: dict[str, Any]) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row_id)
        .values(result=result)
        .execution_options(synchronize_session=False)
    )


async def delete_created_before(session: AsyncSession, moment: datetime) -> int:
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < moment)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
