"""SQL statements per request: the app in this process, SQLAlchemy's cursor events counting.

`create_app(settings)` runs here under its own lifespan and is driven through
httpx's ASGI transport (no socket at all). A listener on SQLAlchemy's
`before_cursor_execute` records each statement executed on behalf of a request
the harness sends: a context variable, set around each request, tells them
apart from the background tasks' statements (the outbox relay, the event
hub's poll), which run in contexts created before it was set. Statements the
driver runs on its own (BEGIN, COMMIT, asyncpg's type introspection) are not
cursor executions and are not counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.processes import BenchError
from graphql_api.app import create_app
from graphql_api.settings import Settings

WARMUP_REQUESTS = 3
TIMEOUT_SECONDS = 30.0

_RECORDING: ContextVar[list[str] | None] = ContextVar("bench_sql_recording", default=None)
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StatementCount:
    requests: int
    statements: int
    first_request: tuple[str, ...]  # a short description of each statement of one request

    @property
    def per_request(self) -> float:
        return self.statements / self.requests if self.requests else float("nan")


def describe(statement: str) -> str:
    """`SELECT api_keys`: the verb and the first table a statement names."""
    words = statement.split(None, 1)
    verb = words[0].upper() if words else "?"
    table = _TABLE.search(statement)
    return f"{verb} {table.group(1)}" if table else verb


def _on_execute(
    _connection: Any,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    recording = _RECORDING.get()
    if recording is not None:
        recording.append(statement)


async def _post(client: httpx.AsyncClient, body: bytes) -> list[str]:
    recording: list[str] = []
    token = _RECORDING.set(recording)
    try:
        response = await client.post("/graphql", content=body)
    finally:
        _RECORDING.reset(token)
    answer = orjson.loads(response.content)
    if response.status_code != 200 or "errors" in answer or not answer.get("data"):
        raise BenchError(f"SQL count: status {response.status_code}: {response.content[:300]!r}")
    return recording


async def count_statements(
    settings: Settings,
    operations: Mapping[str, Sequence[bytes]],
    headers: Mapping[str, str],
) -> dict[str, StatementCount]:
    """Per operation: the statements its requests executed (after a few warm-up requests,
    so one-off work such as an API key's once-a-minute `lastUsedAt` touch is left out)."""
    app = create_app(settings)
    event.listen(Engine, "before_cursor_execute", _on_execute)
    counts: dict[str, StatementCount] = {}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://127.0.0.1",
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/graphql-response+json, application/json;q=0.9",
                    **headers,
                },
                timeout=TIMEOUT_SECONDS,
            ) as client:
                for name, bodies in operations.items():
                    for index in range(WARMUP_REQUESTS):
                        await _post(client, bodies[index % len(bodies)])
                    statements = 0
                    first: list[str] = []
                    for index, body in enumerate(bodies):
                        recorded = await _post(client, body)
                        statements += len(recorded)
                        if index == 0:
                            first = recorded
                    counts[name] = StatementCount(
                        len(bodies), statements, tuple(describe(text) for text in first)
                    )
    finally:
        event.remove(Engine, "before_cursor_execute", _on_execute)
    return counts
