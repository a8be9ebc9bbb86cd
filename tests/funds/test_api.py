"""createFund, updateFund, fund(id) and funds(...) through the real ASGI app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graphql_api.db.models import FundStatus
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.funds.support import (
    CREATE_FUND,
    FUNDS,
    create_fund_payload,
    create_fund_via_api,
    current_year,
    fetch_fund,
    fund_count,
    fund_input,
    send,
    update_fund,
)
from tests.graphql import data_of, error_codes, without_cost

YEAR = current_year()
FUNDS_BY_ID = """
query FundById($id: ID!) {
  fund(id: $id) { id }
}
"""


def parse_datetime(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


def validation(message: str, field: str) -> dict[str, Any]:
    return {"code": "VALIDATION", "message": message, "field": ["input", field]}


class TestCreateFundMutation:
    async def test_creates_a_fund_and_returns_it(self, client: httpx.AsyncClient) -> None:
        # Given a valid input with a name padded by whitespace
        before = datetime.now(UTC)

        # When the fund is created
        fund = await create_fund_via_api(
            client,
            name="  Northwind Growth I  ",
            vintageYear=2021,
            targetSizeUsd="250000000",
            hardCapUsd="300000000.5",
        )

        # Then it comes back trimmed, with exact two-decimal amounts and server-set fields
        assert fund["name"] == "Northwind Growth I"
        assert fund["vintageYear"] == 2021
        assert fund["targetSizeUsd"] == "250000000.00"
        assert fund["hardCapUsd"] == "300000000.50"
        assert fund["status"] == "FUNDRAISING"
        assert fund["version"] == 1
        created_at = parse_datetime(fund["createdAt"])
        assert before <= created_at <= datetime.now(UTC)
        assert parse_datetime(fund["updatedAt"]) >= created_at
        # And it can be read back as it was returned
        assert await fetch_fund(client, fund["id"]) == fund

    @pytest.mark.parametrize(
        ("name", "stored"),
        [
            pytest.param("A", "A", id="one-character"),
            pytest.param("n" * 255, "n" * 255, id="255-characters"),
            pytest.param("\t " + "n" * 255 + " \n", "n" * 255, id="255-after-trimming"),
        ],
    )
    async def test_accepts_a_name_of_1_to_255_characters_after_trimming(
        self, client: httpx.AsyncClient, name: str, stored: str
    ) -> None:
        fund = await create_fund_via_api(client, name=name)

        assert fund["name"] == stored

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            pytest.param("", "Name must not be blank.", id="empty"),
            pytest.param("    ", "Name must not be blank.", id="whitespace-only"),
            pytest.param(
                "n" * 256, "Name must be at most 255 characters (got 256).", id="256-characters"
            ),
            pytest.param(
                "  " + "n" * 256 + "  ",
                "Name must be at most 255 characters (got 256).",
                id="256-after-trimming",
            ),
            pytest.param(
                "Fund\x01One", "Name must not contain control characters.", id="control-character"
            ),
        ],
    )
    async def test_refuses_a_name_that_breaks_the_rules(
        self, client: httpx.AsyncClient, name: str, message: str
    ) -> None:
        # When a fund with this name is created
        payload = await create_fund_payload(client, **fund_input(name=name))

        # Then the name is refused with its path, and no fund exists
        assert payload == {"fund": None, "errors": [validation(message, "name")]}
        assert await fund_count(client) == 0

    @pytest.mark.parametrize(
        "year", [pytest.param(1900, id="1900"), pytest.param(YEAR + 5, id="current+5")]
    )
    async def test_accepts_a_vintage_year_at_the_edges_of_the_range(
        self, client: httpx.AsyncClient, year: int
    ) -> None:
        fund = await create_fund_via_api(client, vintageYear=year)

        assert fund["vintageYear"] == year

    @pytest.mark.parametrize(
        "year", [pytest.param(1899, id="1899"), pytest.param(YEAR + 6, id="current+6")]
    )
    async def test_refuses_a_vintage_year_just_outside_the_range(
        self, client: httpx.AsyncClient, year: int
    ) -> None:
        payload = await create_fund_payload(client, **fund_input(vintageYear=year))

        assert payload == {
            "fund": None,
            "errors": [
                validation(f"Vintage year must be between 1900 and {YEAR + 5}.", "vintageYear")
            ],
        }

    @pytest.mark.parametrize(
        ("amount", "returned"),
        [
            pytest.param("0.01", "0.01", id="one-cent"),
            pytest.param("5", "5.00", id="whole-dollars-as-string"),
            pytest.param(5, "5.00", id="whole-dollars-as-integer"),
            pytest.param("7.5", "7.50", id="one-decimal"),
            pytest.param(" 12.34 ", "12.34", id="surrounding-spaces"),
            pytest.param("1000000000000000", "1000000000000000.00", id="exactly-10^15"),
        ],
    )
    async def test_accepts_a_target_size_and_returns_it_with_two_decimals(
        self, client: httpx.AsyncClient, amount: str | int, returned: str
    ) -> None:
        fund = await create_fund_via_api(client, targetSizeUsd=amount)

        assert fund["targetSizeUsd"] == returned
        assert (await fetch_fund(client, fund["id"]) or {})["targetSizeUsd"] == returned

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            pytest.param("0", "Target size must be greater than 0.", id="zero"),
            pytest.param("-1", "Target size must be greater than 0.", id="negative"),
            pytest.param("10.001", "Target size must have at most 2 decimal places.", id="3dp"),
            pytest.param(
                "1000000000000000.01",
                "Target size must be at most 1,000,000,000,000,000.",
                id="10^15-plus-a-cent",
            ),
        ],
    )
    async def test_refuses_a_target_size_that_breaks_the_rules(
        self, client: httpx.AsyncClient, amount: str, message: str
    ) -> None:
        payload = await create_fund_payload(client, **fund_input(targetSizeUsd=amount))

        assert payload == {"fund": None, "errors": [validation(message, "targetSizeUsd")]}

    @pytest.mark.parametrize(
        ("cap", "returned"),
        [
            pytest.param(None, None, id="null"),
            pytest.param("1000000", "1000000.00", id="equal-to-target"),
        ],
    )
    async def test_accepts_a_hard_cap_that_is_null_or_at_least_the_target(
        self, client: httpx.AsyncClient, cap: str | None, returned: str | None
    ) -> None:
        fund = await create_fund_via_api(client, targetSizeUsd="1000000", hardCapUsd=cap)

        assert fund["hardCapUsd"] == returned

    @pytest.mark.parametrize(
        ("cap", "message"),
        [
            pytest.param(
                "999999.99",
                "Hard cap must be greater than or equal to the target size.",
                id="below-target",
            ),
            pytest.param(
                "1000000.001", "Hard cap must have at most 2 decimal places.", id="3-decimals"
            ),
        ],
    )
    async def test_refuses_a_hard_cap_that_breaks_the_rules(
        self, client: httpx.AsyncClient, cap: str, message: str
    ) -> None:
        payload = await create_fund_payload(
            client, **fund_input(targetSizeUsd="1000000", hardCapUsd=cap)
        )

        assert payload == {"fund": None, "errors": [validation(message, "hardCapUsd")]}

    async def test_reports_several_field_errors_together(self, client: httpx.AsyncClient) -> None:
        # Given an input where every field breaks a rule
        input = {
            "name": " ",
            "vintageYear": 1899,
            "targetSizeUsd": "0",
            "hardCapUsd": "10.001",
        }

        # When the fund is created
        payload = await create_fund_payload(client, **input)

        # Then every field comes back, each with its path, and nothing was created
        assert payload["fund"] is None
        assert payload["errors"] == [
            validation("Name must not be blank.", "name"),
            validation(f"Vintage year must be between 1900 and {YEAR + 5}.", "vintageYear"),
            validation("Target size must be greater than 0.", "targetSizeUsd"),
            validation("Hard cap must have at most 2 decimal places.", "hardCapUsd"),
        ]
        assert await fund_count(client) == 0

    @pytest.mark.parametrize("field", ["targetSizeUsd", "hardCapUsd"])
    async def test_refuses_a_json_float_for_money_with_a_top_level_error(
        self, client: httpx.AsyncClient, field: str
    ) -> None:
        # When an amount is sent as a JSON number with a fraction
        body = await send(client, CREATE_FUND, {"input": fund_input(**{field: 1000000.1})})

        # Then GraphQL refuses the variables, saying to send a string, and nothing is created
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "must be sent as a string" in body["errors"][0]["message"]
        assert body["data"] is None
        assert await fund_count(client) == 0

    @pytest.mark.parametrize("status", ["INVESTING", "CLOSED"])
    async def test_creates_a_fund_in_the_status_asked_for(
        self, client: httpx.AsyncClient, status: str
    ) -> None:
        fund = await create_fund_via_api(client, status=status)

        assert fund["status"] == status


class TestUpdateFundMutation:
    async def test_changes_only_the_fields_given(self, client: httpx.AsyncClient) -> None:
        # Given a fund
        fund = await create_fund_via_api(client, name="Before", hardCapUsd="2000000")

        # When only its vintage year is changed
        payload = await update_fund(client, id=fund["id"], vintageYear=2022)

        # Then only the vintage year, the version and updatedAt moved
        assert payload["errors"] == []
        changed = payload["fund"]
        assert parse_datetime(changed["updatedAt"]) > parse_datetime(fund["updatedAt"])
        assert changed == fund | {
            "vintageYear": 2022,
            "version": 2,
            "updatedAt": changed["updatedAt"],
        }
        assert await fetch_fund(client, fund["id"]) == changed

    async def test_changes_every_field_at_once(self, client: httpx.AsyncClient) -> None:
        fund = await create_fund_via_api(client)

        payload = await update_fund(
            client,
            id=fund["id"],
            name=" Renamed ",
            vintageYear=YEAR + 5,
            targetSizeUsd="2000000",
            hardCapUsd="2500000.1",
            status="INVESTING",
        )

        changed = payload["fund"]
        assert payload["errors"] == []
        assert (
            changed["name"],
            changed["vintageYear"],
            changed["targetSizeUsd"],
            changed["hardCapUsd"],
            changed["status"],
            changed["version"],
        ) == ("Renamed", YEAR + 5, "2000000.00", "2500000.10", "INVESTING", 2)

    async def test_bumps_the_version_by_one_on_every_change(
        self, client: httpx.AsyncClient
    ) -> None:
        fund = await create_fund_via_api(client)

        first = await update_fund(client, id=fund["id"], name="Second")
        second = await update_fund(client, id=fund["id"], targetSizeUsd="2000000")

        assert [first["fund"]["version"], second["fund"]["version"]] == [2, 3]
        assert second["fund"]["createdAt"] == fund["createdAt"]
        assert (
            parse_datetime(fund["updatedAt"])
            < parse_datetime(first["fund"]["updatedAt"])
            < parse_datetime(second["fund"]["updatedAt"])
        )

    async def test_keeps_version_and_updated_at_on_an_update_that_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        # Given a fund
        fund = await create_fund_via_api(client, name="Same", targetSizeUsd="1000000")

        # When it is sent the values it already has
        payload = await update_fund(
            client,
            id=fund["id"],
            name="  Same ",
            vintageYear=fund["vintageYear"],
            targetSizeUsd="1000000.0",
            hardCapUsd=None,
            status="FUNDRAISING",
            expectedVersion=1,
        )

        # Then nothing changed
        assert payload == {"fund": fund, "errors": []}
        assert await fetch_fund(client, fund["id"]) == fund

    async def test_removes_the_hard_cap_when_sent_null(self, client: httpx.AsyncClient) -> None:
        fund = await create_fund_via_api(client, hardCapUsd="5000000")

        payload = await update_fund(client, id=fund["id"], hardCapUsd=None)

        assert payload["fund"]["hardCapUsd"] is None
        assert payload["fund"]["version"] == 2

    async def test_keeps_the_hard_cap_when_it_is_left_out(self, client: httpx.AsyncClient) -> None:
        fund = await create_fund_via_api(client, hardCapUsd="5000000")

        payload = await update_fund(client, id=fund["id"], targetSizeUsd="4000000")

        assert payload["fund"]["hardCapUsd"] == "5000000.00"

    @pytest.mark.parametrize("field", ["name", "vintageYear", "targetSizeUsd", "status"])
    async def test_refuses_null_for_a_field_that_cannot_be_empty(
        self, client: httpx.AsyncClient, field: str
    ) -> None:
        # Given a fund
        fund = await create_fund_via_api(client)

        # When the field is sent as null
        payload = await update_fund(client, id=fund["id"], **{field: None})

        # Then it is refused with its path, and the fund is as it was
        assert payload == {"fund": None, "errors": [validation("Must not be null.", field)]}
        assert await fetch_fund(client, fund["id"]) == fund

    async def test_reports_every_null_field_together(self, client: httpx.AsyncClient) -> None:
        fund = await create_fund_via_api(client)

        payload = await update_fund(
            client, id=fund["id"], name=None, vintageYear=None, targetSizeUsd=None, status=None
        )

        assert [error["field"] for error in payload["errors"]] == [
            ["input", "name"],
            ["input", "vintageYear"],
            ["input", "targetSizeUsd"],
            ["input", "status"],
        ]
        assert {error["code"] for error in payload["errors"]} == {"VALIDATION"}

    @pytest.mark.parametrize(
        ("input", "error"),
        [
            pytest.param(
                {"name": "n" * 256},
                validation("Name must be at most 255 characters (got 256).", "name"),
                id="name-too-long",
            ),
            pytest.param(
                {"vintageYear": YEAR + 6},
                validation(f"Vintage year must be between 1900 and {YEAR + 5}.", "vintageYear"),
                id="vintage-year-too-late",
            ),
            pytest.param(
                {"targetSizeUsd": "0.001"},
                validation("Target size must have at most 2 decimal places.", "targetSizeUsd"),
                id="sub-cent-target",
            ),
            pytest.param(
                {"hardCapUsd": "999999.99"},
                validation(
                    "Hard cap must be greater than or equal to the target size.", "hardCapUsd"
                ),
                id="cap-below-target",
            ),
        ],
    )
    async def test_refuses_a_change_that_breaks_a_field_rule(
        self, client: httpx.AsyncClient, input: dict[str, Any], error: dict[str, Any]
    ) -> None:
        fund = await create_fund_via_api(client, targetSizeUsd="1000000")

        payload = await update_fund(client, id=fund["id"], **input)

        assert payload == {"fund": None, "errors": [error]}
        assert await fetch_fund(client, fund["id"]) == fund

    @pytest.mark.parametrize(
        ("current", "new", "outcome"),
        [
            ("FUNDRAISING", "FUNDRAISING", "no-op"),
            ("FUNDRAISING", "INVESTING", "moved"),
            ("FUNDRAISING", "CLOSED", "moved"),
            ("INVESTING", "FUNDRAISING", "refused"),
            ("INVESTING", "INVESTING", "no-op"),
            ("INVESTING", "CLOSED", "moved"),
            ("CLOSED", "FUNDRAISING", "refused"),
            ("CLOSED", "INVESTING", "refused"),
            ("CLOSED", "CLOSED", "no-op"),
        ],
    )
    async def test_moves_status_forward_only(
        self, client: httpx.AsyncClient, current: str, new: str, outcome: str
    ) -> None:
        # Given a fund in the current status
        fund = await create_fund_via_api(client, status=current)

        # When its status is set
        payload = await update_fund(client, id=fund["id"], status=new)

        # Then it moved with one new version, or stayed exactly as it was
        if outcome == "refused":
            assert payload == {
                "fund": None,
                "errors": [
                    {
                        "code": "INVALID_STATUS_TRANSITION",
                        "message": f"A {current} fund cannot move to {new}.",
                        "field": ["input", "status"],
                    }
                ],
            }
        elif outcome == "no-op":
            assert payload == {"fund": fund, "errors": []}
        else:
            assert payload["errors"] == []
            assert (payload["fund"]["status"], payload["fund"]["version"]) == (new, 2)
        stored = await fetch_fund(client, fund["id"])
        assert stored == (payload["fund"] if outcome == "moved" else fund)

    async def test_applies_a_change_when_the_expected_version_matches(
        self, client: httpx.AsyncClient
    ) -> None:
        fund = await create_fund_via_api(client)

        payload = await update_fund(client, id=fund["id"], expectedVersion=1, name="Renamed")

        assert payload["errors"] == []
        assert (payload["fund"]["name"], payload["fund"]["version"]) == ("Renamed", 2)

    async def test_refuses_a_stale_expected_version_and_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        # Given a fund someone else has already changed twice (now version 3)
        fund = await create_fund_via_api(client, name="Original")
        await update_fund(client, id=fund["id"], vintageYear=2021)
        current = (await update_fund(client, id=fund["id"], vintageYear=2022))["fund"]

        # When a change is sent expecting version 1
        payload = await update_fund(
            client, id=fund["id"], expectedVersion=1, name="Overwrite", status="CLOSED"
        )

        # Then it is refused, naming the current version, and nothing changed
        assert payload == {
            "fund": None,
            "errors": [
                {
                    "code": "VERSION_CONFLICT",
                    "message": (
                        "Fund was changed by someone else: "
                        "expected version 1, current version is 3."
                    ),
                    "field": ["input", "expectedVersion"],
                }
            ],
        }
        assert await fetch_fund(client, fund["id"]) == current

    async def test_applies_a_change_when_no_expected_version_is_given(
        self, client: httpx.AsyncClient
    ) -> None:
        fund = await create_fund_via_api(client)
        await update_fund(client, id=fund["id"], name="Second")

        payload = await update_fund(client, id=fund["id"], name="Third", expectedVersion=None)

        assert (payload["fund"]["name"], payload["fund"]["version"]) == ("Third", 3)

    async def test_refuses_to_lower_the_hard_cap_below_the_amount_committed(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund with 3,000.00 committed under a cap of 5,000
        fund = await create_fund(db, target_size_usd=Decimal(1000), hard_cap_usd=Decimal(5000))
        await create_investment(db, fund, await create_investor(db), amount_usd=Decimal(3000))

        # When the cap is lowered a cent below the commitments, then to exactly them
        below = await update_fund(client, id=gid(fund), hardCapUsd="2999.99")
        exact = await update_fund(client, id=gid(fund), hardCapUsd="3000")

        # Then the first is refused, the second accepted
        assert below == {
            "fund": None,
            "errors": [
                validation("Hard cap cannot be below the 3000.00 already committed.", "hardCapUsd")
            ],
        }
        assert exact["errors"] == []
        assert (exact["fund"]["hardCapUsd"], exact["fund"]["version"]) == ("3000.00", 2)

    @pytest.mark.parametrize(
        "fund_id",
        [
            pytest.param(to_global_id("Fund", uuid.uuid4()), id="unknown-fund"),
            pytest.param("not-an-id", id="malformed"),
            pytest.param("", id="empty"),
            pytest.param(to_global_id("Investor", uuid.uuid4()), id="another-type"),
        ],
    )
    async def test_answers_not_found_for_an_id_that_is_not_a_fund(
        self, client: httpx.AsyncClient, fund_id: str
    ) -> None:
        payload = await update_fund(client, id=fund_id, name="Anything")

        assert payload == {
            "fund": None,
            "errors": [
                {"code": "NOT_FOUND", "message": "Fund not found.", "field": ["input", "id"]}
            ],
        }

    async def test_answers_not_found_for_an_investors_id(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an investor
        investor = await create_investor(db)

        # When the investor's ID is passed as a fund ID
        payload = await update_fund(client, id=gid(investor), name="Anything")

        # Then no fund is found
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("NOT_FOUND", ["input", "id"])
        ]

    async def test_answers_not_found_for_a_funds_key_under_another_type_name(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)

        payload = await update_fund(client, id=to_global_id("Investor", fund.id), name="Anything")

        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
        assert (await fetch_fund(client, gid(fund)) or {})["name"] == fund.name


class TestFundQuery:
    async def test_returns_the_fund(self, client: httpx.AsyncClient, db: Database) -> None:
        fund = await create_fund(
            db,
            name="Contoso Buyout II",
            vintage_year=2019,
            target_size_usd=Decimal("750000000"),
            hard_cap_usd=Decimal("900000000.5"),
            status=FundStatus.INVESTING,
        )

        found = await fetch_fund(client, gid(fund))

        assert found is not None
        assert {k: v for k, v in found.items() if k not in ("createdAt", "updatedAt")} == {
            "id": gid(fund),
            "name": "Contoso Buyout II",
            "vintageYear": 2019,
            "targetSizeUsd": "750000000.00",
            "hardCapUsd": "900000000.50",
            "status": "INVESTING",
            "version": 1,
        }
        assert parse_datetime(found["createdAt"]) == fund.created_at

    @pytest.mark.parametrize(
        "fund_id",
        [
            pytest.param(to_global_id("Fund", uuid.uuid4()), id="unknown-fund"),
            pytest.param("not-an-id", id="malformed"),
            pytest.param("RnVuZDp", id="truncated-base64"),
            pytest.param("", id="empty"),
            pytest.param("F" * 10_240, id="ten-kilobytes"),
            pytest.param(to_global_id("Investor", uuid.uuid4()), id="another-type"),
        ],
    )
    async def test_answers_null_without_errors_for_an_id_that_is_not_a_fund(
        self, client: httpx.AsyncClient, db: Database, fund_id: str
    ) -> None:
        # Given a fund exists
        await create_fund(db)

        # When another ID is asked for
        body = await send(client, FUNDS_BY_ID, {"id": fund_id})

        # Then the answer is null, not an error
        assert without_cost(body) == {"data": {"fund": None}}

    async def test_answers_null_for_an_investors_id(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        body = await send(client, FUNDS_BY_ID, {"id": gid(investor)})

        assert without_cost(body) == {"data": {"fund": None}}


class TestFundsQuery:
    async def _three_funds(self, client: httpx.AsyncClient) -> None:
        await create_fund_via_api(
            client, name="Alpha Growth", vintageYear=2018, targetSizeUsd="100"
        )
        await create_fund_via_api(
            client, name="beta 50%_off", vintageYear=2020, targetSizeUsd="200", status="CLOSED"
        )
        await create_fund_via_api(
            client, name="Gamma GROWTH", vintageYear=2022, targetSizeUsd="300.01"
        )

    async def test_lists_funds_in_creation_order_with_their_count(
        self, client: httpx.AsyncClient
    ) -> None:
        await self._three_funds(client)

        data = await data_of(client, FUNDS, {})

        assert data["funds"]["totalCount"] == 3
        assert [f["name"] for f in data["funds"]["nodes"]] == [
            "Alpha Growth",
            "beta 50%_off",
            "Gamma GROWTH",
        ]

    @pytest.mark.parametrize(
        ("filter", "names"),
        [
            pytest.param(
                {"name": {"contains": "growth"}},
                ["Alpha Growth", "Gamma GROWTH"],
                id="name-contains-ignoring-case",
            ),
            pytest.param({"name": {"contains": "%_"}}, ["beta 50%_off"], id="wildcards-literal"),
            pytest.param({"name": {"contains": "a%"}}, [], id="percent-is-not-a-wildcard"),
            pytest.param(
                {"status": {"in": ["FUNDRAISING"]}},
                ["Alpha Growth", "Gamma GROWTH"],
                id="status-in",
            ),
            pytest.param(
                {"vintageYear": {"gte": 2019, "lte": 2022}},
                ["beta 50%_off", "Gamma GROWTH"],
                id="vintage-year-range",
            ),
            pytest.param(
                {"targetSizeUsd": {"gt": "200"}}, ["Gamma GROWTH"], id="target-size-above"
            ),
            pytest.param(
                {"name": {"contains": "'; DROP TABLE funds; --"}}, [], id="sql-looking-text"
            ),
        ],
    )
    async def test_filters_funds(
        self, client: httpx.AsyncClient, filter: dict[str, Any], names: list[str]
    ) -> None:
        await self._three_funds(client)

        body = await send(client, FUNDS, {"filter": filter})

        assert [f["name"] for f in body["data"]["funds"]["nodes"]] == names
        assert body["data"]["funds"]["totalCount"] == len(names)

    async def test_sorts_funds_by_target_size_descending(self, client: httpx.AsyncClient) -> None:
        await self._three_funds(client)

        data = await data_of(
            client, FUNDS, {"orderBy": [{"field": "TARGET_SIZE_USD", "direction": "DESC"}]}
        )

        assert [f["name"] for f in data["funds"]["nodes"]] == [
            "Gamma GROWTH",
            "beta 50%_off",
            "Alpha Growth",
        ]

    async def test_pages_through_funds_with_cursors(self, client: httpx.AsyncClient) -> None:
        await self._three_funds(client)

        first = (await data_of(client, FUNDS, {"first": 2}))["funds"]
        rest = (
            await data_of(client, FUNDS, {"first": 2, "after": first["pageInfo"]["endCursor"]})
        )["funds"]

        assert [f["name"] for f in first["nodes"]] == ["Alpha Growth", "beta 50%_off"]
        assert first["pageInfo"]["hasNextPage"] is True
        assert [f["name"] for f in rest["nodes"]] == ["Gamma GROWTH"]
        assert rest["pageInfo"]["hasNextPage"] is False
        assert rest["pageInfo"]["hasPreviousPage"] is True

    async def test_refuses_a_page_larger_than_100(self, client: httpx.AsyncClient) -> None:
        body = await send(client, FUNDS, {"first": 101})

        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["message"] == "`first` must be between 0 and 100 (got 101)."
