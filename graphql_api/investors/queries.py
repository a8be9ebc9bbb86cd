"""Investor queries: `investor(id)` and `investors(...)`."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import READERS
from graphql_api.investors import service as investor_service
from graphql_api.investors.filters import InvestorFilter
from graphql_api.investors.inputs import InvestorFilterInput, InvestorOrder
from graphql_api.investors.types import TYPE_NAME, Investor, InvestorConnection
from graphql_api.schema.arguments import After, Before, First, Last
from graphql_api.schema.context import Context
from graphql_api.schema.deletion import DeletedArgument, admitted_deleted, with_deleted
from graphql_api.schema.errors import ApiErrorCode, api_error
from graphql_api.schema.ids import key_of
from graphql_api.schema.pagination import build_connection, order_terms, page_window
from graphql_api.schema.permissions import allow


async def load_investor(info: Info[Context, None], global_id: str) -> Investor | None:
    key = key_of(global_id, TYPE_NAME)
    if key is None:
        return None
    row = await info.context.loaders.investor_by_id.load(key)
    return Investor.from_row(row, info.context.viewer) if row is not None else None


@strawberry.type
class InvestorQueries:
    @strawberry.field(
        description="An investor by ID; null when there is no such investor.",
        extensions=[allow(*READERS)],
    )
    async def investor(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The investor's global ID.")],
    ) -> Investor | None:
        return await load_investor(info, id)

    @strawberry.field(
        description="Investors, filtered, sorted and paged.", extensions=[allow(*READERS)]
    )
    async def investors(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            InvestorFilterInput | None,
            strawberry.argument(description="Only investors matching this."),
        ] = None,
        order_by: Annotated[
            list[InvestorOrder] | None,
            strawberry.argument(
                description="Sort terms, most significant first (default: creation order)."
            ),
        ] = None,
        deleted: DeletedArgument = None,
    ) -> InvestorConnection:
        ordering = investor_service.ordering(order_terms(order_by))
        window = page_window(ordering, first=first, after=after, last=last, before=before)
        criteria = with_deleted(
            filter.to_filter() if filter else None, InvestorFilter, admitted_deleted(info, deleted)
        )
        db, viewer = info.context.db, info.context.viewer
        try:
            async with db.read_session() as session:
                page = await investor_service.list_investors(
                    session, criteria, ordering, window, viewer
                )
        except investor_service.HiddenFieldError as error:
            raise api_error(ApiErrorCode.FORBIDDEN, str(error)) from error

        async def count() -> int:
            async with db.read_session() as session:
                return await investor_service.count_investors(session, criteria, viewer)

        return build_connection(
            InvestorConnection, page, ordering, lambda row: Investor.from_row(row, viewer), count
        )
