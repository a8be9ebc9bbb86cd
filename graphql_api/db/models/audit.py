"""The audit log: who changed what, from which value to which, in the change's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.db.base import Base
from graphql_api.db.types import UTCDateTime, utcnow

_AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(JSONB(), "postgresql")


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(_AutoIncrementId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    before: Mapped[dict[str, Any] | None] = mapped_column(_Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(_Json)
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index(None, "entity_type", "entity_id", "id"),
        Index(None, "actor_id", "id"),
        Index(None, "occurred_at"),
    )
