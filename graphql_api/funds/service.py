"""Use cases and rules for funds (SPEC §2). Never commits; never imports GraphQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit.recorder import note
from graphql_api.db.keyset import Ordering, Page, Window
from graphql_api.db.models import Fund, FundStatus
from graphql_api.errors import (
    ErrorCode,
    FundClosedError,
    HardCapExceededError,
    InvalidInputError,
    InvalidStatusTransitionError,
    NotFoundError,
    VersionConflictError,
    Violation,
)
from graphql_api.events import outbox
from graphql_api.events.records import EventType
from graphql_api.funds import repository
from graphql_api.funds.filters import FundFilter, FundOrder
from graphql_api.funds.repository import FundRow
from graphql_api.money import MAX_FUND_SIZE_USD
from graphql_api.partial import UNSET, Unset
from graphql_api.validation import check_money, clean_name

MIN_VINTAGE_YEAR = 1900
VINTAGE_YEARS_AHEAD = 5


def to_camel(name: str) -> str:
    """A field name as clients know it (`hard_cap_usd` → `hardCapUsd`)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


ALLOWED_TRANSITIONS: dict[FundStatus, frozenset[FundStatus]] = {
    FundStatus.FUNDRAISING: frozenset({FundStatus.INVESTING, FundStatus.CLOSED}),
    FundStatus.INVESTING: frozenset({FundStatus.CLOSED}),
    FundStatus.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class NewFund:
    """What a caller provides to create a fund."""

    name: str
    vintage_year: int
    target_size_usd: Decimal
    hard_cap_usd: Decimal | None = None
    status: FundStatus = FundStatus.FUNDRAISING


@dataclass(frozen=True, slots=True)
class FundChanges:
    """A partial update: `UNSET` fields stay as they are."""

    name: str | Unset = UNSET
    vintage_year: int | Unset = UNSET
    target_size_usd: Decimal | Unset = UNSET
    hard_cap_usd: Decimal | Unset | None = UNSET
    status: FundStatus | Unset = UNSET


def can_transition(current: FundStatus, new: FundStatus) -> bool:
    """Forward only; staying in the same status is a no-op and always allowed."""
    return new == current or new in ALLOWED_TRANSITIONS[current]


def _check_vintage_year(year: int, today: date) -> list[Violation]:
    latest = today.year + VINTAGE_YEARS_AHEAD
    if MIN_VINTAGE_YEAR <= year <= latest:
        return []
    message = f"Vintage year must be between {MIN_VINTAGE_YEAR} and {latest}."
    return [Violation(ErrorCode.VALIDATION, message, ("vintage_year",))]


def _check_sizes(
    target: Decimal, hard_cap: Decimal | None, *, cap_changed: bool = True
) -> list[Violation]:
    """Both amounts valid, and the cap at least the target.

    When only the target changed, a target above the existing cap is the target's
    fault, and the error names the field the client actually sent.
    """
    problems = check_money(target, "target_size_usd", label="Target size")
    if hard_cap is not None:
        cap_problems = check_money(hard_cap, "hard_cap_usd", label="Hard cap")
        if not cap_problems and not problems and hard_cap < target:
            cap_problems.append(
                Violation(
                    ErrorCode.VALIDATION,
                    "Hard cap must be greater than or equal to the target size.",
                    ("hard_cap_usd",),
                )
                if cap_changed
                else Violation(
                    ErrorCode.VALIDATION,
                    f"Target size must not exceed the fund's hard cap of {hard_cap:.2f}.",
                    ("target_size_usd",),
                )
            )
        problems.extend(cap_problems)
    return problems


def ordering(order: FundOrder) -> Ordering:
    """The full keyset ordering for the requested sort terms."""
    return repository.ordering(order)


def validate_new_fund(new: NewFund, *, today: date) -> tuple[str, list[Violation]]:
    """Every field rule of a new fund: its trimmed name, and what is wrong (the importer's too)."""
    name, problems = clean_name(new.name, "name")
    problems += _check_vintage_year(new.vintage_year, today)
    problems += _check_sizes(new.target_size_usd, new.hard_cap_usd)
    return name, problems


def validate_changes(fund: Fund, changes: FundChanges, *, today: date) -> dict[str, object]:
    """The rules of `update_fund` without applying them: the values to set, or the DomainError.

    The importer replaces existing funds through this, so a re-imported fund obeys
    what an API update would (status only forward, hard cap not below commitments).
    """
    return _validated_changes(fund, changes, today)


async def create_fund(session: AsyncSession, new: NewFund, *, today: date) -> Fund:
    """Validate every field, then add the fund to the session."""
    name, problems = validate_new_fund(new, today=today)
    if problems:
        raise InvalidInputError(problems)
    fund = Fund(
        name=name,
        vintage_year=new.vintage_year,
        target_size_usd=new.target_size_usd,
        hard_cap_usd=new.hard_cap_usd,
        status=new.status,
    )
    repository.add(session, fund)
    await session.flush()
    outbox.record(session, EventType.FUND_CREATED, fund.id, payload={"name": fund.name})
    return fund


async def update_fund(
    session: AsyncSession,
    fund_id: uuid.UUID,
    changes: FundChanges,
    *,
    expected_version: int | None,
    today: date,
) -> Fund:
    """Apply a partial update under a row lock; only real changes bump the version."""
    fund = await repository.get_for_update(session, fund_id)
    if fund is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Fund not found.", "id")
    if expected_version is not None and expected_version != fund.version:
        raise VersionConflictError.single(
            ErrorCode.VERSION_CONFLICT,
            f"Fund was changed by someone else: expected version {expected_version}, "
            f"current version is {fund.version}.",
            "expected_version",
        )
    values = _validated_changes(fund, changes, today)
    previous_status = fund.status
    changed = [name for name, value in values.items() if getattr(fund, name) != value]
    for attribute in changed:
        setattr(fund, attribute, values[attribute])
    await session.flush()
    if changed:
        _record_changes(session, fund, changed, previous_status)
    return fund


def _record_changes(
    session: AsyncSession, fund: Fund, changed: list[str], previous_status: FundStatus
) -> None:
    """One FUND_UPDATED event naming the changed fields, plus FUND_STATUS_CHANGED if it moved.

    The fund row is locked (get_for_update), so these events are sequenced in
    the order the changes committed.
    """
    outbox.record(
        session,
        EventType.FUND_UPDATED,
        fund.id,
        payload={"changedFields": [to_camel(name) for name in changed], "version": fund.version},
    )
    if "status" in changed:
        outbox.record(
            session,
            EventType.FUND_STATUS_CHANGED,
            fund.id,
            payload={"from": previous_status.value, "to": fund.status.value},
        )


def _validated_changes(fund: Fund, changes: FundChanges, today: date) -> dict[str, object]:
    problems: list[Violation] = []
    values: dict[str, object] = {}
    if changes.name is not UNSET:
        values["name"], name_problems = clean_name(changes.name, "name")
        problems += name_problems
    if changes.vintage_year is not UNSET:
        problems += _check_vintage_year(changes.vintage_year, today)
        values["vintage_year"] = changes.vintage_year
    target = fund.target_size_usd if changes.target_size_usd is UNSET else changes.target_size_usd
    cap = fund.hard_cap_usd if changes.hard_cap_usd is UNSET else changes.hard_cap_usd
    if changes.target_size_usd is not UNSET or changes.hard_cap_usd is not UNSET:
        problems += _check_sizes(target, cap, cap_changed=changes.hard_cap_usd is not UNSET)
        if cap is not None and cap < fund.committed_usd and not problems:
            problems.append(
                Violation(
                    ErrorCode.VALIDATION,
                    f"Hard cap cannot be below the {fund.committed_usd:.2f} already committed.",
                    ("hard_cap_usd",),
                )
            )
        values["target_size_usd"] = target
        values["hard_cap_usd"] = cap
    if changes.status is not UNSET:
        if can_transition(fund.status, changes.status):
            values["status"] = changes.status
        else:
            problems.append(
                Violation(
                    ErrorCode.INVALID_STATUS_TRANSITION,
                    f"A {fund.status.value} fund cannot move to {changes.status.value}.",
                    ("status",),
                )
            )
    if problems:
        error_class = (
            InvalidInputError
            if all(p.code is ErrorCode.VALIDATION for p in problems)
            else InvalidStatusTransitionError
        )
        raise error_class(problems)
    return values


async def funds_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[FundRow]:
    return await repository.fetch_by_ids(session, ids)


async def list_funds(
    session: AsyncSession, criteria: FundFilter | None, order: Ordering, window: Window
) -> Page[FundRow]:
    return await repository.fetch_page(session, criteria, order, window)


async def count_funds(session: AsyncSession, criteria: FundFilter | None) -> int:
    return await repository.count(session, criteria)


async def find_fund(session: AsyncSession, fund_id: uuid.UUID) -> Fund | None:
    return await repository.get(session, fund_id)


async def lock_fund(session: AsyncSession, fund_id: uuid.UUID, *, deleted: bool = False) -> Fund:
    """The live fund (a soft-deleted one when `deleted`), row-locked; NOT_FOUND otherwise."""
    fund = await repository.get_for_update(session, fund_id, deleted=deleted)
    if fund is None:
        message = "No deleted fund with this ID." if deleted else "Fund not found."
        raise NotFoundError.single(ErrorCode.NOT_FOUND, message, "id")
    return fund


def record_deletion(session: AsyncSession, fund: Fund, *, restored: bool) -> None:
    """The FUND_DELETED / FUND_RESTORED event: a change of the fund's `deletedAt`."""
    outbox.record(
        session,
        EventType.FUND_RESTORED if restored else EventType.FUND_DELETED,
        fund.id,
        payload={"changedFields": ["deletedAt"], "version": fund.version},
    )


async def reserve_commitment(session: AsyncSession, fund: Fund, amount: Decimal) -> None:
    """Count `amount` against the fund's hard cap, or refuse with the reason."""
    total = await repository.reserve_commitment(session, fund.id, amount)
    if total is not None:
        note(
            session,
            "Fund",
            fund.id,
            {"committed_usd": total - amount},
            {"committed_usd": total},
        )
        return
    await session.refresh(fund)  # the fund changed under us: report why it refused
    if fund.deleted_at is not None:  # deleted while we were waiting for its row
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Fund not found.", "fund_id")
    if fund.status is FundStatus.CLOSED:
        raise FundClosedError.single(ErrorCode.FUND_CLOSED, "Fund is closed.", "fund_id")
    raise HardCapExceededError([hard_cap_refusal(amount, fund.hard_cap_usd, fund.committed_usd)])


def room_under_cap(hard_cap: Decimal | None, committed: Decimal) -> Decimal:
    """What a fund can still take: up to its hard cap, or up to the largest fund size
    (which keeps the total within what the column can hold)."""
    return (MAX_FUND_SIZE_USD if hard_cap is None else hard_cap) - committed


def hard_cap_refusal(amount: Decimal, hard_cap: Decimal | None, committed: Decimal) -> Violation:
    """HARD_CAP_EXCEEDED for `amount` on top of `committed`, saying how much remains
    (the API's single and bulk commitments, and the importer, refuse with this)."""
    reason = (
        "the fund's hard cap"
        if hard_cap is not None
        else f"the largest total a fund may hold ({MAX_FUND_SIZE_USD:,.0f})"
    )
    remaining = room_under_cap(hard_cap, committed)
    message = f"Commitment of {amount:.2f} exceeds {reason}; {remaining:.2f} remains."
    return Violation(ErrorCode.HARD_CAP_EXCEEDED, message, ("amount_usd",))
