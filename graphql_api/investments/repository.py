"""All SQL about investments, including the per-fund and per-investor aggregates.

Rows carry the investment's columns under their own names and, when asked
for, the investor's and fund's columns prefixed `investor_` / `fund_`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Uuid,
    case,
    column,
    false,
    func,
    insert,
    inspect,
    literal,
    select,
    true,
    update,
    values,
)
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.filtering import all_conditions, deleted_conditions
from graphql_api.db.keyset import (
    AnyRow,
    AnySelect,
    Ordering,
    Page,
    Sortable,
    Window,
    keyset_conditions,
    order_terms,
    paginate,
    to_page,
)
from graphql_api.db.models import Fund, Investment, Investor, InvestorType, OutboxEvent
from graphql_api.db.session import EVENTS_WRITTEN
from graphql_api.investments.filters import (
    InvestmentFilter,
    InvestmentOrder,
    InvestmentSortField,
    Related,
)

InvestmentRow = AnyRow
Parent = Literal["fund", "investor"]

_INVESTMENT_COLUMNS: tuple[ColumnElement[Any], ...] = (
    Investment.id.label("id"),
    Investment.fund_id.label("fund_id"),
    Investment.investor_id.label("investor_id"),
    Investment.amount_usd.label("amount_usd"),
    Investment.investment_date.label("investment_date"),
    Investment.created_at.label("created_at"),
)
_INVESTOR_COLUMNS = tuple(
    getattr(Investor, name).label(f"investor_{name}")
    for name in ("name", "investor_type", "email", "version", "created_at", "updated_at")
)
_FUND_COLUMNS = tuple(
    getattr(Fund, name).label(f"fund_{name}")
    for name in (
        "name",
        "vintage_year",
        "target_size_usd",
        "hard_cap_usd",
        "committed_usd",
        "status",
        "version",
        "created_at",
        "updated_at",
    )
)

_SORTABLES = {
    InvestmentSortField.INVESTMENT_DATE: Sortable(
        "INVESTMENT_DATE", Investment.investment_date, "investment_date", date
    ),
    InvestmentSortField.AMOUNT_USD: Sortable(
        "AMOUNT_USD", Investment.amount_usd, "amount_usd", Decimal
    ),
    InvestmentSortField.CREATED_AT: Sortable(
        "CREATED_AT", Investment.created_at, "created_at", datetime
    ),
}
_ID = Sortable("INVESTMENT_ID", Investment.id, "id", uuid.UUID)
DEFAULT_ORDER: InvestmentOrder = ((InvestmentSortField.CREATED_AT, False),)
_PARENT_COLUMNS = {"fund": Investment.fund_id, "investor": Investment.investor_id}


def ordering(order: InvestmentOrder) -> Ordering:
    terms = order or DEFAULT_ORDER
    return Ordering.of([(_SORTABLES[field], desc) for field, desc in terms], _ID)


def _own(viewer: Viewer) -> list[ColumnElement[bool]]:
    """Row-level visibility: a restricted viewer reads only its own commitments."""
    if not viewer.restricted:
        return []
    return [Investment.investor_id == viewer.investor_id] if viewer.investor_id else [false()]


def readable(viewer: Viewer) -> list[ColumnElement[bool]]:
    """What a viewer may read: its own commitments (when restricted), never deleted ones."""
    return [*_own(viewer), *deleted_conditions(Investment.deleted_at)]


def _conditions(criteria: InvestmentFilter | None, viewer: Viewer) -> list[ColumnElement[bool]]:
    if criteria is None:
        return readable(viewer)
    return (
        _own(viewer)
        + deleted_conditions(Investment.deleted_at, criteria.deleted)
        + all_conditions(
            [
                (criteria.fund_id, Investment.fund_id),
                (criteria.investor_id, Investment.investor_id),
                (criteria.investment_date, Investment.investment_date),
                (criteria.amount_usd, Investment.amount_usd),
                (criteria.created_at, Investment.created_at),
            ]
        )
    )


def _select(related: Related, *extra: ColumnElement[Any]) -> AnySelect:
    columns = list(_INVESTMENT_COLUMNS)
    if related.investor:
        columns.extend(_INVESTOR_COLUMNS)
    if related.fund:
        columns.extend(_FUND_COLUMNS)
    statement = select(*columns, *extra).select_from(Investment)
    if related.investor:
        statement = statement.join(Investor, Investor.id == Investment.investor_id)
    if related.fund:
        statement = statement.join(Fund, Fund.id == Investment.fund_id)
    return statement


async def fetch_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> list[InvestmentRow]:
    statement = _select(Related(investor=True, fund=True)).where(
        Investment.id.in_(ids), *readable(viewer)
    )
    return list((await session.execute(statement)).all())


async def fetch_page(
    session: AsyncSession,
    criteria: InvestmentFilter | None,
    order: Ordering,
    window: Window,
    related: Related,
    viewer: Viewer = EVERYTHING,
) -> Page[InvestmentRow]:
    statement = _select(related).where(*_conditions(criteria, viewer))
    result = await session.execute(paginate(statement, order.keys, window))
    return to_page(result.all(), window)


async def fetch_pages_by_parent(
    session: AsyncSession,
    parent: Parent,
    parent_ids: Sequence[uuid.UUID],
    criteria: InvestmentFilter | None,
    order: Ordering,
    window: Window,
    related: Related,
    viewer: Viewer = EVERYTHING,
) -> dict[uuid.UUID, Page[InvestmentRow]]:
    """One page per parent, for many parents, in one statement."""
    build = _pages_lateral if session.get_bind().dialect.name == "postgresql" else _pages_windowed
    statement = build(parent, parent_ids, _conditions(criteria, viewer), order, window, related)
    grouped: dict[uuid.UUID, list[InvestmentRow]] = defaultdict(list)
    for row in (await session.execute(statement)).all():
        grouped[getattr(row, f"{parent}_id")].append(row)
    return {parent_id: to_page(grouped.get(parent_id, []), window) for parent_id in parent_ids}


def _pages_lateral(
    parent: Parent,
    parent_ids: Sequence[uuid.UUID],
    conditions: list[ColumnElement[bool]],
    order: Ordering,
    window: Window,
    related: Related,
) -> AnySelect:
    """PostgreSQL: for each parent, an index seek that stops after limit + 1 rows."""
    parent_column = _PARENT_COLUMNS[parent]
    parents = values(column("parent_id", Uuid()), name="parents").data(
        [(parent_id,) for parent_id in parent_ids]
    )
    terms = order_terms(order.keys, reverse=window.backward)
    position = func.row_number().over(order_by=terms).label("position")
    page = (
        _select(related, position)
        .where(
            parent_column == parents.c.parent_id,
            *conditions,
            *keyset_conditions(order.keys, window),
        )
        .order_by(*terms)
        .limit(window.limit + 1)
        .lateral("page")
    )
    return (
        select(page)
        .select_from(parents.join(page, true()))
        .order_by(page.c[f"{parent}_id"], page.c.position)
    )


def _pages_windowed(
    parent: Parent,
    parent_ids: Sequence[uuid.UUID],
    conditions: list[ColumnElement[bool]],
    order: Ordering,
    window: Window,
    related: Related,
) -> AnySelect:
    """SQLite (no LATERAL): number each parent's rows in the requested order (mirrored
    for a backward read) and keep those up to limit + 1."""
    parent_column = _PARENT_COLUMNS[parent]
    position = (
        func.row_number()
        .over(
            partition_by=parent_column,
            order_by=order_terms(order.keys, reverse=window.backward),
        )
        .label("position")
    )
    ranked = (
        _select(related, position)
        .where(
            parent_column.in_(parent_ids),
            *conditions,
            *keyset_conditions(order.keys, window),
        )
        .subquery()
    )
    return (
        select(ranked)
        .where(ranked.c.position <= window.limit + 1)
        .order_by(ranked.c[f"{parent}_id"], ranked.c.position)
    )


async def count(
    session: AsyncSession, criteria: InvestmentFilter | None, viewer: Viewer = EVERYTHING
) -> int:
    statement = select(func.count()).select_from(Investment).where(*_conditions(criteria, viewer))
    return int((await session.execute(statement)).scalar_one())


async def count_by_parent(
    session: AsyncSession,
    parent: Parent,
    parent_ids: Sequence[uuid.UUID],
    criteria: InvestmentFilter | None,
    viewer: Viewer = EVERYTHING,
) -> dict[uuid.UUID, int]:
    parent_column = _PARENT_COLUMNS[parent]
    statement = (
        select(parent_column, func.count())
        .where(parent_column.in_(parent_ids), *_conditions(criteria, viewer))
        .group_by(parent_column)
    )
    counts = {key: int(total) for key, total in (await session.execute(statement)).all()}
    return {parent_id: counts.get(parent_id, 0) for parent_id in parent_ids}


async def totals_by_fund_and_investor_type(
    session: AsyncSession, fund_ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> list[tuple[uuid.UUID, InvestorType, Decimal, int, int]]:
    """(fund, investor type, committed, investments, distinct investors) per group.

    An investor has exactly one type, so distinct investors per type add up to
    the fund's distinct investors: one grouped statement serves the whole summary.
    """
    amount_total = func.sum(Investment.amount_usd)
    statement = (
        select(
            Investment.fund_id,
            Investor.investor_type,
            amount_total,
            func.count(),
            func.count(func.distinct(Investment.investor_id)),
        )
        .join(Investor, Investor.id == Investment.investor_id)
        .where(Investment.fund_id.in_(fund_ids), *readable(viewer))
        .group_by(Investment.fund_id, Investor.investor_type)
    )
    rows = (await session.execute(statement)).all()
    return [(row[0], row[1], row[2], int(row[3]), int(row[4])) for row in rows]


async def totals_by_investor(
    session: AsyncSession, investor_ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> dict[uuid.UUID, Decimal]:
    statement = (
        select(Investment.investor_id, func.sum(Investment.amount_usd))
        .where(Investment.investor_id.in_(investor_ids), *readable(viewer))
        .group_by(Investment.investor_id)
    )
    rows = (await session.execute(statement)).all()
    return {row[0]: row[1] for row in rows}


def add(session: AsyncSession, investment: Investment) -> None:
    session.add(investment)


_COLUMN_ATTRIBUTES = tuple(attribute.key for attribute in inspect(Investment).column_attrs)


def column_values(investment: Investment) -> dict[str, Any]:
    """Every column of an investment, by attribute name (what an audit entry records)."""
    return {key: getattr(investment, key) for key in _COLUMN_ATTRIBUTES}


async def insert_many(session: AsyncSession, investments: Sequence[Investment]) -> None:
    """One INSERT for many new investments, ids and timestamps already set.

    Bypasses the ORM's flush, and so its audit hook: the caller audits them
    (`note_many`). Objects added one by one would cost a statement each on SQLite.
    """
    await session.execute(insert(Investment), [column_values(i) for i in investments])


async def record_events(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    """Outbox rows for many events in one INSERT: the rows `outbox.record` adds one by one.

    In the caller's transaction, under the funds' locks, like `outbox.record`.
    """
    await session.execute(insert(OutboxEvent), list(events))
    session.info[EVENTS_WRITTEN] = True


async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Investment]:
    """Live investments as ORM objects, by id (an idempotent replay rebuilds its payload
    from them; one deleted since is missing, as from every other read)."""
    result = await session.execute(
        select(Investment).where(Investment.id.in_(ids), Investment.deleted_at.is_(None))
    )
    return {investment.id: investment for investment in result.scalars()}


async def lock_funds(
    session: AsyncSession, fund_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Status, hard cap and committed total of the funds, locked until the transaction ends.

    A batch decides in memory which of its commitments fit under each cap, so
    the totals must not move meanwhile. Locked in id order, so two batches over
    the same funds never deadlock; FOR NO KEY UPDATE (what an UPDATE takes)
    conflicts with other commitments and fund updates, not with inserts that
    merely refer to the fund. SQLite has a single writer instead.
    """
    if not fund_ids:
        return {}
    statement = (
        select(Fund.id, Fund.status, Fund.hard_cap_usd, Fund.committed_usd)
        .where(Fund.id.in_(fund_ids), Fund.deleted_at.is_(None))
        .order_by(Fund.id)
        .with_for_update(key_share=True)
    )
    return {row.id: row for row in (await session.execute(statement)).all()}


async def add_to_committed(
    session: AsyncSession, amounts: Mapping[uuid.UUID, Decimal]
) -> dict[uuid.UUID, Decimal]:
    """Add each fund's amount to its committed total, in one statement; the new totals.

    The caller holds the funds' locks (lock_funds) and checked the room; the
    funds' CHECK constraint would still refuse a total above the hard cap.
    """
    money = Fund.committed_usd.type
    increment = case(
        {fund_id: literal(amount, money) for fund_id, amount in amounts.items()}, value=Fund.id
    )
    statement = (
        update(Fund)
        .where(Fund.id.in_(list(amounts)))
        .values(committed_usd=Fund.committed_usd + increment)
        .returning(Fund.id, Fund.committed_usd)
        .execution_options(synchronize_session=False)
    )
    totals = {row.id: row.committed_usd for row in (await session.execute(statement)).all()}
    if totals.keys() != amounts.keys():  # pragma: no cover (the funds are locked)
        raise RuntimeError("a locked fund was not updated")
    return totals


async def get_for_update(
    session: AsyncSession, investment_id: uuid.UUID, *, deleted: bool = False
) -> Investment | None:
    """The investment entity (a live one, or a deleted one when `deleted`), row-locked."""
    statement = (
        select(Investment)
        .where(
            Investment.id == investment_id,
            Investment.deleted_at.is_not(None) if deleted else Investment.deleted_at.is_(None),
        )
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def release_commitment(session: AsyncSession, fund_id: uuid.UUID, amount: Decimal) -> Decimal:
    """Subtract a deleted commitment from its fund's committed total; the new total.

    One UPDATE, like `funds.repository.reserve_commitment`; the CHECK constraint
    keeps the total from going negative.
    """
    statement = (
        update(Fund)
        .where(Fund.id == fund_id)
        .values(committed_usd=Fund.committed_usd - amount)
        .returning(Fund.committed_usd)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one()


async def with_live(
    session: AsyncSession, parent: Parent, parent_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these funds or investors still have live (not deleted) commitments."""
    column = _PARENT_COLUMNS[parent]
    statement = (
        select(column).where(column.in_(parent_ids), Investment.deleted_at.is_(None)).distinct()
    )
    return set((await session.execute(statement)).scalars())
