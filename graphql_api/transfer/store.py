"""All SQL of the import: batch look-ups, inserts, updates, committed totals, the audit note.

Writes go through Core statements on the tables, not the ORM unit of work, for
two reasons: a batch is one executemany per kind of write, and the importer
sets `version` and the timestamps itself (the ORM's version counter would
overwrite them) so that an imported row is exactly the exported one.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit.recorder import note
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.types import Money
from graphql_api.transfer.columns import MODELS, columns

TARGET = "transfer_target_id"


def _table(name: str) -> Table:
    table = MODELS[name].__table__
    assert isinstance(table, Table)
    return table


def _column_names(name: str) -> dict[str, str]:
    """File column (ORM attribute) → table column: `amount_usd` → `amount_cents`."""
    model = MODELS[name]
    return {
        column.key: column.attribute(model).property.columns[0].name for column in columns(name)
    }


def _by_column(name: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    names = _column_names(name)
    return [{names[key]: value for key, value in row.items()} for row in rows]


async def funds_by_ids(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Fund]:
    found = await session.scalars(select(Fund).where(Fund.id.in_(ids)))
    return {fund.id: fund for fund in found}


async def investors_by_ids_or_emails(
    session: AsyncSession, ids: Collection[uuid.UUID], emails: Collection[str]
) -> list[Investor]:
    statement = select(Investor).where(or_(Investor.id.in_(ids), Investor.email.in_(emails)))
    return list(await session.scalars(statement))


async def investments_by_ids(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Investment]:
    found = await session.scalars(select(Investment).where(Investment.id.in_(ids)))
    return {investment.id: investment for investment in found}


async def fund_limits(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[Decimal | None, Decimal, bool]]:
    """Per existing fund: its hard cap, the sum of its live investments, whether it is deleted."""
    invested = (
        select(func.sum(Investment.amount_usd))
        .where(Investment.fund_id == Fund.id, Investment.deleted_at.is_(None))
        .correlate(Fund)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Fund.id, Fund.hard_cap_usd, invested, Fund.deleted_at.is_not(None)).where(
            Fund.id.in_(ids)
        )
    )
    return {
        fund_id: (cap, total or Decimal("0.00"), bool(deleted))
        for fund_id, cap, total, deleted in rows
    }


async def deleted_investor_ids(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Which of these investors exist, and which of those are soft-deleted."""
    rows = await session.execute(
        select(Investor.id, Investor.deleted_at.is_not(None)).where(Investor.id.in_(ids))
    )
    found = {investor_id: bool(deleted) for investor_id, deleted in rows}
    return set(found), {investor_id for investor_id, deleted in found.items() if deleted}


async def insert_rows(session: AsyncSession, table: str, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection = await session.connection()
        await connection.execute(insert(_table(table)), _by_column(table, rows))


async def replace_rows(session: AsyncSession, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Replace rows by id (each dict holds every column to set, `id` included)."""
    if not rows:
        return
    target = _table(table)
    statement = update(target).where(target.c.id == bindparam(TARGET))
    values = [{TARGET: row["id"], **changes} for row, changes in _changes(table, rows)]
    connection = await session.connection()
    await connection.execute(statement, values)


def _changes(
    table: str, rows: Sequence[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    by_column = _by_column(table, [{k: v for k, v in row.items() if k != "id"} for row in rows])
    return list(zip(rows, by_column, strict=True))


async def add_to_committed(session: AsyncSession, added: dict[uuid.UUID, Decimal]) -> None:
    """Add each fund's new commitments to its total, as `reserve_commitment` does.

    Funds in id order, so two imports (or an import and the API) lock rows in
    the same order. The CHECK constraint refuses a total above the hard cap.
    """
    if not added:
        return
    funds = _table("funds")
    statement = (
        update(funds)
        .where(funds.c.id == bindparam(TARGET))
        .values(
            {
                funds.c.committed_cents: funds.c.committed_cents
                + bindparam("added", type_=Money()),
                funds.c.updated_at: funds.c.updated_at,
            }
        )
    )
    connection = await session.connection()
    await connection.execute(
        statement, [{TARGET: fund_id, "added": added[fund_id]} for fund_id in sorted(added)]
    )


async def recompute_committed(
    session: AsyncSession, fund_ids: Collection[uuid.UUID], *, lock: bool
) -> None:
    """Set each fund's committed total to the sum of its live investments.

    On PostgreSQL the fund rows are locked first (`lock`), and the sums are
    read by the next statement, after the locks are held: a commitment that the
    API made meanwhile (it takes the same row lock) is then counted, not lost.
    The table's CHECK constraint refuses a total above the hard cap, which
    would roll the whole batch back.
    """
    if not fund_ids:
        return
    funds, investments = _table("funds"), _table("investments")
    ids = sorted(fund_ids)
    if lock:
        await session.execute(
            select(funds.c.id).where(funds.c.id.in_(ids)).order_by(funds.c.id).with_for_update()
        )
    total = (
        select(func.coalesce(func.sum(investments.c.amount_cents), literal_column("0")))
        .where(investments.c.fund_id == funds.c.id, investments.c.deleted_at.is_(None))
        .scalar_subquery()
    )
    await session.execute(
        update(funds)
        .where(funds.c.id.in_(ids))
        # updated_at stays: the fund's own fields did not change (and onupdate would
        # otherwise stamp the import's clock on every fund, breaking a round trip).
        .values({funds.c.committed_cents: total, funds.c.updated_at: funds.c.updated_at})
    )


def note_batch(session: AsyncSession, table: str, summary: dict[str, Any]) -> None:
    """One audit entry per committed batch (per row would double the import's writes)."""
    note(session, "Import", None, None, {"table": table, **summary})
