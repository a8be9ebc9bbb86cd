"""GraphQL inputs for investments: create, filter and order."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from graphql_api.investments.filters import InvestmentFilter, InvestmentSortField
from graphql_api.investments.service import NewInvestment
from graphql_api.schema.enums import graphql_enum
from graphql_api.schema.filters import DateFilter, DateTimeFilter, DecimalFilter, IDFilter
from graphql_api.schema.ids import key_of
from graphql_api.schema.pagination import OrderDirection

graphql_enum(
    InvestmentSortField,
    name="InvestmentOrderField",
    description="Fields a list of investments can be ordered by.",
    values={
        InvestmentSortField.INVESTMENT_DATE: "By the date of the commitment.",
        InvestmentSortField.AMOUNT_USD: "By amount.",
        InvestmentSortField.CREATED_AT: "By the time it was recorded (the default).",
    },
)


def _plain_decimal(amount: Decimal) -> str:
    """Exact digits without trailing fractional zeros: "250.00" and "250" read the same."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@strawberry.input(description="A new commitment of an investor to a fund.")
class CreateInvestmentInput:
    fund_id: strawberry.ID = strawberry.field(description="The fund; must exist and not be CLOSED.")
    investor_id: strawberry.ID = strawberry.field(description="The investor; must exist.")
    amount_usd: Decimal = strawberry.field(
        description="Amount in USD: > 0, at most 2 decimal places; must fit under the hard cap."
    )
    investment_date: date = strawberry.field(
        description="Date of the commitment; at most one year in the future."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "Optional key (1-255 printable characters, e.g. a UUID) that makes a retry safe: "
            "sent again with the same input by the same caller within 24 hours, it returns "
            "the original result and commits nothing new; with a different input it is "
            "refused with IDEMPOTENCY_KEY_REUSED. Not allowed on the items of "
            "`createInvestments` (give that mutation's own `idempotencyKey`)."
        ),
    )

    def canonical(self) -> dict[str, str]:
        """The input as an idempotency key compares it: IDs as sent, amount normalised."""
        return {
            "fundId": self.fund_id,
            "investorId": self.investor_id,
            "amountUsd": _plain_decimal(self.amount_usd),
            "investmentDate": self.investment_date.isoformat(),
        }

    def to_new_investment(self) -> NewInvestment:
        """Decode the IDs; one of the wrong type or shape refers to nothing (None).

        The service reports missing records in the order SPEC §2 fixes, so a bad
        investor ID must not be reported before a closed fund.
        """
        return NewInvestment(
            fund_id=key_of(self.fund_id, "Fund"),
            investor_id=key_of(self.investor_id, "Investor"),
            amount_usd=self.amount_usd,
            investment_date=self.investment_date,
        )


@strawberry.input(
    name="InvestmentFilter",
    description="Narrow a list of investments; every field given must hold.",
)
class InvestmentFilterInput:
    fund_id: IDFilter | None = strawberry.field(default=None, description="On the fund.")
    investor_id: IDFilter | None = strawberry.field(default=None, description="On the investor.")
    investment_date: DateFilter | None = strawberry.field(
        default=None, description="On the date of the commitment."
    )
    amount_usd: DecimalFilter | None = strawberry.field(default=None, description="On the amount.")
    created_at: DateTimeFilter | None = strawberry.field(
        default=None, description="On the time it was recorded."
    )

    def to_filter(self) -> InvestmentFilter:
        return InvestmentFilter(
            fund_id=self.fund_id.to_comparison("Fund", "fundId") if self.fund_id else None,
            investor_id=(
                self.investor_id.to_comparison("Investor", "investorId")
                if self.investor_id
                else None
            ),
            investment_date=self.investment_date.to_comparison() if self.investment_date else None,
            amount_usd=self.amount_usd.to_comparison() if self.amount_usd else None,
            created_at=self.created_at.to_comparison() if self.created_at else None,
        )


@strawberry.input(description="One sort term for a list of investments.")
class InvestmentOrder:
    field: InvestmentSortField = strawberry.field(description="What to sort by.")
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Ascending (default) or descending."
    )
