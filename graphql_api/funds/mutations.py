"""Fund mutations: open a unit of work, call the service, map domain errors."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from graphql_api.auth.principal import WRITERS
from graphql_api.db.models import Fund as FundModel
from graphql_api.db.session import UnitOfWork
from graphql_api.errors import DomainError
from graphql_api.funds import service as fund_service
from graphql_api.funds.inputs import CreateFundInput, UpdateFundInput
from graphql_api.funds.types import TYPE_NAME, Fund
from graphql_api.investments import deletion
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError, user_errors
from graphql_api.schema.mutations import INPUT, in_unit_of_work, on_record
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


@strawberry.input(description="The fund to soft-delete.")
class DeleteFundInput:
    id: strawberry.ID = strawberry.field(description="The fund's global ID.")


@strawberry.input(description="The fund to restore.")
class RestoreFundInput:
    id: strawberry.ID = strawberry.field(description="The fund's global ID.")


@strawberry.type(description="Result of `deleteFund`.")
class DeleteFundPayload:
    fund: Fund | None = strawberry.field(
        description="The fund as deleted; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `restoreFund`.")
class RestoreFundPayload:
    fund: Fund | None = strawberry.field(
        description="The fund as restored; null when `errors` is not empty."
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

        async def update(session: AsyncSession, key: uuid.UUID) -> FundModel:
            return await fund_service.update_fund(
                session,
                key,
                changes,
                expected_version=input.expected_version,
                today=context.today(),
            )

        fund, errors = await on_record(info, input.id, TYPE_NAME, update)
        return UpdateFundPayload(fund=Fund.from_row(fund) if fund else None, errors=errors)

    @strawberry.mutation(
        description=(
            "Soft-delete a fund: it vanishes from every query. Refused with HAS_DEPENDENTS while "
            "it has live investments (delete those first); NOT_FOUND when there is no live fund "
            "with this ID (also when it is already deleted)."
        ),
        extensions=[allow(*WRITERS)],
    )
    async def delete_fund(
        self, info: Info[Context, None], input: Annotated[DeleteFundInput, INPUT]
    ) -> DeleteFundPayload:
        fund, errors = await on_record(info, input.id, TYPE_NAME, deletion.delete_fund)
        return DeleteFundPayload(fund=Fund.from_row(fund) if fund else None, errors=errors)

    @strawberry.mutation(
        description=(
            "Restore a soft-deleted fund (its deleted investments stay deleted). NOT_FOUND when "
            "there is no deleted fund with this ID (also when it is live)."
        ),
        extensions=[allow(*WRITERS)],
    )
    async def restore_fund(
        self, info: Info[Context, None], input: Annotated[RestoreFundInput, INPUT]
    ) -> RestoreFundPayload:
        fund, errors = await on_record(info, input.id, TYPE_NAME, deletion.restore_fund)
        return RestoreFundPayload(fund=Fund.from_row(fund) if fund else None, errors=errors)
