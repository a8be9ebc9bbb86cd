"""Small async factories: valid records through the services, overridable per test."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from graphql_api.db.models import Fund, Investment, Investor, InvestorType
from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from graphql_api.investments import service as investment_service
from graphql_api.investors import service as investor_service
from graphql_api.schema.ids import to_global_id

_sequence = itertools.count(1)


def today() -> date:
    return datetime.now(UTC).date()


async def create_fund(db: Database, **overrides: Any) -> Fund:
    number = next(_sequence)
    values: dict[str, Any] = {
        "name": f"Fund {number:05d}",
        "vintage_year": 2020,
        "target_size_usd": Decimal("1000000.00"),
        "hard_cap_usd": None,
    } | overrides
    async with db.unit_of_work() as uow:
        return await fund_service.create_fund(
            uow.session, fund_service.NewFund(**values), today=today()
        )


async def create_investor(db: Database, **overrides: Any) -> Investor:
    number = next(_sequence)
    values: dict[str, Any] = {
        "name": f"Investor {number:05d}",
        "investor_type": InvestorType.INSTITUTION,
        "email": f"investor{number}@example.com",
    } | overrides
    async with db.unit_of_work() as uow:
        return await investor_service.create_investor(
            uow.session, investor_service.NewInvestor(**values)
        )


async def create_investment(
    db: Database, fund: Fund, investor: Investor, **overrides: Any
) -> Investment:
    values: dict[str, Any] = {
        "fund_id": fund.id,
        "investor_id": investor.id,
        "amount_usd": Decimal("1000.00"),
        "investment_date": date(2024, 1, 15),
    } | overrides
    async with db.unit_of_work() as uow:
        return await investment_service.create_investment(
            uow.session, investment_service.NewInvestment(**values), today=today()
        )


def gid(record: Fund | Investor | Investment) -> str:
    """The global ID of a record, as the API shows it."""
    return to_global_id(type(record).__name__, record.id)
