"""Investor mutations: open a unit of work, call the service, map domain errors."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from graphql_api.auth.principal import WRITERS
from graphql_api.db.models import Investor as InvestorModel
from graphql_api.db.session import UnitOfWork
from graphql_api.errors import DomainError
from graphql_api.investments import deletion
from graphql_api.investors import service as investor_service
from graphql_api.investors.inputs import CreateInvestorInput, UpdateInvestorInput
from graphql_api.investors.types import TYPE_NAME, Investor
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError, user_errors
from graphql_api.schema.mutations import INPUT, in_unit_of_work, on_record
from graphql_api.schema.permissions import allow


@strawberry.type(description="Result of `createInvestor`.")
class CreateInvestorPayload:
    investor: Investor | None = strawberry.field(
        description="The new investor; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing was created; empty on success."
    )


@strawberry.type(description="Result of `updateInvestor`.")
class UpdateInvestorPayload:
    investor: Investor | None = strawberry.field(
        description="The investor as changed; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.input(description="The investor to soft-delete.")
class DeleteInvestorInput:
    id: strawberry.ID = strawberry.field(description="The investor's global ID.")


@strawberry.input(description="The investor to restore.")
class RestoreInvestorInput:
    id: strawberry.ID = strawberry.field(description="The investor's global ID.")


@strawberry.type(description="Result of `deleteInvestor`.")
class DeleteInvestorPayload:
    investor: Investor | None = strawberry.field(
        description="The investor as deleted; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `restoreInvestor`.")
class RestoreInvestorPayload:
    investor: Investor | None = strawberry.field(
        description="The investor as restored; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type
class InvestorMutations:
    @strawberry.mutation(description="Create an investor.", extensions=[allow(*WRITERS)])
    async def create_investor(
        self,
        info: Info[Context, None],
        input: Annotated[CreateInvestorInput, INPUT],
    ) -> CreateInvestorPayload:
        async def create(uow: UnitOfWork) -> InvestorModel:
            return await investor_service.create_investor(uow.session, input.to_new_investor())

        investor, errors = await in_unit_of_work(info, create)
        return CreateInvestorPayload(
            investor=Investor.from_row(investor, info.context.viewer) if investor else None,
            errors=errors,
        )

    @strawberry.mutation(
        extensions=[allow(*WRITERS)],
        description="Change some fields of an investor; the others stay as they are.",
    )
    async def update_investor(
        self,
        info: Info[Context, None],
        input: Annotated[UpdateInvestorInput, INPUT],
    ) -> UpdateInvestorPayload:
        try:
            changes = input.to_changes()
        except DomainError as error:
            return UpdateInvestorPayload(investor=None, errors=user_errors(error))

        async def update(session: AsyncSession, key: uuid.UUID) -> InvestorModel:
            return await investor_service.update_investor(
                session, key, changes, expected_version=input.expected_version
            )

        investor, errors = await on_record(info, input.id, TYPE_NAME, update)
        return UpdateInvestorPayload(
            investor=Investor.from_row(investor, info.context.viewer) if investor else None,
            errors=errors,
        )

    @strawberry.mutation(
        description=(
            "Soft-delete an investor: it vanishes from every query. Refused with HAS_DEPENDENTS "
            "while it has live investments (delete those first); NOT_FOUND when there is no live "
            "investor with this ID (also when it is already deleted)."
        ),
        extensions=[allow(*WRITERS)],
    )
    async def delete_investor(
        self, info: Info[Context, None], input: Annotated[DeleteInvestorInput, INPUT]
    ) -> DeleteInvestorPayload:
        investor, errors = await on_record(info, input.id, TYPE_NAME, deletion.delete_investor)
        return DeleteInvestorPayload(
            investor=Investor.from_row(investor, info.context.viewer) if investor else None,
            errors=errors,
        )

    @strawberry.mutation(
        description=(
            "Restore a soft-deleted investor (its deleted investments stay deleted). NOT_FOUND "
            "when there is no deleted investor with this ID (also when it is live)."
        ),
        extensions=[allow(*WRITERS)],
    )
    async def restore_investor(
        self, info: Info[Context, None], input: Annotated[RestoreInvestorInput, INPUT]
    ) -> RestoreInvestorPayload:
        investor, errors = await on_record(info, input.id, TYPE_NAME, deletion.restore_investor)
        return RestoreInvestorPayload(
            investor=Investor.from_row(investor, info.context.viewer) if investor else None,
            errors=errors,
        )
