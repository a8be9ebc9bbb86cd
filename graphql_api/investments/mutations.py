"""Investment mutations: open a unit of work, call the service, map domain errors."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import WRITERS
from graphql_api.db.models import Investment as InvestmentModel
from graphql_api.db.session import UnitOfWork
from graphql_api.investments import service as investment_service
from graphql_api.investments.inputs import CreateInvestmentInput
from graphql_api.investments.types import Investment
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError
from graphql_api.schema.mutations import INPUT, in_unit_of_work
from graphql_api.schema.permissions import allow


@strawberry.type(description="Result of `createInvestment`.")
class CreateInvestmentPayload:
    investment: Investment | None = strawberry.field(
        description="The new commitment; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing was committed; empty on success."
    )


@strawberry.type
class InvestmentMutations:
    @strawberry.mutation(
        extensions=[allow(*WRITERS)],
        description=(
            "Commit an investor's capital to a fund. Checked in this order: the fund exists, "
            "is not CLOSED, the investor exists, amount and date are valid, the hard cap holds."
        ),
    )
    async def create_investment(
        self,
        info: Info[Context, None],
        input: Annotated[CreateInvestmentInput, INPUT],
    ) -> CreateInvestmentPayload:
        context = info.context

        async def create(uow: UnitOfWork) -> InvestmentModel:
            return await investment_service.create_investment(
                uow.session, input.to_new_investment(), today=context.today()
            )

        investment, errors = await in_unit_of_work(info, create)
        return CreateInvestmentPayload(
            investment=Investment.from_row(investment, context.loaders) if investment else None,
            errors=errors,
        )
