"""Cost-based rate limiting: a token bucket per principal, refilled continuously.

A request takes its query cost from its bucket before it runs and gets back
what it did not use; when the bucket cannot pay, the request is refused with
the seconds until it could. In Redis the bucket is updated by one Lua script
(atomic across every instance); in the embedded mode it lives in memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis


@dataclass(frozen=True, slots=True)
class BucketLimits:
    capacity: float
    refill_per_second: float


@dataclass(frozen=True, slots=True)
class Taken:
    """The outcome of asking a bucket for `cost` points."""

    allowed: bool
    remaining: float
    retry_after: float  # seconds until `cost` points would be there (0 when allowed)


class Buckets(Protocol):
    async def take(self, key: str, cost: float, limits: BucketLimits) -> Taken: ...

    async def give_back(self, key: str, points: float, limits: BucketLimits) -> float: ...

    async def close(self) -> None: ...


def _refilled(level: float, updated: float, now: float, limits: BucketLimits) -> float:
    return min(limits.capacity, level + max(0.0, now - updated) * limits.refill_per_second)


def _retry_after(level: float, cost: float, limits: BucketLimits) -> float:
    if cost > limits.capacity:
        return math.inf
    return (cost - level) / limits.refill_per_second if limits.refill_per_second else math.inf


class MemoryBuckets:
    """One process's buckets (the embedded mode), bounded in number."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max = max_buckets

    async def take(self, key: str, cost: float, limits: BucketLimits) -> Taken:
        now = time.monotonic()
        level, updated = self._buckets.get(key, (limits.capacity, now))
        level = _refilled(level, updated, now, limits)
        if level >= cost:
            level -= cost
            self._store(key, level, now)
            return Taken(True, level, 0.0)
        self._store(key, level, now)
        return Taken(False, level, _retry_after(level, cost, limits))

    async def give_back(self, key: str, points: float, limits: BucketLimits) -> float:
        now = time.monotonic()
        level, updated = self._buckets.get(key, (limits.capacity, now))
        level = min(limits.capacity, _refilled(level, updated, now, limits) + points)
        self._store(key, level, now)
        return level

    def _store(self, key: str, level: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max:
            del self._buckets[next(iter(self._buckets))]  # the oldest bucket is the least useful
        self._buckets[key] = (level, now)

    async def close(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV: cost, capacity, refill per second. Time from Redis itself, so
# every instance agrees on it. Returns {allowed, level*1000, retry_after*1000}.
_TAKE = """
local cost = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'level', 'updated')
local level = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
level = math.min(capacity, level + math.max(0, now - updated) * rate)
local allowed = 0
local retry = 0
if level >= cost then
  level = level - cost
  allowed = 1
elseif rate > 0 and cost <= capacity then
  retry = (cost - level) / rate
else
  retry = -1
end
redis.call('HSET', KEYS[1], 'level', level, 'updated', now)
local ttl = 60
if rate > 0 then ttl = math.ceil(capacity / rate) + 60 end
redis.call('EXPIRE', KEYS[1], ttl)
return {allowed, math.floor(level * 1000), math.floor(retry * 1000)}
"""

_GIVE_BACK = """
local points = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'level', 'updated')
local level = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
level = math.min(capacity, level + math.max(0, now - updated) * rate + points)
redis.call('HSET', KEYS[1], 'level', level, 'updated', now)
return math.floor(level * 1000)
"""


class RedisBuckets:
    """Buckets shared by every instance, each updated atomically by a Lua script."""

    def __init__(self, url: str, prefix: str = "graphql_api:bucket:") -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._prefix = prefix
        self._take = self._client.register_script(_TAKE)
        self._give_back = self._client.register_script(_GIVE_BACK)

    async def take(self, key: str, cost: float, limits: BucketLimits) -> Taken:
        allowed, level, retry = await self._take(
            keys=[self._prefix + key], args=[cost, limits.capacity, limits.refill_per_second]
        )
        retry_after = math.inf if int(retry) < 0 else int(retry) / 1000
        return Taken(bool(int(allowed)), int(level) / 1000, retry_after)

    async def give_back(self, key: str, points: float, limits: BucketLimits) -> float:
        level = await self._give_back(
            keys=[self._prefix + key], args=[points, limits.capacity, limits.refill_per_second]
        )
        return int(level) / 1000

    async def close(self) -> None:
        await self._client.aclose()
