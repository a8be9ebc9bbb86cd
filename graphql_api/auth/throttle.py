"""Brute-force protection for logins: failures are counted per account and per client IP.

Each attempt is counted *before* the password is checked, with one atomic
increment per key, so a burst of parallel guesses cannot slip past the limit
while the (deliberately slow) Argon2 check of the first ones is still running.
What does not turn out to be a failure is handed back: an attempt refused by
the throttle, and a correct login (which also clears the account's count; the
IP's count of earlier failures stays until its window ends). Past the limit,
login answers RATE_LIMITED with the seconds to wait, even for correct
credentials, so guessing stays slow whatever the attacker tries.
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
        """Callers pass the normalised address, so letter case cannot reset the count."""
        account = hashlib.sha256(email.encode()).hexdigest()[:32]
        return f"login-fail:account:{account}", f"login-fail:ip:{client_ip}"

    async def attempt(self, email: str, client_ip: str) -> int | None:
        """Count one attempt; the seconds to wait when it is over a limit, else None."""
        account_key, ip_key = self._keys(email, client_ip)
        window = self._limits.window_seconds
        account_count, account_ttl = await self._store.increment(account_key, window)
        ip_count, ip_ttl = await self._store.increment(ip_key, window)
        waits = []
        if account_count > self._limits.per_account:
            waits.append(account_ttl)
        if ip_count > self._limits.per_ip:
            waits.append(ip_ttl)
        if not waits:
            return None
        await self._store.increment(account_key, window, by=-1)
        await self._store.increment(ip_key, window, by=-1)
        return max(*waits, 1)

    async def succeeded(self, email: str, client_ip: str) -> None:
        """A correct login clears the account's failures and was not one for the IP."""
        account_key, ip_key = self._keys(email, client_ip)
        await self._store.delete(account_key)
        await self._store.increment(ip_key, self._limits.window_seconds, by=-1)
