"""How clients may narrow and order investor lists, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from graphql_api.db.filtering import Comparison, Deleted, TextMatch
from graphql_api.db.models import InvestorType


class InvestorSortField(StrEnum):
    """Fields an investor list can be ordered by."""

    NAME = "NAME"
    EMAIL = "EMAIL"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@dataclass(frozen=True, slots=True)
class InvestorFilter:
    """Every given criterion must hold."""

    name: TextMatch | None = None
    email: TextMatch | None = None
    investor_type: Comparison[InvestorType] | None = None
    created_at: Comparison[datetime] | None = None
    deleted: Deleted = Deleted.LIVE


InvestorOrder = tuple[tuple[InvestorSortField, bool], ...]
