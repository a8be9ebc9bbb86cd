"""Import progress: a rich progress bar on a terminal, plain lines anywhere else.

Logs and CI capture plain lines (a redrawn bar would be noise there); lines
are throttled to one every few seconds per file, plus one when a file is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_INTERVAL_SECONDS = 5.0


class ProgressReporter(Protocol):
    def start(self, name: str, total_lines: int) -> None: ...
    def advance_to(self, line: int) -> None: ...
    def finish(self, message: str) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


def reporter_for(stream: IO[str]) -> ProgressReporter:
    """A rich bar when `stream` is a terminal, plain lines otherwise."""
    console = Console(file=stream)
    if console.is_terminal:
        return RichProgress(console)
    return PlainProgress(lambda text: print(text, file=stream, flush=True))


class RichProgress:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("lines"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._progress.start()
        self._task: TaskID | None = None

    def start(self, name: str, total_lines: int) -> None:
        self._task = self._progress.add_task(name, total=total_lines)

    def advance_to(self, line: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=line)

    def finish(self, message: str) -> None:
        if self._task is not None:
            total = self._progress.tasks[-1].total
            self._progress.update(self._task, completed=total)
        self._progress.console.print(message)

    def note(self, message: str) -> None:
        self._progress.console.print(message)

    def close(self) -> None:
        self._progress.stop()


class PlainProgress:
    def __init__(
        self, echo: Callable[[str], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._echo = echo
        self._clock = clock
        self._name = ""
        self._total = 0
        self._last = 0.0

    def start(self, name: str, total_lines: int) -> None:
        self._name, self._total, self._last = name, total_lines, self._clock()
        self._echo(f"{name}: importing {total_lines} lines")

    def advance_to(self, line: int) -> None:
        now = self._clock()
        if now - self._last >= PLAIN_INTERVAL_SECONDS:
            self._last = now
            self._echo(f"{self._name}: line {line} of {self._total}")

    def finish(self, message: str) -> None:
        self._echo(message)

    def note(self, message: str) -> None:
        self._echo(message)

    def close(self) -> None:
        """Nothing to tear down."""
