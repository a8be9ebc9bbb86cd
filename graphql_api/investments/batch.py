"""createInvestments: many commitments in a handful of statements (issue 7, item 5).

Each item is judged exactly as `service.create_investment` judges one, in the
order SPEC §2 fixes; the funds of the batch are locked first, so the room under
each hard cap computed in memory is still there when the rows are inserted.
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

from graphql_api.audit.recorder import note_many
from graphql_api.db.ids import new_id
from graphql_api.db.keyset import AnyRow
from graphql_api.db.models import FundStatus, Investment
from graphql_api.db.types import utcnow
from graphql_api.errors import DomainError, ErrorCode, Violation
from graphql_api.events.records import EventType
from graphql_api.funds import service as fund_service
from graphql_api.idempotency import service as idempotency
from graphql_api.idempotency.service import KeyedRequest
from graphql_api.investments import repository, service
from graphql_api.investments.service import NewInvestment, check_amount_and_date
from graphql_api.investors import service as investor_service

MAX_BATCH_SIZE = 1000


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

    async def create() -> BatchOutcome:
        return await _create_batch(session, batch, atomic=atomic, today=today)

    async def replay(stored: dict[str, Any]) -> BatchOutcome:
        return await _replayed_batch(session, stored)

    return await idempotency.once(session, keyed, create, record=_batch_record, replay=replay)


async def _create_batch(
    session: AsyncSession, batch: Sequence[NewInvestment], *, atomic: bool, today: date
) -> BatchOutcome:
    funds = await repository.lock_funds(session, {new.fund_id for new in batch if new.fund_id})
    investor_ids = list({new.investor_id for new in batch if new.investor_id})
    investors = await investor_service.hold_live_investors(session, investor_ids)
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
    committed = fund.committed_usd + planned
    if amount <= fund_service.room_under_cap(fund.hard_cap_usd, committed):
        return []
    return [fund_service.hard_cap_refusal(amount, fund.hard_cap_usd, committed)]


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
    """The outbox row `service.create_investment` writes, as values for a bulk insert."""
    return {
        "event_type": EventType.INVESTMENT_CREATED.value,
        "fund_id": investment.fund_id,
        "investment_id": investment.id,
        "investor_id": investment.investor_id,
        "payload": service.created_payload(investment),
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
        tuple(_replayed_item(index, item, stored) for index, item in enumerate(record["items"])),
        replayed=True,
    )


def _replayed_item(
    index: int, item: dict[str, Any], stored: dict[uuid.UUID, Investment]
) -> ItemOutcome:
    """An item as first decided; a commitment deleted since is NOT_FOUND (it stays hidden)."""
    if "investmentId" not in item:
        return ItemOutcome(
            violations=tuple(
                Violation(ErrorCode(code), message, tuple(field))
                for code, message, field in item["errors"]
            )
        )
    investment = stored.get(uuid.UUID(item["investmentId"]))
    if investment is None:
        deleted = Violation(
            ErrorCode.NOT_FOUND, service.REPLAYED_BUT_DELETED, ("inputs", str(index))
        )
        return ItemOutcome(violations=(deleted,))
    return ItemOutcome(investment=investment)
