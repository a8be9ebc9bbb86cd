"""Brute-force protection for logins: failures are counted per account and per client IP.

Past the limit, login answers RATE_LIMITED with the seconds to wait, even for
correct credentials, so guessing stays slow whatever the attacker tries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from graphql_api.kv import KeyValueStore


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    per_account: int = 5
    per_ip: int = 50
    window_seconds: int = 900


class LoginThrottle:
    def __init__(self, store: KeyValueStore, limits: ThrottleLimits) -> None:
        self._store = store
        self._limits = limits

    @staticmethod
    def _keys(email: str, client_ip: str) -> tuple[str, str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"login-fail:account:{account}", f"login-fail:ip:{client_ip}"

    async def retry_after(self, email: str, client_ip: str) -> int | None:
        """Seconds to wait before another attempt, or None when attempts are allowed."""
        account_key, ip_key = self._keys(email, client_ip)
        account_count, account_ttl = await self._store.get_count(account_key)
        ip_count, ip_ttl = await self._store.get_count(ip_key)
        waits = []
        if account_count >= self._limits.per_account:
            waits.append(account_ttl)
        if ip_count >= self._limits.per_ip:
            waits.append(ip_ttl)
        return max(waits) if waits else None

    async def failed(self, email: str, client_ip: str) -> None:
        account_key, ip_key = self._keys(email, client_ip)
        await self._store.increment(account_key, self._limits.window_seconds)
        await self._store.increment(ip_key, self._limits.window_seconds)

    async def succeeded(self, email: str) -> None:
        """A correct login clears the account's failures (not the IP's)."""
        account_key, _ = self._keys(email, "")
        await self._store.delete(account_key)
