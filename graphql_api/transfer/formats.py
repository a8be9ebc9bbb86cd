"""The two file formats, NDJSON and CSV: writing rows out, and reading them back in.

Before an import writes anything, `find_inputs` reads every file once: a file
that is not UTF-8, or whose columns are not exactly the table's, refuses the
whole import (a half-imported set of tables is worse than none). The same pass
hashes each file, so a checkpoint is only ever resumed against the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, get_args

import orjson

from graphql_api.transfer.columns import OPTIONAL_ON_IMPORT, TABLES, columns

Format = Literal["ndjson", "csv"]
FORMATS: tuple[Format, ...] = get_args(Format)
Cell = str | int | bool | None
BOM = b"\xef\xbb\xbf"


def file_name(table: str, fmt: Format) -> str:
    return f"{table}.{fmt}"


def column_names(table: str) -> list[str]:
    return [column.key for column in columns(table)]


class NdjsonWriter:
    """One JSON object per line, keys in column order."""

    def __init__(self, stream: IO[bytes], names: Sequence[str]) -> None:
        self._stream = stream
        self._names = names

    def write(self, row: Sequence[Cell]) -> None:
        self._stream.write(orjson.dumps(dict(zip(self._names, row, strict=True))) + b"\n")


class CsvWriter:
    """A header line, then one record per row; null is an empty cell."""

    def __init__(self, stream: IO[str], names: Sequence[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(names)

    def write(self, row: Sequence[Cell]) -> None:
        self._writer.writerow([_csv_text(value) for value in row])


def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class FileProblem:
    """Why a file (not one row) cannot be imported."""

    file: str
    line: int | None
    message: str


class RefusedError(Exception):
    """The input cannot be imported at all; nothing was written."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        super().__init__("; ".join(f"{p.file}: {p.message}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class InputFile:
    table: str
    path: Path
    format: Format
    sha256: str
    lines: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record as read: its cells by column name, or why it could not be read."""

    line: int
    cells: dict[str, object] | None
    problem: str | None = None


def find_inputs(directory: Path) -> list[InputFile]:
    """The table files in `directory`, checked (encoding, columns) and hashed, in table order."""
    problems: list[FileProblem] = []
    found: list[InputFile] = []
    for table in TABLES:
        present = [fmt for fmt in FORMATS if (directory / file_name(table, fmt)).is_file()]
        if len(present) > 1:
            names = " and ".join(file_name(table, fmt) for fmt in present)
            problems.append(FileProblem(names, None, "both exist; keep only one of them."))
            continue
        for fmt in present:
            checked, file_problems = _inspect(directory / file_name(table, fmt), table, fmt)
            found.append(checked)
            problems += file_problems
    if not found and not problems:
        expected = ", ".join(f"{table}.ndjson or {table}.csv" for table in TABLES)
        problems.append(FileProblem(str(directory), None, f"holds none of {expected}."))
    if problems:
        raise RefusedError(problems)
    return found


def _inspect(path: Path, table: str, fmt: Format) -> tuple[InputFile, list[FileProblem]]:
    digest = hashlib.sha256()
    problems: list[FileProblem] = []
    header: list[str] | None = None
    lines = 0
    with path.open("rb") as stream:
        for lines, raw in enumerate(stream, start=1):
            digest.update(raw)
            data = raw.removeprefix(BOM) if lines == 1 else raw
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                if not problems:  # the first bad byte is enough to refuse the file
                    problems.append(_not_utf8(path.name, lines, data, error))
                continue
            if header is None and not problems:
                header = _header(text, fmt)
    checked = InputFile(table, path, fmt, digest.hexdigest(), lines)
    if fmt == "csv" and lines == 0:
        problems.append(FileProblem(path.name, None, "is empty; a CSV file starts with a header."))
    if header is not None and not problems:
        problems += _column_problems(path.name, table, header, line=1 if fmt == "csv" else None)
    return checked, problems


def _not_utf8(name: str, line: int, data: bytes, error: UnicodeDecodeError) -> FileProblem:
    byte = data[error.start]
    message = (
        f"is not UTF-8: byte 0x{byte:02x} at column {error.start + 1} of line {line} "
        "(convert the file to UTF-8 and try again)."
    )
    return FileProblem(name, line, message)


def _header(text: str, fmt: Format) -> list[str] | None:
    """CSV: the first line's names. NDJSON: the keys of the first line, if it is an object."""
    if fmt == "csv":
        return next(csv.reader([text]), [])
    if not text.strip():
        return None
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None  # reported as that row's problem
    return list(record) if isinstance(record, dict) else None


def _column_problems(
    name: str, table: str, header: Sequence[str], *, line: int | None
) -> list[FileProblem]:
    expected = column_names(table)
    problem = _columns_mismatch(expected, header)
    if problem is None:
        return []
    optional = [column for column in expected if column in OPTIONAL_ON_IMPORT]
    note = f" ({', '.join(optional)} may be left out)" if optional else ""
    expected_text = f"Expected exactly: {', '.join(expected)}{note}."
    return [FileProblem(name, line, f"{problem} {expected_text}")]


def _columns_mismatch(expected: Sequence[str], given: Sequence[str]) -> str | None:
    """What is wrong with the columns `given` (an optional one may be left out)."""
    repeated = sorted({column for column in given if list(given).count(column) > 1})
    missing = [c for c in expected if c not in given and c not in OPTIONAL_ON_IMPORT]
    unexpected = [column for column in given if column not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if unexpected:
        parts.append(f"unexpected {', '.join(unexpected)}")
    if repeated:
        parts.append(f"repeated {', '.join(repeated)}")
    return f"has wrong columns: {'; '.join(parts)}." if parts else None


def read_rows(file: InputFile) -> Iterator[RawRow]:
    """Every record of the file with its line number (blank lines skipped)."""
    if file.format == "csv":
        return _csv_rows(file)
    return _ndjson_rows(file)


def _csv_rows(file: InputFile) -> Iterator[RawRow]:
    """Records numbered by the line they start on (a quoted value may span lines)."""
    with file.path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, [])
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield RawRow(start, None, f"is not valid CSV ({error}).")
                continue
            if not record:
                continue
            if len(record) != len(header):
                problem = f"has {len(record)} fields; the header has {len(header)}."
                yield RawRow(start, None, problem)
                continue
            yield RawRow(start, dict(zip(header, record, strict=True)))


def _ndjson_rows(file: InputFile) -> Iterator[RawRow]:
    expected = column_names(file.table)
    with file.path.open("rb") as stream:
        for line, raw in enumerate(stream, start=1):
            data = raw.removeprefix(BOM) if line == 1 else raw
            if not data.strip():
                continue
            try:
                record = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                yield RawRow(line, None, f"is not valid JSON ({error}).")
                continue
            if not isinstance(record, dict):
                yield RawRow(line, None, "is not a JSON object.")
                continue
            mismatch = _columns_mismatch(expected, list(record))
            yield RawRow(line, None, mismatch) if mismatch else RawRow(line, record)


def text_stream(stream: IO[bytes]) -> IO[str]:
    """A UTF-8 text view of a binary file, for the CSV writer."""
    return io.TextIOWrapper(stream, encoding="utf-8", newline="")
