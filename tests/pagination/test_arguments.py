"""Paging arguments: page-size limits, the default page, and cursors the server must refuse."""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.db.session import Database
from tests.factories import gid
from tests.graphql import execute
from tests.pagination.seed import create_funds, create_investments, create_investors
from tests.pagination.walk import (
    FUND_INVESTMENTS,
    FUNDS,
    INVESTMENTS,
    INVESTOR_INVESTMENTS,
    INVESTORS,
    Connection,
    bad_user_input,
    fetch_page,
)

CONNECTIONS = {
    "funds": FUNDS,
    "investors": INVESTORS,
    "investments": INVESTMENTS,
    "fund.investments": FUND_INVESTMENTS,
    "investor.investments": INVESTOR_INVESTMENTS,
}
BY_NAME = {"orderBy": [{"field": "NAME"}]}
BY_YEAR = {"orderBy": [{"field": "VINTAGE_YEAR"}]}


def _encode(payload: Any) -> str:
    """A cursor-shaped string around any JSON payload (how a tamperer would build one)."""
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _decode(cursor: str) -> Any:
    return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


async def _parents(db: Database) -> dict[str, str]:
    """A fund and an investor with one commitment, as `id` variables for nested connections."""
    [fund] = await create_funds(db, [{}])
    [investor] = await create_investors(db, [{}])
    await create_investments(db, [(fund, investor, {})])
    return {"fund.investments": gid(fund), "investor.investments": gid(investor)}


class TestPageSizeLimits:
    @pytest.mark.parametrize("name", list(CONNECTIONS))
    @pytest.mark.parametrize(
        "arguments",
        [{"first": 101}, {"last": 101}, {"first": -1}, {"last": -1}, {"first": 2, "last": 2}],
        ids=str,
    )
    async def test_a_size_out_of_range_or_both_first_and_last_are_refused(
        self, client: httpx.AsyncClient, db: Database, name: str, arguments: dict[str, int]
    ) -> None:
        # Given a list with something in it
        parents = await _parents(db)
        query, _ = CONNECTIONS[name]

        # When a client asks for a page size the server does not serve
        error = await bad_user_input(client, query, {"id": parents.get(name), **arguments})

        # Then it is told so, naming the argument, instead of getting a clamped page
        assert error["extensions"]["argument"] in arguments

    @pytest.mark.parametrize("arguments", [{"first": 100}, {"last": 100}], ids=str)
    async def test_a_page_of_100_is_served(
        self, client: httpx.AsyncClient, db: Database, arguments: dict[str, int]
    ) -> None:
        await create_funds(db, [{} for _ in range(101)])

        page = await fetch_page(client, FUNDS, arguments)

        assert len(page.ids) == 100

    async def test_the_default_page_holds_20_items(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await create_funds(db, [{} for _ in range(23)])

        page = await fetch_page(client, FUNDS, {})

        assert page.ids == [gid(fund) for fund in funds[:20]]
        assert page.has_next_page is True

    async def test_before_without_a_size_returns_the_20_items_before_it(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await create_funds(db, [{} for _ in range(23)])
        last = await fetch_page(client, FUNDS, {"last": 1})

        page = await fetch_page(client, FUNDS, {"before": last.start_cursor})

        assert page.ids == [gid(fund) for fund in funds[2:22]]
        assert (page.has_previous_page, page.has_next_page) == (True, True)

    async def test_the_default_nested_page_holds_20_items(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        [fund] = await create_funds(db, [{}])
        [investor] = await create_investors(db, [{}])
        await create_investments(db, [(fund, investor, {}) for _ in range(21)])

        page = await fetch_page(client, FUND_INVESTMENTS, {"id": gid(fund)})

        assert len(page.ids) == 20
        assert page.has_next_page is True


class TestCursorValidation:
    async def _cursor_by_name(self, client: httpx.AsyncClient, db: Database) -> str:
        await create_funds(db, [{"name": f"Fund {n}"} for n in range(4)])
        page = await fetch_page(client, FUNDS, {**BY_NAME, "first": 2})
        assert page.end_cursor is not None
        return page.end_cursor

    async def _refused(
        self, client: httpx.AsyncClient, connection: Connection, variables: dict[str, Any]
    ) -> dict[str, Any]:
        error = await bad_user_input(client, connection[0], variables)
        assert "not a valid cursor" in error["message"]
        return error

    @pytest.mark.parametrize("argument", ["after", "before"])
    async def test_a_cursor_of_another_ordering_is_refused(
        self, client: httpx.AsyncClient, db: Database, argument: str
    ) -> None:
        # Given a cursor taken from the list ordered by name
        cursor = await self._cursor_by_name(client, db)

        # When it is used with the list ordered by vintage year
        error = await self._refused(client, FUNDS, {**BY_YEAR, "first": 2, argument: cursor})

        # Then the server refuses it rather than misreading it
        assert error["extensions"]["argument"] == argument

    async def test_a_cursor_of_the_other_direction_is_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        cursor = await self._cursor_by_name(client, db)
        descending = {"orderBy": [{"field": "NAME", "direction": "DESC"}]}

        await self._refused(client, FUNDS, {**descending, "first": 2, "after": cursor})

    async def test_a_cursor_of_the_same_ordering_is_accepted(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        cursor = await self._cursor_by_name(client, db)

        page = await fetch_page(client, FUNDS, {**BY_NAME, "first": 5, "after": cursor})

        assert len(page.ids) == 2

    @pytest.mark.parametrize(
        "tamper",
        [
            lambda fingerprint, values: [fingerprint + ",EXTRA:a", values],
            lambda fingerprint, values: ["VINTAGE_YEAR:a,ID:a", values],
            lambda fingerprint, values: [fingerprint, values[:1]],
            lambda fingerprint, values: [fingerprint, [*values, "x"]],
            lambda fingerprint, values: [fingerprint, [42, values[1]]],
            lambda fingerprint, values: [fingerprint, [values[0], "not-a-uuid"]],
            lambda fingerprint, values: [fingerprint, [values[0], 7]],
            lambda fingerprint, values: [fingerprint, [None, values[1]]],
            lambda fingerprint, values: [fingerprint, {"name": values[0]}],
            lambda fingerprint, values: [fingerprint],
            lambda fingerprint, values: {"fingerprint": fingerprint, "values": values},
            lambda fingerprint, values: None,
            lambda fingerprint, values: "a string",
        ],
        ids=[
            "longer fingerprint",
            "other fingerprint",
            "value missing",
            "value added",
            "number for a name",
            "malformed id",
            "number for an id",
            "null value",
            "values not a list",
            "no values",
            "an object",
            "null",
            "a string",
        ],
    )
    async def test_a_tampered_cursor_is_refused(
        self, client: httpx.AsyncClient, db: Database, tamper: Any
    ) -> None:
        # Given a real cursor, decoded and altered
        fingerprint, values = _decode(await self._cursor_by_name(client, db))
        tampered = _encode(tamper(fingerprint, values))

        # When it comes back as `after`, then it is refused as invalid input
        await self._refused(client, FUNDS, {**BY_NAME, "first": 2, "after": tampered})

    @pytest.mark.parametrize(
        ("order_by", "values"),
        [
            (
                [{"field": "CREATED_AT"}],
                ["2024-01-01T00:00:00", "0190d2a8-0000-7000-8000-000000000000"],
            ),
            ([{"field": "CREATED_AT"}], ["yesterday", "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "TARGET_SIZE_USD"}], ["NaN", "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "TARGET_SIZE_USD"}], ["Infinity", "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "TARGET_SIZE_USD"}], ["12abc", "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "TARGET_SIZE_USD"}], [12.5, "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "VINTAGE_YEAR"}], ["2020", "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "VINTAGE_YEAR"}], [True, "0190d2a8-0000-7000-8000-000000000000"]),
            ([{"field": "VINTAGE_YEAR"}], [2020.5, "0190d2a8-0000-7000-8000-000000000000"]),
        ],
        ids=[
            "naive datetime",
            "not a datetime",
            "NaN",
            "infinity",
            "not a number",
            "float amount",
            "string year",
            "boolean year",
            "float year",
        ],
    )
    async def test_a_forged_cursor_with_values_of_the_wrong_kind_is_refused(
        self, client: httpx.AsyncClient, db: Database, order_by: list[Any], values: list[Any]
    ) -> None:
        await create_funds(db, [{}])
        ordering = {
            "CREATED_AT": "CREATED_AT:a,ID:a",
            "TARGET_SIZE_USD": "TARGET_SIZE_USD:a,ID:a",
            "VINTAGE_YEAR": "VINTAGE_YEAR:a,ID:a",
        }[order_by[0]["field"]]
        forged = _encode([ordering, values])

        await self._refused(client, FUNDS, {"orderBy": order_by, "first": 2, "after": forged})

    @pytest.mark.parametrize(
        "cursor",
        [
            base64.urlsafe_b64encode(b"hello world, this is not a cursor").decode(),
            base64.urlsafe_b64encode(random.Random(3).randbytes(48)).decode(),
            "",
            "====",
            "!!! not base64 !!!",
            "Zm9v\u00e9",
            "x" * 5 * 1024,
            _encode(["NAME:a,ID:a", ["x" * 900, "0190d2a8-0000-7000-8000-000000000000"]]),
            base64.urlsafe_b64encode(b'["NAME:a,ID:a", ["Fund 1", ').decode(),
        ],
        ids=[
            "base64 text",
            "random bytes",
            "empty",
            "padding only",
            "not base64",
            "non-ascii",
            "5 KB",
            "over the length limit",
            "truncated json",
        ],
    )
    @pytest.mark.parametrize("argument", ["after", "before"])
    async def test_garbage_is_refused_as_not_a_valid_cursor(
        self, client: httpx.AsyncClient, db: Database, cursor: str, argument: str
    ) -> None:
        await create_funds(db, [{}])

        error = await self._refused(client, FUNDS, {**BY_NAME, "first": 2, argument: cursor})

        assert error["extensions"]["argument"] == argument

    @pytest.mark.parametrize("name", ["investors", "investments", "fund.investments"])
    async def test_every_connection_refuses_garbage_cursors(
        self, client: httpx.AsyncClient, db: Database, name: str
    ) -> None:
        parents = await _parents(db)

        await self._refused(
            client, CONNECTIONS[name], {"id": parents.get(name), "first": 1, "after": "garbage"}
        )

    async def test_a_refused_cursor_never_looks_like_an_internal_error(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_funds(db, [{}])
        rng = random.Random(11)
        cursors = [
            base64.urlsafe_b64encode(rng.randbytes(rng.randint(1, 300))).decode() for _ in range(20)
        ]

        codes = set()
        for cursor in cursors:
            body = await execute(client, FUNDS[0], {"first": 1, "after": cursor})
            codes.update(error["extensions"]["code"] for error in body["errors"])

        assert codes == {"BAD_USER_INPUT"}

    async def test_cursors_are_distinct_url_safe_strings(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_funds(db, [{"name": f"Fund {n}"} for n in range(3)])

        page = await fetch_page(client, FUNDS, {**BY_NAME, "first": 3})

        assert len(set(page.cursors)) == 3
        assert all(cursor.replace("-", "").replace("_", "").isalnum() for cursor in page.cursors)
