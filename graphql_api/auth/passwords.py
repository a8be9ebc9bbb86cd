"""Password hashing with Argon2id, and the rules a new password must meet.

Hashing is deliberately slow, so it runs in a worker thread (argon2-cffi
releases the GIL) and never stalls the event loop. The cost parameters come
from settings; a stored hash made with other parameters is upgraded at the
next successful login.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 128

# A short list of passwords that are long enough yet guessed first by anyone.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiopas",
        "qwertyuiop123",
        "qwerty123456",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "welcome123456",
        "administrator",
        "administrator1",
        "changeme1234",
        "abc123456789",
        "111111111111",
        "000000000000",
        "aaaaaaaaaaaa",
        "monkey123456",
        "dragon123456",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "trustno1trustno1",
        "princess1234",
        "superman1234",
        "correcthorsebatterystaple",
        "p@ssw0rd1234",
        "passw0rd1234",
        "1q2w3e4r5t6y",
        "zaq12wsxcde3",
        "asdfghjklqwe",
    }
)


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Why a new password is not acceptable (empty when it is)."""
    if len(password) < MIN_LENGTH:
        return [f"Password must be at least {MIN_LENGTH} characters."]
    if len(password) > MAX_LENGTH:
        return [f"Password must be at most {MAX_LENGTH} characters."]
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        return ["Password is too common; choose a less predictable one."]
    if email and lowered == email.lower():
        return ["Password must not be the email address."]
    return []


@dataclass(frozen=True, slots=True)
class HashParameters:
    time_cost: int = 3
    memory_kib: int = 65_536
    parallelism: int = 4


class Passwords:
    """Hash and verify passwords with the configured Argon2id parameters."""

    def __init__(self, parameters: HashParameters) -> None:
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
        )
        # Verified against when the account does not exist, so an unknown email
        # costs as much time as a wrong password (no user enumeration by timing).
        self._decoy = self._hasher.hash("decoy password for unknown accounts")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; always does the work, even without a hash."""
        target = stored_hash or self._decoy
        try:
            matched = await asyncio.to_thread(self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(matched) and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
