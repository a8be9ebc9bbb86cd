"""All SQL about the audit log (newest first, keyset-paginated)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.filtering import Comparison, all_conditions
from graphql_api.db.keyset import (
    AnyRow,
    Ordering,
    Page,
    Sortable,
    Window,
    keyset_conditions,
    order_terms,
    paginate,
    to_page,
)
from graphql_api.db.models.audit import AuditEntry

_COLUMNS = (
    AuditEntry.id,
    AuditEntry.occurred_at,
    AuditEntry.actor_kind,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.entity_type,
    AuditEntry.entity_id,
    AuditEntry.before,
    AuditEntry.after,
    AuditEntry.request_id,
)
_AUDIT_ID = Sortable("AUDIT_ID", AuditEntry.id, "id", int)
NEWEST_FIRST = Ordering(((_AUDIT_ID, True),))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    entity_type: Comparison[str] | None = None
    entity_id: Comparison[uuid.UUID] | None = None
    actor_id: Comparison[uuid.UUID] | None = None
    action: Comparison[str] | None = None
    occurred_at: Comparison[datetime] | None = None


def _conditions(criteria: AuditFilter | None) -> list[ColumnElement[bool]]:
    if criteria is None:
        return []
    return all_conditions(
        [
            (criteria.entity_type, AuditEntry.entity_type),
            (criteria.entity_id, AuditEntry.entity_id),
            (criteria.actor_id, AuditEntry.actor_id),
            (criteria.action, AuditEntry.action),
            (criteria.occurred_at, AuditEntry.occurred_at),
        ]
    )


async def fetch_page(
    session: AsyncSession, criteria: AuditFilter | None, window: Window
) -> Page[AnyRow]:
    statement = select(*_COLUMNS).where(*_conditions(criteria))
    result = await session.execute(paginate(statement, NEWEST_FIRST.keys, window))
    return to_page(result.all(), window)


async def count(session: AsyncSession, criteria: AuditFilter | None) -> int:
    statement = select(func.count()).select_from(AuditEntry).where(*_conditions(criteria))
    return int((await session.execute(statement)).scalar_one())


async def history_pages(
    session: AsyncSession, entity_type: str, entity_ids: Sequence[uuid.UUID], window: Window
) -> dict[uuid.UUID, Page[AnyRow]]:
    """The newest entries of many entities, one page each, in one statement."""
    position = (
        func.row_number()
        .over(
            partition_by=AuditEntry.entity_id,
            order_by=order_terms(NEWEST_FIRST.keys, reverse=window.backward),
        )
        .label("position")
    )
    ranked = (
        select(*_COLUMNS, position)
        .where(
            AuditEntry.entity_type == entity_type,
            AuditEntry.entity_id.in_(entity_ids),
            *keyset_conditions(NEWEST_FIRST.keys, window),
        )
        .subquery()
    )
    statement = (
        select(ranked)
        .where(ranked.c.position <= window.limit + 1)
        .order_by(ranked.c.entity_id, ranked.c.position)
    )
    grouped: dict[uuid.UUID, list[AnyRow]] = defaultdict(list)
    for row in (await session.execute(statement)).all():
        grouped[row.entity_id].append(row)
    return {key: to_page(grouped.get(key, []), window) for key in entity_ids}
