"""Use cases and rules for investments (SPEC §2). Never commits; never imports GraphQL.

A new commitment is checked in the order SPEC §2 fixes, first failure wins:
fund exists → fund is not CLOSED → investor exists → amount and date are
valid → the hard cap is not exceeded → persist.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit.recorder import note, note_many
from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.ids import new_id
from graphql_api.db.keyset import AnyRow, Ordering, Page, Window
from graphql_api.db.models import Fund, FundStatus, Investment, Investor, InvestorType
from graphql_api.db.types import utcnow
from graphql_api.errors import (
    DomainError,
    ErrorCode,
    FundClosedError,
    HasDependentsError,
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
from graphql_api.money import MAX_FUND_SIZE_USD
from graphql_api.validation import check_money

MAX_BATCH_SIZE = 1000


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


def _record_created(session: AsyncSession, investment: Investment) -> None:
    outbox.record(
        session,
        EventType.INVESTMENT_CREATED,
        investment.fund_id,
        investment_id=investment.id,
        investor_id=investment.investor_id,
        payload=_created_payload(investment),
    )


def _created_payload(investment: Investment) -> dict[str, Any]:
    return {
        "amountUsd": f"{investment.amount_usd:.2f}",
        "investmentDate": investment.investment_date.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class Created:
    """What createInvestment produced; `replayed` when an idempotency key returned it again."""

    investment: Investment
    replayed: bool = False


async def create_investment_once(
    session: AsyncSession, new: NewInvestment, *, today: date, keyed: KeyedRequest | None
) -> Created:
    """`create_investment`, except that a request repeated with its key returns the original."""
    if keyed is None:
        return Created(await create_investment(session, new, today=today))
    claim = await idempotency.claim(session, keyed, now=utcnow())
    if claim.replay is not None:
        [stored_id] = claim.replay["investmentIds"]
        stored = await repository.get_many(session, [uuid.UUID(stored_id)])
        return Created(stored[uuid.UUID(stored_id)], replayed=True)
    investment = await create_investment(session, new, today=today)
    await idempotency.remember(session, claim, {"investmentIds": [str(investment.id)]})
    return Created(investment)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """One item of a batch: the commitment made, or why not (fields start with the index)."""

    investment: Investment | None = None
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    items: tuple[ItemOutcome, ...]
    replayed: bool = False


class BatchRefusedError(DomainError):
    """An all-or-nothing batch with invalid items: nothing was committed."""


async def create_investments(
    session: AsyncSession,
    batch: Sequence[NewInvestment],
    *,
    atomic: bool,
    today: date,
    keyed: KeyedRequest | None = None,
) -> BatchOutcome:
    """Many commitments in a handful of statements, each item checked as createInvestment would.

    Items are judged in order, as if committed one after another (so the hard cap
    counts the earlier items of the batch). `atomic`: any invalid item raises
    BatchRefusedError and nothing commits; otherwise the valid items commit.
    """
    claim = await idempotency.claim(session, keyed, now=utcnow()) if keyed else None
    if claim is not None and claim.replay is not None:
        return await _replayed_batch(session, claim.replay)
    outcome = await _create_batch(session, batch, atomic=atomic, today=today)
    if claim is not None:
        await idempotency.remember(session, claim, _batch_record(outcome))
    return outcome


async def _create_batch(
    session: AsyncSession, batch: Sequence[NewInvestment], *, atomic: bool, today: date
) -> BatchOutcome:
    funds = await repository.lock_funds(session, {new.fund_id for new in batch if new.fund_id})
    investor_ids = list({new.investor_id for new in batch if new.investor_id})
    investors = (
        {row.id for row in await investor_service.investors_by_ids(session, investor_ids)}
        if investor_ids
        else set()
    )
    planned: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    problems: dict[int, list[Violation]] = {}
    for index, new in enumerate(batch):
        found = _item_problems(new, funds, investors, today)
        if not found and (fund_id := new.fund_id) is not None:
            found = _hard_cap_problems(new.amount_usd, funds[fund_id], planned[fund_id])
            if not found:
                planned[fund_id] += new.amount_usd
        if found:
            problems[index] = [_at_item(index, violation) for violation in found]
    if atomic and problems:
        raise BatchRefusedError([v for index in sorted(problems) for v in problems[index]])
    created = await _commit_batch(
        session, [new for index, new in enumerate(batch) if index not in problems], planned
    )
    made = iter(created)
    return BatchOutcome(
        tuple(
            ItemOutcome(violations=tuple(problems[index]))
            if index in problems
            else ItemOutcome(investment=next(made))
            for index in range(len(batch))
        )
    )


def _item_problems(
    new: NewInvestment,
    funds: dict[uuid.UUID, AnyRow],
    investors: Collection[uuid.UUID],
    today: date,
) -> list[Violation]:
    """SPEC §2's order, first failure wins, as in `create_investment`."""
    fund = funds.get(new.fund_id) if new.fund_id else None
    if fund is None:
        return [Violation(ErrorCode.NOT_FOUND, "Fund not found.", ("fund_id",))]
    if fund.status is FundStatus.CLOSED:
        message = "Fund is closed to new commitments."
        return [Violation(ErrorCode.FUND_CLOSED, message, ("fund_id",))]
    if new.investor_id is None or new.investor_id not in investors:
        return [Violation(ErrorCode.NOT_FOUND, "Investor not found.", ("investor_id",))]
    return check_amount_and_date(new, today)


def _hard_cap_problems(amount: Decimal, fund: AnyRow, planned: Decimal) -> list[Violation]:
    """The room left under the cap (or the largest fund size) after the earlier items."""
    if fund.hard_cap_usd is None:
        remaining = MAX_FUND_SIZE_USD - fund.committed_usd - planned
        reason = f"the largest total a fund may hold ({MAX_FUND_SIZE_USD:,.0f})"
    else:
        remaining = fund.hard_cap_usd - fund.committed_usd - planned
        reason = "the fund's hard cap"
    if amount <= remaining:
        return []
    message = f"Commitment of {amount:.2f} exceeds {reason}; {remaining:.2f} remains."
    return [Violation(ErrorCode.HARD_CAP_EXCEEDED, message, ("amount_usd",))]


def _at_item(index: int, violation: Violation) -> Violation:
    """The violation with its field under the item: ("inputs", "3", "amount_usd")."""
    return Violation(
        violation.code, violation.message, ("inputs", str(index), *(violation.field or ()))
    )


async def _commit_batch(
    session: AsyncSession, accepted: list[NewInvestment], planned: dict[uuid.UUID, Decimal]
) -> list[Investment]:
    """Reserve each fund's share in one UPDATE, then insert the commitments, their events
    and their audit entries, one INSERT each.

    The funds are locked (lock_funds), so the room computed in memory is still
    there, and their events are sequenced in the order they were made.
    """
    if not accepted:
        return []
    shares = {fund_id: amount for fund_id, amount in planned.items() if amount}
    totals = await repository.add_to_committed(session, shares)
    investments = [
        Investment(
            id=new_id(),
            fund_id=new.fund_id,
            investor_id=new.investor_id,
            amount_usd=new.amount_usd,
            investment_date=new.investment_date,
            created_at=utcnow(),
        )
        for new in accepted
    ]
    await repository.insert_many(session, investments)
    await repository.record_events(session, [_created_event(i) for i in investments])
    await note_many(
        session,
        [
            (
                "Fund",
                fund_id,
                {"committed_usd": totals[fund_id] - shares[fund_id]},
                {"committed_usd": totals[fund_id]},
            )
            for fund_id in sorted(totals)
        ]
        + [("Investment", i.id, None, repository.column_values(i)) for i in investments],
    )
    return investments


def _created_event(investment: Investment) -> dict[str, Any]:
    """The outbox row `_record_created` writes, as values for a bulk insert."""
    return {
        "event_type": EventType.INVESTMENT_CREATED.value,
        "fund_id": investment.fund_id,
        "investment_id": investment.id,
        "investor_id": investment.investor_id,
        "payload": _created_payload(investment),
    }


def _batch_record(outcome: BatchOutcome) -> dict[str, Any]:
    """What an idempotency key keeps of a batch: each item's investment id or errors."""
    return {
        "items": [
            {"investmentId": str(item.investment.id)}
            if item.investment is not None
            else {
                "errors": [[v.code.value, v.message, list(v.field or ())] for v in item.violations]
            }
            for item in outcome.items
        ]
    }


async def _replayed_batch(session: AsyncSession, record: dict[str, Any]) -> BatchOutcome:
    ids = [uuid.UUID(item["investmentId"]) for item in record["items"] if "investmentId" in item]
    stored = await repository.get_many(session, ids) if ids else {}
    return BatchOutcome(
        tuple(
            ItemOutcome(investment=stored[uuid.UUID(item["investmentId"])])
            if "investmentId" in item
            else ItemOutcome(
                violations=tuple(
                    Violation(ErrorCode(code), message, tuple(field))
                    for code, message, field in item["errors"]
                )
            )
            for item in record["items"]
        ),
        replayed=True,
    )


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


# Soft delete and restore (SPEC issue 7, item 4). A row is deleted by setting
# `deleted_at` through the ORM, so the unit of work audits it; deleting a row
# that is already deleted, or restoring a live one, is NOT_FOUND ("no live /
# no deleted record with this ID").


async def delete_fund(session: AsyncSession, fund_id: uuid.UUID) -> Fund:
    """Soft-delete a fund that has no live investments (HAS_DEPENDENTS otherwise)."""
    fund = await fund_service.lock_fund(session, fund_id)
    if await repository.has_live(session, "fund", fund.id):
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

    Audited; no outbox event, since events belong to a fund's stream.
    """
    investor = await investor_service.lock_investor(session, investor_id)
    if await repository.has_live(session, "investor", investor.id):
        raise HasDependentsError.single(
            ErrorCode.HAS_DEPENDENTS,
            "Investor still has live investments; delete them first.",
            "id",
        )
    investor.deleted_at = utcnow()
    await session.flush()
    return investor


async def restore_investor(session: AsyncSession, investor_id: uuid.UUID) -> Investor:
    """Bring a soft-deleted investor back (its deleted investments stay deleted)."""
    investor = await investor_service.lock_investor(session, investor_id, deleted=True)
    investor.deleted_at = None
    await session.flush()
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
    await fund_service.reserve_commitment(session, fund, investment.amount_usd)
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
