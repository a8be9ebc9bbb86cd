"""The connection documents of the paging tests, and a client that walks them page by page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tests.graphql import data_of, execute

PAGE_ARGUMENTS = "first: $first, after: $after, last: $last, before: $before"
PAGE_VARIABLES = "$first: Int, $after: String, $last: Int, $before: String"
CONNECTION_FIELDS = """
    totalCount
    edges { cursor node { id } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
"""

FUNDS_QUERY = f"""
query Funds({PAGE_VARIABLES}, $filter: FundFilter, $orderBy: [FundOrder!]) {{
  funds({PAGE_ARGUMENTS}, filter: $filter, orderBy: $orderBy) {{ {CONNECTION_FIELDS} }}
}}
"""

INVESTORS_QUERY = f"""
query Investors({PAGE_VARIABLES}, $filter: InvestorFilter, $orderBy: [InvestorOrder!]) {{
  investors({PAGE_ARGUMENTS}, filter: $filter, orderBy: $orderBy) {{ {CONNECTION_FIELDS} }}
}}
"""

INVESTMENTS_QUERY = f"""
query Investments({PAGE_VARIABLES}, $filter: InvestmentFilter, $orderBy: [InvestmentOrder!]) {{
  investments({PAGE_ARGUMENTS}, filter: $filter, orderBy: $orderBy) {{ {CONNECTION_FIELDS} }}
}}
"""

FUND_INVESTMENTS_QUERY = f"""
query FundInvestments(
  $id: ID!, {PAGE_VARIABLES}, $filter: InvestmentFilter, $orderBy: [InvestmentOrder!]
) {{
  fund(id: $id) {{
    investments({PAGE_ARGUMENTS}, filter: $filter, orderBy: $orderBy) {{ {CONNECTION_FIELDS} }}
  }}
}}
"""

INVESTOR_INVESTMENTS_QUERY = f"""
query InvestorInvestments(
  $id: ID!, {PAGE_VARIABLES}, $filter: InvestmentFilter, $orderBy: [InvestmentOrder!]
) {{
  investor(id: $id) {{
    investments({PAGE_ARGUMENTS}, filter: $filter, orderBy: $orderBy) {{ {CONNECTION_FIELDS} }}
  }}
}}
"""

FUNDS = (FUNDS_QUERY, ("funds",))
INVESTORS = (INVESTORS_QUERY, ("investors",))
INVESTMENTS = (INVESTMENTS_QUERY, ("investments",))
FUND_INVESTMENTS = (FUND_INVESTMENTS_QUERY, ("fund", "investments"))
INVESTOR_INVESTMENTS = (INVESTOR_INVESTMENTS_QUERY, ("investor", "investments"))

Connection = tuple[str, tuple[str, ...]]
"""A connection document and the path of the connection in its `data`."""

MAX_PAGES = 60  # a walk that has not ended by then repeats pages forever


@dataclass(frozen=True, slots=True)
class PageResult:
    """One page as a client sees it."""

    ids: list[str]
    cursors: list[str]
    node_ids: list[str]
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
    total_count: int


def _page_of(data: dict[str, Any], path: Sequence[str]) -> PageResult:
    connection = data
    for key in path:
        connection = connection[key]
    info = connection["pageInfo"]
    return PageResult(
        ids=[edge["node"]["id"] for edge in connection["edges"]],
        cursors=[edge["cursor"] for edge in connection["edges"]],
        node_ids=[node["id"] for node in connection["nodes"]],
        has_next_page=info["hasNextPage"],
        has_previous_page=info["hasPreviousPage"],
        start_cursor=info["startCursor"],
        end_cursor=info["endCursor"],
        total_count=connection["totalCount"],
    )


async def fetch_page(
    client: httpx.AsyncClient, connection: Connection, variables: dict[str, Any]
) -> PageResult:
    query, path = connection
    return _page_of(await data_of(client, query, variables), path)


async def walk_forward(
    client: httpx.AsyncClient,
    connection: Connection,
    size: int,
    variables: dict[str, Any] | None = None,
) -> list[PageResult]:
    """Every page from the start: `first: size`, then `after` the previous `endCursor`."""
    pages: list[PageResult] = []
    after = None
    for _ in range(MAX_PAGES):
        page = await fetch_page(
            client, connection, {**(variables or {}), "first": size, "after": after}
        )
        pages.append(page)
        if not page.has_next_page:
            return pages
        after = page.end_cursor
    raise AssertionError(f"forward paging did not end after {MAX_PAGES} pages")


async def walk_backward(
    client: httpx.AsyncClient,
    connection: Connection,
    size: int,
    variables: dict[str, Any] | None = None,
) -> list[PageResult]:
    """Every page from the end: `last: size`, then `before` the previous `startCursor`."""
    pages: list[PageResult] = []
    before = None
    for _ in range(MAX_PAGES):
        page = await fetch_page(
            client, connection, {**(variables or {}), "last": size, "before": before}
        )
        pages.append(page)
        if not page.has_previous_page:
            return pages
        before = page.start_cursor
    raise AssertionError(f"backward paging did not end after {MAX_PAGES} pages")


def visited(pages: Sequence[PageResult]) -> list[str]:
    """The IDs seen walking forward, in the order seen."""
    return [item for page in pages for item in page.ids]


def visited_backward(pages: Sequence[PageResult]) -> list[str]:
    """The IDs seen walking backward, in the order seen (last item first)."""
    return [item for page in pages for item in reversed(page.ids)]


async def bad_user_input(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """The one top-level error of a request the server must refuse as BAD_USER_INPUT."""
    body = await execute(client, query, variables)
    errors = body.get("errors")
    assert errors, body
    assert [error["extensions"]["code"] for error in errors] == ["BAD_USER_INPUT"], errors
    error: dict[str, Any] = errors[0]
    return error
