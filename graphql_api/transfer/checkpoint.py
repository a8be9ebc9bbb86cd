"""Where an interrupted import stopped: the last committed line of each file.

Saved (atomically: a temporary file, then a rename) after every committed
batch, and removed when the import finishes. It only applies to the same bytes
(each file's SHA-256) and the same database; otherwise the import starts over,
which is safe too, since every write is an upsert and an unchanged row is
skipped. The window between a commit and the save can only make a rerun redo
a committed batch, never skip an uncommitted one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from graphql_api.transfer.formats import InputFile

CHECKPOINT_NAME = ".graphql-api-import.checkpoint.json"


@dataclass
class Checkpoint:
    path: Path
    database: str
    lines: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls, path: Path, database: str, inputs: list[InputFile]
    ) -> tuple[Checkpoint, list[str]]:
        """The checkpoint for these files and this database, and notes on what was ignored."""
        fresh = cls(path, database, hashes={file.name: file.sha256 for file in inputs})
        if not path.exists():
            return fresh, []
        try:
            saved: dict[str, Any] = orjson.loads(path.read_bytes())
            files: dict[str, dict[str, Any]] = saved["files"]
            same_database = saved["database"] == database
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return fresh, [f"Ignored the unreadable checkpoint {path}; starting from the top."]
        if not same_database:
            return fresh, [f"Ignored {path}: it is for another database; starting from the top."]
        notes = []
        for file in inputs:
            entry = files.get(file.name)
            if entry is None:
                continue
            if entry.get("sha256") != file.sha256:
                notes.append(f"{file.name} changed since the checkpoint; importing all of it.")
                continue
            fresh.lines[file.name] = int(entry.get("line", 0))
            notes.append(f"{file.name}: resuming after line {fresh.lines[file.name]}.")
        return fresh, notes

    def committed_line(self, file: InputFile) -> int:
        return self.lines.get(file.name, 0)

    def save(self, file: InputFile, line: int) -> None:
        self.lines[file.name] = line
        self.store()

    def store(self) -> None:
        document = {
            "database": self.database,
            "files": {
                name: {"sha256": self.hashes.get(name), "line": committed}
                for name, committed in self.lines.items()
            },
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        os.replace(temporary, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
