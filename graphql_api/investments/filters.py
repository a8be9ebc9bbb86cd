"""How clients may narrow and order investment lists, as plain values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from graphql_api.db.filtering import Comparison, Deleted


class InvestmentSortField(StrEnum):
    """Fields an investment list can be ordered by."""

    INVESTMENT_DATE = "INVESTMENT_DATE"
    AMOUNT_USD = "AMOUNT_USD"
    CREATED_AT = "CREATED_AT"


@dataclass(frozen=True, slots=True)
class InvestmentFilter:
    """Every given criterion must hold."""

    fund_id: Comparison[uuid.UUID] | None = None
    investor_id: Comparison[uuid.UUID] | None = None
    investment_date: Comparison[date] | None = None
    amount_usd: Comparison[Decimal] | None = None
    created_at: Comparison[datetime] | None = None
    deleted: Deleted = Deleted.LIVE


InvestmentOrder = tuple[tuple[InvestmentSortField, bool], ...]


@dataclass(frozen=True, slots=True)
class Related:
    """Which related records to fetch in the same statement as the investments.

    When a query selects `investment.investor` (or `fund`), joining it into the
    page query costs one JOIN instead of one loader round per investment.
    """

    investor: bool = False
    fund: bool = False
