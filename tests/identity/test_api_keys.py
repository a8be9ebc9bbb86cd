"""API keys: made by an ADMIN, shown once, stored hashed, bound to a role, revocable."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from graphql_api.auth.principal import Role
from graphql_api.db.models.user import ApiKey
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from tests.conftest import api_key_for
from tests.graphql import data_of, error_codes, execute
from tests.identity.support import (
    assert_unauthenticated,
    bearer,
    create_user,
    http_client,
    session_of,
    sha256,
    unique_ip,
    user_gid,
)

CREATE_API_KEY = """
mutation CreateKey($name: String!, $role: Role!) {
  createApiKey(input: { name: $name, role: $role }) {
    apiKey { id name prefix role createdAt lastUsedAt revokedAt }
    secret
    errors { code field }
  }
}
"""
REVOKE_API_KEY = """
mutation RevokeKey($id: ID!) {
  revokeApiKey(input: { id: $id }) { apiKey { id revokedAt } errors { code field } }
}
"""
FUNDS = "{ funds { totalCount } me { id } }"
CREATE_FUND = """
mutation { createFund(input: { name: "By key", vintageYear: 2021, targetSizeUsd: "5000" }) {
  fund { name } errors { code } } }
"""
API_KEY_FIELDS = '{ __type(name: "ApiKey") { fields { name } } }'


async def stored_key(db: Database, prefix: str) -> ApiKey:
    async with db.read_session() as session:
        statement = select(ApiKey).where(ApiKey.prefix == prefix)
        return (await session.execute(statement)).scalar_one()


async def create_key(client: httpx.AsyncClient, role: str, name: str = "ci") -> dict[str, Any]:
    data = await data_of(client, CREATE_API_KEY, {"name": name, "role": role})
    payload: dict[str, Any] = data["createApiKey"]
    assert payload["errors"] == []
    return payload


class TestCreateApiKey:
    async def test_returns_the_secret_once_with_a_visible_prefix(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        payload = await create_key(client, "ANALYST", name="  reporting job  ")

        key, secret = payload["apiKey"], payload["secret"]
        assert re.fullmatch(r"gak_[0-9a-f]{8}", key["prefix"])
        assert secret.startswith(key["prefix"] + "_")
        assert len(secret) >= len(key["prefix"]) + 40
        assert key["name"] == "reporting job"
        assert key["role"] == "ANALYST"
        assert key["lastUsedAt"] is None
        assert key["revokedAt"] is None

    async def test_stores_only_a_digest_of_the_secret(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        payload = await create_key(client, "MANAGER")
        secret = payload["secret"]

        row = await stored_key(db, payload["apiKey"]["prefix"])

        assert row.secret_digest == sha256(secret)
        assert row.secret_digest != secret
        stored = [getattr(row, column.key) for column in ApiKey.__table__.columns]
        assert not any(secret in str(value) for value in stored)
        assert not any(secret.split("_", 2)[2] in str(value) for value in stored)

    async def test_the_schema_offers_no_way_to_read_a_secret_again(
        self, client: httpx.AsyncClient
    ) -> None:
        data = await data_of(client, API_KEY_FIELDS)

        names = {field["name"] for field in data["__type"]["fields"]}
        assert names == {"id", "name", "prefix", "role", "createdAt", "lastUsedAt", "revokedAt"}

    async def test_every_key_gets_its_own_prefix_and_secret(
        self, client: httpx.AsyncClient
    ) -> None:
        keys = [await create_key(client, "ANALYST") for _ in range(5)]

        assert len({key["apiKey"]["prefix"] for key in keys}) == 5
        assert len({key["secret"] for key in keys}) == 5

    async def test_records_the_admin_user_who_made_it(self, app: Any, db: Database) -> None:
        admin = await create_user(app, role=Role.ADMIN)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, admin.email)).access
            body = await execute(
                http, CREATE_API_KEY, {"name": "ops", "role": "ANALYST"}, headers=bearer(token)
            )

        row = await stored_key(db, body["data"]["createApiKey"]["apiKey"]["prefix"])
        assert row.created_by == admin.id

    async def test_a_blank_name_is_refused(self, client: httpx.AsyncClient) -> None:
        data = await data_of(client, CREATE_API_KEY, {"name": "   ", "role": "ANALYST"})

        assert data["createApiKey"] == {
            "apiKey": None,
            "secret": None,
            "errors": [{"code": "VALIDATION", "field": ["input", "name"]}],
        }

    async def test_a_manager_may_not_create_keys(self, app: Any, db: Database) -> None:
        manager_key = await api_key_for(db, Role.MANAGER)
        async with http_client(app, headers={"X-API-Key": manager_key}) as http:
            body = await execute(http, CREATE_API_KEY, {"name": "escalate", "role": "ADMIN"})

        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None


class TestApiKeyAuthentication:
    async def test_an_analyst_key_reads_but_cannot_write(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        secret = (await create_key(client, "ANALYST"))["secret"]

        async with http_client(app, headers={"X-API-Key": secret}) as http:
            read = await execute(http, FUNDS)
            write = await execute(http, CREATE_FUND)

        assert "errors" not in read
        assert read["data"] == {"funds": {"totalCount": 0}, "me": None}
        assert error_codes(write) == ["FORBIDDEN"]

    async def test_a_manager_key_writes_but_cannot_administer(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        secret = (await create_key(client, "MANAGER"))["secret"]

        async with http_client(app, headers={"X-API-Key": secret}) as http:
            write = await execute(http, CREATE_FUND)
            administer = await execute(http, CREATE_API_KEY, {"name": "x", "role": "ANALYST"})

        assert write["data"]["createFund"] == {"fund": {"name": "By key"}, "errors": []}
        assert error_codes(administer) == ["FORBIDDEN"]

    async def test_last_used_at_is_recorded_on_use(
        self, client: httpx.AsyncClient, app: Any, db: Database
    ) -> None:
        payload = await create_key(client, "ANALYST")
        unused = await stored_key(db, payload["apiKey"]["prefix"])

        async with http_client(app, headers={"X-API-Key": payload["secret"]}) as http:
            await execute(http, FUNDS)

        used = await stored_key(db, payload["apiKey"]["prefix"])
        assert unused.last_used_at is None
        assert used.last_used_at is not None
        assert used.last_used_at >= used.created_at

    async def test_surrounding_whitespace_in_the_header_is_ignored(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        secret = (await create_key(client, "ANALYST"))["secret"]

        async with http_client(app, headers={"X-API-Key": f"  {secret} "}) as http:
            response = await http.post("/graphql", json={"query": FUNDS})

        assert response.status_code == 200
        assert "errors" not in response.json()

    @pytest.mark.parametrize(
        "mangle",
        [
            pytest.param(lambda secret: "garbage", id="garbage"),
            pytest.param(lambda secret: secret.rsplit("_", 1)[0], id="prefix only"),
            pytest.param(lambda secret: secret[:-1], id="one character short"),
            pytest.param(
                lambda secret: secret[:-1] + ("A" if secret[-1] != "A" else "B"),
                id="last character changed",
            ),
            pytest.param(lambda secret: secret.swapcase(), id="other letter case"),
            pytest.param(lambda secret: secret + "x" * 300, id="too long"),
            pytest.param(lambda secret: "gak_deadbeef_" + "x" * 43, id="unknown prefix"),
            pytest.param(lambda secret: secret.replace("gak_", "xyz_"), id="foreign scheme"),
        ],
    )
    async def test_a_wrong_or_malformed_key_is_refused(
        self, client: httpx.AsyncClient, app: Any, mangle: Any
    ) -> None:
        secret = (await create_key(client, "ADMIN"))["secret"]

        async with http_client(app, headers={"X-API-Key": mangle(secret)}) as http:
            response = await http.post("/graphql", json={"query": FUNDS})

        assert_unauthenticated(response)


class TestRevokeApiKey:
    async def test_a_revoked_key_is_refused_on_the_next_request(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        payload = await create_key(client, "MANAGER")
        async with http_client(app, headers={"X-API-Key": payload["secret"]}) as http:
            before = await http.post("/graphql", json={"query": FUNDS})

            revoked = await data_of(client, REVOKE_API_KEY, {"id": payload["apiKey"]["id"]})
            after = await http.post("/graphql", json={"query": FUNDS})

        assert before.status_code == 200
        assert revoked["revokeApiKey"]["errors"] == []
        assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
        assert_unauthenticated(after)

    async def test_revoking_twice_keeps_the_first_revocation_time(
        self, client: httpx.AsyncClient
    ) -> None:
        key_id = (await create_key(client, "ANALYST"))["apiKey"]["id"]

        first = await data_of(client, REVOKE_API_KEY, {"id": key_id})
        second = await data_of(client, REVOKE_API_KEY, {"id": key_id})

        assert second["revokeApiKey"]["errors"] == []
        assert (
            second["revokeApiKey"]["apiKey"]["revokedAt"]
            == first["revokeApiKey"]["apiKey"]["revokedAt"]
        )

    @pytest.mark.parametrize(
        "key_id",
        [
            pytest.param(to_global_id("ApiKey", uuid.uuid4()), id="no such key"),
            pytest.param(user_gid(uuid.uuid4()), id="a user's id"),
            pytest.param("not-an-id", id="malformed"),
        ],
    )
    async def test_an_unknown_key_is_not_found(
        self, client: httpx.AsyncClient, key_id: str
    ) -> None:
        data = await data_of(client, REVOKE_API_KEY, {"id": key_id})

        assert data["revokeApiKey"] == {
            "apiKey": None,
            "errors": [{"code": "NOT_FOUND", "field": ["input", "id"]}],
        }

    async def test_a_key_cannot_be_used_to_revoke_without_admin_role(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        target = (await create_key(client, "ADMIN"))["apiKey"]["id"]
        manager = (await create_key(client, "MANAGER"))["secret"]

        async with http_client(app, headers={"X-API-Key": manager}) as http:
            body = await execute(http, REVOKE_API_KEY, {"id": target})

        assert error_codes(body) == ["FORBIDDEN"]
