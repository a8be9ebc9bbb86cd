"""`filter`: every operator of every filter input, combined filters, and refused operands."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import Fund, FundStatus, InvestorType
from graphql_api.db.session import Database
from tests.factories import gid
from tests.graphql import data_of
from tests.pagination.seed import (
    create_funds,
    create_investments,
    create_investors,
    expected_order,
    load_all,
    touch_funds,
)
from tests.pagination.walk import (
    FUND_INVESTMENTS,
    FUNDS,
    INVESTMENTS,
    bad_user_input,
    visited,
    walk_forward,
)

FUND_NAMES = """
query FundNames($filter: FundFilter) {
  funds(first: 100, filter: $filter, orderBy: [{field: NAME}]) {
    totalCount
    nodes { name createdAt updatedAt }
  }
}
"""

INVESTOR_NAMES = """
query InvestorNames($filter: InvestorFilter) {
  investors(first: 100, filter: $filter, orderBy: [{field: NAME}]) {
    totalCount
    nodes { name createdAt }
  }
}
"""

INVESTMENT_AMOUNTS = """
query InvestmentAmounts($filter: InvestmentFilter) {
  investments(first: 100, filter: $filter, orderBy: [{field: AMOUNT_USD}]) {
    totalCount
    nodes { amountUsd investmentDate createdAt }
  }
}
"""


async def _fund_names(client: httpx.AsyncClient, filter: dict[str, Any]) -> list[str]:
    connection = (await data_of(client, FUND_NAMES, {"filter": filter}))["funds"]
    names = [node["name"] for node in connection["nodes"]]
    assert connection["totalCount"] == len(names)
    return names


async def _investor_names(client: httpx.AsyncClient, filter: dict[str, Any]) -> list[str]:
    connection = (await data_of(client, INVESTOR_NAMES, {"filter": filter}))["investors"]
    names = [node["name"] for node in connection["nodes"]]
    assert connection["totalCount"] == len(names)
    return names


async def _amounts(client: httpx.AsyncClient, filter: dict[str, Any]) -> list[str]:
    connection = (await data_of(client, INVESTMENT_AMOUNTS, {"filter": filter}))["investments"]
    amounts = [node["amountUsd"] for node in connection["nodes"]]
    assert connection["totalCount"] == len(amounts)
    return amounts


class TestIntFilter:
    @pytest.mark.parametrize(
        ("operators", "years"),
        [
            ({"eq": 2018}, [2018]),
            ({"in": [2016, 2020, 1999]}, [2016, 2020]),
            ({"gt": 2020}, [2021, 2022]),
            ({"gte": 2020}, [2020, 2021, 2022]),
            ({"lt": 2017}, [2015, 2016]),
            ({"lte": 2017}, [2015, 2016, 2017]),
            ({"gte": 2017, "lt": 2019}, [2017, 2018]),
            ({"eq": 2018, "gt": 2018}, []),
            ({"in": []}, []),
        ],
        ids=str,
    )
    async def test_vintage_year_operators_select_the_matching_funds(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        years: list[int],
    ) -> None:
        # Given one fund per vintage year 2015..2022
        await create_funds(
            db, [{"name": f"Fund {y}", "vintage_year": y} for y in range(2015, 2023)]
        )

        # When funds are filtered on the vintage year
        names = await _fund_names(client, {"vintageYear": operators})

        # Then exactly the funds whose year satisfies every operator come back
        assert names == [f"Fund {year}" for year in years]


class TestDecimalFilter:
    SIZES = ("750000.25", "1000000.00", "1000000.01", "1000000.50", "2500000.00")

    @pytest.mark.parametrize(
        ("operators", "sizes"),
        [
            ({"eq": "1000000.01"}, ["1000000.01"]),
            ({"eq": "1000000"}, ["1000000.00"]),
            ({"eq": 2500000}, ["2500000.00"]),
            ({"gt": "1000000.01"}, ["1000000.50", "2500000.00"]),
            ({"gte": "1000000.01"}, ["1000000.01", "1000000.50", "2500000.00"]),
            ({"lt": "1000000.01"}, ["750000.25", "1000000.00"]),
            ({"lte": "1000000.01"}, ["750000.25", "1000000.00", "1000000.01"]),
            ({"gt": "750000.25", "lt": "1000000.50"}, ["1000000.00", "1000000.01"]),
        ],
        ids=str,
    )
    async def test_target_size_operators_compare_exact_amounts(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        sizes: list[str],
    ) -> None:
        await create_funds(
            db, [{"name": f"Size {s}", "target_size_usd": Decimal(s)} for s in self.SIZES]
        )

        names = await _fund_names(client, {"targetSizeUsd": operators})

        assert sorted(names) == sorted(f"Size {size}" for size in sizes)

    @pytest.mark.parametrize(
        ("operators", "amounts"),
        [
            ({"eq": "10.10"}, ["10.10"]),
            ({"gt": "10.10"}, ["10.11", "99.99"]),
            ({"gte": "10.10"}, ["10.10", "10.11", "99.99"]),
            ({"lt": "10.10"}, ["0.01"]),
            ({"lte": "10.11"}, ["0.01", "10.10", "10.11"]),
        ],
        ids=str,
    )
    async def test_amount_operators_compare_exact_amounts(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        amounts: list[str],
    ) -> None:
        [fund] = await create_funds(db, [{}])
        [investor] = await create_investors(db, [{}])
        await create_investments(
            db,
            [
                (fund, investor, {"amount_usd": Decimal(amount)})
                for amount in ("99.99", "10.10", "0.01", "10.11")
            ],
        )

        assert await _amounts(client, {"amountUsd": operators}) == amounts

    @pytest.mark.parametrize(
        ("query", "filter"),
        [
            (FUND_NAMES, {"targetSizeUsd": {"gte": "1000000.005"}}),
            (FUND_NAMES, {"targetSizeUsd": {"eq": "0.001"}}),
            (FUND_NAMES, {"targetSizeUsd": {"lt": "100000000000000000"}}),
            (INVESTMENT_AMOUNTS, {"amountUsd": {"lte": "10.101"}}),
        ],
        ids=str,
    )
    async def test_a_bound_that_is_not_whole_cents_or_too_large_is_refused(
        self, client: httpx.AsyncClient, db: Database, query: str, filter: dict[str, Any]
    ) -> None:
        error = await bad_user_input(client, query, {"filter": filter})

        assert "2 decimal places" in error["message"]

    async def test_a_float_bound_is_refused(self, client: httpx.AsyncClient, db: Database) -> None:
        error = await bad_user_input(
            client, FUND_NAMES, {"filter": {"targetSizeUsd": {"gte": 1000000.5}}}
        )

        assert "string" in error["message"]


class TestDateFilter:
    @pytest.mark.parametrize(
        ("operators", "days"),
        [
            ({"eq": "2024-03-10"}, [10]),
            ({"gt": "2024-03-10"}, [20, 30]),
            ({"gte": "2024-03-10"}, [10, 20, 30]),
            ({"lt": "2024-03-20"}, [1, 10]),
            ({"lte": "2024-03-20"}, [1, 10, 20]),
            ({"gte": "2024-03-02", "lte": "2024-03-29"}, [10, 20]),
        ],
        ids=str,
    )
    async def test_investment_date_operators_select_the_matching_investments(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        days: list[int],
    ) -> None:
        [fund] = await create_funds(db, [{}])
        [investor] = await create_investors(db, [{}])
        await create_investments(
            db,
            [
                (
                    fund,
                    investor,
                    {"investment_date": date(2024, 3, day), "amount_usd": Decimal(day)},
                )
                for day in (20, 1, 30, 10)
            ],
        )

        connection = (
            await data_of(client, INVESTMENT_AMOUNTS, {"filter": {"investmentDate": operators}})
        )["investments"]

        assert [node["investmentDate"] for node in connection["nodes"]] == [
            date(2024, 3, day).isoformat() for day in days
        ]
        assert connection["totalCount"] == len(days)


class TestDateTimeFilter:
    async def _funds_with_times(
        self, client: httpx.AsyncClient, db: Database
    ) -> list[dict[str, Any]]:
        """Four funds created one after the other, as the API shows them."""
        for name in ("Fund 1", "Fund 2", "Fund 3", "Fund 4"):
            await create_funds(db, [{"name": name}])
        nodes: list[dict[str, Any]] = (await data_of(client, FUND_NAMES, {"filter": {}}))["funds"][
            "nodes"
        ]
        return nodes

    @pytest.mark.parametrize(
        ("operator", "index", "expected"),
        [
            ("gt", 1, ["Fund 3", "Fund 4"]),
            ("gte", 1, ["Fund 2", "Fund 3", "Fund 4"]),
            ("lt", 2, ["Fund 1", "Fund 2"]),
            ("lte", 2, ["Fund 1", "Fund 2", "Fund 3"]),
        ],
    )
    async def test_created_at_operators_compare_instants_to_the_microsecond(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operator: str,
        index: int,
        expected: list[str],
    ) -> None:
        # Given funds created at distinct moments, as the API reports them
        funds = await self._funds_with_times(client, db)

        # When filtering against one fund's own createdAt
        names = await _fund_names(client, {"createdAt": {operator: funds[index]["createdAt"]}})

        # Then the bound is exact: strictly or inclusively as the operator says
        assert names == expected

    async def test_a_bound_in_another_time_zone_means_the_same_instant(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds = await self._funds_with_times(client, db)
        moment = datetime.fromisoformat(funds[2]["createdAt"])
        elsewhere = moment.astimezone(timezone(timedelta(hours=-5, minutes=-30))).isoformat()

        names = await _fund_names(client, {"createdAt": {"gte": elsewhere}})

        assert names == ["Fund 3", "Fund 4"]

    async def test_updated_at_operators_follow_the_last_change(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given four funds, of which the first was changed after all were created
        funds = await self._funds_with_times(client, db)
        [first] = [fund for fund in await load_all(db, Fund) if fund.name == "Fund 1"]
        await touch_funds(db, [first])

        # When filtering on updatedAt after the last creation
        after_creation = {"gt": funds[3]["updatedAt"]}
        names = await _fund_names(client, {"updatedAt": after_creation})
        before_change = await _fund_names(client, {"updatedAt": {"lte": funds[3]["updatedAt"]}})

        # Then only the changed fund is newer; the others are not
        assert names == ["Fund 1"]
        assert before_change == ["Fund 2", "Fund 3", "Fund 4"]

    async def test_investors_and_investments_filter_on_created_at(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        [fund] = await create_funds(db, [{}])
        [early] = await create_investors(db, [{"name": "Early"}])
        [late] = await create_investors(db, [{"name": "Late"}])
        await create_investments(db, [(fund, early, {"amount_usd": Decimal("1.00")})])
        await create_investments(db, [(fund, late, {"amount_usd": Decimal("2.00")})])
        bound = late.created_at.isoformat()

        investors = await _investor_names(client, {"createdAt": {"gte": bound}})
        amounts = await _amounts(client, {"createdAt": {"gt": bound}})

        assert investors == ["Late"]
        assert amounts == ["1.00", "2.00"]


class TestStringFilter:
    NAMES = (
        "Growth 100% Fund",
        "Growth 1000 Fund",
        "Alpha_Beta Capital",
        "AlphaXBeta Capital",
        "A/B Partners",
        "AB Partners",
        "growth equity",
        "Venture Growth",
    )

    @pytest.mark.parametrize(
        ("operators", "expected"),
        [
            ({"eq": "Growth 1000 Fund"}, ["Growth 1000 Fund"]),
            ({"eq": "growth 1000 fund"}, []),
            (
                {"in": ["AB Partners", "Venture Growth", "Missing"]},
                ["AB Partners", "Venture Growth"],
            ),
            (
                {"contains": "GROWTH"},
                ["Growth 100% Fund", "Growth 1000 Fund", "Venture Growth", "growth equity"],
            ),
            ({"startsWith": "gRoWtH"}, ["Growth 100% Fund", "Growth 1000 Fund", "growth equity"]),
            ({"contains": "100%"}, ["Growth 100% Fund"]),
            ({"contains": "%"}, ["Growth 100% Fund"]),
            ({"contains": "a_b"}, ["Alpha_Beta Capital"]),
            ({"startsWith": "ALPHA_"}, ["Alpha_Beta Capital"]),
            ({"startsWith": "_"}, []),
            ({"startsWith": "%"}, []),
            ({"contains": "a/b"}, ["A/B Partners"]),
            ({"contains": "capital", "startsWith": "alphax"}, ["AlphaXBeta Capital"]),
        ],
        ids=str,
    )
    async def test_name_operators_select_the_matching_funds(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        expected: list[str],
    ) -> None:
        await create_funds(db, [{"name": name} for name in self.NAMES])

        names = await _fund_names(client, {"name": operators})

        assert sorted(names) == sorted(expected)

    @pytest.mark.parametrize(
        ("operators", "expected"),
        [
            ({"eq": "ops@alpha.example.org"}, ["Alpha"]),
            ({"in": ["ops@alpha.example.org", "x@y.z"]}, ["Alpha"]),
            ({"contains": "EXAMPLE.ORG"}, ["Alpha", "Beta"]),
            ({"startsWith": "IR"}, ["Beta"]),
            ({"contains": "_"}, ["Gamma"]),
        ],
        ids=str,
    )
    async def test_email_operators_select_the_matching_investors(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        expected: list[str],
    ) -> None:
        await create_investors(
            db,
            [
                {"name": "Alpha", "email": "ops@alpha.example.org"},
                {"name": "Beta", "email": "ir@beta.example.org"},
                {"name": "Gamma", "email": "first_last@gamma.example.com"},
            ],
        )

        assert await _investor_names(client, {"email": operators}) == expected

    async def test_investor_names_filter_like_fund_names(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investors(db, [{"name": "Ann 50% LP"}, {"name": "Ann 500 LP"}])

        assert await _investor_names(client, {"name": {"contains": "0%"}}) == ["Ann 50% LP"]

    async def test_text_longer_than_255_characters_is_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        error = await bad_user_input(
            client, FUND_NAMES, {"filter": {"name": {"contains": "x" * 256}}}
        )

        assert error["extensions"]["argument"] == "contains"

    @pytest.mark.parametrize("operator", ["eq", "contains", "startsWith"])
    async def test_text_with_a_nul_character_is_refused(
        self, client: httpx.AsyncClient, db: Database, operator: str
    ) -> None:
        error = await bad_user_input(
            client, FUND_NAMES, {"filter": {"name": {operator: "Fund\x00 A"}}}
        )

        assert error["extensions"]["argument"] == operator


class TestIDFilter:
    async def _seed(self, db: Database) -> tuple[list[Any], list[Any]]:
        """Two funds and three investors; each investor commits once to each fund."""
        funds = await create_funds(db, [{"name": "Fund A"}, {"name": "Fund B"}])
        investors = await create_investors(db, [{}, {}, {}])
        await create_investments(
            db,
            [
                (fund, investor, {"amount_usd": Decimal(10 * f + i + 1)})
                for f, fund in enumerate(funds)
                for i, investor in enumerate(investors)
            ],
        )
        return funds, investors

    async def test_fund_id_eq_and_in_select_those_funds_commitments(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds, _ = await self._seed(db)

        one = await _amounts(client, {"fundId": {"eq": gid(funds[1])}})
        both = await _amounts(client, {"fundId": {"in": [gid(funds[0]), gid(funds[1])]}})

        assert one == ["11.00", "12.00", "13.00"]
        assert len(both) == 6

    async def test_investor_id_eq_and_in_select_those_investors_commitments(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        _, investors = await self._seed(db)

        one = await _amounts(client, {"investorId": {"eq": gid(investors[2])}})
        two = await _amounts(client, {"investorId": {"in": [gid(investors[0]), gid(investors[2])]}})

        assert one == ["3.00", "13.00"]
        assert two == ["1.00", "3.00", "11.00", "13.00"]

    async def test_fund_and_investor_ids_combine(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds, investors = await self._seed(db)

        amounts = await _amounts(
            client, {"fundId": {"eq": gid(funds[0])}, "investorId": {"eq": gid(investors[1])}}
        )

        assert amounts == ["2.00"]

    async def test_a_nested_connection_filters_by_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds, investors = await self._seed(db)

        page = await walk_forward(
            client,
            FUND_INVESTMENTS,
            5,
            {
                "id": gid(funds[1]),
                "filter": {"investorId": {"in": [gid(i) for i in investors[:2]]}},
            },
        )

        assert len(visited(page)) == 2
        assert page[0].total_count == 2

    @pytest.mark.parametrize(
        "filter",
        [
            {"fundId": {"eq": "not-an-id"}},
            {"fundId": {"in": ["RnVuZDp4"]}},
            {"investorId": {"eq": ""}},
        ],
        ids=str,
    )
    async def test_a_malformed_id_is_refused(
        self, client: httpx.AsyncClient, db: Database, filter: dict[str, Any]
    ) -> None:
        error = await bad_user_input(client, INVESTMENT_AMOUNTS, {"filter": filter})

        assert error["extensions"]["argument"] in {"fundId", "investorId"}

    async def test_an_id_of_another_type_is_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        funds, investors = await self._seed(db)

        error = await bad_user_input(
            client, INVESTMENT_AMOUNTS, {"filter": {"fundId": {"eq": gid(investors[0])}}}
        )
        other = await bad_user_input(
            client, INVESTMENT_AMOUNTS, {"filter": {"investorId": {"in": [gid(funds[0])]}}}
        )

        assert "Fund IDs" in error["message"]
        assert "Investor IDs" in other["message"]


class TestEnumFilters:
    @pytest.mark.parametrize(
        ("operators", "expected"),
        [
            ({"eq": "INVESTING"}, ["Investing"]),
            ({"in": ["FUNDRAISING", "CLOSED"]}, ["Closed", "Raising 1", "Raising 2"]),
            ({"notIn": ["FUNDRAISING"]}, ["Closed", "Investing"]),
            (
                {"in": ["FUNDRAISING", "INVESTING"], "notIn": ["INVESTING"]},
                ["Raising 1", "Raising 2"],
            ),
        ],
        ids=str,
    )
    async def test_fund_status_operators_select_the_matching_funds(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        expected: list[str],
    ) -> None:
        await create_funds(
            db,
            [
                {"name": "Raising 1"},
                {"name": "Investing", "status": FundStatus.INVESTING},
                {"name": "Closed", "status": FundStatus.CLOSED},
                {"name": "Raising 2"},
            ],
        )

        assert await _fund_names(client, {"status": operators}) == expected

    @pytest.mark.parametrize(
        ("operators", "expected"),
        [
            ({"eq": "INDIVIDUAL"}, ["Ida"]),
            ({"in": ["INSTITUTION", "FAMILY_OFFICE"]}, ["Fay", "Ines", "Ivo"]),
            ({"notIn": ["INSTITUTION"]}, ["Fay", "Ida"]),
        ],
        ids=str,
    )
    async def test_investor_type_operators_select_the_matching_investors(
        self,
        client: httpx.AsyncClient,
        db: Database,
        operators: dict[str, Any],
        expected: list[str],
    ) -> None:
        await create_investors(
            db,
            [
                {"name": "Ida", "investor_type": InvestorType.INDIVIDUAL},
                {"name": "Ines", "investor_type": InvestorType.INSTITUTION},
                {"name": "Fay", "investor_type": InvestorType.FAMILY_OFFICE},
                {"name": "Ivo", "investor_type": InvestorType.INSTITUTION},
            ],
        )

        assert await _investor_names(client, {"investorType": operators}) == expected


class TestCombinedFilters:
    async def test_several_filters_sorting_and_paging_work_together(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given funds over several years, statuses and names
        statuses = [FundStatus.FUNDRAISING, FundStatus.INVESTING, FundStatus.CLOSED]
        await create_funds(
            db,
            [
                {
                    "name": f"{'Growth' if index % 2 else 'Value'} Fund {index:02d}",
                    "vintage_year": 2015 + index % 7,
                    "status": statuses[index % 3],
                    "target_size_usd": Decimal(1000 * (index % 4 + 1)),
                }
                for index in range(60)
            ],
        )
        filter = {
            "name": {"contains": "growth"},
            "vintageYear": {"gte": 2017},
            "status": {"notIn": ["CLOSED"]},
            "targetSizeUsd": {"lte": "3000"},
        }
        order_by = [
            {"field": "VINTAGE_YEAR", "direction": "DESC"},
            {"field": "NAME", "direction": "ASC"},
        ]

        # When a client pages through the filtered, sorted list two at a time
        pages = await walk_forward(client, FUNDS, 2, {"filter": filter, "orderBy": order_by})

        # Then it sees exactly the matching funds, in order, and every page counts them all
        matching = [
            fund
            for fund in await load_all(db, Fund)
            if "Growth" in fund.name
            and fund.vintage_year >= 2017
            and fund.status is not FundStatus.CLOSED
            and fund.target_size_usd <= 3000
        ]
        expected = expected_order(matching, [("vintage_year", True), ("name", False)])
        assert len(expected) >= 5
        assert visited(pages) == expected
        assert {page.total_count for page in pages} == {len(expected)}

    async def test_total_count_of_investments_respects_the_filter(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        [fund] = await create_funds(db, [{}])
        [investor] = await create_investors(db, [{}])
        await create_investments(
            db,
            [
                (
                    fund,
                    investor,
                    {"amount_usd": Decimal(amount), "investment_date": date(2024, 1, day)},
                )
                for amount, day in [(5, 1), (50, 2), (500, 3), (5000, 4), (50000, 5)]
            ],
        )
        filter = {"amountUsd": {"gt": "5"}, "investmentDate": {"lte": "2024-01-04"}}

        pages = await walk_forward(client, INVESTMENTS, 1, {"filter": filter})

        assert len(pages) == 3
        assert {page.total_count for page in pages} == {3}


class TestListOperandCaps:
    @pytest.mark.parametrize(
        ("query", "filter"),
        [
            (FUND_NAMES, {"vintageYear": {"in": list(range(1900, 2001))}}),
            (FUND_NAMES, {"name": {"in": [f"Fund {n}" for n in range(101)]}}),
            (FUND_NAMES, {"status": {"in": ["CLOSED"] * 101}}),
            (FUND_NAMES, {"status": {"notIn": ["CLOSED"] * 101}}),
            (INVESTOR_NAMES, {"investorType": {"in": ["INDIVIDUAL"] * 101}}),
            (INVESTMENT_AMOUNTS, {"fundId": {"in": ["RnVuZDp4"] * 101}}),
        ],
        ids=lambda value: next(iter(value)) if isinstance(value, dict) else "query",
    )
    async def test_more_than_100_values_are_refused(
        self, client: httpx.AsyncClient, db: Database, query: str, filter: dict[str, Any]
    ) -> None:
        error = await bad_user_input(client, query, {"filter": filter})

        assert "at most 100" in error["message"]

    async def test_100_values_are_accepted(self, client: httpx.AsyncClient, db: Database) -> None:
        await create_funds(db, [{"name": "Fund 1999", "vintage_year": 1999}])

        names = await _fund_names(client, {"vintageYear": {"in": list(range(1900, 2000))}})

        assert names == ["Fund 1999"]
