"""GraphQL inputs for investors: create, partial update, filter and order."""

from __future__ import annotations

from typing import Any

import strawberry

from graphql_api.db.filtering import Comparison
from graphql_api.db.models import InvestorType
from graphql_api.errors import ErrorCode, InvalidInputError, Violation
from graphql_api.investors.filters import InvestorFilter, InvestorSortField
from graphql_api.investors.service import InvestorChanges, NewInvestor
from graphql_api.partial import UNSET as DOMAIN_UNSET
from graphql_api.schema.enums import graphql_enum
from graphql_api.schema.filters import DateTimeFilter, StringFilter, capped
from graphql_api.schema.pagination import OrderDirection

__all__ = [
    "CreateInvestorInput",
    "InvestorFilterInput",
    "InvestorOrder",
    "InvestorType",
    "UpdateInvestorInput",
]

graphql_enum(
    InvestorType,
    name="InvestorType",
    description="What kind of investor this is.",
    values={
        InvestorType.INDIVIDUAL: "A natural person.",
        InvestorType.INSTITUTION: "A pension fund, endowment, insurer or other institution.",
        InvestorType.FAMILY_OFFICE: "A family office managing a family's wealth.",
    },
)

graphql_enum(
    InvestorSortField,
    name="InvestorOrderField",
    description="Fields a list of investors can be ordered by.",
    values={
        InvestorSortField.NAME: "By name.",
        InvestorSortField.EMAIL: "By email address.",
        InvestorSortField.CREATED_AT: "By creation time (the default).",
        InvestorSortField.UPDATED_AT: "By time of the last change.",
    },
)


def _given(value: Any) -> Any:
    return DOMAIN_UNSET if value is strawberry.UNSET else value


@strawberry.input(description="A new investor.")
class CreateInvestorInput:
    name: str = strawberry.field(description="Display name, 1-255 characters after trimming.")
    investor_type: InvestorType = strawberry.field(description="What kind of investor.")
    email: str = strawberry.field(
        description="Email address; unique across investors regardless of letter case."
    )

    def to_new_investor(self) -> NewInvestor:
        return NewInvestor(name=self.name, investor_type=self.investor_type, email=self.email)


@strawberry.input(description="Changes to an investor: only the fields given change.")
class UpdateInvestorInput:
    id: strawberry.ID = strawberry.field(description="The investor to change.")
    expected_version: int | None = strawberry.field(
        default=None,
        description="Refuse with VERSION_CONFLICT unless the investor is at this version.",
    )
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    investor_type: InvestorType | None = strawberry.field(
        default=strawberry.UNSET, description="New investor type."
    )
    email: str | None = strawberry.field(default=strawberry.UNSET, description="New email address.")

    def to_changes(self) -> InvestorChanges:
        given = {"name": self.name, "investor_type": self.investor_type, "email": self.email}
        nulls = [name for name, value in given.items() if value is None]
        if nulls:
            raise InvalidInputError(
                [Violation(ErrorCode.VALIDATION, "Must not be null.", (name,)) for name in nulls]
            )
        return InvestorChanges(
            name=_given(self.name),
            investor_type=_given(self.investor_type),
            email=_given(self.email),
        )


@strawberry.input(description="Conditions on an investor type; every one given must hold.")
class InvestorTypeFilter:
    eq: InvestorType | None = strawberry.field(default=None, description="Equal to.")
    in_: list[InvestorType] | None = strawberry.field(
        default=None, name="in", description="One of."
    )
    not_in: list[InvestorType] | None = strawberry.field(default=None, description="None of.")

    def to_comparison(self) -> Comparison[InvestorType]:
        return Comparison(
            eq=self.eq, in_=capped(self.in_, "in"), not_in=capped(self.not_in, "notIn")
        )


@strawberry.input(
    name="InvestorFilter", description="Narrow a list of investors; every field given must hold."
)
class InvestorFilterInput:
    name: StringFilter | None = strawberry.field(default=None, description="On the name.")
    email: StringFilter | None = strawberry.field(
        default=None,
        description="On the email address (stored in lower case: `eq` and `in` ignore case).",
    )
    investor_type: InvestorTypeFilter | None = strawberry.field(
        default=None, description="On the investor type."
    )
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="On creation time."
    )

    def to_filter(self) -> InvestorFilter:
        return InvestorFilter(
            name=self.name.to_text_match() if self.name else None,
            email=self.email.to_text_match() if self.email else None,
            investor_type=self.investor_type.to_comparison() if self.investor_type else None,
            created_at=self.created_at.to_comparison() if self.created_at else None,
        )


@strawberry.input(description="One sort term for a list of investors.")
class InvestorOrder:
    field: InvestorSortField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Ascending (default) or descending."
    )
