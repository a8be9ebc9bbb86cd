"""The database itself refuses funds the service would refuse, on both back ends.

Raw SQL goes straight past the service, as a buggy script or a future code path
might; the CHECK and NOT NULL constraints of the migration must still hold.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from graphql_api.db.models import Fund
from graphql_api.db.session import Database
from graphql_api.db.types import UTCDateTime
from tests.factories import create_fund

MAX_CENTS = 10**17

INSERT_FUND = text(
    "INSERT INTO funds (id, name, vintage_year, target_size_cents, hard_cap_cents,"
    " committed_cents, status, version, created_at, updated_at)"
    " VALUES (:id, :name, :vintage_year, :target_size_cents, :hard_cap_cents,"
    " :committed_cents, :status, :version, :created_at, :updated_at)"
).bindparams(
    bindparam("id", type_=Uuid()),
    bindparam("created_at", type_=UTCDateTime()),
    bindparam("updated_at", type_=UTCDateTime()),
)

# Updates set one column of a fund from a bound value (column names are fixed here).
UPDATES = {
    column: text(f"UPDATE funds SET {column} = :value WHERE id = :id").bindparams(  # noqa: S608
        bindparam("id", type_=Uuid())
    )
    for column in ("name", "target_size_cents", "hard_cap_cents", "committed_cents", "status")
}


def valid_row(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "name": "Raw Fund",
        "vintage_year": 2020,
        "target_size_cents": 100_000,
        "hard_cap_cents": 200_000,
        "committed_cents": 0,
        "status": "FUNDRAISING",
        "version": 1,
        "created_at": now,
        "updated_at": now,
    } | overrides


async def insert(db: Database, row: dict[str, Any]) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(INSERT_FUND, row)


async def count_funds(db: Database) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(Fund))).scalar_one())


class TestFundsTableInsert:
    async def test_accepts_a_valid_row_at_the_limits(self, db: Database) -> None:
        # Given rows that sit exactly on every limit the constraints allow
        rows = [
            valid_row(),
            valid_row(name="x", vintage_year=1900, target_size_cents=1, hard_cap_cents=None),
            valid_row(
                name="n" * 255,
                target_size_cents=MAX_CENTS,
                hard_cap_cents=MAX_CENTS,
                committed_cents=MAX_CENTS,
                status="CLOSED",
            ),
        ]

        # When they are inserted with raw SQL
        for row in rows:
            await insert(db, row)

        # Then all were stored (so the refusals below are about the values)
        assert await count_funds(db) == 3

    @pytest.mark.parametrize(
        ("overrides", "constraint"),
        [
            pytest.param({"target_size_cents": 0}, "target_size_range", id="zero-target"),
            pytest.param({"target_size_cents": -1}, "target_size_range", id="negative-target"),
            pytest.param(
                {"target_size_cents": MAX_CENTS + 1, "hard_cap_cents": None},
                "target_size_range",
                id="target-above-10^15",
            ),
            pytest.param({"hard_cap_cents": 99_999}, "hard_cap_range", id="hard-cap-below-target"),
            pytest.param(
                {"hard_cap_cents": MAX_CENTS + 1}, "hard_cap_range", id="hard-cap-above-10^15"
            ),
            pytest.param(
                {"committed_cents": 200_001},
                "committed_within_hard_cap",
                id="committed-above-hard-cap",
            ),
            pytest.param(
                {"committed_cents": -1}, "committed_within_hard_cap", id="negative-committed"
            ),
            pytest.param({"name": ""}, "name_length", id="empty-name"),
            pytest.param({"name": "   "}, "name_length", id="blank-name"),
            pytest.param({"status": "BOGUS"}, "status", id="unknown-status"),
            pytest.param({"status": "fundraising"}, "status", id="lower-case-status"),
            pytest.param({"vintage_year": 1899}, "vintage_year_range", id="vintage-1899"),
            pytest.param({"vintage_year": 10_000}, "vintage_year_range", id="vintage-10000"),
            pytest.param({"version": 0}, "version_positive", id="version-zero"),
        ],
    )
    async def test_refuses_a_row_that_breaks_a_rule(
        self, db: Database, overrides: dict[str, Any], constraint: str
    ) -> None:
        # When a row breaking one rule is inserted with raw SQL
        with pytest.raises(IntegrityError) as refusal:
            await insert(db, valid_row(**overrides))

        # Then the named CHECK constraint refused it, and nothing was stored
        assert f"ck_funds_{constraint}" in str(refusal.value)
        assert await count_funds(db) == 0

    @pytest.mark.parametrize(
        "column", ["name", "vintage_year", "target_size_cents", "status", "version"]
    )
    async def test_refuses_null_in_a_required_column(self, db: Database, column: str) -> None:
        with pytest.raises(IntegrityError):
            await insert(db, valid_row(**{column: None}))

        assert await count_funds(db) == 0

    async def test_refuses_a_name_longer_than_255_characters(self, db: Database) -> None:
        # PostgreSQL's varchar(255) answers before the CHECK does, with a DataError
        with pytest.raises(DBAPIError):
            await insert(db, valid_row(name="n" * 256))

        assert await count_funds(db) == 0


class TestFundsTableUpdate:
    @pytest.mark.parametrize(
        ("column", "value", "constraint"),
        [
            pytest.param("target_size_cents", 0, "target_size_range", id="zero-target"),
            pytest.param("hard_cap_cents", 99_999_999, "hard_cap_range", id="cap-below-target"),
            pytest.param(
                "committed_cents",
                200_000_001,
                "committed_within_hard_cap",
                id="committed-above-cap",
            ),
            pytest.param("name", " ", "name_length", id="blank-name"),
            pytest.param("status", "REOPENED", "status", id="unknown-status"),
        ],
    )
    async def test_refuses_an_update_that_breaks_a_rule(
        self, db: Database, column: str, value: object, constraint: str
    ) -> None:
        # Given a valid fund (target 1,000,000.00, cap 2,000,000.00)
        fund = await create_fund(
            db, target_size_usd=Decimal("1000000"), hard_cap_usd=Decimal("2000000")
        )

        # When one column is set to a value breaking a rule, with raw SQL
        with pytest.raises(IntegrityError) as refusal:
            async with db.engine.begin() as connection:
                await connection.execute(UPDATES[column], {"id": fund.id, "value": value})

        # Then the named constraint refused it and the fund is as it was
        assert f"ck_funds_{constraint}" in str(refusal.value)
        async with db.read_session() as session:
            stored = await session.get(Fund, fund.id)
        assert stored is not None
        assert (stored.name, stored.target_size_usd, stored.hard_cap_usd, stored.status) == (
            fund.name,
            fund.target_size_usd,
            fund.hard_cap_usd,
            fund.status,
        )

    async def test_accepts_committed_exactly_at_the_hard_cap(self, db: Database) -> None:
        fund = await create_fund(
            db, target_size_usd=Decimal("1000000"), hard_cap_usd=Decimal("2000000")
        )

        async with db.engine.begin() as connection:
            await connection.execute(
                UPDATES["committed_cents"], {"id": fund.id, "value": 200_000_000}
            )

        async with db.read_session() as session:
            stored = await session.get(Fund, fund.id)
        assert stored is not None
        assert stored.committed_usd == Decimal("2000000.00")
