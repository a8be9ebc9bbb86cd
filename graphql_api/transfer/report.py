"""The import report: every rejected row (file, line, id, reasons) and a summary per file.

Rejections are spooled to a temporary file as they happen, so a file with a
million bad rows does not hold a million entries in memory; the report is then
written as JSON (`.json`, with the summary) or CSV (`.csv`, one line per reason).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from graphql_api.transfer.formats import FileProblem
from graphql_api.transfer.rows import Outcome

CSV_COLUMNS = ("file", "line", "id", "code", "field", "message")


@dataclass
class FileSummary:
    file: str
    table: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    already_committed: int = 0
    """Rows at or before the checkpoint: checked again, not written again."""

    def count(self, outcome: Outcome, *, committed_before: bool) -> None:
        self.rows += 1
        if committed_before and outcome.action != "rejected":
            self.already_committed += 1
            return
        match outcome.action:
            case "insert":
                self.inserted += 1
            case "update":
                self.updated += 1
            case "unchanged":
                self.unchanged += 1
            case "rejected":
                self.rejected += 1

    def describe(self) -> str:
        counts = [f"{self.inserted} inserted", f"{self.updated} updated"]
        counts += [f"{self.unchanged} unchanged", f"{self.rejected} rejected"]
        if self.already_committed:
            counts.append(f"{self.already_committed} already committed")
        return f"{self.file}: {self.rows} rows: {', '.join(counts)}"


class Report:
    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `close`)
        self.rejected = 0
        self.refused: list[FileProblem] = []

    def reject(self, file: str, outcome: Outcome) -> None:
        self.rejected += 1
        reasons = [
            {"code": v.code.value, "field": ".".join(v.field or ()) or None, "message": v.message}
            for v in outcome.violations
        ]
        entry = {"file": file, "line": outcome.line, "id": outcome.id, "reasons": reasons}
        self._spool.write(orjson.dumps(entry) + b"\n")

    def refuse(self, problems: tuple[FileProblem, ...]) -> None:
        self.refused.extend(problems)

    def _entries(self) -> Iterator[bytes]:
        self._spool.flush()
        self._spool.seek(0)
        yield from self._spool

    def write(self, path: Path, summary: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            self._write_csv(path)
        else:
            self._write_json(path, summary)

    def _write_json(self, path: Path, summary: dict[str, Any]) -> None:
        head = summary | {"refused": [asdict(problem) for problem in self.refused]}
        head |= {"rejected_rows": self.rejected}
        with path.open("wb") as out:
            out.write(orjson.dumps(head)[:-1] + b',"rejected":[')
            for index, entry in enumerate(self._entries()):
                out.write((b",\n" if index else b"\n") + entry.rstrip(b"\n"))
            out.write(b"]}\n")

    def _write_csv(self, path: Path) -> None:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for problem in self.refused:
                writer.writerow(
                    [problem.file, problem.line or "", "", "REFUSED", "", problem.message]
                )
            for entry in self._entries():
                row = orjson.loads(entry)
                for reason in row["reasons"]:
                    writer.writerow(
                        [
                            *(row["file"], row["line"], row["id"] or ""),
                            *(reason["code"], reason["field"] or "", reason["message"]),
                        ]
                    )

    def close(self) -> None:
        self._spool.close()
