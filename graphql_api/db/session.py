"""Sessions: short read sessions, and a unit of work that commits exactly once.

GraphQL resolves sibling fields concurrently, so one AsyncSession must never be
shared between resolvers: each loader batch opens its own read session, and a
mutation owns one unit of work. Callbacks registered with `after_commit` run
only once the transaction is durable (events are published from there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)

AfterCommitHook = Callable[[], Awaitable[None]]
SQLITE_WRITE_OPTION = "graphql_api_sqlite_write"
EVENTS_WRITTEN = "graphql_api_events_written"
"""Set in `session.info` by whoever adds outbox events, so the commit announces them."""


@dataclass
class UnitOfWork:
    """One transaction: the session to use, and what to do once it has committed."""

    session: AsyncSession
    _after_commit: list[AfterCommitHook] = field(default_factory=list)

    def after_commit(self, hook: AfterCommitHook) -> None:
        """Run `hook` after a successful commit (never after a rollback)."""
        self._after_commit.append(hook)


class Database:
    """The engine plus the two ways to use it: read sessions and units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        write_bind = engine
        if self.is_sqlite:
            _take_over_sqlite_transactions(engine)
            write_bind = engine.execution_options(**{SQLITE_WRITE_OPTION: True})
        self._read_sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(write_bind, expire_on_commit=False)
        # SQLite allows one writer at a time; queueing writers here (instead of
        # letting them collide on the file lock) gives the same outcome as row
        # locks on PostgreSQL: serialised writes, no "database is locked".
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # Called (synchronously, it must not block) after a commit that wrote events.
        self.on_events_committed: Callable[[], None] | None = None

    def read_session(self) -> AsyncSession:
        """A session for reading; use as `async with db.read_session() as session:`."""
        return self._read_sessions()

    @asynccontextmanager
    async def unit_of_work(
        self, session_info: dict[str, object] | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """Open a transaction; commit once when the block ends, roll back if it raises.

        `session_info` is copied into `session.info` (the audit recorder reads who
        is acting from there).
        """
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        async with lock, self._write_sessions() as session:
            session.info.update(session_info or {})
            uow = UnitOfWork(session)
            async with session.begin():
                yield uow
            wrote_events = session.info.pop(EVENTS_WRITTEN, False)
        if wrote_events and self.on_events_committed is not None:
            self.on_events_committed()
        for hook in uow._after_commit:
            try:
                await hook()
            except Exception:  # the change is committed; a failed hook must not undo the reply
                logger.exception("after-commit hook failed")

    async def dispose(self) -> None:
        await self.engine.dispose()


def _take_over_sqlite_transactions(engine: AsyncEngine) -> None:
    """Emit BEGIN ourselves so writers take the write lock up front (BEGIN IMMEDIATE).

    The sqlite3 driver otherwise begins lazily and upgrades a reader to a writer
    mid-transaction, which fails at once with "database is locked" when another
    process writes; SQLAlchemy documents this recipe for pysqlite and aiosqlite.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _disable_driver_transactions(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(SQLITE_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
