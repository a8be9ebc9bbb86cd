"""Seeding for the paging tests: many records in one transaction, and the orders to expect.

Records are created through the services (so every rule holds) but in a single
unit of work, which keeps a 37-row seed fast on both back ends. The expected
order of a list is computed in Python from the records read back, with the
tie-breaker the API documents: `id`, in the direction of the last sort term.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select

from graphql_api.db.models import Fund, FundStatus, Investment, Investor, InvestorType
from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from graphql_api.investments import service as investment_service
from graphql_api.investors import service as investor_service
from tests.factories import gid, today

RecordT = TypeVar("RecordT", Fund, Investor, Investment)
_emails = itertools.count(1)


async def create_funds(db: Database, specs: Sequence[Mapping[str, Any]]) -> list[Fund]:
    """One fund per spec (fields of `NewFund`), created in the order given."""
    funds = []
    async with db.unit_of_work() as uow:
        for number, spec in enumerate(specs, start=1):
            values: dict[str, Any] = {
                "name": f"Fund {number:03d}",
                "vintage_year": 2020,
                "target_size_usd": Decimal("1000000.00"),
            } | dict(spec)
            new = fund_service.NewFund(**values)
            funds.append(await fund_service.create_fund(uow.session, new, today=today()))
    return funds


async def create_investors(db: Database, specs: Sequence[Mapping[str, Any]]) -> list[Investor]:
    """One investor per spec (fields of `NewInvestor`), created in the order given."""
    investors = []
    async with db.unit_of_work() as uow:
        for number, spec in enumerate(specs, start=1):
            values: dict[str, Any] = {
                "name": f"Investor {number:03d}",
                "investor_type": InvestorType.INSTITUTION,
                "email": f"seeded{next(_emails):05d}@example.com",
            } | dict(spec)
            new = investor_service.NewInvestor(**values)
            investors.append(await investor_service.create_investor(uow.session, new))
    return investors


async def create_investments(
    db: Database, specs: Sequence[tuple[Fund, Investor, Mapping[str, Any]]]
) -> list[Investment]:
    """One commitment per (fund, investor, fields) spec, created in the order given."""
    investments = []
    async with db.unit_of_work() as uow:
        for fund, investor, spec in specs:
            values: dict[str, Any] = {
                "fund_id": fund.id,
                "investor_id": investor.id,
                "amount_usd": Decimal("1000.00"),
                "investment_date": date(2024, 1, 15),
            } | dict(spec)
            new = investment_service.NewInvestment(**values)
            investments.append(
                await investment_service.create_investment(uow.session, new, today=today())
            )
    return investments


async def touch_funds(db: Database, funds: Sequence[Fund]) -> None:
    """Change each fund, one after the other, so `updatedAt` follows this order."""
    async with db.unit_of_work() as uow:
        for fund in funds:
            changes = fund_service.FundChanges(status=FundStatus.INVESTING)
            await fund_service.update_fund(
                uow.session, fund.id, changes, expected_version=None, today=today()
            )


async def touch_investors(db: Database, investors: Sequence[Investor]) -> None:
    """Change each investor, one after the other, so `updatedAt` follows this order."""
    async with db.unit_of_work() as uow:
        for investor in investors:
            changes = investor_service.InvestorChanges(investor_type=InvestorType.FAMILY_OFFICE)
            await investor_service.update_investor(
                uow.session, investor.id, changes, expected_version=None
            )


async def load_all(db: Database, model: type[RecordT]) -> list[RecordT]:
    """Every record of a model as stored (timestamps as the database keeps them)."""
    async with db.read_session() as session:
        return list((await session.execute(select(model))).scalars().all())


def expected_order(records: Sequence[RecordT], terms: Sequence[tuple[str, bool]]) -> list[str]:
    """Global IDs in the order `terms` ((attribute, descending), ...) asks for.

    Ties are broken by `id` in the direction of the last term; Python's sort is
    stable, so sorting by the least significant key first gives the full order.
    """
    last_descending = terms[-1][1]
    ordered = sorted(records, key=lambda record: record.id, reverse=last_descending)
    for attribute, descending in reversed(terms):
        ordered = sorted(ordered, key=lambda record: getattr(record, attribute), reverse=descending)
    return [gid(record) for record in ordered]
