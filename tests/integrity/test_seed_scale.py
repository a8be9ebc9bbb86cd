"""`graphql-api seed --scale` (issue 7, item 7): preset sizes, deterministic, every rule kept.

Only the small scale runs here (about 1,000 investments); the timings of the
larger ones are measured by hand and reported, never asserted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import pool, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from graphql_api.cli import main
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.investments.service import latest_investment_date
from graphql_api.seeding import generator
from tests.backends import postgres_url, recreate_postgres_database_sync, sqlite_url
from tests.conftest import WORKER

SMALL = generator.SCALES["small"]
PHASES = ("migrate", "generate", "funds", "investors", "investments", "commit")

# Every row that breaks a rule of SPEC §2 (or of the running totals), per check.
RULE_CHECKS = {
    "committed total is not the sum of the fund's investments": """
        SELECT count(*) FROM funds f
        WHERE f.committed_cents <> COALESCE(
            (SELECT SUM(i.amount_cents) FROM investments i WHERE i.fund_id = f.id), 0)
    """,
    "committed beyond the hard cap": """
        SELECT count(*) FROM funds
        WHERE hard_cap_cents IS NOT NULL AND committed_cents > hard_cap_cents
    """,
    "hard cap below the target, or sizes out of range": """
        SELECT count(*) FROM funds
        WHERE target_size_cents <= 0 OR target_size_cents > 100000000000000000
           OR (hard_cap_cents IS NOT NULL AND hard_cap_cents < target_size_cents)
           OR committed_cents < 0 OR committed_cents > 100000000000000000
    """,
    "fund name blank or too long": """
        SELECT count(*) FROM funds WHERE length(trim(name)) < 1 OR length(name) > 255
    """,
    "vintage year out of range": """
        SELECT count(*) FROM funds WHERE vintage_year < 1900 OR vintage_year > :latest_vintage
    """,
    "investor name blank or too long": """
        SELECT count(*) FROM investors WHERE length(trim(name)) < 1 OR length(name) > 255
    """,
    "email not stored lower-case, or not an address": """
        SELECT count(*) FROM investors WHERE email <> lower(email) OR email NOT LIKE '%_@_%._%'
    """,
    "email used twice": """
        SELECT count(*) - count(DISTINCT email) FROM investors
    """,
    "amount not positive": """
        SELECT count(*) FROM investments WHERE amount_cents <= 0
    """,
    "investment dated more than a year ahead": """
        SELECT count(*) FROM investments WHERE investment_date > :latest_date
    """,
    "version not 1": """
        SELECT (SELECT count(*) FROM funds WHERE version <> 1)
             + (SELECT count(*) FROM investors WHERE version <> 1)
    """,
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with nothing in it (`seed` migrates it first)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path, "seed.db")
    url = postgres_url(f"graphql_api_test_seed_{WORKER}")
    recreate_postgres_database_sync(url)
    return url


def seed(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["seed", *args], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


def snapshot(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the three tables, ordered by id, as the app reads them."""

    async def read() -> dict[str, list[tuple[object, ...]]]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return {
                    model.__tablename__: [
                        tuple(row)
                        for row in await connection.execute(select(model).order_by(model.id))
                    ]
                    for model in (Fund, Investor, Investment)
                }
        finally:
            await engine.dispose()

    return asyncio.run(read())


def broken_rules(database_url: str) -> dict[str, int]:
    """How many rows break each rule (only the rules something breaks)."""
    today = datetime.now(UTC).date()
    parameters = {
        "latest_vintage": today.year + 5,
        "latest_date": latest_investment_date(today),
    }

    async def check() -> dict[str, int]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                counts = {}
                for rule, query in RULE_CHECKS.items():
                    names = {name for name in parameters if f":{name}" in query}
                    bound = {name: parameters[name] for name in names}
                    counts[rule] = (await connection.execute(text(query), bound)).scalar_one()
                return {rule: count for rule, count in counts.items() if count}
        finally:
            await engine.dispose()

    return asyncio.run(check())


def schema_objects(database_url: str) -> list[tuple[object, ...]]:
    """Every index and constraint of the three tables, with its definition."""

    async def read() -> list[tuple[object, ...]]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                if engine.dialect.name == "sqlite":
                    query = (
                        "SELECT tbl_name, name, sql FROM sqlite_master "
                        "WHERE tbl_name IN ('funds', 'investors', 'investments') ORDER BY name"
                    )
                else:
                    query = (
                        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                        "FROM pg_constraint "
                        "WHERE conrelid IN ('funds'::regclass, 'investors'::regclass, "
                        "'investments'::regclass) "
                        "UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes "
                        "WHERE tablename IN ('funds', 'investors', 'investments') ORDER BY 2"
                    )
                return [tuple(row) for row in await connection.execute(text(query))]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def refuse_investments(database_url: str) -> None:
    """A trigger that makes every INSERT (or COPY) into investments fail."""

    async def install() -> None:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.begin() as connection:
                if engine.dialect.name == "sqlite":
                    await connection.execute(
                        text(
                            "CREATE TRIGGER refuse_investments BEFORE INSERT ON investments "
                            "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
                        )
                    )
                    return
                await connection.execute(
                    text(
                        "CREATE FUNCTION refuse_investments() RETURNS trigger LANGUAGE plpgsql "
                        "AS $$ BEGIN RAISE EXCEPTION 'simulated failure'; END $$"
                    )
                )
                await connection.execute(
                    text(
                        "CREATE TRIGGER refuse_investments BEFORE INSERT ON investments "
                        "FOR EACH ROW EXECUTE FUNCTION refuse_investments()"
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(install())


class TestSeedScale:
    def test_small_inserts_the_preset_sizes_and_reports_every_phase(
        self, empty_database: str
    ) -> None:
        output = seed(empty_database, "--scale", "small")

        rows = snapshot(empty_database)
        assert [len(rows[t]) for t in ("funds", "investors", "investments")] == [
            SMALL.funds,
            SMALL.investors,
            SMALL.investments,
        ]
        assert (SMALL.funds, SMALL.investors, SMALL.investments) == (10, 100, 1_000)
        reported = [line.split()[0] for line in output.splitlines() if line.startswith("  ")]
        assert reported == list(PHASES), output
        [investments_line] = [line for line in output.splitlines() if "  investments" in line]
        assert investments_line.endswith(" 1,000 rows"), output
        assert "Seeded 10 funds, 100 investors and 1000 investments in " in output

    def test_small_keeps_every_domain_rule(self, empty_database: str) -> None:
        seed(empty_database, "--scale", "small", "--seed", "3")

        assert broken_rules(empty_database) == {}

    def test_rules_are_kept_when_commitments_crowd_few_funds(self, empty_database: str) -> None:
        # Many investments into a few funds: caps must be raised to what was committed.
        seed(empty_database, "--scale", "small", "--funds", "2")

        assert broken_rules(empty_database) == {}
        assert len(snapshot(empty_database)["funds"]) == 2

    def test_leaves_every_index_and_constraint_as_migrated(
        self, empty_database: str, tmp_path: Path
    ) -> None:
        CliRunner().invoke(main, ["migrate"], env={"DATABASE_URL": empty_database})
        migrated = schema_objects(empty_database)

        seed(empty_database, "--scale", "small")

        assert schema_objects(empty_database) == migrated

    def test_a_failed_seed_leaves_the_database_as_it_was(self, empty_database: str) -> None:
        # Given a migrated database that refuses every investment (a trigger)
        CliRunner().invoke(main, ["migrate"], env={"DATABASE_URL": empty_database})
        refuse_investments(empty_database)
        migrated = schema_objects(empty_database)

        # When a seed fails at its last table
        result = CliRunner().invoke(
            main, ["seed", "--scale", "small"], env={"DATABASE_URL": empty_database}
        )

        # Then nothing was kept: no rows, and every index set aside is back (one transaction)
        assert result.exit_code == 1, result.output
        assert "Seeding failed, nothing was written: " in result.output
        assert "simulated failure" in result.output
        assert "Traceback" not in result.output
        assert "INSERT" not in result.output  # no statement, no parameters
        assert snapshot(empty_database) == {"funds": [], "investors": [], "investments": []}
        assert schema_objects(empty_database) == migrated

    def test_explicit_counts_override_the_scale(self, empty_database: str) -> None:
        output = seed(empty_database, "--scale", "small", "--funds", "3", "--investments", "50")

        rows = snapshot(empty_database)
        assert [len(rows[t]) for t in ("funds", "investors", "investments")] == [3, 100, 50]
        assert "Seeded 3 funds, 100 investors and 50 investments" in output

    def test_appending_at_a_scale_adds_to_what_is_there(self, empty_database: str) -> None:
        seed(empty_database, "--scale", "small", "--seed", "1")
        seed(empty_database, "--scale", "small", "--seed", "2", "--append")

        rows = snapshot(empty_database)
        assert [len(rows[t]) for t in ("funds", "investors", "investments")] == [20, 200, 2_000]
        assert broken_rules(empty_database) == {}


class TestSeedDeterminism:
    def test_the_same_seed_gives_the_same_data_on_both_back_ends(self, tmp_path: Path) -> None:
        postgres = postgres_url(f"graphql_api_test_seed_{WORKER}")
        recreate_postgres_database_sync(postgres)
        sqlite = sqlite_url(tmp_path, "same.db")

        seed(postgres, "--scale", "small", "--seed", "7")
        seed(sqlite, "--scale", "small", "--seed", "7")

        assert snapshot(postgres) == snapshot(sqlite)

    def test_a_different_seed_gives_different_data(self, tmp_path: Path) -> None:
        first, second = sqlite_url(tmp_path, "a.db"), sqlite_url(tmp_path, "b.db")
        seed(first, "--scale", "small", "--seed", "1")
        seed(second, "--scale", "small", "--seed", "2")

        assert snapshot(first) != snapshot(second)

    def test_unknown_scale_is_refused(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(
            main, ["seed", "--scale", "huge"], env={"DATABASE_URL": sqlite_url(tmp_path)}
        )

        assert result.exit_code != 0
        assert "huge" in result.output
