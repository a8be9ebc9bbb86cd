"""Idempotency keys: a retried mutation returns its original result instead of committing twice.

One row per (principal, operation, key), written in the same transaction as the
change it guards, so the key exists exactly when the change committed. The
unique constraint is what makes racing duplicates safe: the second insert
waits for the first transaction and then finds its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.db.base import Base, UUIDPrimaryKey
from graphql_api.db.types import UTCDateTime, utcnow

MAX_KEY_LENGTH = 255
_Json = JSON().with_variant(JSONB(), "postgresql")


class IdempotencyKey(UUIDPrimaryKey, Base):
    """A key a caller sent with a mutation, the request it came with, and what it produced.

    `principal_id` is the user's or API key's id, or the client address for an
    anonymous caller (never NULL: NULLs would never conflict in the unique key).
    `request_hash` is a SHA-256 of the canonical request; `result` holds the ids
    of what was created (the payload is rebuilt from them on a replay).
    """

    __tablename__ = "idempotency_keys"

    principal_kind: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(_Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("principal_kind", "principal_id", "operation", "key"),
        Index(None, "created_at"),  # the purge of expired keys
    )
