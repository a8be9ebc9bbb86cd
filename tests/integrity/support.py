"""Database checks shared by the integrity tests: what was really committed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from graphql_api.db.models import Fund, Investment, OutboxEvent
from graphql_api.db.session import Database
from graphql_api.events.records import EventType
from graphql_api.funds import service as fund_service


async def count(db: Database, model: Any, *conditions: Any) -> int:
    async with db.read_session() as session:
        statement = select(func.count()).select_from(model).where(*conditions)
        return int((await session.execute(statement)).scalar_one())


async def committed(db: Database) -> tuple[int, int]:
    """(investments, INVESTMENT_CREATED events) in the database."""
    created = OutboxEvent.event_type == EventType.INVESTMENT_CREATED.value
    return await count(db, Investment), await count(db, OutboxEvent, created)


async def committed_total(db: Database, fund: Fund) -> Decimal:
    async with db.read_session() as session:
        stored = await fund_service.find_fund(session, fund.id)
    assert stored is not None
    return stored.committed_usd
