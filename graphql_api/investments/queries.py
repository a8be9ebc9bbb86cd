"""Investment queries: `investment(id)` and `investments(...)`."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import READERS
from graphql_api.investments import service as investment_service
from graphql_api.investments.filters import InvestmentFilter
from graphql_api.investments.inputs import InvestmentFilterInput, InvestmentOrder
from graphql_api.investments.types import (
    EVERYTHING_RELATED,
    TYPE_NAME,
    Investment,
    InvestmentConnection,
    related_selected,
)
from graphql_api.schema.arguments import After, Before, First, Last
from graphql_api.schema.context import Context
from graphql_api.schema.deletion import DeletedArgument, admitted_deleted, with_deleted
from graphql_api.schema.ids import key_of
from graphql_api.schema.pagination import build_connection, order_terms, page_window
from graphql_api.schema.permissions import allow


async def load_investment(info: Info[Context, None], global_id: str) -> Investment | None:
    key = key_of(global_id, TYPE_NAME)
    if key is None:
        return None
    row = await info.context.loaders.investment_by_id.load(key)
    loaders = info.context.loaders
    return Investment.from_row(row, loaders, related=EVERYTHING_RELATED) if row else None


@strawberry.type
class InvestmentQueries:
    @strawberry.field(
        description="An investment by ID; null when there is no such investment.",
        extensions=[allow(*READERS)],
    )
    async def investment(
        self,
        info: Info[Context, None],
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The investment's global ID.")
        ],
    ) -> Investment | None:
        return await load_investment(info, id)

    @strawberry.field(
        description="Investments across all funds, filtered, sorted and paged.",
        extensions=[allow(*READERS)],
    )
    async def investments(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            InvestmentFilterInput | None,
            strawberry.argument(description="Only investments matching this."),
        ] = None,
        order_by: Annotated[
            list[InvestmentOrder] | None,
            strawberry.argument(
                description="Sort terms, most significant first (default: creation order)."
            ),
        ] = None,
        deleted: DeletedArgument = None,
    ) -> InvestmentConnection:
        ordering = investment_service.ordering(order_terms(order_by))
        window = page_window(ordering, first=first, after=after, last=last, before=before)
        criteria = with_deleted(
            filter.to_filter() if filter else None,
            InvestmentFilter,
            admitted_deleted(info, deleted),
        )
        related = related_selected(info, None)
        db, viewer = info.context.db, info.context.viewer
        async with db.read_session() as session:
            page = await investment_service.list_investments(
                session, criteria, ordering, window, related, viewer
            )

        async def count() -> int:
            async with db.read_session() as session:
                return await investment_service.count_investments(session, criteria, viewer)

        return build_connection(
            InvestmentConnection,
            page,
            ordering,
            lambda row: Investment.from_row(row, info.context.loaders, related=related),
            count,
        )
