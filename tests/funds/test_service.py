"""The fund rules of SPEC §2 at their boundaries, through the service on a real database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from graphql_api.db.models import Fund, FundStatus
from graphql_api.db.session import Database
from graphql_api.errors import (
    DomainError,
    ErrorCode,
    InvalidInputError,
    InvalidStatusTransitionError,
    NotFoundError,
    VersionConflictError,
    Violation,
)
from graphql_api.funds import service as fund_service
from graphql_api.funds.service import FundChanges, NewFund
from tests.factories import create_fund, create_investment, create_investor

TODAY = datetime.now(UTC).date()
YEAR = TODAY.year
BLANK = "Name must not be blank."
CONTROL = "Name must not contain control characters."
TARGET_NOT_POSITIVE = "Target size must be greater than 0."
TARGET_TOO_BIG = "Target size must be at most 1,000,000,000,000,000."
TARGET_SUB_CENT = "Target size must have at most 2 decimal places."
CAP_BELOW_TARGET = "Hard cap must be greater than or equal to the target size."


def new_fund(**overrides: Any) -> NewFund:
    values: dict[str, Any] = {
        "name": "Northwind Growth I",
        "vintage_year": 2020,
        "target_size_usd": Decimal("1000000.00"),
    } | overrides
    return NewFund(**values)


async def create(db: Database, new: NewFund, *, today: date = TODAY) -> Fund:
    async with db.unit_of_work() as uow:
        return await fund_service.create_fund(uow.session, new, today=today)


async def refused_creation(db: Database, new: NewFund, *, today: date = TODAY) -> list[Violation]:
    with pytest.raises(InvalidInputError) as refusal:
        await create(db, new, today=today)
    return list(refusal.value.violations)


async def update(
    db: Database, fund: Fund | uuid.UUID, expected_version: int | None = None, **changes: Any
) -> Fund:
    """Apply `changes` to the fund (or the fund with this key) in one unit of work."""
    async with db.unit_of_work() as uow:
        return await fund_service.update_fund(
            uow.session,
            fund if isinstance(fund, uuid.UUID) else fund.id,
            FundChanges(**changes),
            expected_version=expected_version,
            today=TODAY,
        )


async def refused_update(
    db: Database, fund: Fund | uuid.UUID, error: type[DomainError], **changes: Any
) -> list[Violation]:
    with pytest.raises(error) as refusal:
        await update(db, fund, **changes)
    return list(refusal.value.violations)


async def reload(db: Database, fund: Fund) -> Fund:
    async with db.read_session() as session:
        found = await fund_service.find_fund(session, fund.id)
    assert found is not None
    return found


async def count_funds(db: Database) -> int:
    async with db.read_session() as session:
        return await fund_service.count_funds(session, None)


def violation(message: str, field: str, code: ErrorCode = ErrorCode.VALIDATION) -> Violation:
    return Violation(code, message, (field,))


class TestCreateFund:
    async def test_creates_a_fund_with_the_defaults_of_a_new_fund(self, db: Database) -> None:
        # Given a valid new fund without a hard cap or status
        before = datetime.now(UTC)

        # When it is created
        fund = await create(db, new_fund(target_size_usd=Decimal(5)))

        # Then it is stored as FUNDRAISING, version 1, with server-set UTC timestamps
        stored = await reload(db, fund)
        assert stored.status is FundStatus.FUNDRAISING
        assert stored.version == 1
        assert stored.target_size_usd == Decimal("5.00")
        assert stored.hard_cap_usd is None
        assert stored.committed_usd == Decimal("0.00")
        assert before <= stored.created_at <= datetime.now(UTC)
        assert stored.created_at.tzinfo is not None
        assert stored.updated_at >= stored.created_at

    async def test_trims_whitespace_around_the_name(self, db: Database) -> None:
        fund = await create(db, new_fund(name="  \t Northwind Growth I \n "))

        assert (await reload(db, fund)).name == "Northwind Growth I"

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("A", id="one-character"),
            pytest.param("x" * 255, id="255-characters"),
            pytest.param("   " + "x" * 255 + "   ", id="255-characters-after-trimming"),
            pytest.param("🚀" * 255, id="255-emoji"),
            pytest.param("صندوق النمو الأول", id="right-to-left"),
            pytest.param("Fonds de\u0301veloppement", id="combining-mark"),
            pytest.param("'; DROP TABLE funds; --", id="sql-looking"),
        ],
    )
    async def test_accepts_a_name_within_the_rules(self, db: Database, name: str) -> None:
        fund = await create(db, new_fund(name=name))

        assert (await reload(db, fund)).name == name.strip()

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            pytest.param("", BLANK, id="empty"),
            pytest.param("   ", BLANK, id="spaces"),
            pytest.param(" \t\n\r ", BLANK, id="ascii-whitespace"),
            pytest.param("\u00a0\u3000\u2003", BLANK, id="unicode-whitespace"),
            pytest.param(
                "x" * 256, "Name must be at most 255 characters (got 256).", id="256-characters"
            ),
            pytest.param(
                " " + "x" * 256 + " ",
                "Name must be at most 255 characters (got 256).",
                id="256-characters-after-trimming",
            ),
            pytest.param("Fund\x00One", CONTROL, id="nul-byte"),
            pytest.param("Fund\nOne", CONTROL, id="newline-inside"),
            pytest.param("Fund\x07One", CONTROL, id="bell"),
            pytest.param("Fund\x7f", CONTROL, id="delete"),
            pytest.param("Fund\x85One", CONTROL, id="c1-control"),
        ],
    )
    async def test_refuses_a_name_that_breaks_the_rules(
        self, db: Database, name: str, message: str
    ) -> None:
        # When a fund with this name is created
        problems = await refused_creation(db, new_fund(name=name))

        # Then the name alone is refused, and nothing was stored
        assert problems == [violation(message, "name")]
        assert await count_funds(db) == 0

    @pytest.mark.parametrize(
        "year", [pytest.param(1900, id="1900"), YEAR, pytest.param(YEAR + 5, id="current+5")]
    )
    async def test_accepts_a_vintage_year_from_1900_to_five_years_ahead(
        self, db: Database, year: int
    ) -> None:
        fund = await create(db, new_fund(vintage_year=year))

        assert (await reload(db, fund)).vintage_year == year

    @pytest.mark.parametrize(
        "year",
        [
            pytest.param(1899, id="1899"),
            pytest.param(YEAR + 6, id="current+6"),
            pytest.param(0, id="zero"),
            pytest.param(-2020, id="negative"),
            pytest.param(2**31 - 1, id="int32-max"),
        ],
    )
    async def test_refuses_a_vintage_year_outside_1900_to_five_years_ahead(
        self, db: Database, year: int
    ) -> None:
        problems = await refused_creation(db, new_fund(vintage_year=year))

        assert problems == [
            violation(f"Vintage year must be between 1900 and {YEAR + 5}.", "vintage_year")
        ]

    async def test_measures_the_vintage_year_limit_from_the_given_day(self, db: Database) -> None:
        # Given "today" is in the year 2000
        day = date(2000, 12, 31)

        # When funds of vintage 2005 and 2006 are created
        accepted = await create(db, new_fund(vintage_year=2005), today=day)
        problems = await refused_creation(db, new_fund(vintage_year=2006), today=day)

        # Then the limit is 2000 + 5
        assert accepted.vintage_year == 2005
        assert problems == [
            violation("Vintage year must be between 1900 and 2005.", "vintage_year")
        ]

    @pytest.mark.parametrize(
        ("amount", "stored"),
        [
            pytest.param("0.01", "0.01", id="one-cent"),
            pytest.param("5", "5.00", id="whole-dollars"),
            pytest.param("10.010", "10.01", id="trailing-zero"),
            pytest.param("999999999999999.99", "999999999999999.99", id="just-below-10^15"),
            pytest.param("1000000000000000", "1000000000000000.00", id="exactly-10^15"),
        ],
    )
    async def test_accepts_a_target_size_of_whole_cents_up_to_10_to_the_15(
        self, db: Database, amount: str, stored: str
    ) -> None:
        fund = await create(db, new_fund(target_size_usd=Decimal(amount)))

        assert str((await reload(db, fund)).target_size_usd) == stored

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            pytest.param("0", TARGET_NOT_POSITIVE, id="zero"),
            pytest.param("0.00", TARGET_NOT_POSITIVE, id="zero-cents"),
            pytest.param("-0.01", TARGET_NOT_POSITIVE, id="minus-one-cent"),
            pytest.param("-1000000", TARGET_NOT_POSITIVE, id="negative"),
            pytest.param("NaN", TARGET_NOT_POSITIVE, id="nan"),
            pytest.param("Infinity", TARGET_NOT_POSITIVE, id="infinity"),
            pytest.param("10.001", TARGET_SUB_CENT, id="three-decimals"),
            pytest.param("0.001", TARGET_SUB_CENT, id="a-tenth-of-a-cent"),
            pytest.param("1E-40", TARGET_SUB_CENT, id="tiny"),
            pytest.param("1000000000000000.01", TARGET_TOO_BIG, id="10^15-plus-a-cent"),
            pytest.param("1E+40", TARGET_TOO_BIG, id="huge"),
            pytest.param("9" * 60, TARGET_TOO_BIG, id="sixty-digits"),
        ],
    )
    async def test_refuses_a_target_size_that_breaks_the_rules(
        self, db: Database, amount: str, message: str
    ) -> None:
        problems = await refused_creation(db, new_fund(target_size_usd=Decimal(amount)))

        assert problems == [violation(message, "target_size_usd")]

    @pytest.mark.parametrize(
        ("cap", "stored"),
        [
            pytest.param(None, None, id="no-cap"),
            pytest.param("1000000", "1000000.00", id="equal-to-target"),
            pytest.param("1000000.01", "1000000.01", id="a-cent-above-target"),
            pytest.param("1000000000000000", "1000000000000000.00", id="10^15"),
        ],
    )
    async def test_accepts_a_hard_cap_that_is_absent_or_at_least_the_target(
        self, db: Database, cap: str | None, stored: str | None
    ) -> None:
        hard_cap = Decimal(cap) if cap is not None else None

        fund = await create(db, new_fund(hard_cap_usd=hard_cap))

        reloaded = (await reload(db, fund)).hard_cap_usd
        assert (str(reloaded) if reloaded is not None else None) == stored

    @pytest.mark.parametrize(
        ("cap", "message"),
        [
            pytest.param("999999.99", CAP_BELOW_TARGET, id="a-cent-below-target"),
            pytest.param("1000000.001", "Hard cap must have at most 2 decimal places.", id="3dp"),
            pytest.param("0", "Hard cap must be greater than 0.", id="zero"),
            pytest.param("-1", "Hard cap must be greater than 0.", id="negative"),
            pytest.param(
                "1000000000000000.01",
                "Hard cap must be at most 1,000,000,000,000,000.",
                id="above-10^15",
            ),
        ],
    )
    async def test_refuses_a_hard_cap_that_breaks_the_rules(
        self, db: Database, cap: str, message: str
    ) -> None:
        problems = await refused_creation(db, new_fund(hard_cap_usd=Decimal(cap)))

        assert problems == [violation(message, "hard_cap_usd")]

    async def test_reports_every_broken_field_together(self, db: Database) -> None:
        # Given a new fund where every field breaks a rule
        new = new_fund(
            name="   ",
            vintage_year=1899,
            target_size_usd=Decimal(0),
            hard_cap_usd=Decimal("1.001"),
        )

        # When it is created
        problems = await refused_creation(db, new)

        # Then each field is reported, and nothing was stored
        assert problems == [
            violation(BLANK, "name"),
            violation(f"Vintage year must be between 1900 and {YEAR + 5}.", "vintage_year"),
            violation(TARGET_NOT_POSITIVE, "target_size_usd"),
            violation("Hard cap must have at most 2 decimal places.", "hard_cap_usd"),
        ]
        assert await count_funds(db) == 0

    async def test_reports_a_name_both_too_long_and_with_control_characters(
        self, db: Database
    ) -> None:
        problems = await refused_creation(db, new_fund(name="\x00" + "x" * 300))

        assert problems == [
            violation("Name must be at most 255 characters (got 301).", "name"),
            violation(CONTROL, "name"),
        ]


class TestCanTransition:
    @pytest.mark.parametrize(
        ("current", "new", "allowed"),
        [
            (FundStatus.FUNDRAISING, FundStatus.FUNDRAISING, True),
            (FundStatus.FUNDRAISING, FundStatus.INVESTING, True),
            (FundStatus.FUNDRAISING, FundStatus.CLOSED, True),
            (FundStatus.INVESTING, FundStatus.FUNDRAISING, False),
            (FundStatus.INVESTING, FundStatus.INVESTING, True),
            (FundStatus.INVESTING, FundStatus.CLOSED, True),
            (FundStatus.CLOSED, FundStatus.FUNDRAISING, False),
            (FundStatus.CLOSED, FundStatus.INVESTING, False),
            (FundStatus.CLOSED, FundStatus.CLOSED, True),
        ],
    )
    def test_allows_only_forward_moves_and_staying_put(
        self, current: FundStatus, new: FundStatus, allowed: bool
    ) -> None:
        assert fund_service.can_transition(current, new) is allowed


class TestUpdateFund:
    async def test_changes_only_the_given_fields(self, db: Database) -> None:
        # Given a fund with a hard cap
        fund = await create_fund(db, name="Before", hard_cap_usd=Decimal("2000000"))

        # When only its name changes
        await update(db, fund, name="  After  ")

        # Then the name is trimmed and stored, everything else is as it was
        stored = await reload(db, fund)
        assert stored.name == "After"
        assert stored.vintage_year == fund.vintage_year
        assert stored.target_size_usd == fund.target_size_usd
        assert stored.hard_cap_usd == Decimal("2000000.00")
        assert stored.status is FundStatus.FUNDRAISING
        assert stored.version == 2

    async def test_bumps_the_version_once_per_real_change(self, db: Database) -> None:
        fund = await create_fund(db)

        await update(db, fund, name="Second name")
        await update(db, fund, vintage_year=2021, target_size_usd=Decimal("2000000"))

        assert (await reload(db, fund)).version == 3

    async def test_moves_updated_at_but_never_created_at_on_a_change(self, db: Database) -> None:
        fund = await create_fund(db)
        created_at, updated_at = fund.created_at, fund.updated_at

        await update(db, fund, name="Renamed")

        stored = await reload(db, fund)
        assert stored.created_at == created_at
        assert stored.updated_at > updated_at

    @pytest.mark.parametrize(
        "changes",
        [
            pytest.param({}, id="nothing-given"),
            pytest.param({"name": "  Same name  "}, id="same-name-after-trimming"),
            pytest.param({"vintage_year": 2020}, id="same-vintage-year"),
            pytest.param({"target_size_usd": Decimal(1000000)}, id="same-target-unscaled"),
            pytest.param({"hard_cap_usd": None}, id="still-no-cap"),
            pytest.param({"status": FundStatus.FUNDRAISING}, id="same-status"),
        ],
    )
    async def test_leaves_version_and_updated_at_alone_when_nothing_changes(
        self, db: Database, changes: dict[str, Any]
    ) -> None:
        # Given a fund
        fund = await create_fund(db, name="Same name", vintage_year=2020)

        # When it is "updated" to the values it already has
        await update(db, fund, **changes)

        # Then it did not change at all
        stored = await reload(db, fund)
        assert stored.version == 1
        assert stored.updated_at == fund.updated_at

    async def test_removes_the_hard_cap_when_set_to_none(self, db: Database) -> None:
        fund = await create_fund(db, hard_cap_usd=Decimal("5000000"))

        await update(db, fund, hard_cap_usd=None)

        stored = await reload(db, fund)
        assert stored.hard_cap_usd is None
        assert stored.version == 2

    async def test_applies_the_change_when_the_expected_version_matches(self, db: Database) -> None:
        fund = await create_fund(db)

        await update(db, fund, expected_version=1, name="Renamed")

        stored = await reload(db, fund)
        assert (stored.name, stored.version) == ("Renamed", 2)

    async def test_refuses_a_stale_expected_version_and_changes_nothing(self, db: Database) -> None:
        # Given a fund someone already changed (now at version 2)
        fund = await create_fund(db, name="Original")
        await update(db, fund, vintage_year=2021)

        # When a change is sent that expects version 1
        with pytest.raises(VersionConflictError) as refusal:
            await update(db, fund, expected_version=1, name="Overwritten")

        # Then it is refused naming the current version, and nothing changed
        assert refusal.value.violations == (
            Violation(
                ErrorCode.VERSION_CONFLICT,
                "Fund was changed by someone else: expected version 1, current version is 2.",
                ("expected_version",),
            ),
        )
        stored = await reload(db, fund)
        assert (stored.name, stored.version) == ("Original", 2)

    async def test_refuses_an_unknown_fund(self, db: Database) -> None:
        # Given no fund with this key
        missing = uuid.uuid4()

        # When it is updated
        problems = await refused_update(db, missing, NotFoundError, name="Anything")

        # Then it is not found
        assert problems == [violation("Fund not found.", "id", ErrorCode.NOT_FOUND)]

    @pytest.mark.parametrize(
        ("current", "new", "outcome"),
        [
            (FundStatus.FUNDRAISING, FundStatus.FUNDRAISING, "no-op"),
            (FundStatus.FUNDRAISING, FundStatus.INVESTING, "moved"),
            (FundStatus.FUNDRAISING, FundStatus.CLOSED, "moved"),
            (FundStatus.INVESTING, FundStatus.FUNDRAISING, "refused"),
            (FundStatus.INVESTING, FundStatus.INVESTING, "no-op"),
            (FundStatus.INVESTING, FundStatus.CLOSED, "moved"),
            (FundStatus.CLOSED, FundStatus.FUNDRAISING, "refused"),
            (FundStatus.CLOSED, FundStatus.INVESTING, "refused"),
            (FundStatus.CLOSED, FundStatus.CLOSED, "no-op"),
        ],
    )
    async def test_moves_status_only_forward(
        self, db: Database, current: FundStatus, new: FundStatus, outcome: str
    ) -> None:
        # Given a fund in the current status
        fund = await create_fund(db, status=current)

        # When its status is set
        if outcome == "refused":
            problems = await refused_update(db, fund, InvalidStatusTransitionError, status=new)
            assert problems == [
                violation(
                    f"A {current.value} fund cannot move to {new.value}.",
                    "status",
                    ErrorCode.INVALID_STATUS_TRANSITION,
                )
            ]
        else:
            await update(db, fund, status=new)

        # Then it moved (one new version), stayed as it was, or was refused untouched
        stored = await reload(db, fund)
        expected = {"moved": (new, 2), "no-op": (current, 1), "refused": (current, 1)}
        assert (stored.status, stored.version) == expected[outcome]

    async def test_reports_field_and_status_problems_together(self, db: Database) -> None:
        fund = await create_fund(db, status=FundStatus.CLOSED)

        problems = await refused_update(
            db, fund, InvalidStatusTransitionError, name=" ", status=FundStatus.INVESTING
        )

        assert [(p.code, p.field) for p in problems] == [
            (ErrorCode.VALIDATION, ("name",)),
            (ErrorCode.INVALID_STATUS_TRANSITION, ("status",)),
        ]

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            pytest.param({"name": "\t "}, "name", id="blank-name"),
            pytest.param({"name": "y" * 256}, "name", id="256-character-name"),
            pytest.param({"vintage_year": 1899}, "vintage_year", id="vintage-1899"),
            pytest.param({"vintage_year": YEAR + 6}, "vintage_year", id="vintage-current+6"),
            pytest.param({"target_size_usd": Decimal(0)}, "target_size_usd", id="zero-target"),
            pytest.param(
                {"target_size_usd": Decimal("10.001")}, "target_size_usd", id="3dp-target"
            ),
            pytest.param(
                {"hard_cap_usd": Decimal("999999.99")}, "hard_cap_usd", id="cap-below-target"
            ),
            pytest.param({"hard_cap_usd": Decimal("2000000.001")}, "hard_cap_usd", id="3dp-cap"),
        ],
    )
    async def test_applies_the_field_rules_to_changes(
        self, db: Database, changes: dict[str, Any], field: str
    ) -> None:
        # Given a fund of target 1,000,000
        fund = await create_fund(db, name="Unchanged")

        # When a change breaks a field rule
        problems = await refused_update(db, fund, InvalidInputError, **changes)

        # Then that field is reported and the fund is untouched
        assert [(p.code, p.field) for p in problems] == [(ErrorCode.VALIDATION, (field,))]
        stored = await reload(db, fund)
        assert (stored.name, stored.version) == ("Unchanged", 1)

    async def test_refuses_a_target_above_the_existing_hard_cap(self, db: Database) -> None:
        # Given a fund whose hard cap equals its target
        fund = await create_fund(db, hard_cap_usd=Decimal("1000000"))

        # When only the target is raised above the cap
        with pytest.raises(InvalidInputError):
            await update(db, fund, target_size_usd=Decimal("1000000.01"))

        # Then nothing changed
        assert (await reload(db, fund)).target_size_usd == Decimal("1000000.00")


class TestHardCapAgainstCommitments:
    async def _fund_with_commitments(self, db: Database) -> Fund:
        """A fund (target 1,000, cap 5,000) with 3,000.00 committed."""
        fund = await create_fund(db, target_size_usd=Decimal("1000"), hard_cap_usd=Decimal("5000"))
        investor = await create_investor(db)
        await create_investment(db, fund, investor, amount_usd=Decimal("2000"))
        await create_investment(db, fund, investor, amount_usd=Decimal("1000"))
        return fund

    async def test_refuses_to_lower_the_hard_cap_below_the_amount_committed(
        self, db: Database
    ) -> None:
        fund = await self._fund_with_commitments(db)

        problems = await refused_update(
            db, fund, InvalidInputError, hard_cap_usd=Decimal("2999.99")
        )

        assert problems == [
            violation("Hard cap cannot be below the 3000.00 already committed.", "hard_cap_usd")
        ]
        assert (await reload(db, fund)).hard_cap_usd == Decimal("5000.00")

    async def test_refuses_to_set_a_cap_below_the_amount_committed_on_an_uncapped_fund(
        self, db: Database
    ) -> None:
        # Given an uncapped fund with 3,000.00 committed
        fund = await self._fund_with_commitments(db)
        await update(db, fund, hard_cap_usd=None)

        # When a cap below the commitments is set
        problems = await refused_update(db, fund, InvalidInputError, hard_cap_usd=Decimal("2500"))

        # Then it is refused
        assert [p.field for p in problems] == [("hard_cap_usd",)]
        assert (await reload(db, fund)).hard_cap_usd is None

    @pytest.mark.parametrize(
        ("cap", "stored"),
        [
            pytest.param("3000", Decimal("3000.00"), id="exactly-the-committed-amount"),
            pytest.param(None, None, id="no-cap"),
        ],
    )
    async def test_allows_a_cap_at_the_committed_amount_or_none(
        self, db: Database, cap: str | None, stored: Decimal | None
    ) -> None:
        fund = await self._fund_with_commitments(db)

        await update(db, fund, hard_cap_usd=Decimal(cap) if cap is not None else None)

        assert (await reload(db, fund)).hard_cap_usd == stored
