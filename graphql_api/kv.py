"""A small key-value store with expiry: Redis when configured, process memory otherwise.

Login throttling, revoked access tokens and (later) rate limits and persisted
queries need the same few operations; in the embedded mode (one process, no
Redis) a dictionary with expiry times does the job.
"""

from __future__ import annotations

import time
from typing import Protocol

import redis.asyncio as redis


class KeyValueStore(Protocol):
    async def increment(self, key: str, ttl_seconds: int, by: int = 1) -> tuple[int, int]:
        """Add `by` (one); returns (new count, seconds until the count expires).

        The expiry is set when the key is created and never moved."""
        ...

    async def get_count(self, key: str) -> tuple[int, int]:
        """(count, seconds until it expires); (0, 0) when absent."""
        ...

    async def delete(self, key: str) -> None: ...

    async def put(self, key: str, value: str, ttl_seconds: int) -> None: ...

    async def fetch(self, key: str) -> str | None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Process-local store (the embedded mode); expired keys vanish when touched."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._values: dict[str, tuple[str | int, float]] = {}
        self._max_keys = max_keys

    def _live(self, key: str) -> tuple[str | int, float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry

    def _make_room(self) -> None:
        if len(self._values) >= self._max_keys:
            now = time.monotonic()
            for key in [k for k, (_, expiry) in self._values.items() if expiry <= now]:
                del self._values[key]
            while len(self._values) >= self._max_keys:
                del self._values[next(iter(self._values))]

    async def increment(self, key: str, ttl_seconds: int, by: int = 1) -> tuple[int, int]:
        entry = self._live(key)
        now = time.monotonic()
        if entry is None:
            self._make_room()
            count, expiry = by, now + ttl_seconds
        else:
            count, expiry = int(entry[0]) + by, entry[1]
        self._values[key] = (count, expiry)
        return count, max(1, int(expiry - now))

    async def get_count(self, key: str) -> tuple[int, int]:
        entry = self._live(key)
        if entry is None:
            return 0, 0
        return int(entry[0]), max(1, int(entry[1] - time.monotonic()))

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        self._make_room()
        self._values[key] = (value, time.monotonic() + ttl_seconds)

    async def fetch(self, key: str) -> str | None:
        entry = self._live(key)
        return None if entry is None else str(entry[0])

    async def close(self) -> None:
        self._values.clear()


class RedisStore:
    """Shared by every instance; keys are namespaced with `prefix`."""

    def __init__(self, url: str, prefix: str = "graphql_api:") -> None:
        self._client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, decode_responses=True
        )
        self._prefix = prefix

    async def increment(self, key: str, ttl_seconds: int, by: int = 1) -> tuple[int, int]:
        full = self._prefix + key
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(full, by)
            pipe.expire(full, ttl_seconds, nx=True)
            pipe.ttl(full)
            count, _, ttl = await pipe.execute()
        return int(count), max(1, int(ttl))

    async def get_count(self, key: str) -> tuple[int, int]:
        full = self._prefix + key
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.get(full)
            pipe.ttl(full)
            value, ttl = await pipe.execute()
        return (int(value), max(1, int(ttl))) if value is not None else (0, 0)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._prefix + key)

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        await self._client.set(self._prefix + key, value, ex=ttl_seconds)

    async def fetch(self, key: str) -> str | None:
        value = await self._client.get(self._prefix + key)
        return None if value is None else str(value)

    async def close(self) -> None:
        await self._client.aclose()
