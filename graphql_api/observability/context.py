"""What every log line of a request carries, kept in a context variable.

The HTTP middleware binds the request id and trace id; the GraphQL extension
adds the operation and the principal. Background tasks copy the context they
were started from (asyncio does), so their lines carry the same ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("graphql_api_log_fields", default=None)


def current() -> dict[str, Any]:
    return _FIELDS.get() or {}


def bind(**fields: Any) -> None:
    """Add fields for the rest of this task (and the tasks it starts)."""
    _FIELDS.set({**current(), **{k: v for k, v in fields.items() if v is not None}})


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Fields for the duration of a block; restored afterwards."""
    token = _FIELDS.set({**current(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)
