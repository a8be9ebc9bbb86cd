"""Claiming, replaying and purging idempotency keys (see the package docstring).

Plain Python, no GraphQL: the mutation names the principal and the canonical
request; the use case calls `claim` first, and `remember` once it has a result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.models.idempotency import MAX_KEY_LENGTH
from graphql_api.db.session import Database
from graphql_api.db.types import utcnow
from graphql_api.errors import DomainError, ErrorCode
from graphql_api.idempotency import repository

logger = logging.getLogger(__name__)
R = TypeVar("R")

KEY_LIFETIME = timedelta(hours=24)
MAX_PRINCIPAL_ID_LENGTH = 64
# A key row that vanishes between the conflicting insert and the read (purged
# at that very moment) is claimed again; more than this is a bug, not a race.
_CLAIM_ATTEMPTS = 3


class IdempotencyKeyReusedError(DomainError):
    """The caller already used this key, within its lifetime, for a different request."""


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A mutation sent with an idempotency key: who, which operation, which key, what."""

    principal_kind: str
    principal_id: str
    operation: str
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Claim:
    """Either the key is ours (`row_id`: run, then `remember`) or `replay` is the stored result."""

    row_id: uuid.UUID | None
    replay: dict[str, Any] | None = None


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an idempotency key, or None when it can.

    1-255 printable characters: no control characters (NUL, line breaks,
    escapes), no invisible format characters, not only spaces.
    """
    if not key or key.isspace():
        return "must not be empty or only spaces"
    if len(key) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters (got {len(key)})"
    if not key.isprintable():
        return "must contain only printable characters (no control characters such as NUL)"
    return None


def principal_key(principal_id: uuid.UUID | None, client_ip: str) -> str:
    """Whose keys these are: the user's or API key's id, else the anonymous caller's address."""
    if principal_id is not None:
        return str(principal_id)
    return f"ip:{client_ip}"[:MAX_PRINCIPAL_ID_LENGTH]


def request_hash(canonical: object) -> str:
    """SHA-256 of the request in canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


async def claim(session: AsyncSession, request: KeyedRequest, *, now: datetime) -> Claim:
    """Take the key for this transaction, or learn the original result.

    Raises IdempotencyKeyReusedError when the key's live row records a different request.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        row_id = await repository.insert_or_take_over(
            session,
            request.principal_kind,
            request.principal_id,
            request.operation,
            request.key,
            request.request_hash,
            now=now,
            expired_before=now - KEY_LIFETIME,
        )
        if row_id is not None:
            return Claim(row_id)
        stored = await repository.fetch(
            session,
            request.principal_kind,
            request.principal_id,
            request.operation,
            request.key,
        )
        if stored is None:
            continue  # purged between the two statements: claim it again
        if stored.request_hash != request.request_hash:
            raise IdempotencyKeyReusedError.single(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This idempotency key was already used for a different request; "
                "use a new key for a new request.",
                "idempotency_key",
            )
        if stored.result is None:  # pragma: no cover (the result commits with the row)
            raise RuntimeError("idempotency key committed without a result")
        return Claim(None, dict(stored.result))
    raise RuntimeError("idempotency key could neither be claimed nor read")  # pragma: no cover


async def remember(session: AsyncSession, claim: Claim, result: dict[str, Any]) -> None:
    """Store what the claimed request produced; it commits with the change itself."""
    assert claim.row_id is not None, "only the owner of a key stores its result"
    await repository.store_result(session, claim.row_id, result)


async def once(
    session: AsyncSession,
    keyed: KeyedRequest | None,
    run: Callable[[], Awaitable[R]],
    *,
    record: Callable[[R], dict[str, Any]],
    replay: Callable[[dict[str, Any]], Awaitable[R]],
) -> R:
    """`run()` at most once per key: the first request runs it and stores `record(result)`
    with its change; a repeat gets `replay(stored)` instead. Without a key, just `run()`."""
    if keyed is None:
        return await run()
    taken = await claim(session, keyed, now=utcnow())
    if taken.replay is not None:
        return await replay(taken.replay)
    result = await run()
    await remember(session, taken, record(result))
    return result


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    """Delete keys older than their lifetime; returns how many."""
    return await repository.delete_created_before(session, now - KEY_LIFETIME)


async def purge_expired_keys(db: Database) -> int:
    """The periodic purge (the outbox relay calls it); never raises."""
    try:
        async with db.unit_of_work() as uow:
            removed = await purge_expired(uow.session, utcnow())
    except Exception:
        logger.exception("idempotency key purge failed")
        return 0
    if removed:
        logger.info("purged %d idempotency keys older than %s", removed, KEY_LIFETIME)
    return removed
