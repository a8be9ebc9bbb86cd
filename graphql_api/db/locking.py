"""Row locks on soft-deletable rows, shared by the slices and the importer.

PostgreSQL only: SQLite ignores FOR UPDATE and has a single writer instead
(writers begin with BEGIN IMMEDIATE). Rows are locked in id order, so two
lockers of the same rows always meet them in the same order and never wait on
each other in a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.models import Fund, Investor

SoftDeletable = type[Fund] | type[Investor]


async def hold_live(
    session: AsyncSession, model: SoftDeletable, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these rows are live, each kept so until the transaction ends.

    FOR KEY SHARE conflicts only with FOR UPDATE, which a soft delete (and an
    update through the ORM) takes: a delete that holds the row makes this wait,
    and the row then no longer qualifies (PostgreSQL re-checks the condition); a
    delete that comes later waits for this transaction and then sees what it
    wrote (new commitments). Holds never wait for one another.
    """
    statement = (
        select(model.id)
        .where(model.id.in_(sorted(ids)), model.deleted_at.is_(None))
        .order_by(model.id)
        .with_for_update(read=True, key_share=True)
    )
    return set(await session.scalars(statement))


async def lock_for_update(
    session: AsyncSession, model: SoftDeletable, ids: Collection[uuid.UUID]
) -> None:
    """Lock rows FOR UPDATE, as a soft delete does: whoever holds them is waited for."""
    statement = select(model.id).where(model.id.in_(sorted(ids))).order_by(model.id)
    await session.execute(statement.with_for_update())
