"""Keep serving when Redis is away: a circuit breaker, and in-process fallbacks.

Rate-limit buckets and the key-value store (login throttling, revoked tokens,
persisted queries) live in Redis so that every instance shares them. When Redis
cannot be reached, refusing all traffic would be worse than each instance
keeping its own state for a while: calls fall back to process memory, the
breaker stops trying Redis for `cooldown` seconds (so a dead Redis costs no
timeout per request), then lets one call through to see whether it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from graphql_api.kv import KeyValueStore, MemoryStore
from graphql_api.observability import metrics
from graphql_api.ratelimit import BucketLimits, Buckets, MemoryBuckets, Taken

logger = logging.getLogger(__name__)
T = TypeVar("T")


class CircuitBreaker:
    """Closed (use Redis) → open after a failure (use the fallback) → closed again after
    `cooldown` seconds if the next call succeeds."""

    def __init__(self, name: str, cooldown: float = 5.0) -> None:
        self.name = name
        self.cooldown = cooldown
        self.open_until = 0.0
        self.failures = 0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    async def call(
        self, primary: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        if self.is_open:
            metrics.FALLBACKS.labels(self.name).inc()
            return await fallback()
        try:
            result = await primary()
        except (RedisError, OSError) as error:
            self.failures += 1
            self.open_until = time.monotonic() + self.cooldown
            logger.warning(
                "%s: Redis unreachable (%s); using process memory for %.0fs",
                self.name,
                error,
                self.cooldown,
            )
            metrics.FALLBACKS.labels(self.name).inc()
            return await fallback()
        if self.failures:
            logger.info("%s: Redis is back", self.name)
            self.failures = 0
        return result


class FallbackBuckets:
    """Redis buckets, or this process's own while Redis is away."""

    def __init__(self, primary: Buckets, breaker: CircuitBreaker) -> None:
        self._primary = primary
        self._local = MemoryBuckets()
        self.breaker = breaker

    async def take(self, key: str, cost: float, limits: BucketLimits) -> Taken:
        return await self.breaker.call(
            lambda: self._primary.take(key, cost, limits),
            lambda: self._local.take(key, cost, limits),
        )

    async def give_back(self, key: str, points: float, limits: BucketLimits) -> float:
        return await self.breaker.call(
            lambda: self._primary.give_back(key, points, limits),
            lambda: self._local.give_back(key, points, limits),
        )

    async def close(self) -> None:
        await self._primary.close()
        await self._local.close()


class FallbackStore:
    """A Redis key-value store, or process memory while Redis is away."""

    def __init__(self, primary: KeyValueStore, breaker: CircuitBreaker) -> None:
        self._primary = primary
        self._local = MemoryStore()
        self.breaker = breaker

    async def increment(self, key: str, ttl_seconds: int, by: int = 1) -> tuple[int, int]:
        return await self.breaker.call(
            lambda: self._primary.increment(key, ttl_seconds, by),
            lambda: self._local.increment(key, ttl_seconds, by),
        )

    async def get_count(self, key: str) -> tuple[int, int]:
        return await self.breaker.call(
            lambda: self._primary.get_count(key), lambda: self._local.get_count(key)
        )

    async def delete(self, key: str) -> None:
        await self.breaker.call(lambda: self._primary.delete(key), lambda: self._local.delete(key))

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        await self.breaker.call(
            lambda: self._primary.put(key, value, ttl_seconds),
            lambda: self._local.put(key, value, ttl_seconds),
        )

    async def fetch(self, key: str) -> str | None:
        return await self.breaker.call(
            lambda: self._primary.fetch(key), lambda: self._local.fetch(key)
        )

    async def close(self) -> None:
        await self._primary.close()
        await self._local.close()
