"""Relay connections: paging forward and backward visits every row once, with a right pageInfo."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import httpx

from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.session import Database
from tests.factories import gid
from tests.graphql import data_of
from tests.pagination.seed import (
    create_funds,
    create_investments,
    create_investors,
    expected_order,
    load_all,
)
from tests.pagination.walk import (
    FUND_INVESTMENTS,
    FUNDS,
    INVESTMENTS,
    INVESTOR_INVESTMENTS,
    INVESTORS,
    fetch_page,
    visited,
    visited_backward,
    walk_backward,
    walk_forward,
)

BY_NAME = {"orderBy": [{"field": "NAME"}]}
BY_INVESTMENT_DATE = {"orderBy": [{"field": "INVESTMENT_DATE"}]}

FUNDS_WITH_INVESTMENTS = """
query FundsWithInvestments($first: Int!, $after: String) {
  funds(orderBy: [{field: NAME}]) {
    nodes {
      name
      investments(first: $first, after: $after, orderBy: [{field: INVESTMENT_DATE}]) {
        totalCount
        edges { cursor node { id fund { name } } }
        pageInfo { hasNextPage hasPreviousPage endCursor }
      }
    }
  }
}
"""


async def _seed_37_funds_in_shuffled_order(db: Database) -> list[Fund]:
    """Funds named Fund 001..Fund 037 (one letter case), created in a shuffled order."""
    names = [f"Fund {number:03d}" for number in range(1, 38)]
    random.Random(37).shuffle(names)
    return await create_funds(db, [{"name": name} for name in names])


def _by_name(records: list[Fund] | list[Investor]) -> list[str]:
    return [gid(record) for record in sorted(records, key=lambda record: record.name)]


async def _seed_investments(db: Database, count: int) -> tuple[list[Fund], list[Investor]]:
    """`count` commitments to a first fund by two investors (dates with ties), one elsewhere."""
    funds = await create_funds(db, [{"name": "Fund A"}, {"name": "Fund B"}])
    investors = await create_investors(db, [{}, {}])
    dates = [date(2024, 1, day) for day in (9, 3, 27, 3, 14, 9)]
    await create_investments(
        db,
        [
            (
                funds[0],
                investors[index % 2],
                {"investment_date": dates[index % len(dates)], "amount_usd": Decimal(index + 1)},
            )
            for index in range(count)
        ]
        + [(funds[1], investors[0], {"investment_date": date(2024, 1, 1)})],
    )
    return funds, investors


class TestFundsConnection:
    async def test_forward_paging_visits_every_fund_once_in_name_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given 37 funds whose creation order differs from their name order
        funds = await _seed_37_funds_in_shuffled_order(db)

        # When a client walks them by name, five at a time
        pages = await walk_forward(client, FUNDS, 5, BY_NAME)

        # Then it sees every fund exactly once, in name order, in full pages but the last
        assert visited(pages) == _by_name(funds)
        assert [len(page.ids) for page in pages] == [5] * 7 + [2]

    async def test_forward_paging_without_order_follows_creation_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await _seed_37_funds_in_shuffled_order(db)
        expected = expected_order(await load_all(db, Fund), [("created_at", False)])

        pages = await walk_forward(client, FUNDS, 4)

        assert visited(pages) == expected

    async def test_backward_paging_from_the_end_visits_every_fund_once_in_reverse(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await _seed_37_funds_in_shuffled_order(db)

        pages = await walk_backward(client, FUNDS, 5, BY_NAME)

        assert visited_backward(pages) == list(reversed(_by_name(funds)))
        assert [len(page.ids) for page in pages] == [5] * 7 + [2]

    async def test_page_info_on_the_first_middle_and_last_pages(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await _seed_37_funds_in_shuffled_order(db)

        first, *middle, last = await walk_forward(client, FUNDS, 5, BY_NAME)

        assert (first.has_previous_page, first.has_next_page) == (False, True)
        assert all((page.has_previous_page, page.has_next_page) == (True, True) for page in middle)
        assert (last.has_previous_page, last.has_next_page) == (True, False)
        for page in (first, *middle, last):
            assert page.start_cursor == page.cursors[0]
            assert page.end_cursor == page.cursors[-1]
            assert page.total_count == 37

    async def test_page_info_when_paging_backward(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await _seed_37_funds_in_shuffled_order(db)

        last, *middle, first = await walk_backward(client, FUNDS, 5, BY_NAME)

        assert (last.has_previous_page, last.has_next_page) == (True, False)
        assert all((page.has_previous_page, page.has_next_page) == (True, True) for page in middle)
        assert (first.has_previous_page, first.has_next_page) == (False, True)
        assert all(page.start_cursor == page.cursors[0] for page in (last, *middle, first))
        assert all(page.end_cursor == page.cursors[-1] for page in (last, *middle, first))

    async def test_a_page_that_holds_everything_has_no_neighbours(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await create_funds(db, [{}, {}, {}])

        page = await fetch_page(client, FUNDS, {"first": 3})

        assert page.ids == [gid(fund) for fund in funds]
        assert (page.has_previous_page, page.has_next_page) == (False, False)

    async def test_first_zero_returns_an_empty_page_that_says_more_exist(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_funds(db, [{}, {}])

        page = await fetch_page(client, FUNDS, {"first": 0})

        assert page.ids == []
        assert page.has_next_page is True
        assert (page.start_cursor, page.end_cursor) == (None, None)
        assert page.total_count == 2

    async def test_first_zero_on_an_empty_list_says_nothing_more_exists(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        page = await fetch_page(client, FUNDS, {"first": 0})

        assert page.ids == []
        assert (page.has_previous_page, page.has_next_page) == (False, False)
        assert page.total_count == 0

    async def test_an_empty_list_is_an_empty_page_without_cursors(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        page = await fetch_page(client, FUNDS, {"first": 5})

        assert page.ids == []
        assert (page.has_previous_page, page.has_next_page) == (False, False)
        assert (page.start_cursor, page.end_cursor) == (None, None)

    async def test_nodes_lists_the_same_funds_as_edges(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await _seed_37_funds_in_shuffled_order(db)

        pages = await walk_forward(client, FUNDS, 10, BY_NAME)

        assert all(page.node_ids == page.ids for page in pages)


class TestInvestorsConnection:
    async def test_forward_paging_visits_every_investor_once_in_name_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        names = [f"Investor {number:03d}" for number in range(1, 18)]
        random.Random(17).shuffle(names)
        investors = await create_investors(db, [{"name": name} for name in names])

        pages = await walk_forward(client, INVESTORS, 4, BY_NAME)

        assert visited(pages) == _by_name(investors)
        assert [len(page.ids) for page in pages] == [4, 4, 4, 4, 1]

    async def test_backward_paging_visits_every_investor_once_in_reverse_creation_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investors(db, [{} for _ in range(17)])
        expected = expected_order(await load_all(db, Investor), [("created_at", False)])

        pages = await walk_backward(client, INVESTORS, 4)

        assert visited_backward(pages) == list(reversed(expected))


class TestInvestmentsConnection:
    async def test_forward_paging_visits_every_investment_once_in_date_order(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given investments whose dates tie (ties are broken by id)
        await _seed_investments(db, 14)
        expected = expected_order(await load_all(db, Investment), [("investment_date", False)])

        pages = await walk_forward(client, INVESTMENTS, 4, BY_INVESTMENT_DATE)

        assert visited(pages) == expected
        assert {page.total_count for page in pages} == {15}

    async def test_backward_paging_visits_every_investment_once_in_reverse(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await _seed_investments(db, 14)
        expected = expected_order(await load_all(db, Investment), [("investment_date", False)])

        pages = await walk_backward(client, INVESTMENTS, 4, BY_INVESTMENT_DATE)

        assert visited_backward(pages) == list(reversed(expected))


class TestFundInvestmentsConnection:
    async def test_forward_paging_visits_each_of_the_funds_investments_once(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund with 13 commitments, and another fund with one of its own
        funds, _ = await _seed_investments(db, 13)
        own = [row for row in await load_all(db, Investment) if row.fund_id == funds[0].id]

        # When a client pages through the first fund's investments
        pages = await walk_forward(
            client, FUND_INVESTMENTS, 3, {"id": gid(funds[0]), **BY_INVESTMENT_DATE}
        )

        # Then it sees exactly that fund's commitments, in date order, once each
        assert visited(pages) == expected_order(own, [("investment_date", False)])
        assert {page.total_count for page in pages} == {13}
        assert (pages[0].has_previous_page, pages[-1].has_next_page) == (False, False)

    async def test_backward_paging_visits_each_of_the_funds_investments_once_in_reverse(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds, _ = await _seed_investments(db, 13)
        own = [row for row in await load_all(db, Investment) if row.fund_id == funds[0].id]

        pages = await walk_backward(
            client, FUND_INVESTMENTS, 3, {"id": gid(funds[0]), **BY_INVESTMENT_DATE}
        )

        expected = expected_order(own, [("investment_date", False)])
        assert visited_backward(pages) == list(reversed(expected))

    async def test_every_fund_in_a_list_gets_its_own_page(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given two funds with 13 and 1 commitments
        funds, _ = await _seed_investments(db, 13)
        rows = await load_all(db, Investment)

        # When one query lists both funds with their first page of two
        data = await data_of(client, FUNDS_WITH_INVESTMENTS, {"first": 2})

        # Then each fund has its own first page, count and pageInfo
        fund_a, fund_b = data["funds"]["nodes"]
        order_a = expected_order(
            [row for row in rows if row.fund_id == funds[0].id], [("investment_date", False)]
        )
        assert [edge["node"]["id"] for edge in fund_a["investments"]["edges"]] == order_a[:2]
        assert {edge["node"]["fund"]["name"] for edge in fund_a["investments"]["edges"]} == {
            "Fund A"
        }
        assert fund_a["investments"]["totalCount"] == 13
        assert fund_a["investments"]["pageInfo"]["hasNextPage"] is True
        assert len(fund_b["investments"]["edges"]) == 1
        assert fund_b["investments"]["totalCount"] == 1
        assert fund_b["investments"]["pageInfo"]["hasNextPage"] is False


class TestInvestorInvestmentsConnection:
    async def test_forward_paging_visits_each_of_the_investors_investments_once(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an investor with seven of 13 commitments to one fund and one to another
        _, investors = await _seed_investments(db, 13)
        own = [row for row in await load_all(db, Investment) if row.investor_id == investors[0].id]

        pages = await walk_forward(
            client, INVESTOR_INVESTMENTS, 3, {"id": gid(investors[0]), **BY_INVESTMENT_DATE}
        )

        assert visited(pages) == expected_order(own, [("investment_date", False)])
        assert {page.total_count for page in pages} == {8}

    async def test_backward_paging_visits_each_of_the_investors_investments_once_in_reverse(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        _, investors = await _seed_investments(db, 13)
        own = [row for row in await load_all(db, Investment) if row.investor_id == investors[1].id]

        pages = await walk_backward(client, INVESTOR_INVESTMENTS, 2, {"id": gid(investors[1])})

        expected = expected_order(own, [("created_at", False)])
        assert visited_backward(pages) == list(reversed(expected))
        assert len(expected) == 6
