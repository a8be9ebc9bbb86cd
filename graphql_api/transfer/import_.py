"""`graphql-api import`: check every row, upsert in committed batches, resume, report.

Files are imported in dependency order (funds, investors, investments), each in
batches of `batch_size` rows. A batch is one transaction: its rows are checked
against the database as it is inside that transaction, the accepted ones are
written, and it commits; then the checkpoint records its last line.

Committed totals are derived, never copied from the file. Each batch adds its
new investments to their funds' totals, as `createInvestment` does (one UPDATE
per fund, under its row lock, within the hard cap's CHECK constraint), so the
data is consistent after every commit, also when an import stops halfway. The
last batch then recomputes the total of every fund the import touched from its
investments, in the same transaction (or, if that batch writes nothing, in one
of its own): whatever the totals were before, they end up exact. Recomputing
after every batch instead would rescan each fund's investments per batch.

Rejected rows are written nowhere but the report. A file that cannot be read
as a whole (wrong columns, not UTF-8) refuses the import before anything is
written. A batch the database refuses (a constraint, a lost connection) is
rolled back entirely and stops the import; rerunning resumes after the last
committed batch. A dry run makes the same decisions in read-only transactions.

Imported rows emit no outbox events: an import restores or migrates state, it
is not a stream of new commitments, and a million InvestmentCreated events
would flood every subscriber. Clients refetch after an import. Each committed
batch leaves one audit entry (entity type "Import") naming its file and lines.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit.recorder import AUDIT_CONTEXT, AuditContext
from graphql_api.db.errors import database_reason
from graphql_api.db.session import Database
from graphql_api.transfer import store
from graphql_api.transfer.checkpoint import CHECKPOINT_NAME, Checkpoint
from graphql_api.transfer.columns import columns
from graphql_api.transfer.formats import (
    FileProblem,
    InputFile,
    RawRow,
    RefusedError,
    find_inputs,
    read_rows,
)
from graphql_api.transfer.progress import ProgressReporter
from graphql_api.transfer.report import FileSummary, Report
from graphql_api.transfer.rows import Outcome, Row, invalid, parse
from graphql_api.transfer.rules import (
    FundRules,
    ImportState,
    InvestmentRules,
    InvestorRules,
    Rules,
)

DEFAULT_REPORT_NAME = "import-report.json"
RULES: dict[str, type[FundRules] | type[InvestorRules] | type[InvestmentRules]] = {
    "funds": FundRules,
    "investors": InvestorRules,
    "investments": InvestmentRules,
}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ImportOptions:
    directory: Path
    dry_run: bool = False
    batch_size: int = 1_000
    report: Path | None = None
    checkpoint: Path | None = None

    @property
    def report_path(self) -> Path:
        return self.report or self.directory / DEFAULT_REPORT_NAME

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint or self.directory / CHECKPOINT_NAME


@dataclass
class ImportResult:
    dry_run: bool
    report: Path
    files: list[FileSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: int = 0


class ImportStoppedError(Exception):
    """The import could not go on; the message says where and what is committed."""


@dataclass(frozen=True, slots=True)
class _Batch:
    file: InputFile
    records: Sequence[RawRow]
    committed: int
    """The file's last line committed by an earlier run (from the checkpoint)."""
    last: bool


_AS_OPERATOR: dict[str, object] = {
    AUDIT_CONTEXT: AuditContext(actor_kind="SYSTEM", actor_id=None, action="import")
}


def _batches(items: Iterable[T], size: int) -> Iterator[tuple[list[T], bool]]:
    """Lists of `size` items, each with whether it is the last one."""
    iterator = iter(items)
    batch = list(itertools.islice(iterator, size))
    while batch:
        following = list(itertools.islice(iterator, size))
        yield batch, not following
        batch = following


async def import_data(
    db: Database, options: ImportOptions, progress: ProgressReporter
) -> ImportResult:
    """Run the import; raise RefusedError or ImportStoppedError (after writing the report)."""
    importer = _Importer(db, options, progress)
    try:
        return await importer.run()
    finally:
        importer.report.close()
        progress.close()


class _Importer:
    def __init__(self, db: Database, options: ImportOptions, progress: ProgressReporter) -> None:
        self.db = db
        self.options = options
        self.progress = progress
        self.report = Report()
        self.state = ImportState(today=datetime.now(UTC).date())
        self.result = ImportResult(options.dry_run, options.report_path)
        self.started = datetime.now(UTC)
        database = db.engine.url.render_as_string(hide_password=True)
        self.checkpoint = Checkpoint(options.checkpoint_path, database)
        self.touched: set[uuid.UUID] = set()
        """Funds whose commitments this run wrote (new, deleted or restored): their totals
        are recomputed at the end."""
        self.settled = False

    async def run(self) -> ImportResult:
        try:
            inputs = find_inputs(self.options.directory)
        except RefusedError as error:
            self.report.refuse(error.problems)
            self._write_report(stopped=str(error))
            raise
        if not self.options.dry_run:
            self.checkpoint, notes = Checkpoint.load(
                self.checkpoint.path, self.checkpoint.database, inputs
            )
            self.result.notes += notes
            for note in notes:
                self.progress.note(note)
        self._check_writable()
        for file in inputs:
            await self._import_file(file)
        if self.touched and not self.settled:
            await self._settle_totals()
        if not self.options.dry_run:
            self.checkpoint.remove()
        self._write_report(stopped=None)
        return self.result

    def _check_writable(self) -> None:
        """Refuse before writing any row when the report or the checkpoint cannot be saved."""
        try:
            self.options.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.options.report_path.touch()
            if not self.options.dry_run:
                self.checkpoint.store()
        except OSError as error:
            where = str(error.filename or self.options.directory)
            hint = "pass --report and --checkpoint paths that can be written"
            raise RefusedError([FileProblem(where, None, f"{error.strerror}; {hint}.")]) from error

    async def _import_file(self, file: InputFile) -> None:
        summary = FileSummary(file.name, file.table)
        self.result.files.append(summary)
        rules = RULES[file.table](self.state, file.name)
        committed = 0 if self.options.dry_run else self.checkpoint.committed_line(file)
        seen: dict[Any, int] = {}
        self.progress.start(file.name, file.lines)
        for records, last in _batches(read_rows(file), self.options.batch_size):
            rows, outcomes = self._parse(file, records, seen)
            try:
                batch = _Batch(file, records, committed, last)
                decided, written = await self._apply(batch, rules, rows)
            except (SQLAlchemyError, OSError) as error:
                raise self._stop(file, records, error) from error
            if written:
                self.checkpoint.save(file, records[-1].line)
            outcomes += decided
            for outcome in sorted(outcomes, key=lambda o: o.line):
                summary.count(outcome, committed_before=outcome.line <= committed)
                if outcome.action == "rejected":
                    self.report.reject(file.name, outcome)
            self.progress.advance_to(records[-1].line)
        self.result.rejected = self.report.rejected
        self.progress.finish(summary.describe())

    def _parse(
        self, file: InputFile, records: Sequence[RawRow], seen: dict[Any, int]
    ) -> tuple[list[Row], list[Outcome]]:
        """Typed rows, and the records rejected before any rule (unreadable, repeated id)."""
        table_columns = columns(file.table)
        rows: list[Row] = []
        rejected: list[Outcome] = []
        for record in records:
            parsed = parse(table_columns, record)
            if isinstance(parsed, Outcome):
                rejected.append(parsed)
                continue
            first = seen.setdefault(parsed.id, parsed.line)
            if first != parsed.line:
                reason = invalid(
                    f"Duplicate id: line {first} of {file.name} has the same id.", "id"
                )
                rejected.append(Outcome.rejected(parsed.line, parsed.id, [reason]))
            else:
                rows.append(parsed)
        return rows, rejected

    async def _apply(
        self, batch: _Batch, rules: Rules, rows: list[Row]
    ) -> tuple[list[Outcome], bool]:
        """Decide the batch; unless it is a dry run or already committed, write and commit it."""
        if not rows:
            return [], False
        if self.options.dry_run or rows[-1].line <= batch.committed:
            self.state.writing = False
            async with self.db.read_session() as session, session.begin():
                return await rules.decide(session, rows), False
        self.state.writing = True
        async with self.db.unit_of_work(_AS_OPERATOR) as uow:
            outcomes = await rules.decide(uow.session, rows)
            pending = [outcome for outcome in outcomes if outcome.line > batch.committed]
            await self._write(uow.session, batch, pending)
        return outcomes, True

    async def _write(self, session: AsyncSession, batch: _Batch, outcomes: list[Outcome]) -> None:
        table = batch.file.table
        inserts = [o.values for o in outcomes if o.action == "insert" and o.values is not None]
        updates = [o.values for o in outcomes if o.action == "update" and o.values is not None]
        # Updates first: a new investor may take the email an earlier row gave up.
        await store.replace_rows(session, table, updates)
        await store.insert_rows(session, table, inserts)
        if table == "investments":
            await self._count_commitments(session, outcomes, last=batch.last)
        if inserts or updates:
            lines = f"{batch.records[0].line}-{batch.records[-1].line}"
            counts = {"inserted": len(inserts), "updated": len(updates)}
            store.note_batch(session, table, {"file": batch.file.name, "lines": lines, **counts})

    async def _count_commitments(
        self, session: AsyncSession, outcomes: list[Outcome], *, last: bool
    ) -> None:
        """Move each fund's total by what the batch wrote: new and restored commitments
        count, deleted ones no longer do (each outcome says by how much)."""
        added: dict[uuid.UUID, Decimal] = {}
        for outcome in outcomes:
            if outcome.values is not None and outcome.committed_change:
                fund_id = outcome.values["fund_id"]
                added[fund_id] = added.get(fund_id, Decimal(0)) + outcome.committed_change
        await store.add_to_committed(session, added)
        self.touched |= added.keys()
        if last:
            await store.recompute_committed(session, self.touched, lock=not self.db.is_sqlite)
            self.settled = True

    async def _settle_totals(self) -> None:
        """The final recompute, when the last batch of investments wrote nothing."""
        try:
            async with self.db.unit_of_work(_AS_OPERATOR) as uow:
                await store.recompute_committed(
                    uow.session, self.touched, lock=not self.db.is_sqlite
                )
        except SQLAlchemyError as error:
            message = f"Could not recompute the committed totals: {database_reason(error)}. "
            message += "Every batch is committed; run the same command again to finish."
            self._write_report(stopped=message)
            raise ImportStoppedError(message) from error
        self.settled = True

    def _stop(
        self, file: InputFile, records: Sequence[RawRow], error: Exception
    ) -> ImportStoppedError:
        reason = database_reason(error)
        done = self.checkpoint.committed_line(file)
        message = (
            f"Stopped in {file.name} at lines {records[0].line}-{records[-1].line} "
            f"(rolled back): {reason}. "
        )
        if self.options.dry_run:
            message += "Nothing was committed (dry run)."
        else:
            message += (
                f"Lines up to {done} of {file.name} (and the files before it) are committed; "
                "run the same command again to resume after them."
            )
        self._write_report(stopped=message)
        return ImportStoppedError(message)

    def _write_report(self, *, stopped: str | None) -> None:
        summary: dict[str, Any] = {
            "input": str(self.options.directory),
            "dry_run": self.options.dry_run,
            "complete": stopped is None,
            "stopped": stopped,
            "started_at": self.started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "notes": self.result.notes,
            "files": [asdict(summary) for summary in self.result.files],
        }
        self.report.write(self.options.report_path, summary)
