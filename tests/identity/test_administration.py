"""Administration: createUser, setUserRole, deactivateUser (and who may use them)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from graphql_api.auth.principal import Role
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.conftest import api_key_for
from tests.factories import create_fund, create_investor, gid
from tests.graphql import data_of, error_codes, execute
from tests.identity.support import (
    PASSWORD,
    assert_unauthenticated,
    bearer,
    create_user,
    http_client,
    login,
    refresh,
    session_of,
    status_with,
    unique_email,
    unique_ip,
    user_gid,
)

USER_FIELDS = "user { id email role isActive emailVerified investor { id } }"
CREATE_USER = f"""
mutation CreateUser($email: String!, $password: String!, $role: Role!, $investorId: ID) {{
  createUser(input: {{ email: $email, password: $password, role: $role,
                       investorId: $investorId }}) {{
    {USER_FIELDS} errors {{ code field }}
  }}
}}
"""
SET_USER_ROLE = f"""
mutation SetRole($id: ID!, $role: Role!, $investorId: ID) {{
  setUserRole(input: {{ userId: $id, role: $role, investorId: $investorId }}) {{
    {USER_FIELDS} errors {{ code field }}
  }}
}}
"""
DEACTIVATE_USER = f"""
mutation Deactivate($id: ID!) {{
  deactivateUser(input: {{ userId: $id }}) {{ {USER_FIELDS} errors {{ code field }} }}
}}
"""
CREATE_API_KEY = """
mutation { createApiKey(input: { name: "x", role: ADMIN }) { secret errors { code } } }
"""
REVOKE_API_KEY = """
mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } errors { code } } }
"""


def new_user(role: str = "ANALYST", **overrides: Any) -> dict[str, Any]:
    return {"email": unique_email(role.lower()), "password": PASSWORD, "role": role} | overrides


def codes_and_fields(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["errors"]]


class TestCreateUser:
    async def test_creates_a_user_who_can_log_in(self, client: httpx.AsyncClient) -> None:
        variables = new_user("MANAGER")
        variables["email"] = variables["email"].upper()

        data = await data_of(client, CREATE_USER, variables)
        payload = await login(client, variables["email"])

        user = data["createUser"]["user"]
        assert data["createUser"]["errors"] == []
        assert user["email"] == variables["email"].lower()
        assert user["role"] == "MANAGER"
        assert user["isActive"] is True
        assert user["emailVerified"] is True
        assert user["investor"] is None
        assert payload["user"]["id"] == user["id"]

    async def test_links_an_investor_user_to_its_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        data = await data_of(client, CREATE_USER, new_user("INVESTOR", investorId=gid(investor)))

        assert data["createUser"]["user"]["investor"] == {"id": gid(investor)}

    async def test_only_an_investor_user_links_to_an_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        investor = await create_investor(db)

        data = await data_of(client, CREATE_USER, new_user("MANAGER", investorId=gid(investor)))

        assert data["createUser"]["user"] is None
        assert codes_and_fields(data["createUser"]) == [("VALIDATION", ["input", "investorId"])]

    @pytest.mark.parametrize(
        "investor_id",
        [
            pytest.param(to_global_id("Investor", uuid.uuid4()), id="no such investor"),
            pytest.param("bm90LWFuLWlk", id="malformed"),
        ],
    )
    async def test_an_unknown_investor_is_not_found(
        self, client: httpx.AsyncClient, investor_id: str
    ) -> None:
        data = await data_of(client, CREATE_USER, new_user("INVESTOR", investorId=investor_id))

        assert codes_and_fields(data["createUser"]) == [("NOT_FOUND", ["input", "investorId"])]

    async def test_a_fund_id_is_not_an_investor(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        fund = await create_fund(db)

        data = await data_of(client, CREATE_USER, new_user("INVESTOR", investorId=gid(fund)))

        assert codes_and_fields(data["createUser"]) == [("NOT_FOUND", ["input", "investorId"])]

    async def test_a_taken_email_is_a_duplicate_in_any_letter_case(
        self, client: httpx.AsyncClient
    ) -> None:
        first = new_user()
        await data_of(client, CREATE_USER, first)

        data = await data_of(client, CREATE_USER, new_user(email=first["email"].upper()))

        assert codes_and_fields(data["createUser"]) == [("DUPLICATE_EMAIL", ["input", "email"])]

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            pytest.param({"password": "too-short"}, "password", id="short password"),
            pytest.param({"password": "letmein12345"}, "password", id="common password"),
            pytest.param({"email": "not an email"}, "email", id="invalid email"),
        ],
    )
    async def test_invalid_input_is_a_validation_error_with_its_path(
        self, client: httpx.AsyncClient, overrides: dict[str, Any], field: str
    ) -> None:
        data = await data_of(client, CREATE_USER, new_user(**overrides))

        assert data["createUser"]["user"] is None
        assert codes_and_fields(data["createUser"]) == [("VALIDATION", ["input", field])]


class TestSetUserRole:
    async def test_makes_a_user_an_investor_of_a_record(
        self, client: httpx.AsyncClient, app: Any, db: Database
    ) -> None:
        user = await create_user(app, role=Role.ANALYST)
        investor = await create_investor(db)

        data = await data_of(
            client,
            SET_USER_ROLE,
            {"id": user_gid(user.id), "role": "INVESTOR", "investorId": gid(investor)},
        )

        assert data["setUserRole"]["errors"] == []
        assert data["setUserRole"]["user"]["role"] == "INVESTOR"
        assert data["setUserRole"]["user"]["investor"] == {"id": gid(investor)}

    async def test_leaving_the_investor_role_drops_the_link(
        self, client: httpx.AsyncClient, app: Any, db: Database
    ) -> None:
        investor = await create_investor(db)
        user = await create_user(app, role=Role.INVESTOR, investor_id=investor.id)

        data = await data_of(client, SET_USER_ROLE, {"id": user_gid(user.id), "role": "ANALYST"})

        assert data["setUserRole"]["user"]["role"] == "ANALYST"
        assert data["setUserRole"]["user"]["investor"] is None

    async def test_an_investor_link_is_refused_for_other_roles(
        self, client: httpx.AsyncClient, app: Any, db: Database
    ) -> None:
        user = await create_user(app, role=Role.ANALYST)
        investor = await create_investor(db)

        data = await data_of(
            client,
            SET_USER_ROLE,
            {"id": user_gid(user.id), "role": "ADMIN", "investorId": gid(investor)},
        )
        payload = await login(client, user.email)

        assert codes_and_fields(data["setUserRole"]) == [("VALIDATION", ["input", "investorId"])]
        assert payload["user"]["role"] == "ANALYST"

    @pytest.mark.parametrize(
        "user_id",
        [
            pytest.param(user_gid(uuid.uuid4()), id="no such user"),
            pytest.param(to_global_id("Fund", uuid.uuid4()), id="another type"),
        ],
    )
    async def test_an_unknown_user_is_not_found(
        self, client: httpx.AsyncClient, user_id: str
    ) -> None:
        data = await data_of(client, SET_USER_ROLE, {"id": user_id, "role": "ADMIN"})

        assert codes_and_fields(data["setUserRole"]) == [("NOT_FOUND", ["input", "userId"])]


class TestDeactivateUser:
    async def test_ends_access_refresh_and_login_at_once(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)

            data = await data_of(client, DEACTIVATE_USER, {"id": user_gid(user.id)})
            next_request = await status_with(http, bearer(session.access))
            refreshed = await refresh(http, session.refresh)
            again = await login(http, user.email)

        assert data["deactivateUser"]["user"]["isActive"] is False
        assert_unauthenticated(next_request)
        assert [error["code"] for error in refreshed["errors"]] == ["INVALID_TOKEN"]
        assert [error["code"] for error in again["errors"]] == ["INVALID_CREDENTIALS"]

    async def test_an_unknown_user_is_not_found(self, client: httpx.AsyncClient) -> None:
        data = await data_of(client, DEACTIVATE_USER, {"id": user_gid(uuid.uuid4())})

        assert codes_and_fields(data["deactivateUser"]) == [("NOT_FOUND", ["input", "userId"])]


ADMIN_MUTATIONS = [
    pytest.param(CREATE_USER, lambda target: new_user("ADMIN"), id="createUser"),
    pytest.param(SET_USER_ROLE, lambda target: {"id": target, "role": "ADMIN"}, id="setUserRole"),
    pytest.param(DEACTIVATE_USER, lambda target: {"id": target}, id="deactivateUser"),
    pytest.param(CREATE_API_KEY, lambda target: {}, id="createApiKey"),
    pytest.param(
        REVOKE_API_KEY,
        lambda target: {"id": to_global_id("ApiKey", uuid.uuid4())},
        id="revokeApiKey",
    ),
]


class TestAdministrationIsForAdmins:
    @pytest.mark.parametrize(("document", "variables"), ADMIN_MUTATIONS)
    @pytest.mark.parametrize("role", [Role.MANAGER, Role.ANALYST, Role.INVESTOR])
    async def test_other_roles_are_forbidden(
        self, app: Any, db: Database, document: str, variables: Any, role: Role
    ) -> None:
        target = await create_user(app, role=Role.ANALYST)
        caller = await create_user(app, role=role)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, caller.email)).access
            body = await execute(
                http, document, variables(user_gid(target.id)), headers=bearer(token)
            )
            target_login = await login(http, target.email)

        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None
        assert target_login["user"]["role"] == "ANALYST"
        assert target_login["user"]["isActive"] is True

    @pytest.mark.parametrize(("document", "variables"), ADMIN_MUTATIONS)
    async def test_anonymous_callers_are_unauthenticated(
        self, app: Any, db: Database, document: str, variables: Any
    ) -> None:
        target = await create_user(app, role=Role.ANALYST)
        async with http_client(app) as http:
            body = await execute(http, document, variables(user_gid(target.id)))

        assert error_codes(body) == ["UNAUTHENTICATED"]

    async def test_an_admin_user_with_a_session_may_administer(
        self, app: Any, db: Database
    ) -> None:
        admin = await create_user(app, role=Role.ADMIN)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, admin.email)).access
            body = await execute(http, CREATE_USER, new_user("ANALYST"), headers=bearer(token))

        assert body["data"]["createUser"]["errors"] == []

    async def test_an_admin_api_key_may_administer(self, app: Any, db: Database) -> None:
        key = await api_key_for(db, Role.ADMIN)
        async with http_client(app, headers={"X-API-Key": key}) as http:
            body = await execute(http, CREATE_USER, new_user("ANALYST"))

        assert body["data"]["createUser"]["errors"] == []
