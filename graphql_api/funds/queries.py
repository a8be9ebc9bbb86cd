"""Fund queries: `fund(id)` and `funds(...)`. Thin: decode, call a loader or service."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import READERS
from graphql_api.funds import service as fund_service
from graphql_api.funds.filters import FundFilter
from graphql_api.funds.inputs import FundFilterInput, FundOrder
from graphql_api.funds.types import TYPE_NAME, Fund, FundConnection
from graphql_api.schema.arguments import After, Before, First, Last
from graphql_api.schema.context import Context
from graphql_api.schema.deletion import DeletedArgument, admitted_deleted, with_deleted
from graphql_api.schema.ids import key_of
from graphql_api.schema.pagination import build_connection, order_terms, page_window
from graphql_api.schema.permissions import allow


async def load_fund(info: Info[Context, None], global_id: str) -> Fund | None:
    """The fund with this global ID, or None (also for an ID of another type)."""
    key = key_of(global_id, TYPE_NAME)
    if key is None:
        return None
    row = await info.context.loaders.fund_by_id.load(key)
    return Fund.from_row(row) if row is not None else None


@strawberry.type
class FundQueries:
    @strawberry.field(
        description="A fund by ID; null when there is no such fund.", extensions=[allow(*READERS)]
    )
    async def fund(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The fund's global ID.")],
    ) -> Fund | None:
        return await load_fund(info, id)

    @strawberry.field(
        description="Funds, filtered, sorted and paged.", extensions=[allow(*READERS)]
    )
    async def funds(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            FundFilterInput | None, strawberry.argument(description="Only funds matching this.")
        ] = None,
        order_by: Annotated[
            list[FundOrder] | None,
            strawberry.argument(
                description="Sort terms, most significant first (default: creation order)."
            ),
        ] = None,
        deleted: DeletedArgument = None,
    ) -> FundConnection:
        ordering = fund_service.ordering(order_terms(order_by))
        window = page_window(ordering, first=first, after=after, last=last, before=before)
        criteria = with_deleted(
            filter.to_filter() if filter else None, FundFilter, admitted_deleted(info, deleted)
        )
        db = info.context.db
        async with db.read_session() as session:
            page = await fund_service.list_funds(session, criteria, ordering, window)

        async def count() -> int:
            async with db.read_session() as session:
                return await fund_service.count_funds(session, criteria)

        return build_connection(FundConnection, page, ordering, Fund.from_row, count)
