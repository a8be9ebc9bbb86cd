"""Sequencing and publishing: turn committed outbox rows into delivered events.

Each commit that wrote events kicks a flush right away: give committed rows
positions, announce them through the broker, then mark them published. A relay
in every instance flushes periodically too, so rows left behind by a crash or a
broker outage are sequenced and published later; it also purges events past
their retention. Flushes coalesce: while one runs,
further kicks just ask it to go round once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from redis.exceptions import RedisError

from graphql_api.db.session import Database
from graphql_api.db.types import utcnow
from graphql_api.events import outbox
from graphql_api.events.broker import Broker
from graphql_api.events.records import EventRecord
from graphql_api.idempotency.service import purge_expired_keys
from graphql_api.observability import metrics

logger = logging.getLogger(__name__)

SEQUENCE_BATCH = 1000


class Publisher:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        *,
        relay_seconds: float,
        retention: timedelta,
        purge_every_seconds: float = 3600.0,
    ) -> None:
        self._db = db
        self._broker = broker
        self._relay_seconds = relay_seconds
        self._retention = retention
        self._purge_every = purge_every_seconds
        self._flushing = False
        self._again = False
        self._not_flushing = asyncio.Event()
        self._not_flushing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._relay: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._caught_up = False  # the last flush left nothing unpublished

    def kick(self) -> None:
        """Flush soon, without making the caller (a committing mutation) wait."""
        task = asyncio.create_task(self.flush(), name="outbox-flush")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every flush already kicked has finished."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def drain(self) -> None:
        """Sequence and publish everything committed so far, and wait until it is done
        (a plain `flush` returns at once when another one is running)."""
        await self.idle()
        await self._not_flushing.wait()
        await self.flush()

    async def flush(self) -> None:
        """Sequence committed events, publish what the broker has not taken, mark it."""
        if self._flushing:
            self._again = True
            return
        self._flushing = True
        self._not_flushing.clear()
        self._caught_up = False
        try:
            while True:
                self._again = False
                async with self._db.unit_of_work() as uow:
                    await outbox.sequence_pending(uow.session, SEQUENCE_BATCH)
                async with self._db.read_session() as session:
                    records = await outbox.unpublished(session, SEQUENCE_BATCH)
                if records:
                    if not await self._publish(records):
                        break  # broker down: the relay tries again later
                    async with self._db.unit_of_work() as uow:
                        await outbox.mark_published(uow.session, [r.position for r in records])
                    published_at = utcnow()
                    for record in records:
                        lag = (published_at - record.occurred_at).total_seconds()
                        metrics.PUBLISH_LAG.observe(max(lag, 0.0))
                if not self._again and len(records) < SEQUENCE_BATCH:
                    self._caught_up = True
                    break
        except Exception:  # the relay will try again; never fail the caller
            logger.exception("outbox flush failed")
        finally:
            self._flushing = False
            self._not_flushing.set()

    async def _publish(self, records: list[EventRecord]) -> bool:
        """Announce the events; False when the broker is down (the relay retries them)."""
        try:
            await self._broker.publish(records)
        except (RedisError, OSError) as error:
            # Sequenced but not announced: hubs catch up from the outbox meanwhile,
            # and the relay publishes them again once the broker is back.
            logger.warning("could not publish %d events (%s); will retry", len(records), error)
            return False
        return True

    def start_relay(self) -> None:
        self._relay = asyncio.create_task(self._run_relay(), name="outbox-relay")

    async def _run_relay(self) -> None:
        elapsed_since_purge = self._purge_every  # purge once at start
        while not self._stopping.is_set():
            await self.flush()
            await self._measure_backlog()
            if elapsed_since_purge >= self._purge_every:
                elapsed_since_purge = 0.0
                await self.purge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._relay_seconds)
            elapsed_since_purge += self._relay_seconds

    async def _measure_backlog(self) -> None:
        """After a flush that published everything it found, the backlog is zero by
        construction; only after a failed one is the outbox counted (no query per
        relay round while all is well)."""
        if self._caught_up:
            metrics.OUTBOX_BACKLOG.set(0)
            return
        try:
            async with self._db.read_session() as session:
                metrics.OUTBOX_BACKLOG.set(await outbox.unpublished_count(session))
        except Exception:  # a metric is not worth failing the relay for
            logger.warning("could not measure the outbox backlog", exc_info=True)

    async def purge(self) -> int:
        await purge_expired_keys(self._db)  # idempotency keys expire after 24 hours too
        try:
            async with self._db.unit_of_work() as uow:
                removed = await outbox.purge_before(uow.session, utcnow() - self._retention)
        except Exception:
            logger.exception("outbox purge failed")
            return 0
        if removed:
            logger.info("purged %d delivered events older than %s", removed, self._retention)
        return removed

    async def stop(self, within: float = 10.0) -> None:
        """Let the relay and kicked flushes finish what they are doing, then stop.

        Cancelling one in the middle of a transaction could leave its connection
        checked out with the transaction open (on SQLite: the write lock held
        until the connection is garbage-collected); they get `within` seconds.
        """
        self._stopping.set()
        tasks = [task for task in (self._relay, *self._tasks) if task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=within)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
