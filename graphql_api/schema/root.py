"""Query and Mutation composed from the slices, plus Relay's `node` / `nodes`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.audit.queries import AuditQueries
from graphql_api.auth.principal import READERS
from graphql_api.fund_events.subscriptions import FundEventSubscriptions
from graphql_api.funds.mutations import FundMutations
from graphql_api.funds.queries import FundQueries, load_fund
from graphql_api.investments.mutations import InvestmentMutations
from graphql_api.investments.queries import InvestmentQueries, load_investment
from graphql_api.investors.mutations import InvestorMutations
from graphql_api.investors.queries import InvestorQueries, load_investor
from graphql_api.schema.context import Context
from graphql_api.schema.errors import bad_user_input
from graphql_api.schema.ids import from_global_id
from graphql_api.schema.node import Node
from graphql_api.schema.permissions import allow
from graphql_api.users.mutations import AdminMutations, SelfServiceMutations, SessionMutations
from graphql_api.users.queries import UserQueries

MAX_NODES = 100

_NODE_LOADERS: dict[str, Callable[[Info[Context, None], str], Awaitable[Node | None]]] = {
    "Fund": load_fund,
    "Investor": load_investor,
    "Investment": load_investment,
}


async def _load_node(info: Info[Context, None], global_id: str) -> Node | None:
    decoded = from_global_id(global_id)
    loader = _NODE_LOADERS.get(decoded[0]) if decoded else None
    return await loader(info, global_id) if loader else None


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object by its global ID; null when there is none.",
        extensions=[allow(*READERS)],
    )
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
    ) -> Node | None:
        return await _load_node(info, id)

    @strawberry.field(
        description="Objects by global ID, in the order asked; null for each that does not exist.",
        extensions=[allow(*READERS)],
    )
    async def nodes(
        self,
        info: Info[Context, None],
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Global IDs (at most 100).")
        ],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise bad_user_input(f"`ids` accepts at most {MAX_NODES} IDs.", "ids")
        # Gathered, so the loaders see every ID in one batch (one SELECT per type).
        return list(await asyncio.gather(*(_load_node(info, global_id) for global_id in ids)))


@strawberry.type(description="Read funds, investors and their commitments.")
class Query(
    NodeQueries, FundQueries, InvestorQueries, InvestmentQueries, UserQueries, AuditQueries
):
    pass


@strawberry.type(description="Live events, over a WebSocket (graphql-transport-ws or graphql-ws).")
class Subscription(FundEventSubscriptions):
    pass


@strawberry.type(
    description="Change data. Every mutation returns a payload whose `errors` say what was refused."
)
class Mutation(
    FundMutations,
    InvestorMutations,
    InvestmentMutations,
    SessionMutations,
    SelfServiceMutations,
    AdminMutations,
):
    pass
