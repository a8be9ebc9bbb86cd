"""What to tell an operator when the database refuses something (CLI commands)."""

from __future__ import annotations


def database_reason(error: BaseException) -> str:
    """The database's own message, first line only: no SQL, no parameters (a refused
    batch of a thousand rows would otherwise print all of them)."""
    text = str(getattr(error, "orig", None) or error).strip()
    lines = text.splitlines()
    return lines[0][:300] if lines else type(error).__name__
