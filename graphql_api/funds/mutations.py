"""Fund mutations: open a unit of work, call the service, map domain errors."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import WRITERS
from graphql_api.db.models import Fund as FundModel
from graphql_api.db.session import UnitOfWork
from graphql_api.errors import DomainError, ErrorCode, NotFoundError
from graphql_api.funds import service as fund_service
from graphql_api.funds.inputs import CreateFundInput, UpdateFundInput
from graphql_api.funds.types import TYPE_NAME, Fund
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError, user_errors
from graphql_api.schema.ids import key_of
from graphql_api.schema.mutations import INPUT, in_unit_of_work
from graphql_api.schema.permissions import allow


@strawberry.type(description="Result of `createFund`.")
class CreateFundPayload:
    fund: Fund | None = strawberry.field(
        description="The new fund; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing was created; empty on success."
    )


@strawberry.type(description="Result of `updateFund`.")
class UpdateFundPayload:
    fund: Fund | None = strawberry.field(
        description="The fund as changed; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type
class FundMutations:
    @strawberry.mutation(description="Create a fund.", extensions=[allow(*WRITERS)])
    async def create_fund(
        self, info: Info[Context, None], input: Annotated[CreateFundInput, INPUT]
    ) -> CreateFundPayload:
        context = info.context

        async def create(uow: UnitOfWork) -> FundModel:
            return await fund_service.create_fund(
                uow.session, input.to_new_fund(), today=context.today()
            )

        fund, errors = await in_unit_of_work(info, create)
        return CreateFundPayload(fund=Fund.from_row(fund) if fund else None, errors=errors)

    @strawberry.mutation(
        description="Change some fields of a fund; the others stay as they are.",
        extensions=[allow(*WRITERS)],
    )
    async def update_fund(
        self, info: Info[Context, None], input: Annotated[UpdateFundInput, INPUT]
    ) -> UpdateFundPayload:
        context = info.context
        try:
            changes = input.to_changes()
        except DomainError as error:
            return UpdateFundPayload(fund=None, errors=user_errors(error))
        key = key_of(input.id, TYPE_NAME)

        async def update(uow: UnitOfWork) -> FundModel:
            if key is None:
                raise NotFoundError.single(ErrorCode.NOT_FOUND, "Fund not found.", "id")
            return await fund_service.update_fund(
                uow.session,
                key,
                changes,
                expected_version=input.expected_version,
                today=context.today(),
            )

        fund, errors = await in_unit_of_work(info, update)
        return UpdateFundPayload(fund=Fund.from_row(fund) if fund else None, errors=errors)
