"""Keyset paging stays put while rows come and go: no row repeats, none is skipped.

Each test reads a first page, changes the data the way another user would, then
reads on from the first page's cursor. With OFFSET paging a row inserted or
deleted before the cursor would shift every later page by one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from sqlalchemy import text

from graphql_api.db.session import Database
from tests.factories import gid
from tests.pagination.seed import create_funds, create_investments, create_investors
from tests.pagination.walk import (
    FUND_INVESTMENTS,
    FUNDS,
    Connection,
    fetch_page,
)

BY_NAME = {"orderBy": [{"field": "NAME"}]}
BY_INVESTMENT_DATE = {"orderBy": [{"field": "INVESTMENT_DATE"}]}


async def _delete_fund_named(db: Database, name: str) -> None:
    """Delete behind the API's back, as another process would."""
    async with db.engine.begin() as connection:
        await connection.execute(text("DELETE FROM funds WHERE name = :name"), {"name": name})


async def _read_on(
    client: httpx.AsyncClient, connection: Connection, after: str | None, variables: dict[str, Any]
) -> list[str]:
    """The IDs on every page after `after`, five at a time."""
    ids: list[str] = []
    for _ in range(20):
        page = await fetch_page(client, connection, {**variables, "first": 5, "after": after})
        ids.extend(page.ids)
        if not page.has_next_page:
            return ids
        after = page.end_cursor
    raise AssertionError("paging did not end")


async def _read_back(
    client: httpx.AsyncClient, connection: Connection, before: str | None, variables: dict[str, Any]
) -> list[str]:
    """The IDs on every page before `before`, five at a time, in list order."""
    ids: list[str] = []
    for _ in range(20):
        page = await fetch_page(client, connection, {**variables, "last": 5, "before": before})
        ids = page.ids + ids
        if not page.has_previous_page:
            return ids
        before = page.start_cursor
    raise AssertionError("paging did not end")


async def _twenty_funds(db: Database) -> dict[str, str]:
    """Funds named Fund 001..Fund 020, as name → global ID."""
    funds = await create_funds(db, [{"name": f"Fund {n:03d}"} for n in range(20, 0, -1)])
    return {fund.name: gid(fund) for fund in funds}


def _ids(by_name: dict[str, str], numbers: range | list[int]) -> list[str]:
    return [by_name[f"Fund {number:03d}"] for number in numbers]


class TestPagingWhileRowsChange:
    async def test_a_row_inserted_before_the_cursor_neither_repeats_nor_shifts_later_pages(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a client that has read the first page of funds by name
        by_name = await _twenty_funds(db)
        first = await fetch_page(client, FUNDS, {**BY_NAME, "first": 5})
        assert first.ids == _ids(by_name, range(1, 6))

        # When a fund that sorts before the cursor is created
        await create_funds(db, [{"name": "Fund 002a"}])

        # Then the following pages are exactly the rows after the cursor
        rest = await _read_on(client, FUNDS, first.end_cursor, BY_NAME)
        assert rest == _ids(by_name, range(6, 21))

    async def test_a_row_inserted_after_the_cursor_is_seen_once_in_its_place(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        by_name = await _twenty_funds(db)
        first = await fetch_page(client, FUNDS, {**BY_NAME, "first": 5})

        [new] = await create_funds(db, [{"name": "Fund 012a"}])

        rest = await _read_on(client, FUNDS, first.end_cursor, BY_NAME)
        assert rest == [*_ids(by_name, range(6, 13)), gid(new), *_ids(by_name, range(13, 21))]

    async def test_rows_deleted_before_and_after_the_cursor_skip_no_other_row(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a client that has read the first page
        by_name = await _twenty_funds(db)
        first = await fetch_page(client, FUNDS, {**BY_NAME, "first": 5})

        # When one fund it has seen and one it has not are deleted
        await _delete_fund_named(db, "Fund 003")
        await _delete_fund_named(db, "Fund 014")

        # Then it reads on from where it was, missing only the deleted fund
        rest = await _read_on(client, FUNDS, first.end_cursor, BY_NAME)
        assert rest == _ids(by_name, [*range(6, 14), *range(15, 21)])

    async def test_deleting_the_row_under_the_cursor_still_continues_right_after_it(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        by_name = await _twenty_funds(db)
        first = await fetch_page(client, FUNDS, {**BY_NAME, "first": 5})

        await _delete_fund_named(db, "Fund 005")

        rest = await _read_on(client, FUNDS, first.end_cursor, BY_NAME)
        assert rest == _ids(by_name, range(6, 21))

    async def test_paging_backward_ignores_a_row_inserted_among_the_rows_already_seen(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a client that has read the last page (Fund 016..Fund 020)
        by_name = await _twenty_funds(db)
        last = await fetch_page(client, FUNDS, {**BY_NAME, "last": 5})
        assert last.ids == _ids(by_name, range(16, 21))

        # When a fund sorting among those is created, and one further back deleted
        await create_funds(db, [{"name": "Fund 018a"}])
        await _delete_fund_named(db, "Fund 010")

        # Then the earlier pages hold exactly the other funds before the cursor
        earlier = await _read_back(client, FUNDS, last.start_cursor, BY_NAME)
        assert earlier == _ids(by_name, [*range(1, 10), *range(11, 16)])

    async def test_a_nested_page_ignores_a_commitment_inserted_before_the_cursor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund with ten commitments on ten days, and a client past the first five
        [fund] = await create_funds(db, [{"name": "Fund A"}])
        [investor] = await create_investors(db, [{}])
        investments = await create_investments(
            db, [(fund, investor, {"investment_date": date(2024, 3, day)}) for day in range(1, 11)]
        )
        variables = {"id": gid(fund), **BY_INVESTMENT_DATE}
        first = await fetch_page(client, FUND_INVESTMENTS, {**variables, "first": 5})
        assert first.ids == [gid(row) for row in investments[:5]]

        # When a commitment dated before the cursor is made
        await create_investments(db, [(fund, investor, {"investment_date": date(2024, 2, 1)})])

        # Then the next page still starts right after the cursor
        rest = await _read_on(client, FUND_INVESTMENTS, first.end_cursor, variables)
        assert rest == [gid(row) for row in investments[5:]]
