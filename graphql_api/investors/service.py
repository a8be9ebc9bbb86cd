"""Use cases and rules for investors (SPEC §2). Never commits; never imports GraphQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.keyset import Ordering, Page, Window
from graphql_api.db.models import Investor, InvestorType
from graphql_api.db.models.investor import MAX_EMAIL_LENGTH
from graphql_api.errors import (
    DuplicateEmailError,
    ErrorCode,
    InvalidInputError,
    NotFoundError,
    VersionConflictError,
    Violation,
)
from graphql_api.investors import repository
from graphql_api.investors.filters import InvestorFilter, InvestorOrder
from graphql_api.investors.repository import InvestorRow
from graphql_api.partial import UNSET, Unset
from graphql_api.validation import clean_name


@dataclass(frozen=True, slots=True)
class NewInvestor:
    name: str
    investor_type: InvestorType
    email: str


@dataclass(frozen=True, slots=True)
class InvestorChanges:
    name: str | Unset = UNSET
    investor_type: InvestorType | Unset = UNSET
    email: str | Unset = UNSET


def normalise_email(raw: str) -> tuple[str, list[Violation]]:
    """Validate the address's syntax and return it in its stored, lower-case form."""
    candidate = raw.strip()
    if len(candidate) > MAX_EMAIL_LENGTH:
        return candidate, [
            Violation(ErrorCode.VALIDATION, "Email address is too long.", ("email",))
        ]
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        return candidate, [
            Violation(ErrorCode.VALIDATION, f"Email address is not valid: {error}", ("email",))
        ]
    return checked.normalized.lower(), []


def _duplicate_email(email: str, *, held_by_deleted: bool = False) -> DuplicateEmailError:
    """DUPLICATE_EMAIL; a soft-deleted investor keeps its email (so that restoring it can
    never clash), and the message says so: restoring that investor is the way back."""
    message = f"An investor with email {email} already exists."
    if held_by_deleted:
        message = (
            f"A deleted investor holds email {email}; restore that investor instead of "
            "creating a new one."
        )
    return DuplicateEmailError.single(ErrorCode.DUPLICATE_EMAIL, message, "email")


async def _check_email_free(
    session: AsyncSession, email: str, *, except_id: uuid.UUID | None = None
) -> None:
    holder = await repository.email_holder(session, email, except_id=except_id)
    if holder is not None:
        raise _duplicate_email(email, held_by_deleted=holder.deleted_at is not None)


def ordering(order: InvestorOrder) -> Ordering:
    """The full keyset ordering for the requested sort terms."""
    return repository.ordering(order)


async def _flush_unique(session: AsyncSession, email: str) -> None:
    """Flush, turning a lost race on the unique email index into DUPLICATE_EMAIL."""
    try:
        await session.flush()
    except IntegrityError as error:
        message = str(error.orig)
        if "ix_investors_email" in message or "investors.email" in message:
            raise _duplicate_email(email) from error
        raise


async def create_investor(session: AsyncSession, new: NewInvestor) -> Investor:
    name, problems = clean_name(new.name, "name")
    email, email_problems = normalise_email(new.email)
    problems += email_problems
    if problems:
        raise InvalidInputError(problems)
    await _check_email_free(session, email)
    investor = Investor(name=name, investor_type=new.investor_type, email=email)
    repository.add(session, investor)
    await _flush_unique(session, email)
    return investor


async def update_investor(
    session: AsyncSession,
    investor_id: uuid.UUID,
    changes: InvestorChanges,
    *,
    expected_version: int | None,
) -> Investor:
    investor = await repository.get_for_update(session, investor_id)
    if investor is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Investor not found.", "id")
    if expected_version is not None and expected_version != investor.version:
        raise VersionConflictError.single(
            ErrorCode.VERSION_CONFLICT,
            f"Investor was changed by someone else: expected version {expected_version}, "
            f"current version is {investor.version}.",
            "expected_version",
        )
    problems: list[Violation] = []
    values: dict[str, object] = {}
    if changes.name is not UNSET:
        values["name"], name_problems = clean_name(changes.name, "name")
        problems += name_problems
    if changes.email is not UNSET:
        values["email"], email_problems = normalise_email(changes.email)
        problems += email_problems
    if changes.investor_type is not UNSET:
        values["investor_type"] = changes.investor_type
    if problems:
        raise InvalidInputError(problems)
    email = values.get("email")
    if isinstance(email, str):
        await _check_email_free(session, email, except_id=investor.id)
    for attribute, value in values.items():
        if getattr(investor, attribute) != value:
            setattr(investor, attribute, value)
    await _flush_unique(session, investor.email)
    return investor


async def investors_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID], viewer: Viewer = EVERYTHING
) -> list[InvestorRow]:
    return await repository.fetch_by_ids(session, ids, viewer)


async def hold_live_investors(
    session: AsyncSession, investor_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """The live ones among these investors, kept live until the transaction ends
    (a concurrent deleteInvestor waits, then finds the new commitments)."""
    return await repository.hold_live(session, investor_ids) if investor_ids else set()


class HiddenFieldError(Exception):
    """A query sorts or filters by a value the caller may not see (it would leak it)."""


def _check_email_visible(
    criteria: InvestorFilter | None, order: Ordering | None, viewer: Viewer
) -> None:
    """Sorting or filtering by email reveals emails (through cursors, or by guessing),
    so only viewers who may see emails may do it."""
    if viewer.sees_all_emails:
        return
    by_email = order is not None and any(s.name == "EMAIL" for s, _ in order.terms)
    if by_email or (criteria is not None and criteria.email is not None):
        raise HiddenFieldError(
            "Sorting or filtering by email needs a role that can see emails (ADMIN, MANAGER)."
        )


async def list_investors(
    session: AsyncSession,
    criteria: InvestorFilter | None,
    order: Ordering,
    window: Window,
    viewer: Viewer = EVERYTHING,
) -> Page[InvestorRow]:
    _check_email_visible(criteria, order, viewer)
    return await repository.fetch_page(session, criteria, order, window, viewer)


async def count_investors(
    session: AsyncSession, criteria: InvestorFilter | None, viewer: Viewer = EVERYTHING
) -> int:
    _check_email_visible(criteria, None, viewer)
    return await repository.count(session, criteria, viewer)


async def find_investor(session: AsyncSession, investor_id: uuid.UUID) -> Investor | None:
    return await repository.get(session, investor_id)


async def lock_investor(
    session: AsyncSession, investor_id: uuid.UUID, *, deleted: bool = False
) -> Investor:
    """The live investor (a soft-deleted one when `deleted`), row-locked; NOT_FOUND otherwise."""
    investor = await repository.get_for_update(session, investor_id, deleted=deleted)
    if investor is None:
        message = "No deleted investor with this ID." if deleted else "Investor not found."
        raise NotFoundError.single(ErrorCode.NOT_FOUND, message, "id")
    return investor


async def find_investor_by_email(session: AsyncSession, email: str) -> Investor | None:
    return await repository.get_by_email(session, email)
