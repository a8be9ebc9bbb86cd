"""createInvestor and updateInvestor through the real app: field rules, emails, versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from graphql_api.db.models import InvestorType
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.factories import create_fund, create_investor, gid
from tests.graphql import data_of, error_codes, execute

CREATE_INVESTOR = """
mutation CreateInvestor($input: CreateInvestorInput!) {
  createInvestor(input: $input) {
    investor { id name investorType email version createdAt updatedAt }
    errors { code message field }
  }
}
"""

UPDATE_INVESTOR = """
mutation UpdateInvestor($input: UpdateInvestorInput!) {
  updateInvestor(input: $input) {
    investor { id name investorType email version createdAt updatedAt }
    errors { code message field }
  }
}
"""

INVESTOR = """
query Investor($id: ID!) {
  investor(id: $id) { id name investorType email version updatedAt }
}
"""

INVESTOR_COUNT = """
query InvestorCount { investors { totalCount } }
"""

# A 64-character local part and four 63-character labels: 324 characters.
EMAIL_321_PLUS = "a" * 64 + "@" + ("b" * 63 + ".") * 4 + "com"


def _valid_input(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Acme Pension Fund",
        "investorType": "INSTITUTION",
        "email": "ops@acme.example.com",
    } | overrides


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    data = await data_of(client, CREATE_INVESTOR, {"input": _valid_input(**overrides)})
    payload: dict[str, Any] = data["createInvestor"]
    return payload


async def _update(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    data = await data_of(client, UPDATE_INVESTOR, {"input": fields})
    payload: dict[str, Any] = data["updateInvestor"]
    return payload


async def _investor(client: httpx.AsyncClient, investor_id: str) -> dict[str, Any]:
    data = await data_of(client, INVESTOR, {"id": investor_id})
    investor: dict[str, Any] = data["investor"]
    return investor


async def _investor_count(client: httpx.AsyncClient) -> int:
    data = await data_of(client, INVESTOR_COUNT)
    return int(data["investors"]["totalCount"])


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _only_error(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["investor"] is None
    assert len(payload["errors"]) == 1, payload["errors"]
    error: dict[str, Any] = payload["errors"][0]
    return error


class TestCreateInvestorName:
    @pytest.mark.parametrize("name", ["", "   ", "\t\n ", "\u3000"])
    async def test_refuses_a_blank_name(self, client: httpx.AsyncClient, name: str) -> None:
        # When an investor is created with a name that is empty after trimming
        payload = await _create(client, name=name)

        # Then it is refused on the name field, and nothing was created
        error = _only_error(payload)
        assert error == {
            "code": "VALIDATION",
            "message": "Name must not be blank.",
            "field": ["input", "name"],
        }
        assert await _investor_count(client) == 0

    async def test_accepts_255_characters_after_trimming_and_stores_them_trimmed(
        self, client: httpx.AsyncClient
    ) -> None:
        # Given a 255-character name with blanks around it
        name = "N" * 255

        # When the investor is created
        payload = await _create(client, name=f"   {name}  ")

        # Then it exists with the trimmed name
        assert payload["errors"] == []
        assert payload["investor"]["name"] == name
        assert (await _investor(client, payload["investor"]["id"]))["name"] == name

    async def test_refuses_256_characters_after_trimming(self, client: httpx.AsyncClient) -> None:
        payload = await _create(client, name=" " + "N" * 256 + " ")

        error = _only_error(payload)
        assert error["code"] == "VALIDATION"
        assert error["field"] == ["input", "name"]
        assert "255" in error["message"]
        assert "256" in error["message"]
        assert await _investor_count(client) == 0

    async def test_counts_characters_not_bytes(self, client: httpx.AsyncClient) -> None:
        # Given a name of 255 four-byte characters
        name = "🚀" * 255

        # When the investor is created, then it is accepted unchanged
        payload = await _create(client, name=name)

        assert payload["errors"] == []
        assert (await _investor(client, payload["investor"]["id"]))["name"] == name

    @pytest.mark.parametrize(
        "name",
        ["Acme\x00Capital", "Acme\nCapital", "Acme\tCapital", "Acme\x1bCapital", "Acme\x7f"],
        ids=["nul", "newline", "tab", "escape", "delete"],
    )
    async def test_refuses_control_characters_inside_the_name(
        self, client: httpx.AsyncClient, name: str
    ) -> None:
        payload = await _create(client, name=name)

        error = _only_error(payload)
        assert error == {
            "code": "VALIDATION",
            "message": "Name must not contain control characters.",
            "field": ["input", "name"],
        }
        assert await _investor_count(client) == 0


class TestCreateInvestorType:
    @pytest.mark.parametrize("investor_type", [t.value for t in InvestorType])
    async def test_accepts_every_investor_type(
        self, client: httpx.AsyncClient, investor_type: str
    ) -> None:
        payload = await _create(client, investorType=investor_type)

        assert payload["errors"] == []
        investor = await _investor(client, payload["investor"]["id"])
        assert investor["investorType"] == investor_type

    async def test_refuses_an_unknown_investor_type_before_executing(
        self, client: httpx.AsyncClient
    ) -> None:
        body = await execute(
            client, CREATE_INVESTOR, {"input": _valid_input(investorType="HEDGE_FUND")}
        )

        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert await _investor_count(client) == 0


class TestCreateInvestorEmail:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("jane@example.com", "jane@example.com"),
            ("  Jane.Doe@Example.COM  ", "jane.doe@example.com"),
            ("O'Neil+Funds@Sub.Example.co.uk", "o'neil+funds@sub.example.co.uk"),
            ("Zoë@Example.com", "zoë@example.com"),
        ],
    )
    async def test_stores_a_valid_address_trimmed_and_in_lower_case(
        self, client: httpx.AsyncClient, given: str, stored: str
    ) -> None:
        payload = await _create(client, email=given)

        assert payload["errors"] == []
        assert payload["investor"]["email"] == stored
        assert (await _investor(client, payload["investor"]["id"]))["email"] == stored

    @pytest.mark.parametrize(
        "email",
        [
            "jane.example.com",
            "jane@@example.com",
            "jane@doe@example.com",
            "jane doe@example.com",
            "jane@exa mple.com",
            "",
            "   ",
            "jane@",
            "@example.com",
            EMAIL_321_PLUS,
            "jane\x00@example.com",
            "jane@example.com\x00",
        ],
        ids=[
            "no-at",
            "double-at",
            "two-ats",
            "space-in-local-part",
            "space-in-domain",
            "empty",
            "blank",
            "no-domain",
            "no-local-part",
            "321-plus-characters",
            "nul-in-local-part",
            "nul-at-end",
        ],
    )
    async def test_refuses_an_invalid_address_on_the_email_field(
        self, client: httpx.AsyncClient, email: str
    ) -> None:
        payload = await _create(client, email=email)

        error = _only_error(payload)
        assert error["code"] == "VALIDATION"
        assert error["field"] == ["input", "email"]
        assert error["message"]
        assert await _investor_count(client) == 0

    async def test_refuses_an_address_in_use_in_another_letter_case(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an investor with an email address
        await create_investor(db, email="jane@example.com")

        # When another investor is created with the same address in other letter case
        payload = await _create(client, email="  JANE@Example.Com ")

        # Then it is refused as a duplicate and only the first investor exists
        error = _only_error(payload)
        assert error["code"] == "DUPLICATE_EMAIL"
        assert error["field"] == ["input", "email"]
        assert "jane@example.com" in error["message"]
        assert await _investor_count(client) == 1

    async def test_treats_composed_and_decomposed_accents_as_the_same_address(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await create_investor(db, email="zoë@example.com")

        payload = await _create(client, email="ZOE\u0308@example.com")

        assert _only_error(payload)["code"] == "DUPLICATE_EMAIL"


class TestCreateInvestor:
    async def test_returns_the_new_investor_at_version_one(self, client: httpx.AsyncClient) -> None:
        payload = await _create(client, name="Acme", investorType="FAMILY_OFFICE")

        assert payload["errors"] == []
        investor = payload["investor"]
        assert investor["name"] == "Acme"
        assert investor["investorType"] == "FAMILY_OFFICE"
        assert investor["version"] == 1
        assert investor["createdAt"].endswith("Z")
        assert await _investor(client, investor["id"]) == {
            key: investor[key]
            for key in ("id", "name", "investorType", "email", "version", "updatedAt")
        }

    async def test_reports_every_broken_field_together(self, client: httpx.AsyncClient) -> None:
        payload = await _create(client, name="  ", email="not-an-address")

        assert payload["investor"] is None
        assert sorted((e["code"], e["field"][1]) for e in payload["errors"]) == [
            ("VALIDATION", "email"),
            ("VALIDATION", "name"),
        ]
        assert await _investor_count(client) == 0


class TestUpdateInvestor:
    async def test_changes_only_the_given_fields(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an investor
        investor = await create_investor(
            db, name="Acme", email="acme@example.com", investor_type=InvestorType.INSTITUTION
        )

        # When only its type changes
        payload = await _update(client, id=gid(investor), investorType="FAMILY_OFFICE")

        # Then name and email stay as they were and the version moves on
        assert payload["errors"] == []
        stored = await _investor(client, gid(investor))
        assert stored["investorType"] == "FAMILY_OFFICE"
        assert stored["name"] == "Acme"
        assert stored["email"] == "acme@example.com"
        assert stored["version"] == 2

    async def test_trims_and_normalises_like_create(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        payload = await _update(
            client, id=gid(investor), name="  New Name ", email=" New@Example.COM "
        )

        assert payload["errors"] == []
        assert payload["investor"]["name"] == "New Name"
        assert payload["investor"]["email"] == "new@example.com"

    async def test_bumps_the_version_and_updated_at_on_every_change(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db, name="First")
        before = await _investor(client, gid(investor))

        second = await _update(client, id=gid(investor), name="Second", expectedVersion=1)
        third = await _update(client, id=gid(investor), name="Third", expectedVersion=2)

        assert second["investor"]["version"] == 2
        assert third["investor"]["version"] == 3
        assert _moment(third["investor"]["updatedAt"]) > _moment(before["updatedAt"])
        assert (await _investor(client, gid(investor)))["name"] == "Third"

    async def test_keeps_the_version_when_nothing_actually_changes(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db, name="Same")

        payload = await _update(client, id=gid(investor), name="  Same ")

        assert payload["errors"] == []
        assert payload["investor"]["version"] == 1

    async def test_refuses_a_stale_expected_version_and_changes_nothing(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given an investor that someone already changed twice
        investor = await create_investor(db, name="Original")
        await _update(client, id=gid(investor), name="Changed once")
        await _update(client, id=gid(investor), name="Changed twice")

        # When a client still at version 1 tries to change it
        payload = await _update(
            client, id=gid(investor), expectedVersion=1, name="Lost update", email="x@example.com"
        )

        # Then the conflict names the current version and nothing changed
        error = _only_error(payload)
        assert error["code"] == "VERSION_CONFLICT"
        assert error["field"] == ["input", "expectedVersion"]
        assert "current version is 3" in error["message"]
        stored = await _investor(client, gid(investor))
        assert stored["name"] == "Changed twice"
        assert stored["version"] == 3

    async def test_allows_its_own_email_in_another_letter_case(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db, email="jane@example.com")

        payload = await _update(client, id=gid(investor), email="JANE@EXAMPLE.COM")

        assert payload["errors"] == []
        assert payload["investor"]["email"] == "jane@example.com"

    async def test_refuses_another_investors_email_in_any_letter_case(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given two investors
        await create_investor(db, email="taken@example.com")
        investor = await create_investor(db, email="mine@example.com", name="Mine")

        # When one takes the other's address, in other letter case
        payload = await _update(client, id=gid(investor), name="Renamed", email="Taken@Example.com")

        # Then it is a duplicate and the investor is unchanged
        error = _only_error(payload)
        assert error["code"] == "DUPLICATE_EMAIL"
        assert error["field"] == ["input", "email"]
        stored = await _investor(client, gid(investor))
        assert (stored["name"], stored["email"], stored["version"]) == (
            "Mine",
            "mine@example.com",
            1,
        )

    @pytest.mark.parametrize(
        ("field", "invalid", "path"),
        [
            ("name", "", "name"),
            ("name", "N" * 256, "name"),
            ("name", "bad\x00name", "name"),
            ("email", "no-at-sign", "email"),
            ("email", EMAIL_321_PLUS, "email"),
        ],
        ids=["blank-name", "long-name", "nul-in-name", "email-without-at", "long-email"],
    )
    async def test_applies_the_create_rules_to_changed_fields(
        self, client: httpx.AsyncClient, db: Database, field: str, invalid: str, path: str
    ) -> None:
        investor = await create_investor(db, name="Kept", email="kept@example.com")

        payload = await _update(client, id=gid(investor), **{field: invalid})

        error = _only_error(payload)
        assert error["code"] == "VALIDATION"
        assert error["field"] == ["input", path]
        stored = await _investor(client, gid(investor))
        assert (stored["name"], stored["email"], stored["version"]) == (
            "Kept",
            "kept@example.com",
            1,
        )

    async def test_reports_every_broken_field_together(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        payload = await _update(client, id=gid(investor), name=" ", email="a@b@c")

        assert payload["investor"] is None
        assert sorted(e["field"][1] for e in payload["errors"]) == ["email", "name"]
        assert {e["code"] for e in payload["errors"]} == {"VALIDATION"}

    @pytest.mark.parametrize("field", ["name", "investorType", "email"])
    async def test_refuses_an_explicit_null(
        self, client: httpx.AsyncClient, db: Database, field: str
    ) -> None:
        investor = await create_investor(db, name="Kept")

        payload = await _update(client, id=gid(investor), **{field: None})

        assert _only_error(payload) == {
            "code": "VALIDATION",
            "message": "Must not be null.",
            "field": ["input", field],
        }
        stored = await _investor(client, gid(investor))
        assert (stored["name"], stored["version"]) == ("Kept", 1)

    async def test_reports_every_explicit_null_together(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        payload = await _update(client, id=gid(investor), name=None, investorType=None, email=None)

        assert payload["investor"] is None
        assert [e["field"] for e in payload["errors"]] == [
            ["input", "name"],
            ["input", "investorType"],
            ["input", "email"],
        ]
        assert {e["message"] for e in payload["errors"]} == {"Must not be null."}

    async def test_treats_a_null_expected_version_as_not_given(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        payload = await _update(client, id=gid(investor), expectedVersion=None, name="Renamed")

        assert payload["errors"] == []
        assert payload["investor"]["name"] == "Renamed"


class TestUpdateInvestorId:
    @pytest.mark.parametrize(
        "investor_id",
        [
            to_global_id("Investor", uuid.UUID(int=1)),
            "not-an-id",
            "Z2FyYmFnZQ==",
            "SW52ZXN0b3I6bm90LWEtdXVpZA==",
            f"Investor:{uuid.UUID(int=1)}",
            "",
        ],
        ids=["missing", "garbage", "base64-garbage", "base64-bad-uuid", "not-encoded", "empty"],
    )
    async def test_answers_not_found_for_an_id_that_names_no_investor(
        self, client: httpx.AsyncClient, db: Database, investor_id: str
    ) -> None:
        await create_investor(db)

        payload = await _update(client, id=investor_id, name="Renamed")

        assert _only_error(payload) == {
            "code": "NOT_FOUND",
            "message": "Investor not found.",
            "field": ["input", "id"],
        }

    async def test_answers_not_found_for_another_types_id(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Given a fund, whose ID is a well-formed ID of another type
        fund = await create_fund(db)

        payload = await _update(client, id=gid(fund), name="Renamed")

        assert _only_error(payload)["code"] == "NOT_FOUND"
        assert _only_error(payload)["field"] == ["input", "id"]

    async def test_refuses_an_id_of_the_wrong_graphql_type_before_executing(
        self, client: httpx.AsyncClient
    ) -> None:
        body = await execute(client, UPDATE_INVESTOR, {"input": {"id": 12.5, "name": "x"}})

        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
