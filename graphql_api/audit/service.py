"""Reading the audit log (writing happens in audit.recorder, on every flush)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit import repository
from graphql_api.audit.repository import NEWEST_FIRST, AuditFilter
from graphql_api.db.keyset import AnyRow, Page, Window

__all__ = ["NEWEST_FIRST", "AuditFilter", "count", "history", "list_entries"]


async def list_entries(
    session: AsyncSession, criteria: AuditFilter | None, window: Window
) -> Page[AnyRow]:
    return await repository.fetch_page(session, criteria, window)


async def count(session: AsyncSession, criteria: AuditFilter | None) -> int:
    return await repository.count(session, criteria)


async def history(
    session: AsyncSession, entity_type: str, ids: Sequence[uuid.UUID], window: Window
) -> dict[uuid.UUID, Page[AnyRow]]:
    return await repository.history_pages(session, entity_type, ids, window)
