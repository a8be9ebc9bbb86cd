"""Query cost: computed before execution, capped, reported in every response, refunded.

Every field returning an object costs 1; a connection multiplies what is under
it by its `first`/`last` (or the default page size, 20). The actual cost counts
the objects the response really holds; the difference goes back to the bucket.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from tests.factories import create_fund, create_investment, create_investor
from tests.graphql import error_codes, execute
from tests.traffic.support import Apps, available, cost_of, only_error

NESTED = """
{ funds(first: 5) { nodes { id investments(first: 3) { nodes { id investor { name } } } } } }
"""


class TestRequestedCost:
    @pytest.mark.parametrize(
        ("query", "variables", "cost"),
        [
            pytest.param("{ __typename }", None, 1, id="nothing but scalars costs 1"),
            pytest.param("{ me { id } }", None, 1, id="one object"),
            pytest.param("{ funds(first: 5) { nodes { id } } }", None, 1 + 5 * 1, id="first"),
            pytest.param("{ funds(last: 2) { nodes { id } } }", None, 1 + 2 * 1, id="last"),
            pytest.param("{ funds { nodes { id } } }", None, 1 + 20 * 1, id="default page"),
            pytest.param(
                "query Page($n: Int) { funds(first: $n) { nodes { id } } }",
                {"n": 10},
                1 + 10 * 1,
                id="page size in a variable",
            ),
            pytest.param(
                "{ funds(first: 50) { totalCount } }", None, 1, id="a count of a connection"
            ),
            pytest.param(
                "{ funds(first: 5) { pageInfo { hasNextPage } nodes { id } } }",
                None,
                1 + 5 * (1 + 1),
                id="every object under the connection",
            ),
            pytest.param(NESTED, None, 1 + 5 * (1 + (1 + 3 * (1 + 1))), id="nested connections"),
            pytest.param(
                "{ funds(first: 5) { ...Page } } fragment Page on FundConnection { nodes { id } }",
                None,
                1 + 5 * 1,
                id="fragments are followed",
            ),
            pytest.param(
                "{ a: funds(first: 2) { nodes { id } } b: investors(first: 3) { nodes { id } } }",
                None,
                (1 + 2) + (1 + 3),
                id="root fields add up",
            ),
        ],
    )
    async def test_the_cost_of_known_documents(
        self,
        admin: httpx.AsyncClient,
        query: str,
        variables: dict[str, Any] | None,
        cost: int,
    ) -> None:
        body = await execute(admin, query, variables)
        assert "errors" not in body, body["errors"]
        assert cost_of(body)["requestedQueryCost"] == cost

    async def test_a_mutation_costs_its_payload(
        self, admin: httpx.AsyncClient, db: Database
    ) -> None:
        body = await execute(
            admin,
            """mutation { createFund(input: { name: "Cost Fund", vintageYear: 2024,
                targetSizeUsd: "1000.00" }) { fund { id } errors { code } } }""",
        )
        assert body["data"]["createFund"]["errors"] == []
        # the payload, the fund, and the errors' object type
        assert cost_of(body)["requestedQueryCost"] == 3


class TestMaximumCost:
    async def test_a_document_costing_exactly_the_maximum_runs(self, instances: Apps) -> None:
        http = await instances.client(await instances.start(max_query_cost=40))
        body = await execute(http, "{ funds(first: 39) { nodes { id } } }")
        assert "errors" not in body
        assert cost_of(body)["requestedQueryCost"] == 40

    async def test_one_point_more_is_refused_with_the_cost_and_the_limit(
        self, instances: Apps
    ) -> None:
        app = await instances.start(
            max_query_cost=40, rate_limit_capacity=100, rate_limit_refill_per_second=0
        )
        http = await instances.client(app)
        body = await execute(http, "{ funds(first: 40) { nodes { id } } }")
        error = only_error(body)
        assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 41, "maximumCost": 40}
        assert "41" in error["message"]
        assert "40" in error["message"]
        # The refusal reports the cost too, and nothing was taken from the bucket
        cost = cost_of(body)
        assert cost["requestedQueryCost"] == 41
        assert cost["actualQueryCost"] == 0
        assert cost["throttleStatus"]["currentlyAvailable"] == 100

    async def test_the_production_default_maximum_is_5000(self, admin: httpx.AsyncClient) -> None:
        query = "{ funds(first: 100) { nodes { investments(first: 100) { nodes { id } } } } }"
        error = only_error(await execute(admin, query))
        assert error["extensions"] == {
            "code": "QUERY_TOO_COMPLEX",
            "cost": 1 + 100 * (1 + (1 + 100 * 1)),
            "maximumCost": 5_000,
        }

    async def test_page_sizes_above_the_largest_page_are_priced_as_the_largest(
        self, admin: httpx.AsyncClient
    ) -> None:
        # first: 1000 is refused by the connection itself; the price stays bounded
        body = await execute(admin, "{ funds(first: 1000) { nodes { id } } }")
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert cost_of(body)["requestedQueryCost"] == 1 + 100 * 1


class TestCostExtension:
    async def test_every_executed_response_reports_its_cost(
        self, instances: Apps, db: Database
    ) -> None:
        app = await instances.start(rate_limit_capacity=1_000, rate_limit_refill_per_second=2)
        http = await instances.client(app)
        documents = [
            "{ __typename }",
            "{ funds(first: 3) { nodes { name } } }",
            '{ node(id: "not-an-id") { id } }',  # an error in a resolver
            'mutation { createInvestor(input: { name: "", investorType: INDIVIDUAL, '
            'email: "x" }) { investor { id } errors { code } } }',  # refused input
        ]
        for document in documents:
            body = await execute(http, document)
            cost = cost_of(body)
            assert cost["requestedQueryCost"] >= 1, document
            assert 0 <= cost["actualQueryCost"] <= cost["requestedQueryCost"], document
            assert cost["throttleStatus"]["maximumAvailable"] == 1_000
            assert cost["throttleStatus"]["restoreRate"] == 2
            assert 0 <= cost["throttleStatus"]["currentlyAvailable"] <= 1_000

    async def test_without_rate_limiting_the_cost_is_still_reported(self, instances: Apps) -> None:
        http = await instances.client(await instances.start(rate_limit_enabled=False))
        body = await execute(http, "{ funds(first: 5) { nodes { id } } }")
        assert cost_of(body)["requestedQueryCost"] == 6


class TestRefunds:
    async def test_fewer_rows_than_asked_for_cost_less_and_the_difference_is_returned(
        self, instances: Apps, db: Database
    ) -> None:
        # Given four funds and a bucket of 100 points that does not refill
        for _ in range(4):
            await create_fund(db)
        app = await instances.start(rate_limit_capacity=100, rate_limit_refill_per_second=0)
        http = await instances.client(app)

        # When a client asks for five funds
        body = await execute(http, "{ funds(first: 5) { nodes { id } } }")

        # Then it was charged for the connection and the four funds it got
        cost = cost_of(body)
        assert len(body["data"]["funds"]["nodes"]) == 4
        assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (6, 5)
        assert available(body) == 100 - 5

        # And a second time the same again
        assert available(await execute(http, "{ funds(first: 5) { nodes { id } } }")) == 90
        # And exactly as many rows as asked for are charged in full
        body = await execute(http, "{ funds(first: 4) { nodes { id } } }")
        assert (cost_of(body)["requestedQueryCost"], cost_of(body)["actualQueryCost"]) == (5, 5)
        assert available(body) == 85

    async def test_nested_connections_are_refunded_for_what_they_did_not_return(
        self, instances: Apps, db: Database
    ) -> None:
        # Given two funds, one with a single investment
        fund = await create_fund(db)
        await create_fund(db)
        await create_investment(db, fund, await create_investor(db))
        app = await instances.start(rate_limit_capacity=1_000, rate_limit_refill_per_second=0)
        http = await instances.client(app)

        body = await execute(http, NESTED)

        # funds + 2 funds + 2 investments connections + 1 investment + its investor
        cost = cost_of(body)
        assert cost["requestedQueryCost"] == 41
        assert cost["actualQueryCost"] == 1 + 2 + 2 + 1 + 1
        assert available(body) == 1_000 - 7

    async def test_a_null_result_costs_the_minimum(self, instances: Apps) -> None:
        app = await instances.start(rate_limit_capacity=50, rate_limit_refill_per_second=0)
        http = await instances.client(app)
        body = await execute(http, "{ me { id email } }")  # an API key is no user
        assert body["data"] == {"me": None}
        assert (cost_of(body)["requestedQueryCost"], cost_of(body)["actualQueryCost"]) == (1, 1)
        assert available(body) == 49
