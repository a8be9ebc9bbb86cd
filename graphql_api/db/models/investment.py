"""A commitment of capital by one investor to one fund."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from graphql_api.db.base import Base, UUIDPrimaryKey
from graphql_api.db.models.fund import MAX_MONEY_CENTS
from graphql_api.db.types import Money, UTCDateTime, utcnow


class Investment(UUIDPrimaryKey, Base):
    """A commitment. Immutable once made (no `updated_at`, no `version`)."""

    __tablename__ = "investments"

    fund_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("funds.id", ondelete="RESTRICT"))
    investor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("investors.id", ondelete="RESTRICT")
    )
    amount_usd: Mapped[Decimal] = mapped_column("amount_cents", Money())
    investment_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    """When the commitment was soft-deleted; NULL while it is live."""

    __table_args__ = (
        CheckConstraint(
            f"amount_cents > 0 AND amount_cents <= {MAX_MONEY_CENTS}", name="amount_range"
        ),
        # Nested connections (a fund's or an investor's investments), per sort key.
        Index(None, "fund_id", "created_at", "id"),
        Index(None, "fund_id", "investment_date", "id"),
        Index(None, "fund_id", "amount_cents", "id"),
        Index(None, "investor_id", "created_at", "id"),
        Index(None, "investor_id", "investment_date", "id"),
        Index(None, "investor_id", "amount_cents", "id"),
        # The top-level `investments` connection, per sort key.
        Index(None, "created_at", "id"),
        Index(None, "investment_date", "id"),
        Index(None, "amount_cents", "id"),
    )
