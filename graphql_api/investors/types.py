"""GraphQL types for investors. Field resolvers only call loaders."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import Viewer
from graphql_api.investments.inputs import InvestmentFilterInput, InvestmentOrder
from graphql_api.investors.inputs import InvestorType
from graphql_api.schema.arguments import After, Before, First, Last
from graphql_api.schema.context import Context
from graphql_api.schema.ids import to_global_id
from graphql_api.schema.node import Node
from graphql_api.schema.objects import build
from graphql_api.schema.pagination import Connection

if TYPE_CHECKING:
    from graphql_api.investments.types import InvestmentConnection

TYPE_NAME = "Investor"


@strawberry.type(description="An individual, institution or family office that commits capital.")
class Investor(Node):
    name: str = strawberry.field(description="Display name.")
    investor_type: InvestorType = strawberry.field(description="What kind of investor.")
    email: str | None = strawberry.field(
        description=(
            "Email address (stored in lower case); null unless you are ADMIN, MANAGER "
            "or this investor."
        )
    )
    version: int = strawberry.field(
        description="Increases by one on every change; pass as `expectedVersion` to update safely."
    )
    created_at: datetime = strawberry.field(description="When the investor was created (UTC).")
    updated_at: datetime = strawberry.field(description="When the investor last changed (UTC).")
    key: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: Any, viewer: Viewer) -> Investor:
        """From an investor row; the email only for viewers allowed to see it (SPEC §4)."""
        return build(
            cls,
            id=strawberry.ID(to_global_id(TYPE_NAME, row.id)),
            key=row.id,
            name=row.name,
            investor_type=row.investor_type,
            email=row.email if viewer.sees_email_of(row.id) else None,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @classmethod
    def from_joined(cls, row: Any, viewer: Viewer) -> Investor:
        """From an investment row that carries its investor's columns as `investor_*`."""
        return build(
            cls,
            id=strawberry.ID(to_global_id(TYPE_NAME, row.investor_id)),
            key=row.investor_id,
            name=row.investor_name,
            investor_type=row.investor_investor_type,
            email=row.investor_email if viewer.sees_email_of(row.investor_id) else None,
            version=row.investor_version,
            created_at=row.investor_created_at,
            updated_at=row.investor_updated_at,
        )

    @strawberry.field(description="Total this investor has committed across all funds.")
    async def total_committed_usd(self, info: Info[Context, None]) -> Decimal:
        return await info.context.loaders.investor_total.load(self.key)

    @strawberry.field(description="This investor's commitments, paged.")
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
            info, "investor", self.key, None, first, after, last, before, filter, order_by
        )


@strawberry.type(description="A page of investors.")
class InvestorConnection(Connection[Investor]):
    pass
