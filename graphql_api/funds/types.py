"""GraphQL types for funds. Field resolvers only call loaders."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import WRITERS
from graphql_api.db.filtering import Comparison
from graphql_api.funds.inputs import FundStatus
from graphql_api.investments.inputs import InvestmentFilterInput, InvestmentOrder
from graphql_api.investments.service import FundTotals
from graphql_api.investors.inputs import InvestorType
from graphql_api.schema.arguments import After, Before, First, Last
from graphql_api.schema.context import Context
from graphql_api.schema.ids import to_global_id
from graphql_api.schema.node import Node
from graphql_api.schema.objects import build
from graphql_api.schema.pagination import Connection, build_connection, page_window
from graphql_api.schema.permissions import allow

if TYPE_CHECKING:
    from graphql_api.audit.types import AuditEntryConnection
    from graphql_api.investments.types import InvestmentConnection

TYPE_NAME = "Fund"


@strawberry.type(description="Commitments of one investor type to a fund.")
class InvestorTypeTotal:
    investor_type: InvestorType = strawberry.field(description="The investor type.")
    committed_usd: Decimal = strawberry.field(
        description="Total committed by investors of this type."
    )
    investment_count: int = strawberry.field(description="Number of their commitments.")
    investor_count: int = strawberry.field(description="Number of distinct investors of this type.")


@strawberry.type(description="Aggregates over a fund's commitments.")
class FundSummary:
    committed_usd: Decimal = strawberry.field(description="Total committed to the fund.")
    investment_count: int = strawberry.field(description="Number of commitments.")
    investor_count: int = strawberry.field(description="Number of distinct investors.")
    percent_of_target: float = strawberry.field(
        description="Committed as a percentage of the target size (may exceed 100)."
    )
    remaining_to_hard_cap_usd: Decimal | None = strawberry.field(
        description="Room left under the hard cap; null when the fund has no cap."
    )
    by_investor_type: list[InvestorTypeTotal] = strawberry.field(
        description="The commitments split by investor type (types without any are left out)."
    )

    @classmethod
    def of(cls, totals: FundTotals, fund: Fund) -> FundSummary:
        committed = totals.committed_usd
        return cls(
            committed_usd=committed,
            investment_count=totals.investment_count,
            investor_count=totals.investor_count,
            percent_of_target=round(float(committed * 100 / fund.target_size_usd), 4),
            remaining_to_hard_cap_usd=(
                fund.hard_cap_usd - committed if fund.hard_cap_usd is not None else None
            ),
            by_investor_type=[
                InvestorTypeTotal(
                    investor_type=part.investor_type,
                    committed_usd=part.committed_usd,
                    investment_count=part.investment_count,
                    investor_count=part.investor_count,
                )
                for part in totals.by_investor_type
            ],
        )


@strawberry.type(description="A fund raising capital from investors.")
class Fund(Node):
    name: str = strawberry.field(description="Display name.")
    vintage_year: int = strawberry.field(description="The fund's vintage year.")
    target_size_usd: Decimal = strawberry.field(description="Target size in USD.")
    hard_cap_usd: Decimal | None = strawberry.field(
        description="Ceiling on total commitments in USD; null when the fund has no cap."
    )
    status: FundStatus = strawberry.field(description="Lifecycle status.")
    version: int = strawberry.field(
        description="Increases by one on every change; pass as `expectedVersion` to update safely."
    )
    created_at: datetime = strawberry.field(description="When the fund was created (UTC).")
    updated_at: datetime = strawberry.field(description="When the fund last changed (UTC).")
    key: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: Any) -> Fund:
        """From a fund row or entity (attributes named as on the model)."""
        return build(
            cls,
            id=strawberry.ID(to_global_id(TYPE_NAME, row.id)),
            key=row.id,
            name=row.name,
            vintage_year=row.vintage_year,
            target_size_usd=row.target_size_usd,
            hard_cap_usd=row.hard_cap_usd,
            status=row.status,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @classmethod
    def from_joined(cls, row: Any) -> Fund:
        """From an investment row that carries its fund's columns as `fund_*`."""
        return build(
            cls,
            id=strawberry.ID(to_global_id(TYPE_NAME, row.fund_id)),
            key=row.fund_id,
            name=row.fund_name,
            vintage_year=row.fund_vintage_year,
            target_size_usd=row.fund_target_size_usd,
            hard_cap_usd=row.fund_hard_cap_usd,
            status=row.fund_status,
            version=row.fund_version,
            created_at=row.fund_created_at,
            updated_at=row.fund_updated_at,
        )

    @strawberry.field(description="Totals over the fund's commitments.")
    async def summary(self, info: Info[Context, None]) -> FundSummary:
        totals = await info.context.loaders.fund_totals.load(self.key)
        return FundSummary.of(totals, self)

    @strawberry.field(
        description="Changes to this fund, newest first (ADMIN, MANAGER).",
        extensions=[allow(*WRITERS)],
    )
    async def history(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Annotated[AuditEntryConnection, strawberry.lazy("graphql_api.audit.types")]:
        from graphql_api.audit.repository import AuditFilter  # noqa: PLC0415
        from graphql_api.audit.service import NEWEST_FIRST, count  # noqa: PLC0415
        from graphql_api.audit.types import AuditEntry, AuditEntryConnection  # noqa: PLC0415

        window = page_window(NEWEST_FIRST, first=first, after=after, last=last, before=before)
        page = await info.context.loaders.fund_history.load((self.key, window))
        criteria = AuditFilter(
            entity_type=Comparison(eq=TYPE_NAME), entity_id=Comparison(eq=self.key)
        )
        db = info.context.db

        async def total() -> int:
            async with db.read_session() as session:
                return await count(session, criteria)

        return build_connection(
            AuditEntryConnection, page, NEWEST_FIRST, AuditEntry.from_row, total
        )

    @strawberry.field(description="Commitments to this fund, paged.")
    async def investments(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            InvestmentFilterInput | None,
            strawberry.argument(description="Only commitments matching this filter."),
        ] = None,
        order_by: Annotated[
            list[InvestmentOrder] | None,
            strawberry.argument(description="Sort terms, most significant first."),
        ] = None,
    ) -> Annotated[InvestmentConnection, strawberry.lazy("graphql_api.investments.types")]:
        from graphql_api.investments.types import nested_investments  # noqa: PLC0415 (cycle)

        return await nested_investments(
            info, "fund", self.key, self, first, after, last, before, filter, order_by
        )


@strawberry.type(description="A page of funds.")
class FundConnection(Connection[Fund]):
    pass
