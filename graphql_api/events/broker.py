"""The broker carries "new events" notifications between instances.

One interface, two implementations: Redis pub/sub for many instances, and an
in-process one for the embedded mode. Either may lose a message (Redis pub/sub
keeps nothing for a disconnected client); the hub notices the gap and reads
the missing events from the outbox, so a lost message delays delivery but
loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from graphql_api.events.records import EventRecord, decode_batch, encode_batch

logger = logging.getLogger(__name__)

KEEPALIVE_OPTIONS: dict[int, int | bytes] = (
    {socket.TCP_KEEPIDLE: 5, socket.TCP_KEEPINTVL: 2, socket.TCP_KEEPCNT: 3}
    if hasattr(socket, "TCP_KEEPIDLE")
    else {}
)

OnEvents = Callable[[list[EventRecord]], Awaitable[None]]
OnReconnect = Callable[[], Awaitable[None]]


class Broker(Protocol):
    @property
    def connected(self) -> bool: ...

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None: ...

    async def publish(self, records: list[EventRecord]) -> None: ...

    async def close(self) -> None: ...


class InProcessBroker:
    """Delivers straight to this process's hub (the embedded mode: no Redis)."""

    def __init__(self) -> None:
        self._on_events: OnEvents | None = None

    @property
    def connected(self) -> bool:
        return self._on_events is not None

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        self._on_events = on_events

    async def publish(self, records: list[EventRecord]) -> None:
        if self._on_events is not None:
            await self._on_events(records)

    async def close(self) -> None:
        self._on_events = None


class RedisBroker:
    """Redis pub/sub: one subscription per instance, reconnecting with backoff.

    After every (re)subscription `on_reconnect` runs, so the hub catches up from
    the outbox with whatever was published while the connection was down.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        max_backoff_seconds: float = 5.0,
        connect_timeout_seconds: float = 2.0,
    ) -> None:
        self._channel = channel
        self._max_backoff = max_backoff_seconds
        self._publisher = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout_seconds,
            socket_timeout=connect_timeout_seconds,
            socket_keepalive=True,
            health_check_interval=5,
        )
        self._subscriber = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout_seconds,
            socket_keepalive=True,
            # Notice a half-open connection (a partition without a reset) within
            # seconds, not after the operating system's default of hours.
            socket_keepalive_options=KEEPALIVE_OPTIONS,
            health_check_interval=5,
        )
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        self._listener = asyncio.create_task(
            self._listen(on_events, on_reconnect), name="redis-event-listener"
        )

    async def publish(self, records: list[EventRecord]) -> None:
        await self._publisher.publish(self._channel, encode_batch(records))

    async def _listen(self, on_events: OnEvents, on_reconnect: OnReconnect) -> None:
        backoff = 0.1
        while not self._closing:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._connected, backoff = True, 0.1
                logger.info("subscribed to redis channel %s", self._channel)
                await self._guarded(on_reconnect(), "catching up after (re)subscribing")
                while not self._closing:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        await self._hand_over(message["data"], on_events)
            except (RedisError, OSError) as error:
                self._connected = False
                delay = backoff * (1 + random.random())  # noqa: S311 (jitter, not a secret)
                logger.warning("redis subscription lost (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                self._connected = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _hand_over(self, data: bytes | str, on_events: OnEvents) -> None:
        try:
            records = decode_batch(data)
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed message on %s", self._channel)
            return
        await self._guarded(on_events(records), "delivering events")

    @staticmethod
    async def _guarded(work: Awaitable[None], what: str) -> None:
        """Our own failures (a database hiccup in the hub) must not end the subscription;
        the hub's poll fills in whatever this delivery missed."""
        try:
            await work
        except (RedisError, OSError):
            raise
        except Exception:
            logger.exception("event broker: failed while %s", what)

    async def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._publisher.aclose()
        await self._subscriber.aclose()
