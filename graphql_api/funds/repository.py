"""All SQL about funds.

Reads select plain columns (rows, not ORM objects): a page of funds is built
without identity-map bookkeeping. Writes use the ORM entity, whose
`version_id_col` makes a concurrent overwrite fail instead of being lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.filtering import all_conditions, deleted_conditions
from graphql_api.db.keyset import AnyRow, Ordering, Page, Sortable, Window, paginate, to_page
from graphql_api.db.models import Fund, FundStatus
from graphql_api.funds.filters import FundFilter, FundOrder, FundSortField
from graphql_api.money import MAX_FUND_SIZE_USD as MAX_FUND_TOTAL_USD

FundRow = AnyRow

FUND_COLUMNS = (
    Fund.id,
    Fund.name,
    Fund.vintage_year,
    Fund.target_size_usd,
    Fund.hard_cap_usd,
    Fund.committed_usd,
    Fund.status,
    Fund.version,
    Fund.created_at,
    Fund.updated_at,
)

_SORTABLES = {
    FundSortField.NAME: Sortable("NAME", Fund.name, "name", str),
    FundSortField.VINTAGE_YEAR: Sortable("VINTAGE_YEAR", Fund.vintage_year, "vintage_year", int),
    FundSortField.TARGET_SIZE_USD: Sortable(
        "TARGET_SIZE_USD", Fund.target_size_usd, "target_size_usd", Decimal
    ),
    FundSortField.CREATED_AT: Sortable("CREATED_AT", Fund.created_at, "created_at", datetime),
    FundSortField.UPDATED_AT: Sortable("UPDATED_AT", Fund.updated_at, "updated_at", datetime),
}
_ID = Sortable("FUND_ID", Fund.id, "id", uuid.UUID)
DEFAULT_ORDER: FundOrder = ((FundSortField.CREATED_AT, False),)


def ordering(order: FundOrder) -> Ordering:
    """The full keyset ordering for the requested terms (creation order by default)."""
    terms = order or DEFAULT_ORDER
    return Ordering.of([(_SORTABLES[field], desc) for field, desc in terms], _ID)


def _conditions(criteria: FundFilter | None) -> list[Any]:
    if criteria is None:
        return deleted_conditions(Fund.deleted_at)
    return deleted_conditions(Fund.deleted_at, criteria.deleted) + all_conditions(
        [
            (criteria.name, Fund.name),
            (criteria.status, Fund.status),
            (criteria.vintage_year, Fund.vintage_year),
            (criteria.target_size_usd, Fund.target_size_usd),
            (criteria.created_at, Fund.created_at),
            (criteria.updated_at, Fund.updated_at),
        ]
    )


async def fetch_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[FundRow]:
    result = await session.execute(
        select(*FUND_COLUMNS).where(Fund.id.in_(ids), Fund.deleted_at.is_(None))
    )
    return list(result.all())


async def fetch_page(
    session: AsyncSession, criteria: FundFilter | None, order: Ordering, window: Window
) -> Page[FundRow]:
    statement = select(*FUND_COLUMNS).where(*_conditions(criteria))
    result = await session.execute(paginate(statement, order.keys, window))
    return to_page(result.all(), window)


async def count(session: AsyncSession, criteria: FundFilter | None) -> int:
    statement = select(func.count()).select_from(Fund).where(*_conditions(criteria))
    return int((await session.execute(statement)).scalar_one())


async def get_for_update(
    session: AsyncSession, fund_id: uuid.UUID, *, deleted: bool = False
) -> Fund | None:
    """The live fund entity (a deleted one when `deleted`), row-locked on PostgreSQL
    until the transaction ends."""
    state = Fund.deleted_at.is_not(None) if deleted else Fund.deleted_at.is_(None)
    statement = select(Fund).where(Fund.id == fund_id, state).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def get(session: AsyncSession, fund_id: uuid.UUID) -> Fund | None:
    """The live fund entity; None when there is none or it was deleted."""
    fund = await session.get(Fund, fund_id)
    return fund if fund is not None and fund.deleted_at is None else None


def add(session: AsyncSession, fund: Fund) -> None:
    session.add(fund)


async def reserve_commitment(
    session: AsyncSession, fund_id: uuid.UUID, amount: Decimal
) -> Decimal | None:
    """Add `amount` to the fund's committed total if it is open and stays under its cap.

    A fund without a cap still has a ceiling: the largest fund size (10^15 USD),
    which keeps the total within what the column can hold.

    One conditional UPDATE decides and reserves atomically: PostgreSQL locks the
    row and re-checks the condition against the latest committed total, so
    parallel commitments can never overshoot the hard cap. Returns the new
    total, or None when refused.
    """
    statement = (
        update(Fund)
        .where(
            Fund.id == fund_id,
            Fund.deleted_at.is_(None),
            Fund.status != FundStatus.CLOSED,
            Fund.committed_usd + amount
            <= func.coalesce(
                Fund.hard_cap_usd, literal(MAX_FUND_TOTAL_USD, Fund.committed_usd.type)
            ),
        )
        .values(committed_usd=Fund.committed_usd + amount)
        .returning(Fund.committed_usd)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()
