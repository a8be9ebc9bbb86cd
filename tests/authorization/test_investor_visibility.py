"""Row-level visibility: an INVESTOR reads only its own investor record and commitments.

Two investors, A and B, commit to the same two funds. A's INVESTOR user asks
for B's data through every path a query can take (root fields, `node`/`nodes`
with IDs it guessed, connections, nested fields, filters, counts) and must
never get it; an INVESTOR user not linked to any investor gets none at all.
Investor emails: ADMIN and MANAGER see them, ANALYST never, an INVESTOR only its own.

Not covered, because the server gets it wrong (reported separately):
`Fund.summary` as an INVESTOR adds up every investor's commitments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.auth.principal import Role
from graphql_api.db.models import Fund, Investment, Investor, InvestorType
from graphql_api.db.models.user import User
from graphql_api.db.session import Database
from tests.authorization.support import (
    access_token,
    bearer,
    changed_tables,
    create_user,
    http_client,
    snapshot,
    user_gid,
)
from tests.conftest import api_key_for
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of, error_codes, execute

INVESTORS = """
query Investors {
  investors { totalCount nodes { id name email } }
}
"""

INVESTORS_BY_NAME = """
query InvestorsByName($name: String!) {
  investors(filter: {name: {eq: $name}}) { totalCount nodes { id } }
}
"""

INVESTOR = """
query OneInvestor($id: ID!) {
  investor(id: $id) {
    id email totalCommittedUsd
    investments { totalCount nodes { id amountUsd investor { id } fund { id } } }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) { __typename id }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) { __typename id }
}
"""

INVESTMENT = """
query OneInvestment($id: ID!) {
  investment(id: $id) { id amountUsd investor { id } fund { id } }
}
"""

INVESTMENTS = """
query Investments($filter: InvestmentFilter, $last: Int) {
  investments(filter: $filter, last: $last, orderBy: [{field: AMOUNT_USD, direction: DESC}]) {
    totalCount
    edges { node { id amountUsd investor { id } fund { id } } }
  }
}
"""

FUNDS_WITH_INVESTMENTS = """
query FundsWithInvestments($filter: InvestmentFilter) {
  funds {
    totalCount
    nodes {
      id
      investments(filter: $filter) { totalCount nodes { id investor { id } } }
    }
  }
}
"""

DEEP_THROUGH_THE_FUND = """
query DeepThroughTheFund($id: ID!) {
  investment(id: $id) {
    fund {
      investments {
        totalCount
        nodes { id investor { id investments { totalCount nodes { id fund { id } } } } }
      }
    }
  }
}
"""

ME = """
query Me {
  me { id role investor { id email investments { totalCount } } }
}
"""

INVESTOR_EMAILS_EVERYWHERE = """
query InvestorEmailsEverywhere($investorId: ID!, $investmentId: ID!) {
  investors { nodes { id email } }
  investor(id: $investorId) { email }
  node(id: $investorId) { ... on Investor { email } }
  investment(id: $investmentId) { investor { email } }
  investments { nodes { investor { id email } } }
  byFragment: investments { nodes { ...InvestorOfInvestment } }
  funds { nodes { investments { nodes { investor { id email } } } } }
}
fragment InvestorOfInvestment on Investment { investor { id email } }
"""

UPDATE_INVESTOR = """
mutation UpdateInvestor($input: UpdateInvestorInput!) {
  updateInvestor(input: $input) { investor { id name } errors { code } }
}
"""

CREATE_INVESTMENT = """
mutation CreateInvestment($input: CreateInvestmentInput!) {
  createInvestment(input: $input) { investment { id } errors { code } }
}
"""

UPDATE_FUND = """
mutation UpdateFund($input: UpdateFundInput!) {
  updateFund(input: $input) { fund { id } errors { code } }
}
"""

FUND_HISTORY = """
query FundHistory($id: ID!) {
  fund(id: $id) { id history { totalCount nodes { action } } }
}
"""


@dataclass
class World:
    """Funds 1 and 2; investor A (an individual) and B (an institution) in both."""

    fund_1: Fund
    fund_2: Fund
    investor_a: Investor
    investor_b: Investor
    a_investments: list[Investment]
    b_investments: list[Investment]
    investor_user: User
    clients: dict[str, httpx.AsyncClient]

    def client(self, name: str) -> httpx.AsyncClient:
        return self.clients[name]


@pytest.fixture
async def world(app: Any, db: Database) -> AsyncIterator[World]:
    fund_1 = await create_fund(db)
    fund_2 = await create_fund(db)
    investor_a = await create_investor(db, investor_type=InvestorType.INDIVIDUAL)
    investor_b = await create_investor(db, investor_type=InvestorType.INSTITUTION)
    a_investments = [
        await create_investment(db, fund_1, investor_a, amount_usd=Decimal("100.00")),
        await create_investment(db, fund_2, investor_a, amount_usd=Decimal("200.00")),
    ]
    b_investments = [
        await create_investment(db, fund_1, investor_b, amount_usd=Decimal("1000.00")),
        await create_investment(db, fund_2, investor_b, amount_usd=Decimal("2000.00")),
        await create_investment(db, fund_1, investor_b, amount_usd=Decimal("3000.00")),
    ]
    investor_user = await create_user(app, db, Role.INVESTOR, investor_a.id)
    unlinked_user = await create_user(app, db, Role.INVESTOR)
    headers = {
        "investor": bearer(access_token(app, investor_user)),
        "unlinked": bearer(access_token(app, unlinked_user)),
        "analyst": {"X-API-Key": await api_key_for(db, Role.ANALYST)},
        "manager": {"X-API-Key": await api_key_for(db, Role.MANAGER)},
        "admin": {"X-API-Key": await api_key_for(db, Role.ADMIN)},
    }
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(http_client(app, sent))
            for name, sent in headers.items()
        }
        yield World(
            fund_1,
            fund_2,
            investor_a,
            investor_b,
            a_investments,
            b_investments,
            investor_user,
            clients,
        )


def ids(records: list[Investment]) -> set[str]:
    return {gid(record) for record in records}


def investor_filter(investor: Investor) -> dict[str, Any]:
    return {"investorId": {"eq": gid(investor)}}


class TestAnInvestorReadsItsOwnRecordOnly:
    async def test_investors_lists_only_its_own_investor(self, world: World) -> None:
        # when
        data = await data_of(world.client("investor"), INVESTORS)
        # then
        assert data["investors"]["totalCount"] == 1
        assert [node["id"] for node in data["investors"]["nodes"]] == [gid(world.investor_a)]

    async def test_investors_filtered_by_the_other_investors_name_is_empty(
        self, world: World
    ) -> None:
        # when
        data = await data_of(
            world.client("investor"), INVESTORS_BY_NAME, {"name": world.investor_b.name}
        )
        # then
        assert data["investors"] == {"totalCount": 0, "nodes": []}

    async def test_the_other_investor_by_id_is_null(self, world: World) -> None:
        # when
        data = await data_of(world.client("investor"), INVESTOR, {"id": gid(world.investor_b)})
        # then
        assert data == {"investor": None}

    async def test_its_own_investor_shows_its_own_investments_and_total(self, world: World) -> None:
        # when
        data = await data_of(world.client("investor"), INVESTOR, {"id": gid(world.investor_a)})
        # then
        investor = data["investor"]
        assert investor["totalCommittedUsd"] == "300.00"
        assert investor["investments"]["totalCount"] == 2
        nodes = investor["investments"]["nodes"]
        assert {node["id"] for node in nodes} == ids(world.a_investments)
        assert {node["investor"]["id"] for node in nodes} == {gid(world.investor_a)}
        assert {node["fund"]["id"] for node in nodes} == {gid(world.fund_1), gid(world.fund_2)}

    @pytest.mark.parametrize("target", ["investor", "investment"])
    async def test_node_with_a_guessed_id_of_the_other_investor_is_null(
        self, world: World, target: str
    ) -> None:
        # given
        guessed = gid(world.investor_b if target == "investor" else world.b_investments[0])
        # when
        data = await data_of(world.client("investor"), NODE, {"id": guessed})
        # then
        assert data == {"node": None}

    async def test_nodes_answers_null_for_every_id_of_the_other_investor(
        self, world: World
    ) -> None:
        # given
        asked = [
            gid(world.investor_b),
            *ids(world.b_investments),
            gid(world.investor_a),
            gid(world.a_investments[0]),
        ]
        # when
        data = await data_of(world.client("investor"), NODES, {"ids": asked})
        # then
        assert data["nodes"] == [
            None,
            None,
            None,
            None,
            {"__typename": "Investor", "id": gid(world.investor_a)},
            {"__typename": "Investment", "id": gid(world.a_investments[0])},
        ]

    async def test_the_other_investors_investment_by_id_is_null(self, world: World) -> None:
        # when
        found = [
            (await data_of(world.client("investor"), INVESTMENT, {"id": gid(investment)}))[
                "investment"
            ]
            for investment in world.b_investments
        ]
        # then
        assert found == [None, None, None]

    async def test_its_own_investment_names_its_investor_and_fund(self, world: World) -> None:
        # given
        own = world.a_investments[1]
        # when
        data = await data_of(world.client("investor"), INVESTMENT, {"id": gid(own)})
        # then
        assert data["investment"] == {
            "id": gid(own),
            "amountUsd": "200.00",
            "investor": {"id": gid(world.investor_a)},
            "fund": {"id": gid(world.fund_2)},
        }

    @pytest.mark.parametrize("last", [None, 10])
    async def test_investments_lists_and_counts_only_its_own(
        self, world: World, last: int | None
    ) -> None:
        # when
        data = await data_of(world.client("investor"), INVESTMENTS, {"last": last})
        # then
        connection = data["investments"]
        assert connection["totalCount"] == 2
        nodes = [edge["node"] for edge in connection["edges"]]
        assert [node["amountUsd"] for node in nodes] == ["200.00", "100.00"]
        assert {node["investor"]["id"] for node in nodes} == {gid(world.investor_a)}

    async def test_investments_filtered_by_the_other_investor_are_empty(self, world: World) -> None:
        # when
        data = await data_of(
            world.client("investor"),
            INVESTMENTS,
            {"filter": investor_filter(world.investor_b)},
        )
        # then
        assert data["investments"] == {"totalCount": 0, "edges": []}

    async def test_every_fund_shows_only_its_own_investments_nested(self, world: World) -> None:
        # when
        data = await data_of(world.client("investor"), FUNDS_WITH_INVESTMENTS)
        # then
        funds = {fund["id"]: fund["investments"] for fund in data["funds"]["nodes"]}
        assert data["funds"]["totalCount"] == 2
        assert {fund: page["totalCount"] for fund, page in funds.items()} == {
            gid(world.fund_1): 1,
            gid(world.fund_2): 1,
        }
        nested = [node for page in funds.values() for node in page["nodes"]]
        assert {node["id"] for node in nested} == ids(world.a_investments)
        assert {node["investor"]["id"] for node in nested} == {gid(world.investor_a)}

    async def test_nested_investments_filtered_by_the_other_investor_are_empty(
        self, world: World
    ) -> None:
        # when
        data = await data_of(
            world.client("investor"),
            FUNDS_WITH_INVESTMENTS,
            {"filter": investor_filter(world.investor_b)},
        )
        # then
        pages = [fund["investments"] for fund in data["funds"]["nodes"]]
        assert pages == [{"totalCount": 0, "nodes": []}] * 2

    async def test_going_round_through_the_fund_never_reaches_the_other_investor(
        self, world: World
    ) -> None:
        # when: its investment → the fund → the fund's investments → their investors → …
        data = await data_of(
            world.client("investor"), DEEP_THROUGH_THE_FUND, {"id": gid(world.a_investments[0])}
        )
        # then
        page = data["investment"]["fund"]["investments"]
        assert page["totalCount"] == 1
        [node] = page["nodes"]
        assert node["id"] == gid(world.a_investments[0])
        assert node["investor"]["id"] == gid(world.investor_a)
        assert node["investor"]["investments"]["totalCount"] == 2

    async def test_me_is_the_user_with_its_investor(self, world: World) -> None:
        # when
        data = await data_of(world.client("investor"), ME)
        # then
        assert data["me"] == {
            "id": user_gid(world.investor_user),
            "role": "INVESTOR",
            "investor": {
                "id": gid(world.investor_a),
                "email": world.investor_a.email,
                "investments": {"totalCount": 2},
            },
        }


class TestAnInvestorUserNotLinkedToAnInvestor:
    async def test_sees_funds_but_no_investment_in_them(self, world: World) -> None:
        # when
        data = await data_of(world.client("unlinked"), FUNDS_WITH_INVESTMENTS)
        # then
        assert data["funds"]["totalCount"] == 2
        pages = [fund["investments"] for fund in data["funds"]["nodes"]]
        assert pages == [{"totalCount": 0, "nodes": []}] * 2

    async def test_sees_no_investor_and_no_investment(self, world: World) -> None:
        # when
        investors = await data_of(world.client("unlinked"), INVESTORS)
        investments = await data_of(world.client("unlinked"), INVESTMENTS)
        # then
        assert investors["investors"] == {"totalCount": 0, "nodes": []}
        assert investments["investments"] == {"totalCount": 0, "edges": []}

    async def test_every_investor_and_investment_id_is_null(self, world: World) -> None:
        # given
        every_id = [
            gid(world.investor_a),
            gid(world.investor_b),
            *ids(world.a_investments),
            *ids(world.b_investments),
        ]
        # when
        data = await data_of(world.client("unlinked"), NODES, {"ids": every_id})
        # then
        assert data["nodes"] == [None] * len(every_id)

    async def test_me_has_no_investor(self, world: World) -> None:
        # when
        data = await data_of(world.client("unlinked"), ME)
        # then
        assert data["me"]["role"] == "INVESTOR"
        assert data["me"]["investor"] is None


def emails_in(data: dict[str, Any]) -> dict[str, list[str | None]]:
    """Every investor email the InvestorEmailsEverywhere query returned, per path."""
    return {
        "investors": [node["email"] for node in data["investors"]["nodes"]],
        "investor": [data["investor"]["email"]] if data["investor"] else [],
        "node": [data["node"]["email"]] if data["node"] else [],
        "investment": [data["investment"]["investor"]["email"]] if data["investment"] else [],
        "investments": [node["investor"]["email"] for node in data["investments"]["nodes"]],
        "byFragment": [node["investor"]["email"] for node in data["byFragment"]["nodes"]],
        "funds": [
            node["investor"]["email"]
            for fund in data["funds"]["nodes"]
            for node in fund["investments"]["nodes"]
        ],
    }


class TestInvestorEmails:
    async def _emails(self, world: World, caller: str) -> dict[str, list[str | None]]:
        variables = {
            "investorId": gid(world.investor_a),
            "investmentId": gid(world.a_investments[0]),
        }
        return emails_in(await data_of(world.client(caller), INVESTOR_EMAILS_EVERYWHERE, variables))

    async def test_an_analyst_never_sees_one_whatever_the_path(self, world: World) -> None:
        # when
        emails = await self._emails(world, "analyst")
        # then: every path answered, with null for every email
        assert {path: len(found) for path, found in emails.items()} == {
            "investors": 2,
            "investor": 1,
            "node": 1,
            "investment": 1,
            "investments": 5,
            "byFragment": 5,
            "funds": 5,
        }
        assert {email for found in emails.values() for email in found} == {None}

    @pytest.mark.parametrize("caller", ["manager", "admin"])
    async def test_managers_and_admins_see_every_one(self, world: World, caller: str) -> None:
        # given
        a, b = world.investor_a.email, world.investor_b.email
        # when
        emails = await self._emails(world, caller)
        # then
        assert {path: sorted(found) for path, found in emails.items()} == {  # type: ignore[type-var]
            "investors": sorted([a, b]),
            "investor": [a],
            "node": [a],
            "investment": [a],
            "investments": sorted([a, a, b, b, b]),
            "byFragment": sorted([a, a, b, b, b]),
            "funds": sorted([a, a, b, b, b]),
        }

    async def test_an_investor_sees_its_own_and_no_other(self, world: World) -> None:
        # given
        a = world.investor_a.email
        # when
        emails = await self._emails(world, "investor")
        # then
        assert emails == {
            "investors": [a],
            "investor": [a],
            "node": [a],
            "investment": [a],
            "investments": [a, a],
            "byFragment": [a, a],
            "funds": [a, a],
        }


class TestWhatReadersMayNotDo:
    @pytest.mark.parametrize("caller", ["investor", "analyst"])
    async def test_changing_the_investors_own_record_is_forbidden(
        self, app: Any, db: Database, world: World, caller: str
    ) -> None:
        # given: the credential used once already (its first use is bookkept)
        await execute(world.client(caller), "{ __typename }")
        before = await snapshot(app, db)
        rename = {"input": {"id": gid(world.investor_a), "name": "Renamed by its investor"}}
        commit = {
            "input": {
                "fundId": gid(world.fund_1),
                "investorId": gid(world.investor_a),
                "amountUsd": "5.00",
                "investmentDate": "2024-03-01",
            }
        }
        # when
        renamed = await execute(world.client(caller), UPDATE_INVESTOR, rename)
        committed = await execute(world.client(caller), CREATE_INVESTMENT, commit)
        # then
        assert (error_codes(renamed), renamed["data"]) == (["FORBIDDEN"], None)
        assert (error_codes(committed), committed["data"]) == (["FORBIDDEN"], None)
        assert changed_tables(before, await snapshot(app, db)) == []

    @pytest.mark.parametrize("caller", ["investor", "analyst"])
    async def test_a_funds_history_is_forbidden(self, world: World, caller: str) -> None:
        # when
        body = await execute(world.client(caller), FUND_HISTORY, {"id": gid(world.fund_1)})
        # then: the whole fund is withheld (history is not nullable)
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["errors"][0]["path"] == ["fund", "history"]
        assert body["data"] == {"fund": None}

    @pytest.mark.parametrize("caller", ["manager", "admin"])
    async def test_a_funds_history_is_open_to_managers_and_admins(
        self, world: World, caller: str
    ) -> None:
        # given: one change made through the API, so the fund has a history
        change = {"input": {"id": gid(world.fund_1), "name": "Renamed for the history"}}
        updated = await data_of(world.client("manager"), UPDATE_FUND, change)
        assert updated["updateFund"]["errors"] == []
        # when
        data = await data_of(world.client(caller), FUND_HISTORY, {"id": gid(world.fund_1)})
        # then
        history = data["fund"]["history"]
        assert history["totalCount"] == 1
        assert history["nodes"] == [{"action": "updateFund"}]
