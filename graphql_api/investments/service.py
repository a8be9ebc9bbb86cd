"""Use cases and rules for investments (SPEC §2). Never commits; never imports GraphQL.

A new commitment is checked in the order SPEC §2 fixes, first failure wins:
fund exists → fund is not CLOSED → investor exists → amount and date are
valid → the hard cap is not exceeded → persist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.keyset import Ordering, Page, Window
from graphql_api.db.models import FundStatus, Investment, InvestorType
from graphql_api.errors import (
    ErrorCode,
    FundClosedError,
    InvalidInputError,
    NotFoundError,
    Violation,
)
from graphql_api.events import outbox
from graphql_api.events.records import EventType
from graphql_api.funds import service as fund_service
from graphql_api.idempotency import service as idempotency
from graphql_api.idempotency.service import KeyedRequest
from graphql_api.investments import repository
from graphql_api.investments.filters import InvestmentFilter, InvestmentOrder, Related
from graphql_api.investments.repository import InvestmentRow, Parent
from graphql_api.investors import service as investor_service
from graphql_api.validation import check_money


@dataclass(frozen=True, slots=True)
class NewInvestment:
    """A new commitment; a `None` key is an ID that names no record (NOT_FOUND)."""

    fund_id: uuid.UUID | None
    investor_id: uuid.UUID | None
    amount_usd: Decimal
    investment_date: date


@dataclass(frozen=True, slots=True)
class InvestorTypeTotal:
    investor_type: InvestorType
    committed_usd: Decimal
    investment_count: int
    investor_count: int


@dataclass(frozen=True, slots=True)
class FundTotals:
    """Aggregates over a fund's live commitments."""

    committed_usd: Decimal
    investment_count: int
    investor_count: int
    by_investor_type: tuple[InvestorTypeTotal, ...]


EMPTY_TOTALS = FundTotals(Decimal("0.00"), 0, 0, ())


def latest_investment_date(today: date) -> date:
    """One year after `today` (28 February when today is 29 February)."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def check_amount_and_date(new: NewInvestment, today: date) -> list[Violation]:
    """The field rules of a new commitment (the API's and the importer's)."""
    problems = check_money(new.amount_usd, "amount_usd", label="Amount")
    latest = latest_investment_date(today)
    if new.investment_date > latest:
        problems.append(
            Violation(
                ErrorCode.VALIDATION,
                f"Investment date must be no later than {latest.isoformat()} (one year ahead).",
                ("investment_date",),
            )
        )
    return problems


def ordering(order: InvestmentOrder) -> Ordering:
    """The full keyset ordering for the requested sort terms."""
    return repository.ordering(order)


async def create_investment(
    session: AsyncSession, new: NewInvestment, *, today: date
) -> Investment:
    fund = await fund_service.find_fund(session, new.fund_id) if new.fund_id else None
    if fund is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Fund not found.", "fund_id")
    if fund.status is FundStatus.CLOSED:
        raise FundClosedError.single(
            ErrorCode.FUND_CLOSED, "Fund is closed to new commitments.", "fund_id"
        )
    investor = (
        await investor_service.find_investor(session, new.investor_id) if new.investor_id else None
    )
    if investor is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Investor not found.", "investor_id")
    if problems := check_amount_and_date(new, today):
        raise InvalidInputError(problems)
    await fund_service.reserve_commitment(session, fund, new.amount_usd)
    await hold_investor(session, investor.id, "investor_id")
    investment = Investment(
        fund_id=fund.id,
        investor_id=investor.id,
        amount_usd=new.amount_usd,
        investment_date=new.investment_date,
    )
    repository.add(session, investment)
    await session.flush()
    # The fund row is locked (reserve_commitment's UPDATE): events of one fund
    # commit, and are sequenced, in the order the commitments were made.
    _record_created(session, investment)
    return investment


async def hold_investor(session: AsyncSession, investor_id: uuid.UUID, field: str) -> None:
    """Keep the investor live until commit, or NOT_FOUND if it was deleted meanwhile.

    Taken after the fund's row lock (reserve_commitment), the order the bulk path
    uses too, so lockers of a fund and an investor never wait on each other in a
    cycle.
    """
    if not await investor_service.hold_live_investors(session, [investor_id]):
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Investor not found.", field)


def _record_created(session: AsyncSession, investment: Investment) -> None:
    outbox.record(
        session,
        EventType.INVESTMENT_CREATED,
        investment.fund_id,
        investment_id=investment.id,
        investor_id=investment.investor_id,
        payload=created_payload(investment),
    )


def created_payload(investment: Investment) -> dict[str, Any]:
    return {
        "amountUsd": f"{investment.amount_usd:.2f}",
        "investmentDate": investment.investment_date.isoformat(),
    }


REPLAYED_BUT_DELETED = (
    "The investment made with this idempotency key was committed, and has since been deleted."
)


@dataclass(frozen=True, slots=True)
class Created:
    """What createInvestment produced; `replayed` when an idempotency key returned it again."""

    investment: Investment
    replayed: bool = False


async def create_investment_once(
    session: AsyncSession, new: NewInvestment, *, today: date, keyed: KeyedRequest | None
) -> Created:
    """`create_investment`, except that a request repeated with its key returns the original."""

    async def create() -> Created:
        return Created(await create_investment(session, new, today=today))

    async def replay(stored: dict[str, Any]) -> Created:
        [stored_id] = stored["investmentIds"]
        found = await repository.get_many(session, [uuid.UUID(stored_id)])
        if not found:
            raise NotFoundError.single(ErrorCode.NOT_FOUND, REPLAYED_BUT_DELETED, "idempotency_key")
        return Created(found[uuid.UUID(stored_id)], replayed=True)

    return await idempotency.once(
        session,
        keyed,
        create,
        record=lambda created: {"investmentIds": [str(created.investment.id)]},
        replay=replay,
    )


async def with_live_investments(
    session: AsyncSession, parent: Parent, parent_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """The funds or investors among these that still have live commitments (which keep
    them from being deleted: HAS_DEPENDENTS)."""
    return await repository.with_live(session, parent, parent_ids) if parent_ids else set()


async def investments_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> list[InvestmentRow]:
    return await repository.fetch_by_ids(session, ids, viewer)


async def list_investments(
    session: AsyncSession,
    criteria: InvestmentFilter | None,
    order: Ordering,
    window: Window,
    related: Related,
    viewer: Viewer = EVERYTHING,
) -> Page[InvestmentRow]:
    return await repository.fetch_page(session, criteria, order, window, related, viewer)


async def count_investments(
    session: AsyncSession, criteria: InvestmentFilter | None, viewer: Viewer = EVERYTHING
) -> int:
    return await repository.count(session, criteria, viewer)


async def pages_by_parent(
    session: AsyncSession,
    parent: Parent,
    parent_ids: Sequence[uuid.UUID],
    criteria: InvestmentFilter | None,
    order: Ordering,
    window: Window,
    related: Related,
    viewer: Viewer = EVERYTHING,
) -> dict[uuid.UUID, Page[InvestmentRow]]:
    return await repository.fetch_pages_by_parent(
        session, parent, parent_ids, criteria, order, window, related, viewer
    )


async def counts_by_parent(
    session: AsyncSession,
    parent: Parent,
    parent_ids: Sequence[uuid.UUID],
    criteria: InvestmentFilter | None,
    viewer: Viewer = EVERYTHING,
) -> dict[uuid.UUID, int]:
    return await repository.count_by_parent(session, parent, parent_ids, criteria, viewer)


async def fund_totals(
    session: AsyncSession, fund_ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> dict[uuid.UUID, FundTotals]:
    """Committed amount, counts and the split by investor type, per fund.

    Over the commitments the viewer may read: an INVESTOR's summary of a fund
    covers its own commitments only, so totals never reveal anyone else's.
    """
    groups: dict[uuid.UUID, list[InvestorTypeTotal]] = {}
    for (
        fund_id,
        investor_type,
        committed,
        investments,
        investors,
    ) in await repository.totals_by_fund_and_investor_type(session, fund_ids, viewer):
        groups.setdefault(fund_id, []).append(
            InvestorTypeTotal(investor_type, committed, investments, investors)
        )
    totals = {}
    for fund_id, parts in groups.items():
        parts.sort(key=lambda part: part.investor_type.value)
        totals[fund_id] = FundTotals(
            committed_usd=sum((p.committed_usd for p in parts), Decimal("0.00")),
            investment_count=sum(p.investment_count for p in parts),
            investor_count=sum(p.investor_count for p in parts),
            by_investor_type=tuple(parts),
        )
    return {fund_id: totals.get(fund_id, EMPTY_TOTALS) for fund_id in fund_ids}


async def investor_totals(
    session: AsyncSession, investor_ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> dict[uuid.UUID, Decimal]:
    totals = await repository.totals_by_investor(session, investor_ids, viewer)
    return {key: totals.get(key, Decimal("0.00")) for key in investor_ids}
