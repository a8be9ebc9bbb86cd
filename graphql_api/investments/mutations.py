"""Investment mutations: open a unit of work, call the service, map domain errors."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import WRITERS
from graphql_api.db.session import UnitOfWork
from graphql_api.errors import DomainError
from graphql_api.idempotency import service as idempotency
from graphql_api.idempotency.service import KeyedRequest
from graphql_api.investments import batch, deletion
from graphql_api.investments import service as investment_service
from graphql_api.investments.batch import MAX_BATCH_SIZE, BatchOutcome
from graphql_api.investments.inputs import CreateInvestmentInput
from graphql_api.investments.service import Created
from graphql_api.investments.types import TYPE_NAME, Investment
from graphql_api.schema.context import Context
from graphql_api.schema.errors import UserError, bad_user_input, user_errors
from graphql_api.schema.loaders import Loaders
from graphql_api.schema.mutations import INPUT, in_unit_of_work, on_record
from graphql_api.schema.permissions import allow

IDEMPOTENCY_KEY = strawberry.argument(
    description=(
        "Optional key (1-255 printable characters, e.g. a UUID) that makes a retry safe: the "
        "same caller sending the same arguments with it within 24 hours gets the original "
        "result back and nothing new is committed; different arguments are refused with "
        "IDEMPOTENCY_KEY_REUSED."
    )
)
ATOMIC = strawberry.argument(
    description=(
        "True (the default; also when null): all or nothing; if any item is invalid, nothing "
        "is committed and the invalid items are reported. False: the valid items are "
        "committed, the invalid ones reported."
    )
)
INPUTS = strawberry.argument(
    description=(
        f"The commitments to make, at most {MAX_BATCH_SIZE}; each is checked as "
        "`createInvestment` checks it, in order (earlier items count against the hard cap)."
    )
)


def keyed_request(
    info: Info[Context, None], operation: str, key: str | None, canonical: object
) -> KeyedRequest | None:
    """The idempotency key of this request with whose it is, or None without a key."""
    if key is None:
        return None
    if (problem := idempotency.key_problem(key)) is not None:
        raise bad_user_input(f"`idempotencyKey` {problem}.", "idempotencyKey")
    context = info.context
    principal = context.principal
    return KeyedRequest(
        principal_kind=principal.kind.value,
        principal_id=idempotency.principal_key(principal.id, context.client_ip),
        operation=operation,
        key=key,
        request_hash=idempotency.request_hash(canonical),
    )


@strawberry.type(description="Result of `createInvestment`.")
class CreateInvestmentPayload:
    investment: Investment | None = strawberry.field(
        description="The new commitment; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(
        description="Why nothing was committed; empty on success."
    )
    replayed: bool = strawberry.field(
        default=False,
        description=(
            "True when `idempotencyKey` returned the commitment of an earlier, identical "
            "request (nothing new was committed)."
        ),
    )


@strawberry.type(description="One item of `createInvestments`, in the order of `inputs`.")
class CreateInvestmentsItemResult:
    index: int = strawberry.field(description="Position of the item in `inputs`, from 0.")
    investment: Investment | None = strawberry.field(
        description="The commitment made for this item; null when it was not committed."
    )
    errors: list[UserError] = strawberry.field(
        description=(
            "Why this item was not committed; each field path starts with its index: "
            '["inputs", "3", "amountUsd"]. Empty for a valid item (which an atomic batch '
            "with invalid items still does not commit)."
        )
    )


@strawberry.type(description="Result of `createInvestments`.")
class CreateInvestmentsPayload:
    results: list[CreateInvestmentsItemResult] = strawberry.field(
        description=(
            "One entry per input, in input order; empty when the request was refused as a "
            "whole (IDEMPOTENCY_KEY_REUSED)."
        )
    )
    investments: list[Investment] = strawberry.field(
        description="The commitments made, in input order."
    )
    errors: list[UserError] = strawberry.field(
        description=(
            "Every item's errors (paths start with the item's index), plus errors about the "
            "request as a whole (IDEMPOTENCY_KEY_REUSED); empty when every item was committed."
        )
    )
    replayed: bool = strawberry.field(
        description=(
            "True when `idempotencyKey` returned the result of an earlier, identical request "
            "(nothing new was committed)."
        )
    )


def batch_payload(
    outcome: BatchOutcome | None, errors: list[UserError], size: int, loaders: Loaders
) -> CreateInvestmentsPayload:
    """The payload of a batch that ran (`outcome`) or was refused as a whole (`errors`)."""
    if outcome is None:
        by_item: dict[int, list[UserError]] = defaultdict(list)
        for error in errors:
            if error.field and len(error.field) > 1 and error.field[0] == "inputs":
                by_item[int(error.field[1])].append(error)
        results = [
            CreateInvestmentsItemResult(index=index, investment=None, errors=by_item.get(index, []))
            for index in range(size)
        ]
        return CreateInvestmentsPayload(
            results=results if by_item else [], investments=[], errors=errors, replayed=False
        )
    results = []
    for index, item in enumerate(outcome.items):
        investment = Investment.from_row(item.investment, loaders) if item.investment else None
        item_errors = user_errors(DomainError(item.violations), ()) if item.violations else []
        results.append(
            CreateInvestmentsItemResult(index=index, investment=investment, errors=item_errors)
        )
    return CreateInvestmentsPayload(
        results=results,
        investments=[result.investment for result in results if result.investment is not None],
        errors=[error for result in results for error in result.errors],
        replayed=outcome.replayed,
    )


@strawberry.input(description="The investment to soft-delete.")
class DeleteInvestmentInput:
    id: strawberry.ID = strawberry.field(description="The investment's global ID.")


@strawberry.input(description="The investment to restore.")
class RestoreInvestmentInput:
    id: strawberry.ID = strawberry.field(description="The investment's global ID.")


@strawberry.type(description="Result of `deleteInvestment`.")
class DeleteInvestmentPayload:
    investment: Investment | None = strawberry.field(
        description="The investment as deleted; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `restoreInvestment`.")
class RestoreInvestmentPayload:
    investment: Investment | None = strawberry.field(
        description="The investment as restored; null when `errors` is not empty."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


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
        keyed = keyed_request(info, "createInvestment", input.idempotency_key, input.canonical())

        async def create(uow: UnitOfWork) -> Created:
            return await investment_service.create_investment_once(
                uow.session, input.to_new_investment(), today=context.today(), keyed=keyed
            )

        created, errors = await in_unit_of_work(info, create)
        return CreateInvestmentPayload(
            investment=Investment.from_row(created.investment, context.loaders)
            if created
            else None,
            errors=errors,
            replayed=created.replayed if created else False,
        )

    @strawberry.mutation(
        extensions=[allow(*WRITERS)],
        description=(
            f"Make up to {MAX_BATCH_SIZE} commitments in one request and a handful of database "
            "round trips. Each item is checked as `createInvestment` checks it and gets its own "
            "result; `atomic` decides whether invalid items stop the whole batch."
        ),
    )
    async def create_investments(
        self,
        info: Info[Context, None],
        inputs: Annotated[list[CreateInvestmentInput], INPUTS],
        atomic: Annotated[bool | None, ATOMIC] = True,
        idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
    ) -> CreateInvestmentsPayload:
        if len(inputs) > MAX_BATCH_SIZE:
            raise bad_user_input(
                f"`inputs` accepts at most {MAX_BATCH_SIZE} items (got {len(inputs)}); "
                "split the batch.",
                "inputs",
            )
        if any(item.idempotency_key is not None for item in inputs):
            raise bad_user_input(
                "Items of `inputs` take no `idempotencyKey`: give `createInvestments` its own.",
                "inputs",
            )
        all_or_nothing = atomic is not False  # null means the default
        canonical = {"atomic": all_or_nothing, "inputs": [item.canonical() for item in inputs]}
        keyed = keyed_request(info, "createInvestments", idempotency_key, canonical)
        items = [item.to_new_investment() for item in inputs]
        context = info.context

        async def create(uow: UnitOfWork) -> BatchOutcome:
            return await batch.create_investments(
                uow.session, items, atomic=all_or_nothing, today=context.today(), keyed=keyed
            )

        outcome, errors = await in_unit_of_work(info, create, input_path=())
        return batch_payload(outcome, errors, len(inputs), context.loaders)

    @strawberry.mutation(
        description=(
            "Soft-delete a commitment: it vanishes from every query and its amount no longer "
            "counts towards the fund's committed total. NOT_FOUND when there is no live investment"
            " with this ID (also when it is already deleted)."
        ),
        extensions=[allow(*WRITERS)],
    )
    async def delete_investment(
        self, info: Info[Context, None], input: Annotated[DeleteInvestmentInput, INPUT]
    ) -> DeleteInvestmentPayload:
        investment, errors = await on_record(info, input.id, TYPE_NAME, deletion.delete_investment)
        return DeleteInvestmentPayload(
            investment=Investment.from_row(investment, info.context.loaders)
            if investment
            else None,
            errors=errors,
        )

    @strawberry.mutation(
        description=(
            "Restore a soft-deleted commitment. Its fund and investor must be live, and its amount"
            " is reserved again as for a new commitment (FUND_CLOSED, HARD_CAP_EXCEEDED). "
            "NOT_FOUND when there is no deleted investment with this ID (also when it is live)."
        ),
        extensions=[allow(*WRITERS)],
    )
    async def restore_investment(
        self, info: Info[Context, None], input: Annotated[RestoreInvestmentInput, INPUT]
    ) -> RestoreInvestmentPayload:
        investment, errors = await on_record(info, input.id, TYPE_NAME, deletion.restore_investment)
        return RestoreInvestmentPayload(
            investment=Investment.from_row(investment, info.context.loaders)
            if investment
            else None,
            errors=errors,
        )
