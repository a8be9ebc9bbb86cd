"""Soft delete and restore of funds, investors and investments (issue 7, item 4).

A row is deleted by setting `deleted_at` through the ORM, so the unit of work
audits it; deleting a row that is already deleted, or restoring a live one, is
NOT_FOUND ("no live / no deleted record with this ID"). These live in the
investments slice because every rule here is about commitments: a fund or an
investor with live commitments cannot go (HAS_DEPENDENTS), and a commitment
cannot come back without its fund and investor.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit.recorder import note
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.types import utcnow
from graphql_api.errors import DomainError, ErrorCode, HasDependentsError, NotFoundError
from graphql_api.events import outbox
from graphql_api.events.records import EventType
from graphql_api.funds import service as fund_service
from graphql_api.investments import repository, service
from graphql_api.investors import service as investor_service


async def delete_fund(session: AsyncSession, fund_id: uuid.UUID) -> Fund:
    """Soft-delete a fund that has no live investments (HAS_DEPENDENTS otherwise)."""
    fund = await fund_service.lock_fund(session, fund_id)
    if await repository.with_live(session, "fund", [fund.id]):
        raise HasDependentsError.single(
            ErrorCode.HAS_DEPENDENTS,
            "Fund still has live investments; delete them first.",
            "id",
        )
    fund.deleted_at = utcnow()
    await session.flush()
    fund_service.record_deletion(session, fund, restored=False)
    return fund


async def restore_fund(session: AsyncSession, fund_id: uuid.UUID) -> Fund:
    """Bring a soft-deleted fund back (its deleted investments stay deleted)."""
    fund = await fund_service.lock_fund(session, fund_id, deleted=True)
    fund.deleted_at = None
    await session.flush()
    fund_service.record_deletion(session, fund, restored=True)
    return fund


async def delete_investor(session: AsyncSession, investor_id: uuid.UUID) -> Investor:
    """Soft-delete an investor that has no live investments (HAS_DEPENDENTS otherwise).

    The row lock conflicts with the FOR KEY SHARE hold a createInvestment takes on
    its investor (`db.locking.hold_live`): either that commitment is committed
    first and this refuses with HAS_DEPENDENTS, or it finds the investor gone.
    """
    investor = await investor_service.lock_investor(session, investor_id)
    if await repository.with_live(session, "investor", [investor.id]):
        raise HasDependentsError.single(
            ErrorCode.HAS_DEPENDENTS,
            "Investor still has live investments; delete them first.",
            "id",
        )
    investor.deleted_at = utcnow()
    await session.flush()
    _record_investor_event(session, investor, EventType.INVESTOR_DELETED)
    return investor


async def restore_investor(session: AsyncSession, investor_id: uuid.UUID) -> Investor:
    """Bring a soft-deleted investor back (its deleted investments stay deleted)."""
    investor = await investor_service.lock_investor(session, investor_id, deleted=True)
    investor.deleted_at = None
    await session.flush()
    _record_investor_event(session, investor, EventType.INVESTOR_RESTORED)
    return investor


async def delete_investment(session: AsyncSession, investment_id: uuid.UUID) -> Investment:
    """Soft-delete a commitment and release its amount from the fund's committed total."""
    investment = await repository.get_for_update(session, investment_id)
    if investment is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Investment not found.", "id")
    total = await repository.release_commitment(session, investment.fund_id, investment.amount_usd)
    note(
        session,
        "Fund",
        investment.fund_id,
        {"committed_usd": total + investment.amount_usd},
        {"committed_usd": total},
    )
    investment.deleted_at = utcnow()
    await session.flush()
    _record_deletion(session, investment, EventType.INVESTMENT_DELETED)
    return investment


async def restore_investment(session: AsyncSession, investment_id: uuid.UUID) -> Investment:
    """Bring a deleted commitment back: its fund and investor must be live, and the amount
    is reserved again as a new commitment would be (FUND_CLOSED, HARD_CAP_EXCEEDED)."""
    investment = await repository.get_for_update(session, investment_id, deleted=True)
    if investment is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "No deleted investment with this ID.", "id")
    fund = await fund_service.find_fund(session, investment.fund_id)
    if fund is None:
        raise NotFoundError.single(
            ErrorCode.NOT_FOUND, "The investment's fund is deleted; restore it first.", "id"
        )
    if await investor_service.find_investor(session, investment.investor_id) is None:
        raise NotFoundError.single(
            ErrorCode.NOT_FOUND, "The investment's investor is deleted; restore it first.", "id"
        )
    try:
        await fund_service.reserve_commitment(session, fund, investment.amount_usd)
    except DomainError as error:  # reported on the input's only field, not on fund_id
        raise type(error)([replace(v, field=("id",)) for v in error.violations]) from error
    await service.hold_investor(session, investment.investor_id, "id")
    investment.deleted_at = None
    await session.flush()
    _record_deletion(session, investment, EventType.INVESTMENT_RESTORED)
    return investment


def _record_deletion(session: AsyncSession, investment: Investment, event: EventType) -> None:
    outbox.record(
        session,
        event,
        investment.fund_id,
        investment_id=investment.id,
        investor_id=investment.investor_id,
        payload={"amountUsd": f"{investment.amount_usd:.2f}"},
    )


def _record_investor_event(session: AsyncSession, investor: Investor, event: EventType) -> None:
    """An event about the investor alone: it belongs to no fund's stream (fund_id is null),
    so `fundEvents` does not carry it; it reaches the broker for other consumers."""
    outbox.record(
        session,
        event,
        None,
        investor_id=investor.id,
        payload={"changedFields": ["deletedAt"], "version": investor.version},
    )
