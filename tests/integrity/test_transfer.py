"""Export and import (issue 7, item 6), through the real `graphql-api` command.

Every test runs on PostgreSQL and on SQLite (the `db` fixture), against the
same migrated databases the app uses. The commands run through click's
CliRunner in a worker thread (they call asyncio.run themselves); the database
is then read back directly and compared row by row, every column included.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from rich.console import Console
from sqlalchemy import func, select, text

from graphql_api.cli import main
from graphql_api.db.models import Fund, FundStatus, Investment, Investor, InvestorType
from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from graphql_api.investments import deletion
from graphql_api.investments import service as investment_service
from graphql_api.seeding import generator, writer
from graphql_api.transfer.checkpoint import CHECKPOINT_NAME
from graphql_api.transfer.export import export
from graphql_api.transfer.progress import PlainProgress, RichProgress
from tests.conftest import empty_tables
from tests.factories import create_fund, create_investment, create_investor, today

MODELS = (Fund, Investor, Investment)
Rows = dict[str, list[tuple[Any, ...]]]


# --- helpers ---------------------------------------------------------------------------------


def _invoke(database_url: str, args: Sequence[str]) -> Result:
    env = {"DATABASE_URL": database_url, "FORCE_COLOR": None, "TTY_COMPATIBLE": None}
    return CliRunner().invoke(main, list(args), env=env)


async def cli(database_url: str, *args: str) -> Result:
    """Run `graphql-api ARGS` against the database (in a thread: it runs its own loop)."""
    return await asyncio.to_thread(_invoke, database_url, args)


async def snapshot(db: Database) -> Rows:
    """Every row of the three tables, every column, ordered by id."""
    async with db.engine.connect() as connection:
        return {
            model.__tablename__: [
                tuple(row)
                for row in (await connection.execute(select(model).order_by(model.id))).all()
            ]
            for model in MODELS
        }


async def committed_totals_match_investments(db: Database) -> bool:
    """True when every fund's committed total is the sum of its live investments."""
    invested = (
        select(func.coalesce(func.sum(Investment.amount_usd), 0))
        .where(Investment.fund_id == Fund.id, Investment.deleted_at.is_(None))
        .scalar_subquery()
    )
    async with db.read_session() as session:
        rows = (await session.execute(select(Fund.committed_usd, invested))).all()
    return bool(rows) and all(committed == total for committed, total in rows)


async def seed(db: Database) -> None:
    """A generated data set plus records made through the services (versions > 1, a cap hit)."""
    sizes = generator.Sizes(funds=6, investors=15, investments=60)
    await writer.write(db.engine, generator.generate(sizes, seed=7, today=today()))
    fund = await create_fund(
        db,
        name='Fonds "Ünïcode", Ltd. — ½ and a comma',
        target_size_usd=Decimal("1000000.00"),
        hard_cap_usd=Decimal("1500000.55"),
    )
    async with db.unit_of_work() as uow:
        changes = fund_service.FundChanges(name="Fonds, renamed", status=FundStatus.INVESTING)
        await fund_service.update_fund(
            uow.session, fund.id, changes, expected_version=None, today=today()
        )
    investor = await create_investor(
        db,
        name="Zoë O'Brien, Jr.",
        email="Zoe.OBrien@Example.COM",
        investor_type=InvestorType.FAMILY_OFFICE,
    )
    await create_investment(db, fund, investor, amount_usd=Decimal("1500000.55"))
    await create_fund(db, name="No cap", hard_cap_usd=None, status=FundStatus.CLOSED)
    # Soft-deleted rows travel too: a deleted commitment of a live fund, and a
    # deleted fund and a deleted investor whose commitment was deleted first.
    gone_fund, gone_investor = await create_fund(db, name="Wound up"), await create_investor(db)
    open_fund = await create_fund(db, name="Open")
    kept = await create_investment(db, open_fund, gone_investor, amount_usd=Decimal("0.55"))
    gone = await create_investment(db, gone_fund, gone_investor, amount_usd=Decimal("7.00"))
    async with db.unit_of_work() as uow:
        await deletion.delete_investment(uow.session, kept.id)
        await deletion.delete_investment(uow.session, gone.id)
        await deletion.delete_fund(uow.session, gone_fund.id)
        await deletion.delete_investor(uow.session, gone_investor.id)


def listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def read_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = orjson.loads(path.read_bytes())
    return report


def rejected_lines(report: dict[str, Any], file: str) -> dict[int, list[dict[str, Any]]]:
    return {r["line"]: r["reasons"] for r in report["rejected"] if r["file"] == file}


def write_ndjson(path: Path, rows: Sequence[dict[str, Any] | bytes]) -> None:
    lines = [row if isinstance(row, bytes) else orjson.dumps(row) for row in rows]
    path.write_bytes(b"\n".join(lines) + b"\n")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    out = io.StringIO()
    writer_ = csv.writer(out, lineterminator="\n")
    writer_.writerow(header)
    writer_.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def fund_row(**overrides: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "Alpha Fund",
        "vintage_year": 2020,
        "target_size_usd": "1000.00",
        "hard_cap_usd": "2000.00",
        "committed_usd": "0.00",
        "status": "FUNDRAISING",
        "version": 1,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00.250000Z",
    } | overrides


def investor_row(**overrides: Any) -> dict[str, Any]:
    number = uuid.uuid4()
    return {
        "id": str(number),
        "name": "Investor",
        "investor_type": "INSTITUTION",
        "email": f"{number.hex[:12]}@example.com",
        "version": 1,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    } | overrides


def investment_row(
    fund: dict[str, Any], investor: dict[str, Any], **overrides: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "fund_id": fund["id"],
        "investor_id": investor["id"],
        "amount_usd": "100.00",
        "investment_date": "2024-03-01",
        "created_at": "2024-03-01T12:00:00Z",
    } | overrides


async def ids_in(db: Database, model: Any) -> set[str]:
    async with db.read_session() as session:
        return {str(i) for i in await session.scalars(select(model.id))}


@pytest.fixture
def url(database_urls: dict[str, str], backend: str) -> str:
    return database_urls[backend]


@pytest.fixture
async def seeded(db: Database) -> Rows:
    await seed(db)
    return await snapshot(db)


# --- round trip --------------------------------------------------------------------------------


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", ["ndjson", "csv"])
    async def test_export_wipe_import_reproduces_every_row(
        self, db: Database, url: str, seeded: Rows, tmp_path: Path, fmt: str
    ) -> None:
        exported = await cli(url, "export", "--output", str(tmp_path), "--format", fmt)
        assert exported.exit_code == 0, exported.output
        assert listing(tmp_path) == [
            f"funds.{fmt}",
            f"investments.{fmt}",
            f"investors.{fmt}",
        ]
        await empty_tables(db)

        imported = await cli(url, "import", "--input", str(tmp_path), "--batch-size", "7")

        assert imported.exit_code == 0, imported.output
        assert await snapshot(db) == seeded
        assert await committed_totals_match_investments(db)
        assert not (tmp_path / CHECKPOINT_NAME).exists()
        report = read_report(tmp_path / "import-report.json")
        assert report["complete"] is True
        assert report["rejected"] == []
        assert [f["inserted"] for f in report["files"]] == [
            len(seeded[t]) for t in ("funds", "investors", "investments")
        ]

    async def test_the_export_holds_money_timestamps_and_enums_exactly(
        self, db: Database, url: str, seeded: Rows, tmp_path: Path
    ) -> None:
        await cli(url, "export", "--output", str(tmp_path))

        funds = [
            orjson.loads(line) for line in (tmp_path / "funds.ndjson").read_bytes().splitlines()
        ]
        renamed = next(f for f in funds if f["name"] == "Fonds, renamed")
        assert renamed["hard_cap_usd"] == "1500000.55"
        assert renamed["committed_usd"] == "1500000.55"
        assert renamed["status"] == "INVESTING"
        assert renamed["version"] == 2
        assert renamed["created_at"].endswith("Z")
        assert datetime.fromisoformat(renamed["updated_at"]).tzinfo == UTC
        investors = (tmp_path / "investors.ndjson").read_text(encoding="utf-8")
        assert '"email":"zoe.obrien@example.com"' in investors
        assert "Zoë O'Brien, Jr." in investors

    async def test_importing_the_same_files_again_changes_nothing(
        self, db: Database, url: str, seeded: Rows, tmp_path: Path
    ) -> None:
        await cli(url, "export", "--output", str(tmp_path), "--format", "csv")

        again = await cli(url, "import", "--input", str(tmp_path))

        assert again.exit_code == 0, again.output
        assert await snapshot(db) == seeded
        report = read_report(tmp_path / "import-report.json")
        assert all(f["unchanged"] == f["rows"] and f["rows"] > 0 for f in report["files"])

    async def test_the_export_is_one_snapshot_while_the_api_writes(
        self, db: Database, seeded: Rows, tmp_path: Path
    ) -> None:
        fund = await create_fund(db, hard_cap_usd=None)
        investor = await create_investor(db)
        made: list[Investment] = []

        async def commit_meanwhile(table: str, _rows: int) -> None:
            if table == "funds":  # after funds are read, before investments are
                made.append(await create_investment(db, fund, investor, amount_usd=Decimal("7.00")))

        await export(db, tmp_path, "ndjson", on_table_done=commit_meanwhile)

        assert made, "the concurrent commitment was made"
        lines = (tmp_path / "investments.ndjson").read_bytes().splitlines()
        investments = [orjson.loads(line) for line in lines]
        assert str(made[0].id) not in {i["id"] for i in investments}
        funds = {
            f["id"]: f
            for f in map(orjson.loads, (tmp_path / "funds.ndjson").read_bytes().splitlines())
        }
        assert funds[str(fund.id)]["committed_usd"] == "0.00"
        sums: dict[str, Decimal] = {}
        for investment in (i for i in investments if i["deleted_at"] is None):
            sums[investment["fund_id"]] = sums.get(investment["fund_id"], Decimal(0)) + Decimal(
                investment["amount_usd"]
            )
        assert all(Decimal(f["committed_usd"]) == sums.get(i, Decimal(0)) for i, f in funds.items())


# --- dry run ---------------------------------------------------------------------------------


class TestDryRun:
    async def test_a_dry_run_commits_nothing_and_reports_what_the_real_run_rejects(
        self, db: Database, url: str, seeded: Rows, tmp_path: Path
    ) -> None:
        await cli(url, "export", "--output", str(tmp_path))
        lines = (tmp_path / "investments.ndjson").read_bytes().splitlines()
        broken = orjson.loads(lines[4]) | {"amount_usd": "-5.00"}
        lines[4] = orjson.dumps(broken)
        (tmp_path / "investments.ndjson").write_bytes(b"\n".join(lines) + b"\n")
        await empty_tables(db)
        report = tmp_path / "dry.json"

        dry = await cli(
            url, "import", "--input", str(tmp_path), "--dry-run", "--report", str(report)
        )

        assert dry.exit_code == 3, dry.output
        assert "Dry run: nothing was committed." in dry.output
        assert await snapshot(db) == {"funds": [], "investors": [], "investments": []}
        assert not (tmp_path / CHECKPOINT_NAME).exists()
        dry_report = read_report(report)
        assert dry_report["dry_run"] is True
        assert list(rejected_lines(dry_report, "investments.ndjson")) == [5]
        assert "greater than 0" in dry_report["rejected"][0]["reasons"][0]["message"]
        assert dry_report["rejected"][0]["id"] == broken["id"]

        real = await cli(url, "import", "--input", str(tmp_path))

        assert real.exit_code == 3, real.output
        real_report = read_report(tmp_path / "import-report.json")
        assert real_report["rejected"] == dry_report["rejected"]
        assert [f["inserted"] for f in real_report["files"]] == [
            f["inserted"] for f in dry_report["files"]
        ]
        assert len((await snapshot(db))["investments"]) == len(seeded["investments"]) - 1
        assert await committed_totals_match_investments(db)


# --- malformed files --------------------------------------------------------------------------


class TestRefusedFiles:
    """A file that cannot be read as a whole refuses the import before anything is written."""

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            (
                ["id", "fund_id", "investor_id", "amount_usd", "investment_date"],
                "missing created_at",
            ),
            (
                ["id", "fund_id", "investor_id", "amount", "investment_date", "created_at"],
                "missing amount_usd; unexpected amount",
            ),
            (
                [
                    "id",
                    "fund_id",
                    "investor_id",
                    "amount_usd",
                    "investment_date",
                    "created_at",
                    "note",
                ],
                "unexpected note",
            ),
        ],
    )
    async def test_wrong_columns_in_csv(
        self, db: Database, url: str, tmp_path: Path, header: list[str], expected: str
    ) -> None:
        fund, investor = fund_row(), investor_row()
        write_ndjson(tmp_path / "funds.ndjson", [fund])
        write_ndjson(tmp_path / "investors.ndjson", [investor])
        row = investment_row(fund, investor)
        write_csv(tmp_path / "investments.csv", header, [[str(row.get(c, "x")) for c in header]])

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 1
        assert "Refused the import; nothing was written." in result.output
        assert f"investments.csv: has wrong columns: {expected}." in result.output
        assert await snapshot(db) == {"funds": [], "investors": [], "investments": []}
        report = read_report(tmp_path / "import-report.json")
        assert report["refused"][0]["file"] == "investments.csv"
        assert report["refused"][0]["line"] == 1

    async def test_wrong_keys_in_ndjson(self, db: Database, url: str, tmp_path: Path) -> None:
        row = fund_row()
        del row["committed_usd"]
        write_ndjson(tmp_path / "funds.ndjson", [row | {"size": "1.00"}])

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 1
        assert (
            "funds.ndjson: has wrong columns: missing committed_usd; unexpected size."
            in result.output
        )
        assert await ids_in(db, Fund) == set()

    async def test_bytes_that_are_not_utf8(self, db: Database, url: str, tmp_path: Path) -> None:
        write_ndjson(tmp_path / "funds.ndjson", [fund_row()])
        good = investor_row()
        bad = orjson.dumps(investor_row(name="Zoe")).replace(b"Zoe", "Zoë".encode("latin-1"))
        write_ndjson(tmp_path / "investors.ndjson", [good, investor_row(), bad])

        result = await cli(
            url, "import", "--input", str(tmp_path), "--report", str(tmp_path / "r.csv")
        )

        assert result.exit_code == 1
        assert "investors.ndjson: is not UTF-8: byte 0xeb" in result.output
        assert "of line 3" in result.output
        assert await snapshot(db) == {"funds": [], "investors": [], "investments": []}
        report = list(csv.DictReader((tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()))
        assert report[0]["file"] == "investors.ndjson"
        assert report[0]["line"] == "3"
        assert report[0]["code"] == "REFUSED"

    async def test_two_formats_of_one_table(self, db: Database, url: str, tmp_path: Path) -> None:
        write_ndjson(tmp_path / "funds.ndjson", [fund_row()])
        write_csv(tmp_path / "funds.csv", list(fund_row()), [])

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 1
        assert "funds.ndjson and funds.csv: both exist" in result.output
        assert await ids_in(db, Fund) == set()


class TestRejectedRows:
    """Rows that break a rule are reported with line and reason; they leave no trace."""

    async def test_every_broken_rule_is_reported_and_only_valid_rows_are_written(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        next_year = today().year + 6
        capped = fund_row(name="Capped", target_size_usd="1000.00", hard_cap_usd="2000.00")
        open_ = fund_row(name="Open", hard_cap_usd=None)
        doomed = fund_row(name="   ")
        funds: list[dict[str, Any] | bytes] = [
            capped,  # 1
            open_,  # 2
            fund_row(target_size_usd="12.345"),  # 3
            fund_row(target_size_usd="lots"),  # 4
            fund_row(target_size_usd=1.5),  # 5
            fund_row(vintage_year=1899),  # 6
            fund_row(vintage_year=next_year),  # 7
            doomed,  # 8
            fund_row(hard_cap_usd="999.99"),  # 9
            fund_row(status="PAUSED"),  # 10
            fund_row(version=0),  # 11
            fund_row(created_at="2024-01-01T00:00:00"),  # 12
            capped | {"name": "Capped again"},  # 13
            b"{not json",  # 14
        ]
        first = investor_row(email="First@Example.com")
        second = investor_row()
        investors: list[dict[str, Any] | bytes] = [
            first,  # 1
            second,  # 2
            investor_row(email="not-an-email"),  # 3
            investor_row(email="FIRST@example.COM"),  # 4
            investor_row(investor_type="WHALE"),  # 5
            investor_row(name="\u200b"),  # 6
        ]
        again = investment_row(open_, second, amount_usd="250.25")
        investments: list[dict[str, Any]] = [
            investment_row(capped, first, amount_usd="1500.00"),  # 1
            investment_row(capped, second, amount_usd="600.00"),  # 2: over the cap
            investment_row(capped, second, amount_usd="500.00"),  # 3: exactly to the cap
            investment_row(fund_row(), first),  # 4: unknown fund
            investment_row(open_, investor_row()),  # 5: unknown investor
            investment_row(doomed, first),  # 6: the fund's row was rejected
            investment_row(open_, first, amount_usd="0.00"),  # 7
            investment_row(open_, first, amount_usd="1.001"),  # 8
            investment_row(open_, first, investment_date=f"{today().year + 2}-01-01"),  # 9
            again,  # 10
            again | {"amount_usd": "1.00"},  # 11: the same id
        ]
        write_ndjson(tmp_path / "funds.ndjson", funds)
        write_ndjson(tmp_path / "investors.ndjson", investors)
        write_ndjson(tmp_path / "investments.ndjson", investments)

        result = await cli(url, "import", "--input", str(tmp_path), "--batch-size", "3")

        assert result.exit_code == 3, result.output
        report = read_report(tmp_path / "import-report.json")
        expected = {
            "funds.ndjson": {
                3: "at most 2 decimal places",
                4: "target_size_usd must be an amount",
                5: "a float loses precision",
                6: "Vintage year must be between 1900",
                7: "Vintage year must be between 1900",
                8: "Name must not be blank",
                9: "Hard cap must be greater than or equal to the target size",
                10: "is not one of FUNDRAISING, INVESTING, CLOSED",
                11: "version must be at least 1",
                12: "has no UTC offset",
                13: "Duplicate id: line 1 of funds.ndjson",
                14: "is not valid JSON",
            },
            "investors.ndjson": {
                3: "Email address is not valid",
                4: "Email first@example.com is already used by investor",
                5: "is not one of INDIVIDUAL, INSTITUTION, FAMILY_OFFICE",
                6: "Name must not be blank",
            },
            "investments.ndjson": {
                2: "exceeds the fund's hard cap; 500.00 remains",
                4: "not found",
                5: "not found",
                6: "(its row, line 8 of funds.ndjson, was rejected)",
                7: "Amount must be greater than 0",
                8: "Amount must have at most 2 decimal places",
                9: "Investment date must be no later than",
                11: "Duplicate id: line 10 of investments.ndjson",
            },
        }
        for file, reasons in expected.items():
            found = rejected_lines(report, file)
            assert sorted(found) == sorted(reasons), (file, found)
            for line, fragment in reasons.items():
                assert any(fragment in r["message"] for r in found[line]), (file, line, found[line])
        codes = {(r["file"], r["line"]): r["reasons"][0]["code"] for r in report["rejected"]}
        assert codes["investments.ndjson", 2] == "HARD_CAP_EXCEEDED"
        assert codes["investments.ndjson", 4] == "NOT_FOUND"
        assert codes["investors.ndjson", 4] == "DUPLICATE_EMAIL"
        assert await ids_in(db, Fund) == {capped["id"], open_["id"]}
        assert await ids_in(db, Investor) == {first["id"], second["id"]}
        kept = [investments[i] for i in (0, 2, 9)]
        assert await ids_in(db, Investment) == {row["id"] for row in kept}
        async with db.read_session() as session:
            totals = dict((await session.execute(select(Fund.name, Fund.committed_usd))).all())
        assert totals == {"Capped": Decimal("2000.00"), "Open": Decimal("250.25")}
        assert await committed_totals_match_investments(db)

    async def test_csv_records_with_wrong_field_counts_or_cells(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        header = list(fund_row())
        good, after = fund_row(), fund_row()
        write_csv(
            tmp_path / "funds.csv",
            header,
            [
                [str(good[c]) for c in header],  # line 2
                ["only", "three", "fields"],  # 3
                [str(fund_row(id="not-a-uuid")[c]) for c in header],  # 4
                [str(fund_row()[c]) if c != "vintage_year" else "twenty" for c in header],  # 5
                [str(fund_row(name="Two\nlines")[c]) for c in header],  # 6-7, one quoted value
                [str(after[c]) for c in header],  # 8
            ],
        )
        report = tmp_path / "r.csv"

        result = await cli(url, "import", "--input", str(tmp_path), "--report", str(report))

        assert result.exit_code == 3, result.output
        rows = list(csv.DictReader(report.read_text(encoding="utf-8").splitlines()))
        assert [(r["line"], r["field"]) for r in rows] == [
            ("3", ""),
            ("4", "id"),
            ("5", "vintage_year"),
            ("6", "name"),
        ]
        assert "has 3 fields; the header has 10" in rows[0]["message"]
        assert "control characters" in rows[3]["message"]
        assert await ids_in(db, Fund) == {good["id"], after["id"]}


class TestUpserts:
    """Existing rows are replaced under the API's update rules; investors match by email too."""

    async def test_existing_records_follow_the_update_rules(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        closed = await create_fund(db, status=FundStatus.CLOSED)
        full = await create_fund(
            db, target_size_usd=Decimal("1000.00"), hard_cap_usd=Decimal("5000.00")
        )
        renamed = await create_fund(db, name="Before")
        investor = await create_investor(db, email="owner@example.com")
        made = await create_investment(db, full, investor, amount_usd=Decimal("4000.00"))
        as_file = fund_row(
            id=str(renamed.id),
            name="After",
            version=1,
            target_size_usd="1000000.00",
            hard_cap_usd=None,
        )
        same_email = investor_row(email="OWNER@example.com", name="Owner, updated")
        write_ndjson(
            tmp_path / "funds.ndjson",
            [
                fund_row(id=str(closed.id), status="FUNDRAISING"),  # 1: backwards
                fund_row(id=str(full.id), target_size_usd="1000.00", hard_cap_usd="3000.00"),  # 2
                as_file,  # 3
            ],
        )
        write_ndjson(tmp_path / "investors.ndjson", [same_email])
        write_ndjson(
            tmp_path / "investments.ndjson",
            [
                investment_row(
                    {"id": str(full.id)},
                    {"id": str(investor.id)},
                    id=str(made.id),
                    amount_usd="1.00",
                ),
                investment_row({"id": str(renamed.id)}, same_email, amount_usd="10.00"),
            ],
        )

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 3, result.output
        report = read_report(tmp_path / "import-report.json")
        funds = rejected_lines(report, "funds.ndjson")
        assert sorted(funds) == [1, 2]
        assert funds[1][0]["code"] == "INVALID_STATUS_TRANSITION"
        assert "Hard cap cannot be below the 4000.00 already committed" in funds[2][0]["message"]
        assert (
            "investments are immutable"
            in rejected_lines(report, "investments.ndjson")[1][0]["message"]
        )
        async with db.read_session() as session:
            after = await session.get(Fund, renamed.id)
            owner = await session.get(Investor, investor.id)
            attached = (
                await session.scalars(select(Investment).where(Investment.fund_id == renamed.id))
            ).one()
        assert after is not None
        assert owner is not None
        assert (after.name, after.version, after.committed_usd) == ("After", 2, Decimal("10.00"))
        assert (owner.name, owner.email, owner.version) == (
            "Owner, updated",
            "owner@example.com",
            2,
        )
        assert attached.investor_id == investor.id  # the file's investor id was matched by email
        assert await ids_in(db, Investor) == {str(investor.id)}
        assert await committed_totals_match_investments(db)


class TestSoftDeletedRows:
    """Imported rows follow the rules of soft delete, as the API's deletes and restores do."""

    DELETED_AT = "2024-06-01T00:00:00Z"

    async def test_deleted_and_restored_rows_obey_the_rules(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        capped = await create_fund(
            db, target_size_usd=Decimal("1000.00"), hard_cap_usd=Decimal("1000.00")
        )
        busy = await create_fund(db)
        holder = await create_investor(db)
        live = await create_investment(db, capped, holder, amount_usd=Decimal("600.00"))
        await create_investment(db, busy, holder, amount_usd=Decimal("100.00"))
        earlier = await create_investment(db, capped, holder, amount_usd=Decimal("300.00"))
        async with db.unit_of_work() as uow:
            await deletion.delete_investment(uow.session, earlier.id)
        await export(db, tmp_path / "out", "ndjson")
        exported = {
            table: {
                row["id"]: row
                for row in map(
                    orjson.loads, (tmp_path / "out" / f"{table}.ndjson").read_bytes().splitlines()
                )
            }
            for table in ("funds", "investors", "investments")
        }
        gone = self.DELETED_AT
        wound_up = fund_row(name="Wound up", deleted_at=gone)
        departed = investor_row(deleted_at=gone)
        inputs = tmp_path / "in"
        inputs.mkdir()
        write_ndjson(
            inputs / "funds.ndjson",
            [exported["funds"][str(busy.id)] | {"deleted_at": gone}, wound_up],
        )
        write_ndjson(
            inputs / "investors.ndjson",
            [exported["investors"][str(holder.id)] | {"deleted_at": gone}, departed],
        )
        write_ndjson(
            inputs / "investments.ndjson",
            [
                investment_row(wound_up, {"id": str(holder.id)}),  # 1: live, fund deleted
                investment_row({"id": str(busy.id)}, departed),  # 2: live, investor deleted
                investment_row(wound_up, departed, deleted_at=gone),  # 3: deleted with them
                exported["investments"][str(live.id)] | {"deleted_at": gone},  # 4: deleted
                exported["investments"][str(earlier.id)] | {"deleted_at": None},  # 5: restored
                investment_row({"id": str(capped.id)}, {"id": str(holder.id)}, amount_usd="800.00"),
            ],
        )

        result = await cli(url, "import", "--input", str(inputs))

        assert result.exit_code == 3, result.output
        report = read_report(inputs / "import-report.json")
        codes_by_line = {
            file: {
                line: [r["code"] for r in reasons]
                for line, reasons in rejected_lines(report, file).items()
            }
            for file in ("funds.ndjson", "investors.ndjson", "investments.ndjson")
        }
        assert codes_by_line == {
            "funds.ndjson": {1: ["HAS_DEPENDENTS"]},
            "investors.ndjson": {1: ["HAS_DEPENDENTS"]},
            "investments.ndjson": {1: ["NOT_FOUND"], 2: ["NOT_FOUND"], 6: ["HARD_CAP_EXCEEDED"]},
        }
        async with db.read_session() as session:
            funds = {f.id: f for f in await session.scalars(select(Fund))}
            investors = {i.id: i for i in await session.scalars(select(Investor))}
            investments = {i.id: i for i in await session.scalars(select(Investment))}
        assert funds[busy.id].deleted_at is None
        assert investors[holder.id].deleted_at is None
        assert funds[uuid.UUID(wound_up["id"])].deleted_at is not None
        assert investors[uuid.UUID(departed["id"])].deleted_at is not None
        assert investments[live.id].deleted_at is not None
        assert investments[earlier.id].deleted_at is None
        # The restored 300.00 counts, the deleted 600.00 no longer does; the 800.00 did not fit.
        assert funds[capped.id].committed_usd == Decimal("300.00")
        assert len(investments) == 4
        assert await committed_totals_match_investments(db)

    async def test_a_file_without_deleted_at_holds_live_rows(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        fund, investor = fund_row(), investor_row()
        assert "deleted_at" not in fund
        write_ndjson(tmp_path / "funds.ndjson", [fund])
        write_csv(tmp_path / "investors.csv", list(investor), [list(map(str, investor.values()))])

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 0, result.output
        async with db.read_session() as session:
            stored_fund = await session.get(Fund, uuid.UUID(fund["id"]))
            stored_investor = await session.get(Investor, uuid.UUID(investor["id"]))
        assert stored_fund is not None
        assert stored_investor is not None
        assert (stored_fund.deleted_at, stored_investor.deleted_at) == (None, None)


class TestImportRacingTheApi:
    """An import that deletes a fund or an investor while the API commits to it: the import
    waits for the commitment and then refuses (HAS_DEPENDENTS), as deleteFund would."""

    @pytest.mark.parametrize("table", ["funds", "investors"])
    async def test_a_commitment_in_flight_keeps_its_fund_and_investor(
        self, db: Database, url: str, tmp_path: Path, table: str
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        await export(db, tmp_path, "ndjson")
        target = fund if table == "funds" else investor
        path = tmp_path / f"{table}.ndjson"
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        write_ndjson(path, [row | {"deleted_at": "2024-06-01T00:00:00Z"} for row in rows])
        for other in {"funds", "investors", "investments"} - {table}:
            (tmp_path / f"{other}.ndjson").unlink()

        async with db.unit_of_work() as uow:  # the API's commitment, not committed yet
            new = investment_service.NewInvestment(
                fund.id, investor.id, Decimal("10.00"), date(2024, 1, 15)
            )
            await investment_service.create_investment(uow.session, new, today=today())
            importing = asyncio.create_task(cli(url, "import", "--input", str(tmp_path)))
            await asyncio.sleep(0.5)  # let the import reach the row the API holds
        result = await importing

        assert result.exit_code == 3, result.output
        [reason] = rejected_lines(read_report(tmp_path / "import-report.json"), path.name)[1]
        assert reason["code"] == "HAS_DEPENDENTS"
        async with db.read_session() as session:
            kept = await session.get(type(target), target.id)
            live = await session.scalars(select(Investment).where(Investment.deleted_at.is_(None)))
            assert kept is not None
            assert kept.deleted_at is None
            assert len(live.all()) == 1

    async def test_a_commitment_imported_during_a_delete_finds_the_investor_gone(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        write_ndjson(
            tmp_path / "investments.ndjson",
            [investment_row({"id": str(fund.id)}, {"id": str(investor.id)})],
        )

        async with db.unit_of_work() as uow:  # the API's deleteInvestor, not committed yet
            await deletion.delete_investor(uow.session, investor.id)
            importing = asyncio.create_task(cli(url, "import", "--input", str(tmp_path)))
            await asyncio.sleep(0.5)  # let the import reach the investor the API holds
        result = await importing

        assert result.exit_code == 3, result.output
        report = read_report(tmp_path / "import-report.json")
        [reason] = rejected_lines(report, "investments.ndjson")[1]
        assert (reason["code"], reason["field"]) == ("NOT_FOUND", "investor_id")
        assert await ids_in(db, Investment) == set()


# --- resume ----------------------------------------------------------------------------------


async def _install_failing_trigger(db: Database, investment_id: str) -> None:
    async with db.engine.begin() as connection:
        if db.is_sqlite:
            await connection.execute(
                text(
                    "CREATE TRIGGER transfer_test_fail BEFORE INSERT ON investments "
                    f"WHEN NEW.id = '{uuid.UUID(investment_id).hex}' "
                    "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
                )
            )
            return
        await connection.execute(
            text(
                "CREATE FUNCTION transfer_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'simulated failure'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER transfer_test_fail BEFORE INSERT ON investments FOR EACH ROW "
                f"WHEN (NEW.id = '{investment_id}') EXECUTE FUNCTION transfer_test_fail()"
            )
        )


async def _drop_failing_trigger(db: Database) -> None:
    async with db.engine.begin() as connection:
        if db.is_sqlite:
            await connection.execute(text("DROP TRIGGER IF EXISTS transfer_test_fail"))
        else:
            await connection.execute(
                text("DROP TRIGGER IF EXISTS transfer_test_fail ON investments")
            )
            await connection.execute(text("DROP FUNCTION IF EXISTS transfer_test_fail()"))


class TestResume:
    async def test_a_failed_batch_rolls_back_and_a_rerun_resumes_to_the_full_data(
        self, db: Database, url: str, seeded: Rows, tmp_path: Path
    ) -> None:
        await cli(url, "export", "--output", str(tmp_path))
        lines = (tmp_path / "investments.ndjson").read_bytes().splitlines()
        failing = orjson.loads(lines[24])["id"]  # line 25: in the batch of lines 21-30
        await empty_tables(db)
        await _install_failing_trigger(db, failing)
        try:
            stopped = await cli(url, "import", "--input", str(tmp_path), "--batch-size", "10")
        finally:
            await _drop_failing_trigger(db)

        assert stopped.exit_code == 1
        assert "Stopped in investments.ndjson at lines 21-30 (rolled back)" in stopped.output
        assert "simulated failure" in stopped.output
        assert "Lines up to 20 of investments.ndjson" in stopped.output
        partial = await snapshot(db)
        assert [row[0] for row in partial["funds"]] == [row[0] for row in seeded["funds"]]
        assert partial["investors"] == seeded["investors"]
        imported = {row[0] for row in partial["investments"]}
        assert imported == {uuid.UUID(orjson.loads(line)["id"]) for line in lines[:20]}
        assert await committed_totals_match_investments(db)
        checkpoint = orjson.loads((tmp_path / CHECKPOINT_NAME).read_bytes())
        assert checkpoint["files"]["investments.ndjson"]["line"] == 20
        assert read_report(tmp_path / "import-report.json")["complete"] is False

        resumed = await cli(url, "import", "--input", str(tmp_path), "--batch-size", "10")

        assert resumed.exit_code == 0, resumed.output
        assert "investments.ndjson: resuming after line 20." in resumed.output
        assert "20 already committed" in resumed.output
        assert await snapshot(db) == seeded
        assert not (tmp_path / CHECKPOINT_NAME).exists()

    async def test_a_checkpoint_for_other_bytes_is_ignored(
        self, db: Database, url: str, seeded: Rows, tmp_path: Path
    ) -> None:
        await cli(url, "export", "--output", str(tmp_path))
        stale = {"database": "elsewhere", "files": {"funds.ndjson": {"sha256": "0", "line": 99}}}
        (tmp_path / CHECKPOINT_NAME).write_bytes(orjson.dumps(stale))
        await empty_tables(db)

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 0, result.output
        assert "it is for another database; starting from the top" in result.output
        assert await snapshot(db) == seeded


class TestAcrossBackends:
    async def test_the_embedded_database_moves_to_postgresql_exactly(
        self, apps: dict[str, Any], database_urls: dict[str, str], tmp_path: Path
    ) -> None:
        embedded = apps["sqlite"].state.runtime.db
        server = apps["postgresql"].state.runtime.db
        try:
            await seed(embedded)
            before = await snapshot(embedded)
            await cli(database_urls["sqlite"], "export", "--output", str(tmp_path))

            result = await cli(database_urls["postgresql"], "import", "--input", str(tmp_path))

            assert result.exit_code == 0, result.output
            assert await snapshot(server) == before
        finally:
            for name in ("sqlite", "postgresql"):
                await empty_tables(apps[name].state.runtime.db)
                apps[name].state.runtime.events.hub.last_position = 0


# --- progress --------------------------------------------------------------------------------


class TestProgress:
    def test_plain_lines_off_a_terminal(self) -> None:
        printed: list[str] = []
        clock = iter([0.0, 1.0, 6.0, 7.0])
        progress = PlainProgress(printed.append, clock=lambda: next(clock))

        progress.start("funds.csv", 300)
        progress.advance_to(100)
        progress.advance_to(200)
        progress.finish("funds.csv: done")

        assert printed == [
            "funds.csv: importing 300 lines",
            "funds.csv: line 200 of 300",
            "funds.csv: done",
        ]

    def test_a_rich_bar_on_a_terminal(self) -> None:
        out = io.StringIO()
        progress = RichProgress(Console(file=out, force_terminal=True, width=100))

        progress.start("investments.ndjson", 10)
        progress.advance_to(5)
        progress.finish("investments.ndjson: done")
        progress.close()

        screen = out.getvalue()
        assert "investments.ndjson" in screen
        assert "10/10" in screen
        assert "\x1b[" in screen  # drawn with terminal control sequences

    async def test_the_command_prints_plain_progress_when_not_on_a_terminal(
        self, db: Database, url: str, tmp_path: Path
    ) -> None:
        write_ndjson(tmp_path / "funds.ndjson", [fund_row()])

        result = await cli(url, "import", "--input", str(tmp_path))

        assert result.exit_code == 0, result.output
        assert "funds.ndjson: importing 1 lines" in result.stderr
        assert "\x1b[" not in result.output
