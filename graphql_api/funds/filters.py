"""How clients may narrow and order fund lists, as plain values (no GraphQL, no SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from graphql_api.db.filtering import Comparison, Deleted, TextMatch
from graphql_api.db.models import FundStatus


class FundSortField(StrEnum):
    """Fields a fund list can be ordered by."""

    NAME = "NAME"
    VINTAGE_YEAR = "VINTAGE_YEAR"
    TARGET_SIZE_USD = "TARGET_SIZE_USD"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@dataclass(frozen=True, slots=True)
class FundFilter:
    """Every given criterion must hold."""

    name: TextMatch | None = None
    status: Comparison[FundStatus] | None = None
    vintage_year: Comparison[int] | None = None
    target_size_usd: Comparison[Decimal] | None = None
    created_at: Comparison[datetime] | None = None
    updated_at: Comparison[datetime] | None = None
    deleted: Deleted = Deleted.LIVE


FundOrder = tuple[tuple[FundSortField, bool], ...]
"""Requested sort terms: (field, descending), most significant first."""
