"""GraphQL types for investments, and the resolvers of investment connections.

An investment's `fund` and `investor` are usually fetched in the same statement
as the page (when the query selects them) and resolve synchronously from it;
only when they were not fetched do they fall back to the per-request loaders.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.types import Info

from graphql_api.db.keyset import Page
from graphql_api.funds.types import Fund
from graphql_api.investments import service as investment_service
from graphql_api.investments.dataloaders import NestedPageQuery
from graphql_api.investments.filters import Related
from graphql_api.investments.inputs import InvestmentFilterInput, InvestmentOrder
from graphql_api.investments.repository import InvestmentRow, Parent
from graphql_api.investors.types import Investor
from graphql_api.schema.context import Context
from graphql_api.schema.ids import to_global_id
from graphql_api.schema.loaders import Loaders
from graphql_api.schema.node import Node
from graphql_api.schema.objects import Lazy, build
from graphql_api.schema.pagination import Connection, build_connection, order_terms, page_window
from graphql_api.schema.selection import connection_item_selects

TYPE_NAME = "Investment"
NOTHING_RELATED = Related()
EVERYTHING_RELATED = Related(investor=True, fund=True)


def _load_fund(loaders: Loaders, key: uuid.UUID) -> Lazy[Fund]:
    async def load() -> Fund:
        row = await loaders.fund_by_id.load(key)
        if row is None:  # pragma: no cover (a foreign key guarantees the fund)
            raise LookupError(f"investment refers to missing fund {key}")
        return Fund.from_row(row)

    return Lazy(load)


def _load_investor(loaders: Loaders, key: uuid.UUID) -> Lazy[Investor]:
    async def load() -> Investor:
        row = await loaders.investor_by_id.load(key)
        if row is None:  # pragma: no cover (a foreign key guarantees the investor)
            raise LookupError(f"investment refers to missing investor {key}")
        return Investor.from_row(row, loaders.viewer)

    return Lazy(load)


@strawberry.type(description="A commitment of capital by an investor to a fund.")
class Investment(Node):
    amount_usd: Decimal = strawberry.field(description="Amount committed, in USD.")
    investment_date: date = strawberry.field(description="Date of the commitment.")
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")
    # Plain attributes: the object itself when it came with the page, otherwise
    # a Lazy loader call that runs only if the query selects the field.
    fund: Fund = strawberry.field(description="The fund committed to.")
    investor: Investor = strawberry.field(description="The investor who committed.")
    key: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(
        cls,
        row: Any,
        loaders: Loaders,
        *,
        related: Related = NOTHING_RELATED,
        fund: Fund | None = None,
    ) -> Investment:
        """From an investment row, plus the `fund_*` / `investor_*` columns `related` names."""
        if fund is None:
            fund = Fund.from_joined(row) if related.fund else _load_fund(loaders, row.fund_id)  # type: ignore[assignment]
        investor = (
            Investor.from_joined(row, loaders.viewer)
            if related.investor
            else _load_investor(loaders, row.investor_id)
        )
        return build(
            cls,
            id=to_global_id(TYPE_NAME, row.id),
            key=row.id,
            amount_usd=row.amount_usd,
            investment_date=row.investment_date,
            created_at=row.created_at,
            fund=fund,
            investor=investor,
        )


@strawberry.type(description="A page of investments.")
class InvestmentConnection(Connection[Investment]):
    pass


def related_selected(info: Info[Context, None], parent: Parent | None) -> Related:
    """Join the investor (and the fund, unless it is the parent) when the query selects them."""
    return Related(
        investor=connection_item_selects(info, "investor"),
        fund=parent != "fund" and connection_item_selects(info, "fund"),
    )


async def nested_investments(
    info: Info[Context, None],
    parent: Parent,
    parent_key: uuid.UUID,
    parent_fund: Fund | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    criteria_input: InvestmentFilterInput | None,
    order_by: list[InvestmentOrder] | None,
) -> InvestmentConnection:
    """A fund's or an investor's investments: one statement for all parents in the query."""
    ordering = investment_service.ordering(order_terms(order_by))
    window = page_window(ordering, first=first, after=after, last=last, before=before)
    criteria = criteria_input.to_filter() if criteria_input else None
    loaders = info.context.loaders
    related = related_selected(info, parent)
    query = NestedPageQuery(criteria, ordering, window, related)
    pages = loaders.investments_by_fund if parent == "fund" else loaders.investments_by_investor
    counts = (
        loaders.investment_count_by_fund
        if parent == "fund"
        else loaders.investment_count_by_investor
    )
    page: Page[InvestmentRow] = await pages.load((parent_key, query))

    def count() -> Awaitable[int]:
        return counts.load((parent_key, criteria))

    return build_connection(
        InvestmentConnection,
        page,
        ordering,
        lambda row: Investment.from_row(row, loaders, related=related, fund=parent_fund),
        count,
    )
