"""GraphQL inputs for funds: create, partial update, filter and order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry

from graphql_api.db.filtering import Comparison
from graphql_api.db.models import FundStatus
from graphql_api.errors import ErrorCode, InvalidInputError, Violation
from graphql_api.funds.filters import FundFilter, FundSortField
from graphql_api.funds.service import FundChanges, NewFund
from graphql_api.partial import UNSET as DOMAIN_UNSET
from graphql_api.schema.enums import graphql_enum
from graphql_api.schema.filters import (
    DateTimeFilter,
    DecimalFilter,
    IntFilter,
    StringFilter,
    capped,
)
from graphql_api.schema.pagination import OrderDirection

__all__ = [
    "CreateFundInput",
    "FundFilterInput",
    "FundOrder",
    "FundStatus",
    "FundStatusFilter",
    "UpdateFundInput",
]

graphql_enum(
    FundStatus,
    name="FundStatus",
    description="Where a fund is in its life: FUNDRAISING → INVESTING → CLOSED, never backwards.",
    values={
        FundStatus.FUNDRAISING: "Raising capital; accepts new commitments (the default).",
        FundStatus.INVESTING: "Deploying capital; still accepts commitments up to its hard cap.",
        FundStatus.CLOSED: "Closed; accepts no new commitments and never reopens.",
    },
)

graphql_enum(
    FundSortField,
    name="FundOrderField",
    description="Fields a list of funds can be ordered by.",
    values={
        FundSortField.NAME: "By name.",
        FundSortField.VINTAGE_YEAR: "By vintage year.",
        FundSortField.TARGET_SIZE_USD: "By target size.",
        FundSortField.CREATED_AT: "By creation time (the default).",
        FundSortField.UPDATED_AT: "By time of the last change.",
    },
)


def _given(value: Any) -> Any:
    """Strawberry's UNSET (field left out) as the domain's UNSET; anything else as is."""
    return DOMAIN_UNSET if value is strawberry.UNSET else value


@strawberry.input(description="A new fund.")
class CreateFundInput:
    name: str = strawberry.field(description="Display name, 1-255 characters after trimming.")
    vintage_year: int = strawberry.field(description="1900 to the current year + 5.")
    target_size_usd: Decimal = strawberry.field(
        description="Target size in USD: > 0, at most 2 decimal places, at most 10^15."
    )
    hard_cap_usd: Decimal | None = strawberry.field(
        default=None,
        description="Optional ceiling on total commitments; at least the target size.",
    )
    status: FundStatus = strawberry.field(
        default=FundStatus.FUNDRAISING, description="Initial status (FUNDRAISING by default)."
    )

    def to_new_fund(self) -> NewFund:
        return NewFund(
            name=self.name,
            vintage_year=self.vintage_year,
            target_size_usd=self.target_size_usd,
            hard_cap_usd=self.hard_cap_usd,
            status=self.status,
        )


@strawberry.input(description="Changes to a fund: only the fields given change.")
class UpdateFundInput:
    id: strawberry.ID = strawberry.field(description="The fund to change.")
    expected_version: int | None = strawberry.field(
        default=None,
        description="Refuse the change with VERSION_CONFLICT unless the fund is at this version.",
    )
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    vintage_year: int | None = strawberry.field(
        default=strawberry.UNSET, description="New vintage year."
    )
    target_size_usd: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="New target size."
    )
    hard_cap_usd: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="New hard cap; null removes the cap."
    )
    status: FundStatus | None = strawberry.field(
        default=strawberry.UNSET, description="New status; only forward moves are allowed."
    )

    def to_changes(self) -> FundChanges:
        """The partial update; `null` for a field that cannot be empty is refused."""
        required = {
            "name": self.name,
            "vintage_year": self.vintage_year,
            "target_size_usd": self.target_size_usd,
            "status": self.status,
        }
        nulls = [name for name, value in required.items() if value is None]
        if nulls:
            raise InvalidInputError(
                [Violation(ErrorCode.VALIDATION, "Must not be null.", (name,)) for name in nulls]
            )
        return FundChanges(
            name=_given(self.name),
            vintage_year=_given(self.vintage_year),
            target_size_usd=_given(self.target_size_usd),
            hard_cap_usd=_given(self.hard_cap_usd),
            status=_given(self.status),
        )


@strawberry.input(description="Conditions on a fund's status; every one given must hold.")
class FundStatusFilter:
    eq: FundStatus | None = strawberry.field(default=None, description="Equal to.")
    in_: list[FundStatus] | None = strawberry.field(default=None, name="in", description="One of.")
    not_in: list[FundStatus] | None = strawberry.field(default=None, description="None of.")

    def to_comparison(self) -> Comparison[FundStatus]:
        return Comparison(
            eq=self.eq, in_=capped(self.in_, "in"), not_in=capped(self.not_in, "notIn")
        )


@strawberry.input(
    name="FundFilter", description="Narrow a list of funds; every field given must hold."
)
class FundFilterInput:
    name: StringFilter | None = strawberry.field(default=None, description="On the name.")
    status: FundStatusFilter | None = strawberry.field(default=None, description="On the status.")
    vintage_year: IntFilter | None = strawberry.field(
        default=None, description="On the vintage year."
    )
    target_size_usd: DecimalFilter | None = strawberry.field(
        default=None, description="On the target size."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="On creation time."
    )
    updated_at: DateTimeFilter | None = strawberry.field(
        default=None, description="On the time of the last change."
    )

    def to_filter(self) -> FundFilter:
        return FundFilter(
            name=self.name.to_text_match() if self.name else None,
            status=self.status.to_comparison() if self.status else None,
            vintage_year=self.vintage_year.to_comparison() if self.vintage_year else None,
            target_size_usd=self.target_size_usd.to_comparison() if self.target_size_usd else None,
            created_at=self.created_at.to_comparison() if self.created_at else None,
            updated_at=self.updated_at.to_comparison() if self.updated_at else None,
        )


@strawberry.input(description="One sort term for a list of funds.")
class FundOrder:
    field: FundSortField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Ascending (default) or descending."
    )
