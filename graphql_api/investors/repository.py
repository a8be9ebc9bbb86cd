"""All SQL about investors."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db import locking
from graphql_api.db.filtering import all_conditions, deleted_conditions
from graphql_api.db.keyset import AnyRow, Ordering, Page, Sortable, Window, paginate, to_page
from graphql_api.db.models import Investor
from graphql_api.investors.filters import InvestorFilter, InvestorOrder, InvestorSortField

InvestorRow = AnyRow

INVESTOR_COLUMNS = (
    Investor.id,
    Investor.name,
    Investor.investor_type,
    Investor.email,
    Investor.version,
    Investor.created_at,
    Investor.updated_at,
)

_SORTABLES = {
    InvestorSortField.NAME: Sortable("NAME", Investor.name, "name", str),
    InvestorSortField.EMAIL: Sortable("EMAIL", Investor.email, "email", str),
    InvestorSortField.CREATED_AT: Sortable(
        "CREATED_AT", Investor.created_at, "created_at", datetime
    ),
    InvestorSortField.UPDATED_AT: Sortable(
        "UPDATED_AT", Investor.updated_at, "updated_at", datetime
    ),
}
_ID = Sortable("INVESTOR_ID", Investor.id, "id", uuid.UUID)
DEFAULT_ORDER: InvestorOrder = ((InvestorSortField.CREATED_AT, False),)


def ordering(order: InvestorOrder) -> Ordering:
    terms = order or DEFAULT_ORDER
    return Ordering.of([(_SORTABLES[field], desc) for field, desc in terms], _ID)


def _own(viewer: Viewer) -> list[Any]:
    """Row-level visibility: a restricted viewer reads only its own investor record."""
    if not viewer.restricted:
        return []
    return [Investor.id == viewer.investor_id] if viewer.investor_id else [false()]


def readable(viewer: Viewer) -> list[Any]:
    """What a viewer may read: its own record (when restricted), never a deleted one."""
    return [*_own(viewer), *deleted_conditions(Investor.deleted_at)]


def _conditions(criteria: InvestorFilter | None, viewer: Viewer) -> list[Any]:
    if criteria is None:
        return readable(viewer)
    return (
        _own(viewer)
        + deleted_conditions(Investor.deleted_at, criteria.deleted)
        + all_conditions(
            [
                (criteria.name, Investor.name),
                (criteria.email.lowered() if criteria.email else None, Investor.email),
                (criteria.investor_type, Investor.investor_type),
                (criteria.created_at, Investor.created_at),
            ]
        )
    )


async def fetch_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> list[InvestorRow]:
    statement = select(*INVESTOR_COLUMNS).where(Investor.id.in_(ids), *readable(viewer))
    return list((await session.execute(statement)).all())


async def fetch_page(
    session: AsyncSession,
    criteria: InvestorFilter | None,
    order: Ordering,
    window: Window,
    viewer: Viewer = EVERYTHING,
) -> Page[InvestorRow]:
    statement = select(*INVESTOR_COLUMNS).where(*_conditions(criteria, viewer))
    result = await session.execute(paginate(statement, order.keys, window))
    return to_page(result.all(), window)


async def count(
    session: AsyncSession, criteria: InvestorFilter | None, viewer: Viewer = EVERYTHING
) -> int:
    statement = select(func.count()).select_from(Investor).where(*_conditions(criteria, viewer))
    return int((await session.execute(statement)).scalar_one())


async def get(session: AsyncSession, investor_id: uuid.UUID) -> Investor | None:
    """The live investor entity; None when there is none or it was deleted."""
    investor = await session.get(Investor, investor_id)
    return investor if investor is not None and investor.deleted_at is None else None


async def get_by_email(session: AsyncSession, email: str) -> Investor | None:
    return (
        await session.execute(select(Investor).where(Investor.email == email))
    ).scalar_one_or_none()


async def get_for_update(
    session: AsyncSession, investor_id: uuid.UUID, *, deleted: bool = False
) -> Investor | None:
    """The live investor entity (a deleted one when `deleted`), row-locked."""
    state = Investor.deleted_at.is_not(None) if deleted else Investor.deleted_at.is_(None)
    statement = select(Investor).where(Investor.id == investor_id, state).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def hold_live(session: AsyncSession, investor_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these investors are live, kept so until the transaction ends (see
    `db.locking.hold_live`: a concurrent soft delete waits, or is waited for)."""
    return await locking.hold_live(session, Investor, investor_ids)


async def email_holder(
    session: AsyncSession, email: str, *, except_id: uuid.UUID | None = None
) -> AnyRow | None:
    """The investor (live or soft-deleted) holding `email`: its `id` and `deleted_at`."""
    statement = select(Investor.id, Investor.deleted_at).where(Investor.email == email)
    if except_id is not None:
        statement = statement.where(Investor.id != except_id)
    return (await session.execute(statement.limit(1))).first()


def add(session: AsyncSession, investor: Investor) -> None:
    session.add(investor)
