"""`orderBy`: every field in both directions, several terms, ties broken by id, term limits.

The seeds repeat values on purpose (names, years, sizes, dates, amounts) so
that ties occur within a page and across page boundaries. Walks use pages of
three to cross many boundaries.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.session import Database
from tests.factories import gid
from tests.pagination.seed import (
    create_funds,
    create_investments,
    create_investors,
    expected_order,
    load_all,
    touch_funds,
    touch_investors,
)
from tests.pagination.walk import (
    FUND_INVESTMENTS,
    FUNDS,
    INVESTMENTS,
    INVESTOR_INVESTMENTS,
    INVESTORS,
    Connection,
    bad_user_input,
    fetch_page,
    visited,
    visited_backward,
    walk_backward,
    walk_forward,
)

FUND_FIELDS = {
    "NAME": "name",
    "VINTAGE_YEAR": "vintage_year",
    "TARGET_SIZE_USD": "target_size_usd",
    "CREATED_AT": "created_at",
    "UPDATED_AT": "updated_at",
}
INVESTOR_FIELDS = {
    "NAME": "name",
    "EMAIL": "email",
    "CREATED_AT": "created_at",
    "UPDATED_AT": "updated_at",
}
INVESTMENT_FIELDS = {
    "INVESTMENT_DATE": "investment_date",
    "AMOUNT_USD": "amount_usd",
    "CREATED_AT": "created_at",
}
DIRECTIONS = ["ASC", "DESC"]
# Every field is walked page by page: money fields once repeated rows forever,
# because row-value keyset bounds were bound in dollars against cents.
WALKABLE_FUND_FIELDS = list(FUND_FIELDS)
WALKABLE_INVESTMENT_FIELDS = list(INVESTMENT_FIELDS)


def _order_by(*terms: tuple[str, str]) -> dict[str, Any]:
    return {"orderBy": [{"field": field, "direction": direction} for field, direction in terms]}


def _terms(fields: dict[str, str], *terms: tuple[str, str]) -> list[tuple[str, bool]]:
    return [(fields[field], direction == "DESC") for field, direction in terms]


async def _seed_funds(db: Database) -> list[Fund]:
    """Thirteen funds with repeated names, years and sizes; some changed in a shuffled order."""
    names = ["Fund B", "Fund A", "Fund C"]
    years = [2019, 2021, 2019, 2020]
    sizes = ["2500000.50", "1000000.00", "750000.25", "1000000.00", "99000000.00"]
    funds = await create_funds(
        db,
        [
            {
                "name": names[index % 3],
                "vintage_year": years[index % 4],
                "target_size_usd": Decimal(sizes[index % 5]),
            }
            for index in range(13)
        ],
    )
    await touch_funds(db, [funds[index] for index in (7, 2, 11, 0, 5)])
    return await load_all(db, Fund)


async def _seed_investors(db: Database) -> list[Investor]:
    names = ["Investor B", "Investor A", "Investor C"]
    emails = [f"lp{number:02d}@example.com" for number in (7, 3, 11, 1, 9, 5, 2, 10, 4, 8, 6)]
    investors = await create_investors(
        db, [{"name": names[index % 3], "email": email} for index, email in enumerate(emails)]
    )
    await touch_investors(db, [investors[index] for index in (4, 9, 1)])
    return await load_all(db, Investor)


async def _seed_investments(db: Database) -> tuple[Fund, Investor, list[Investment]]:
    """Fifteen commitments (14 to one fund, 8 by one investor) with repeated dates and amounts."""
    funds = await create_funds(db, [{"name": "Fund A"}, {"name": "Fund B"}])
    investors = await create_investors(db, [{}, {}])
    dates = [date(2024, 5, 2), date(2023, 11, 30), date(2024, 5, 2), date(2024, 1, 1)]
    amounts = ["500.00", "1250.75", "500.00", "80000.00", "0.01"]
    await create_investments(
        db,
        [
            (
                funds[index % 8 == 7],
                investors[index % 2],
                {"investment_date": dates[index % 4], "amount_usd": Decimal(amounts[index % 5])},
            )
            for index in range(15)
        ],
    )
    return funds[0], investors[0], await load_all(db, Investment)


async def _full_page(
    client: httpx.AsyncClient, connection: Connection, variables: dict[str, Any]
) -> list[str]:
    return (await fetch_page(client, connection, {**variables, "first": 100})).ids


class TestFundOrdering:
    @pytest.mark.parametrize("direction", DIRECTIONS)
    @pytest.mark.parametrize("field", list(FUND_FIELDS))
    async def test_orders_by_each_field_with_ties_broken_by_id(
        self, client: httpx.AsyncClient, db: Database, field: str, direction: str
    ) -> None:
        # Given funds with repeated values in every field
        funds = await _seed_funds(db)

        # When they are listed in one page ordered by the field
        ids = await _full_page(client, FUNDS, _order_by((field, direction)))

        # Then they come in that order, ties by id in the same direction
        assert ids == expected_order(funds, _terms(FUND_FIELDS, (field, direction)))

    @pytest.mark.parametrize("direction", DIRECTIONS)
    @pytest.mark.parametrize("field", WALKABLE_FUND_FIELDS)
    async def test_paging_by_each_field_visits_every_fund_once_in_order(
        self, client: httpx.AsyncClient, db: Database, field: str, direction: str
    ) -> None:
        funds = await _seed_funds(db)

        pages = await walk_forward(client, FUNDS, 3, _order_by((field, direction)))

        assert visited(pages) == expected_order(funds, _terms(FUND_FIELDS, (field, direction)))

    @pytest.mark.parametrize(
        "terms",
        [
            (("VINTAGE_YEAR", "DESC"), ("NAME", "ASC")),
            (("NAME", "ASC"), ("VINTAGE_YEAR", "DESC")),
            (("TARGET_SIZE_USD", "DESC"), ("NAME", "ASC")),
            (("NAME", "DESC"), ("TARGET_SIZE_USD", "ASC"), ("UPDATED_AT", "DESC")),
            (("VINTAGE_YEAR", "ASC"), ("NAME", "ASC")),
            (("NAME", "DESC"), ("VINTAGE_YEAR", "DESC"), ("CREATED_AT", "DESC")),
        ],
        ids=lambda terms: "-".join(f"{field}_{direction}" for field, direction in terms),
    )
    async def test_paging_by_several_terms_visits_every_fund_once_in_order(
        self, client: httpx.AsyncClient, db: Database, terms: tuple[tuple[str, str], ...]
    ) -> None:
        # Given funds where the first term ties often
        funds = await _seed_funds(db)

        # When a client pages through them ordered by several terms
        pages = await walk_forward(client, FUNDS, 3, _order_by(*terms))

        # Then the order is lexicographic over the terms, then by id
        assert visited(pages) == expected_order(funds, _terms(FUND_FIELDS, *terms))

    async def test_paging_backward_by_mixed_directions_visits_every_fund_once_in_reverse(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await _seed_funds(db)
        terms = (("VINTAGE_YEAR", "DESC"), ("NAME", "ASC"))

        pages = await walk_backward(client, FUNDS, 3, _order_by(*terms))

        expected = expected_order(funds, _terms(FUND_FIELDS, *terms))
        assert visited_backward(pages) == list(reversed(expected))

    async def test_a_repeated_term_is_ignored_after_its_first_use(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await _seed_funds(db)
        terms = (("NAME", "DESC"), ("VINTAGE_YEAR", "ASC"), ("NAME", "ASC"))

        pages = await walk_forward(client, FUNDS, 3, _order_by(*terms))

        expected = expected_order(
            funds, _terms(FUND_FIELDS, ("NAME", "DESC"), ("VINTAGE_YEAR", "ASC"))
        )
        assert visited(pages) == expected

    async def test_the_direction_defaults_to_ascending(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await _seed_funds(db)

        ids = await _full_page(client, FUNDS, {"orderBy": [{"field": "VINTAGE_YEAR"}]})

        assert ids == expected_order(funds, [("vintage_year", False)])

    async def test_five_terms_are_accepted(self, client: httpx.AsyncClient, db: Database) -> None:
        funds = await _seed_funds(db)
        terms = tuple((field, "DESC") for field in FUND_FIELDS)

        ids = await _full_page(client, FUNDS, _order_by(*terms))

        assert ids == expected_order(funds, _terms(FUND_FIELDS, *terms))

    async def test_more_than_five_terms_are_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        terms = (*((field, "ASC") for field in FUND_FIELDS), ("NAME", "DESC"))

        error = await bad_user_input(client, FUNDS[0], {"first": 5, **_order_by(*terms)})

        assert "orderBy" in error["message"]
        assert error["path"] == ["funds"]


class TestInvestorOrdering:
    @pytest.mark.parametrize("direction", DIRECTIONS)
    @pytest.mark.parametrize("field", list(INVESTOR_FIELDS))
    async def test_paging_by_each_field_visits_every_investor_once_in_order(
        self, client: httpx.AsyncClient, db: Database, field: str, direction: str
    ) -> None:
        investors = await _seed_investors(db)

        pages = await walk_forward(client, INVESTORS, 3, _order_by((field, direction)))

        expected = expected_order(investors, _terms(INVESTOR_FIELDS, (field, direction)))
        assert visited(pages) == expected

    @pytest.mark.parametrize(
        "terms",
        [
            (("NAME", "ASC"), ("EMAIL", "DESC")),
            (("NAME", "DESC"), ("UPDATED_AT", "ASC")),
            (("NAME", "DESC"), ("CREATED_AT", "DESC")),
        ],
        ids=lambda terms: "-".join(f"{field}_{direction}" for field, direction in terms),
    )
    async def test_paging_by_several_terms_visits_every_investor_once_in_order(
        self, client: httpx.AsyncClient, db: Database, terms: tuple[tuple[str, str], ...]
    ) -> None:
        investors = await _seed_investors(db)

        pages = await walk_forward(client, INVESTORS, 3, _order_by(*terms))

        assert visited(pages) == expected_order(investors, _terms(INVESTOR_FIELDS, *terms))

    async def test_more_than_five_terms_are_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        terms = [("NAME", "ASC"), ("EMAIL", "ASC")] * 3

        error = await bad_user_input(client, INVESTORS[0], _order_by(*terms))

        assert error["path"] == ["investors"]


class TestInvestmentOrdering:
    @pytest.mark.parametrize("direction", DIRECTIONS)
    @pytest.mark.parametrize("field", list(INVESTMENT_FIELDS))
    async def test_orders_by_each_field_with_ties_broken_by_id(
        self, client: httpx.AsyncClient, db: Database, field: str, direction: str
    ) -> None:
        _, _, investments = await _seed_investments(db)

        ids = await _full_page(client, INVESTMENTS, _order_by((field, direction)))

        expected = expected_order(investments, _terms(INVESTMENT_FIELDS, (field, direction)))
        assert ids == expected

    @pytest.mark.parametrize("direction", DIRECTIONS)
    @pytest.mark.parametrize("field", WALKABLE_INVESTMENT_FIELDS)
    async def test_paging_by_each_field_visits_every_investment_once_in_order(
        self, client: httpx.AsyncClient, db: Database, field: str, direction: str
    ) -> None:
        _, _, investments = await _seed_investments(db)

        pages = await walk_forward(client, INVESTMENTS, 3, _order_by((field, direction)))

        expected = expected_order(investments, _terms(INVESTMENT_FIELDS, (field, direction)))
        assert visited(pages) == expected

    @pytest.mark.parametrize(
        "terms",
        [
            (("INVESTMENT_DATE", "DESC"), ("AMOUNT_USD", "ASC")),
            (("AMOUNT_USD", "DESC"), ("INVESTMENT_DATE", "ASC")),
            (("INVESTMENT_DATE", "ASC"), ("CREATED_AT", "ASC")),
        ],
        ids=lambda terms: "-".join(f"{field}_{direction}" for field, direction in terms),
    )
    async def test_paging_by_several_terms_visits_every_investment_once_in_order(
        self, client: httpx.AsyncClient, db: Database, terms: tuple[tuple[str, str], ...]
    ) -> None:
        _, _, investments = await _seed_investments(db)

        pages = await walk_forward(client, INVESTMENTS, 3, _order_by(*terms))

        assert visited(pages) == expected_order(investments, _terms(INVESTMENT_FIELDS, *terms))

    @pytest.mark.parametrize(
        "terms",
        [
            (("AMOUNT_USD", "DESC"), ("INVESTMENT_DATE", "ASC")),
            (("INVESTMENT_DATE", "DESC"),),
        ],
        ids=lambda terms: "-".join(f"{field}_{direction}" for field, direction in terms),
    )
    async def test_paging_a_funds_investments_follows_the_requested_order(
        self, client: httpx.AsyncClient, db: Database, terms: tuple[tuple[str, str], ...]
    ) -> None:
        fund, _, investments = await _seed_investments(db)
        own = [row for row in investments if row.fund_id == fund.id]

        pages = await walk_forward(
            client, FUND_INVESTMENTS, 3, {"id": gid(fund), **_order_by(*terms)}
        )

        assert visited(pages) == expected_order(own, _terms(INVESTMENT_FIELDS, *terms))
        assert len(own) == 14

    async def test_paging_an_investors_investments_follows_the_requested_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        _, investor, investments = await _seed_investments(db)
        own = [row for row in investments if row.investor_id == investor.id]
        terms = (("INVESTMENT_DATE", "ASC"), ("AMOUNT_USD", "DESC"))

        pages = await walk_forward(
            client, INVESTOR_INVESTMENTS, 3, {"id": gid(investor), **_order_by(*terms)}
        )

        assert visited(pages) == expected_order(own, _terms(INVESTMENT_FIELDS, *terms))

    @pytest.mark.parametrize("connection", [INVESTMENTS, FUND_INVESTMENTS])
    async def test_more_than_five_terms_are_refused(
        self, client: httpx.AsyncClient, db: Database, connection: Connection
    ) -> None:
        fund, _, _ = await _seed_investments(db)
        terms = [("AMOUNT_USD", "ASC"), ("CREATED_AT", "DESC")] * 3

        error = await bad_user_input(
            client, connection[0], {"id": gid(fund), "first": 2, **_order_by(*terms)}
        )

        assert "orderBy" in error["message"]
