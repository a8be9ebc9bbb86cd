"""Each imported row checked against the API's own rules, deciding insert, update or reject.

The field rules are the services' functions (`validate_new_fund`,
`validate_changes`, `clean_name`, `normalise_email`, `check_amount_and_date`),
never copies. What the services check against the database (an email taken,
a fund or investor existing, room under the hard cap) is checked here against
the database *and* the rows this import accepted before, in file order, so a
dry run, which writes nothing, decides every row exactly as the real run does.

Two rules of the API do not apply to an import, on purpose: a CLOSED fund's
existing commitments are imported (they were made before it closed; FUND_CLOSED
is about new ones), and investment dates are checked against today's limit only.

Soft-deleted rows (`deleted_at` set) are imported as such, under the rules of
soft delete: a live investment needs a live fund and investor (NOT_FOUND), a
deleted one does not count against the hard cap, and a fund or investor with
live investments in the database cannot become deleted (HAS_DEPENDENTS). An
existing investment may change only its `deleted_at` (deleted or restored).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db import locking
from graphql_api.db.models import Fund, Investor
from graphql_api.errors import DomainError, ErrorCode, Violation
from graphql_api.funds import service as fund_service
from graphql_api.investments import service as investment_service
from graphql_api.investors import service as investor_service
from graphql_api.transfer import store
from graphql_api.transfer.rows import Outcome, Row, check_version, invalid, replacement
from graphql_api.validation import check_money, clean_name


@dataclass(slots=True)
class Claim:
    """An email accepted in this import: which investor now has it, from which line."""

    investor_id: uuid.UUID
    row_id: uuid.UUID
    line: int


@dataclass(slots=True)
class FundRoom:
    """A fund's hard cap and its running total, for the hard-cap rule."""

    cap: Decimal | None
    total: Decimal
    deleted: bool = False


@dataclass
class ImportState:
    """What earlier rows of this import established, for the rows after them."""

    today: date
    writing: bool = False
    """The rows decided now will be written in this transaction (not a dry run, not
    lines committed before a resume): rows they depend on are locked first."""
    funds: dict[uuid.UUID, Decimal | None] = field(default_factory=dict)
    investors: set[uuid.UUID] = field(default_factory=set)
    deleted_funds: set[uuid.UUID] = field(default_factory=set)
    deleted_investors: set[uuid.UUID] = field(default_factory=set)
    remapped: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    emails_of: dict[uuid.UUID, str] = field(default_factory=dict)
    rooms: dict[uuid.UUID, FundRoom] = field(default_factory=dict)
    rejected: dict[uuid.UUID, str] = field(default_factory=dict)


class Rules(Protocol):
    async def decide(self, session: AsyncSession, rows: Sequence[Row]) -> list[Outcome]: ...


def _rejected(row: Row, problems: Sequence[Violation], state: ImportState, where: str) -> Outcome:
    state.rejected[row.id] = where
    return Outcome.rejected(row.line, row.id, list(problems))


def _track_deleted(deleted: set[uuid.UUID], record_id: uuid.UUID, values: dict[str, Any]) -> None:
    if values["deleted_at"] is None:
        deleted.discard(record_id)
    else:
        deleted.add(record_id)


def _becomes_deleted(values: dict[str, Any], current: Any) -> bool:
    return current is not None and current.deleted_at is None and values["deleted_at"] is not None


def _has_dependents(label: str) -> Violation:
    message = f"{label} still has live investments; delete them first (then import again)."
    return Violation(ErrorCode.HAS_DEPENDENTS, message, ("deleted_at",))


class FundRules:
    """New funds obey `createFund`'s rules; existing ones `updateFund`'s (status only forward)."""

    def __init__(self, state: ImportState, file_name: str) -> None:
        self.state = state
        self.file_name = file_name

    async def decide(self, session: AsyncSession, rows: Sequence[Row]) -> list[Outcome]:
        current = await store.funds_by_ids(session, {row.id for row in rows})
        leaving = {row.id for row in rows if _becomes_deleted(row.values, current.get(row.id))}
        if leaving and self.state.writing:
            await locking.lock_for_update(session, Fund, leaving)
        busy = await investment_service.with_live_investments(session, "fund", leaving)
        return [self._decide(row, current.get(row.id), row.id in busy) for row in rows]

    def _decide(self, row: Row, current: Any, busy: bool) -> Outcome:
        values = row.values
        problems = check_version(values)
        if busy:
            problems.append(_has_dependents("Fund"))
        committed = values["committed_usd"]
        if committed != 0:
            problems += check_money(committed, "committed_usd", label="Committed total")
        name = ""
        try:
            name = self._checked_name(values, current, problems)
        except DomainError as error:
            problems += error.violations
        if problems:
            return _rejected(row, problems, self.state, f"line {row.line} of {self.file_name}")
        self.state.funds[row.id] = values["hard_cap_usd"]
        _track_deleted(self.state.deleted_funds, row.id, values)
        values = values | {"name": name}
        if current is None:  # no investment can name a fund that did not exist: nothing committed
            return Outcome(row.line, str(row.id), "insert", values | {"committed_usd": Decimal(0)})
        return replacement(row, values, current, kept=("committed_usd",))

    def _checked_name(self, values: dict[str, Any], current: Any, problems: list[Violation]) -> str:
        """Run the service's rules; return the cleaned name, add problems (or raise them)."""
        new = fund_service.NewFund(
            name=values["name"],
            vintage_year=values["vintage_year"],
            target_size_usd=values["target_size_usd"],
            hard_cap_usd=values["hard_cap_usd"],
            status=values["status"],
        )
        if current is None:
            name, found = fund_service.validate_new_fund(new, today=self.state.today)
            problems += found
            return name
        changes = fund_service.FundChanges(
            name=new.name,
            vintage_year=new.vintage_year,
            target_size_usd=new.target_size_usd,
            hard_cap_usd=new.hard_cap_usd,
            status=new.status,
        )
        cleaned = fund_service.validate_changes(current, changes, today=self.state.today)
        return str(cleaned["name"])


class InvestorRules:
    """`createInvestor`'s field rules; matched by id, else by normalised email."""

    def __init__(self, state: ImportState, file_name: str) -> None:
        self.state = state
        self.file_name = file_name

    async def decide(self, session: AsyncSession, rows: Sequence[Row]) -> list[Outcome]:
        emails = [investor_service.normalise_email(row.values["email"]) for row in rows]
        wanted = {email for email, _ in emails}
        found = await store.investors_by_ids_or_emails(session, {r.id for r in rows}, wanted)
        by_id = {investor.id: investor for investor in found}
        owners = {investor.email: investor.id for investor in found}
        live = {investor.id for investor in found if investor.deleted_at is None}
        deleting = any(row.values["deleted_at"] is not None for row in rows)
        if deleting and live and self.state.writing:
            await locking.lock_for_update(session, Investor, live)
        busy = (
            await investment_service.with_live_investments(session, "investor", live)
            if deleting
            else set()
        )
        return [
            self._decide(row, email, by_id, owners, busy)
            for row, email in zip(rows, emails, strict=True)
        ]

    def _decide(
        self,
        row: Row,
        normalised: tuple[str, list[Violation]],
        by_id: dict[uuid.UUID, Investor],
        owners: dict[str, uuid.UUID],
        busy: set[uuid.UUID],
    ) -> Outcome:
        where = f"line {row.line} of {self.file_name}"
        name, problems = clean_name(row.values["name"], "name")
        email, email_problems = normalised
        problems += email_problems + check_version(row.values)
        if problems:
            return _rejected(row, problems, self.state, where)
        target, conflict = self._target(row, email, by_id, owners)
        current = by_id.get(target)
        if conflict is None and target in busy and _becomes_deleted(row.values, current):
            conflict = _has_dependents("Investor")
        if conflict is not None:
            return _rejected(row, [conflict], self.state, where)
        self._accept(row, target, email)
        _track_deleted(self.state.deleted_investors, target, row.values)
        values = row.values | {"name": name, "email": email, "id": target}
        if current is None:
            return Outcome(row.line, str(row.id), "insert", values)
        return replacement(row, values, current)

    def _target(
        self, row: Row, email: str, by_id: dict[uuid.UUID, Investor], owners: dict[str, uuid.UUID]
    ) -> tuple[uuid.UUID, Violation | None]:
        """Which investor the row is: its id if that exists, else the email's owner, else new."""
        claim = self.state.claims.get(email)
        if claim is not None and claim.row_id != row.id:
            message = (
                f"Email {email} is already used by investor {claim.row_id} on line {claim.line}."
            )
            return row.id, Violation(ErrorCode.DUPLICATE_EMAIL, message, ("email",))
        owner = owners.get(email)
        if owner is not None and self.state.emails_of.get(owner, email) != email:
            owner = None  # an earlier row of this import gave that investor another email
        target = row.id if row.id in by_id or owner is None else owner
        if owner is not None and owner != target:
            message = f"An investor with email {email} already exists ({owner})."
            return target, Violation(ErrorCode.DUPLICATE_EMAIL, message, ("email",))
        return target, None

    def _accept(self, row: Row, target: uuid.UUID, email: str) -> None:
        state = self.state
        if target != row.id:
            state.remapped[row.id] = target
        previous = state.emails_of.get(target)
        if previous is not None and previous != email:
            state.claims.pop(previous, None)
        state.claims[email] = Claim(target, row.id, row.line)
        state.emails_of[target] = email
        state.investors.add(target)


class InvestmentRules:
    """`createInvestment`'s rules in SPEC order; immutable once made; never past the hard cap."""

    def __init__(self, state: ImportState, file_name: str) -> None:
        self.state = state
        self.file_name = file_name

    async def decide(self, session: AsyncSession, rows: Sequence[Row]) -> list[Outcome]:
        current = await store.investments_by_ids(session, {row.id for row in rows})
        await self._load_funds(session, {row.values["fund_id"] for row in rows})
        await self._load_investors(session, {self._investor(row) for row in rows})
        if self.state.writing:
            await self._hold_live(
                session, [row for row in rows if row.values["deleted_at"] is None]
            )
        return [self._decide(row, current.get(row.id)) for row in rows]

    async def _hold_live(self, session: AsyncSession, live_rows: Sequence[Row]) -> None:
        """Hold the funds and investors that live commitments of this batch name, and take
        what the database says now over what earlier batches saw (a concurrent delete)."""
        fund_ids = {row.values["fund_id"] for row in live_rows} & self.state.rooms.keys()
        investor_ids = {self._investor(row) for row in live_rows} & self.state.investors
        if fund_ids:
            held = await locking.hold_live(session, Fund, fund_ids)
            for fund_id in fund_ids:
                self.state.rooms[fund_id].deleted = fund_id not in held
        if investor_ids:
            held = await locking.hold_live(session, Investor, investor_ids)
            self.state.deleted_investors -= held
            self.state.deleted_investors |= investor_ids - held

    def _investor(self, row: Row) -> uuid.UUID:
        investor_id: uuid.UUID = row.values["investor_id"]
        return self.state.remapped.get(investor_id, investor_id)

    async def _load_funds(self, session: AsyncSession, fund_ids: set[uuid.UUID]) -> None:
        """Cap and total of funds not seen yet: the file's cap if imported, the database's sum."""
        unseen = fund_ids - self.state.rooms.keys()
        limits = await store.fund_limits(session, unseen) if unseen else {}
        for fund_id in unseen:
            cap, total, deleted = limits.get(fund_id, (None, Decimal("0.00"), False))
            if fund_id in self.state.funds:
                deleted = fund_id in self.state.deleted_funds
                self.state.rooms[fund_id] = FundRoom(self.state.funds[fund_id], total, deleted)
            elif fund_id in limits:
                self.state.rooms[fund_id] = FundRoom(cap, total, deleted)

    async def _load_investors(self, session: AsyncSession, ids: set[uuid.UUID]) -> None:
        unseen = ids - self.state.investors
        if unseen:
            existing, deleted = await store.deleted_investor_ids(session, unseen)
            self.state.investors |= existing
            self.state.deleted_investors |= deleted

    def _decide(self, row: Row, current: Any) -> Outcome:
        values = row.values | {"investor_id": self._investor(row)}
        if current is not None:
            return self._existing(row, values, current)
        live = values["deleted_at"] is None
        problems = self._references(values)
        if not problems and live:
            problems = self._live_references(values)
        if not problems:
            new = investment_service.NewInvestment(
                values["fund_id"],
                values["investor_id"],
                values["amount_usd"],
                values["investment_date"],
            )
            problems = investment_service.check_amount_and_date(new, self.state.today)
        if not problems and live:
            problems = self._reserve(values["fund_id"], values["amount_usd"])
        if problems:
            return Outcome.rejected(row.line, row.id, problems)
        counted = values["amount_usd"] if live else Decimal(0)
        return Outcome(row.line, str(row.id), "insert", values, committed_change=counted)

    def _existing(self, row: Row, values: dict[str, Any], current: Any) -> Outcome:
        """Unchanged, or deleted / restored; any other change is refused (immutable)."""
        changed = [key for key in values if values[key] != getattr(current, key)]
        if not changed:
            return Outcome(row.line, str(row.id), "unchanged")
        if changed != ["deleted_at"]:
            message = (
                "An investment with this id exists with other values; investments are "
                "immutable (only deleted_at may change)."
            )
            return Outcome.rejected(row.line, row.id, [invalid(message, "id")])
        change = Decimal(0)
        if values["deleted_at"] is None:  # restored: counted again, as restoreInvestment does
            problems = self._live_references(values) or self._reserve(
                values["fund_id"], values["amount_usd"]
            )
            if problems:
                return Outcome.rejected(row.line, row.id, problems)
            change = values["amount_usd"]
        elif current.deleted_at is None:  # deleted: its amount no longer counts
            self.state.rooms[values["fund_id"]].total -= values["amount_usd"]
            change = -values["amount_usd"]
        return Outcome(row.line, str(row.id), "update", values, committed_change=change)

    def _references(self, values: dict[str, Any]) -> list[Violation]:
        """The fund, then the investor, must exist (in the database or accepted in this import)."""
        for key, known, label in (
            ("fund_id", self.state.rooms.keys(), "Fund"),
            ("investor_id", self.state.investors, "Investor"),
        ):
            if values[key] not in known:
                where = self.state.rejected.get(values[key])
                hint = f" (its row, {where}, was rejected)" if where else ""
                message = f"{label} {values[key]} not found{hint}."
                return [Violation(ErrorCode.NOT_FOUND, message, (key,))]
        return []

    def _live_references(self, values: dict[str, Any]) -> list[Violation]:
        """A live investment's fund and investor must be live (the API's NOT_FOUND)."""
        fund_id, investor_id = values["fund_id"], values["investor_id"]
        if self.state.rooms[fund_id].deleted:
            message = f"Fund {fund_id} is deleted; a live investment needs a live fund."
            return [Violation(ErrorCode.NOT_FOUND, message, ("fund_id",))]
        if investor_id in self.state.deleted_investors:
            message = f"Investor {investor_id} is deleted; a live investment needs a live investor."
            return [Violation(ErrorCode.NOT_FOUND, message, ("investor_id",))]
        return []

    def _reserve(self, fund_id: uuid.UUID, amount: Decimal) -> list[Violation]:
        """The hard-cap rule of `reserve_commitment`, against the running total of this import."""
        room = self.state.rooms[fund_id]
        if amount > fund_service.room_under_cap(room.cap, room.total):
            return [fund_service.hard_cap_refusal(amount, room.cap, room.total)]
        room.total += amount
        return []
