"""The transactional outbox: one row per change, written in the change's transaction.

`id` orders rows by insertion. `position` is the public, gap-free order in which
events are delivered; it is assigned after commit by the sequencer (one at a
time), so it only ever covers committed rows. Events of one fund are written
under the fund's row lock (an investor's own events under the investor's), hence
their positions follow their commit order.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.db.base import Base
from graphql_api.db.ids import new_id
from graphql_api.db.types import UTCDateTime, utcnow

# SQLite auto-increments only an INTEGER PRIMARY KEY (its rowid).
AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")
Payload = JSON().with_variant(JSONB(), "postgresql")


class OutboxEvent(Base):
    """An event waiting to be (or already) delivered to subscribers."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid(), default=new_id, unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # None for an event about an investor alone (INVESTOR_DELETED / INVESTOR_RESTORED).
    fund_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    investment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    investor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    payload: Mapped[dict[str, Any]] = mapped_column(Payload, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    position: Mapped[int | None] = mapped_column(BigInteger(), unique=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(None, "fund_id", "position"),
        Index(None, "occurred_at"),
        # The publisher's work list: rows not yet sequenced, or not yet announced.
        Index(
            "ix_outbox_events_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )
