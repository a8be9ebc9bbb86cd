"""Sessions: login, refresh-token rotation and theft detection, logout, rehashing, rules."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from graphql_api.auth.passwords import HashParameters, Passwords
from graphql_api.auth.principal import Role
from graphql_api.db.models.user import RefreshToken, User
from graphql_api.db.session import Database
from graphql_api.users import service as user_service
from tests.graphql import execute
from tests.identity.support import (
    LOGOUT,
    OTHER_PASSWORD,
    PASSWORD,
    assert_unauthenticated,
    bearer,
    create_user,
    http_client,
    login,
    refresh,
    session_of,
    sha256,
    status_with,
    unique_email,
    unique_ip,
    user_gid,
)

CREATE_USER = """
mutation CreateUser($email: String!, $password: String!) {
  createUser(input: { email: $email, password: $password, role: ANALYST }) {
    user { id email }
    errors { code message field }
  }
}
"""


async def refresh_rows(db: Database, user: User) -> list[RefreshToken]:
    async with db.read_session() as session:
        statement = select(RefreshToken).where(RefreshToken.user_id == user.id)
        return list((await session.execute(statement)).scalars())


async def stored_hash(db: Database, user: User) -> str:
    async with db.read_session() as session:
        found = await session.get(User, user.id)
        assert found is not None
        return found.password_hash


class TestLogin:
    async def test_returns_a_session_with_a_short_lived_signed_access_token(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app, role=Role.MANAGER)
        settings = app.state.runtime.settings

        async with http_client(app, ip=unique_ip()) as http:
            payload = await login(http, user.email)

        assert payload["errors"] == []
        assert payload["expiresIn"] == 900
        assert payload["user"] == {
            "id": user_gid(user.id),
            "email": user.email,
            "role": "MANAGER",
            "isActive": True,
        }
        claims = jwt.decode(
            payload["accessToken"],
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
        assert jwt.get_unverified_header(payload["accessToken"])["alg"] == "HS256"
        assert claims["sub"] == str(user.id)
        assert claims["role"] == "MANAGER"
        assert 899 < claims["exp"] - claims["iat"] <= 900  # iat has milliseconds
        assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 30
        assert claims["iss"] == "graphql-api"
        assert claims["aud"] == "graphql-api"
        assert len(claims["jti"]) >= 16

    async def test_the_access_token_authenticates_the_user(self, app: Any, db: Database) -> None:
        user = await create_user(app, role=Role.ANALYST)

        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)
            me = await status_with(http, bearer(session.access))

        assert me.status_code == 200
        assert me.json()["data"]["me"]["email"] == user.email
        assert me.json()["data"]["me"]["role"] == "ANALYST"

    async def test_each_login_gets_its_own_token_id(self, app: Any, db: Database) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            first = await session_of(http, user.email)
            second = await session_of(http, user.email)

        def jti(token: str) -> str:
            return str(jwt.decode(token, options={"verify_signature": False})["jti"])

        assert jti(first.access) != jti(second.access)
        assert first.refresh != second.refresh

    async def test_the_email_is_matched_case_insensitively(self, app: Any, db: Database) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            payload = await login(http, f"  {user.email.upper()} ")

        assert payload["errors"] == []
        assert payload["user"]["email"] == user.email

    async def test_wrong_password_unknown_email_and_deactivated_user_get_one_answer(
        self, app: Any, db: Database
    ) -> None:
        active = await create_user(app)
        deactivated = await create_user(app)
        async with db.unit_of_work() as uow:
            await user_service.deactivate_user(uow.session, deactivated.id, datetime.now(UTC))

        async with http_client(app, ip=unique_ip()) as http:
            wrong_password = await login(http, active.email, OTHER_PASSWORD)
            unknown_email = await login(http, unique_email("nobody"), PASSWORD)
            deactivated_right_password = await login(http, deactivated.email, PASSWORD)

        expected = {
            "accessToken": None,
            "refreshToken": None,
            "expiresIn": None,
            "user": None,
            "errors": [
                {
                    "code": "INVALID_CREDENTIALS",
                    "message": "Email or password is not correct.",
                    "field": None,
                }
            ],
        }
        assert wrong_password == expected
        assert unknown_email == expected
        assert deactivated_right_password == expected

    async def test_a_failed_login_stores_no_session(self, app: Any, db: Database) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            await login(http, user.email, OTHER_PASSWORD)

        assert await refresh_rows(db, user) == []


class TestRefreshTokenStorage:
    async def test_the_refresh_token_is_random_and_stored_only_as_its_sha256(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)

        assert len(base64.urlsafe_b64decode(session.refresh + "=")) == 32  # 256 bits
        [row] = await refresh_rows(db, user)
        assert row.token_digest == sha256(session.refresh)
        assert session.refresh not in repr(
            [getattr(row, column.key) for column in RefreshToken.__table__.columns]
        )
        lifetime = row.expires_at - row.created_at
        assert lifetime.total_seconds() == 30 * 24 * 3600


class TestRefreshTokenRotation:
    async def test_a_refresh_token_gives_a_new_session_and_a_new_refresh_token(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app, role=Role.MANAGER)

        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)
            rotated = await refresh(http, session.refresh)
            me = await status_with(http, bearer(rotated["accessToken"]))

        assert rotated["errors"] == []
        assert rotated["refreshToken"] not in (None, session.refresh)
        assert rotated["expiresIn"] == 900
        assert rotated["user"] == {"id": user_gid(user.id), "role": "MANAGER"}
        assert me.json()["data"]["me"]["email"] == user.email
        rows = await refresh_rows(db, user)
        assert len(rows) == 2
        assert len({row.family_id for row in rows}) == 1

    async def test_the_newest_token_of_a_family_keeps_rotating(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, user.email)).refresh
            for _ in range(3):
                payload = await refresh(http, token)
                assert payload["errors"] == []
                token = payload["refreshToken"]

        assert len(await refresh_rows(db, user)) == 4

    async def test_reusing_a_rotated_token_revokes_the_whole_family(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            stolen = (await session_of(http, user.email)).refresh
            newest = (await refresh(http, stolen))["refreshToken"]

            replayed = await refresh(http, stolen)
            legitimate_next = await refresh(http, newest)

        invalid = [{"code": "INVALID_TOKEN", "field": ["refreshToken"]}]
        assert replayed["errors"] == invalid
        assert replayed["accessToken"] is None
        assert legitimate_next["errors"] == invalid
        assert all(row.revoked_at is not None for row in await refresh_rows(db, user))

    async def test_theft_detection_leaves_other_sessions_of_the_user_alone(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            stolen = (await session_of(http, user.email)).refresh
            other_device = (await session_of(http, user.email)).refresh
            await refresh(http, stolen)
            await refresh(http, stolen)

            still_fine = await refresh(http, other_device)

        assert still_fine["errors"] == []

    @pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43, "a" * 5000])
    async def test_an_unknown_refresh_token_is_invalid(
        self, app: Any, db: Database, token: str
    ) -> None:
        async with http_client(app, ip=unique_ip()) as http:
            payload = await refresh(http, token)

        assert payload["accessToken"] is None
        assert [error["code"] for error in payload["errors"]] == ["INVALID_TOKEN"]

    async def test_an_expired_refresh_token_is_invalid(self, app: Any, db: Database) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, user.email)).refresh
            async with db.unit_of_work() as uow:
                [row] = (
                    await uow.session.execute(
                        select(RefreshToken).where(RefreshToken.user_id == user.id)
                    )
                ).scalars()
                row.expires_at = datetime(2000, 1, 1, tzinfo=UTC)

            payload = await refresh(http, token)

        assert [error["code"] for error in payload["errors"]] == ["INVALID_TOKEN"]


class TestLogout:
    async def test_ends_the_refresh_family_and_the_access_token_sent_with_it(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            first = await session_of(http, user.email)
            rotated = await refresh(http, first.refresh)
            access, newest = rotated["accessToken"], rotated["refreshToken"]

            out = await execute(http, LOGOUT, {"token": newest}, headers=bearer(access))
            after_logout = await status_with(http, bearer(access))
            refreshed = await refresh(http, newest)

        assert out["data"]["logout"] == {"ok": True, "errors": []}
        assert_unauthenticated(after_logout)
        assert "ended" in after_logout.json()["errors"][0]["message"]
        assert [error["code"] for error in refreshed["errors"]] == ["INVALID_TOKEN"]

    async def test_other_sessions_of_the_user_go_on(self, app: Any, db: Database) -> None:
        user = await create_user(app)

        async with http_client(app, ip=unique_ip()) as http:
            leaving = await session_of(http, user.email)
            staying = await session_of(http, user.email)
            await execute(http, LOGOUT, {"token": leaving.refresh}, headers=bearer(leaving.access))

            still_in = await status_with(http, bearer(staying.access))
            still_refreshes = await refresh(http, staying.refresh)

        assert still_in.status_code == 200
        assert still_in.json()["data"]["me"]["email"] == user.email
        assert still_refreshes["errors"] == []

    async def test_an_unknown_refresh_token_answers_ok_without_revealing_anything(
        self, app: Any, db: Database
    ) -> None:
        async with http_client(app, ip=unique_ip()) as http:
            out = await execute(http, LOGOUT, {"token": "no-such-token"})

        assert out["data"]["logout"] == {"ok": True, "errors": []}


class TestPasswordRehash:
    async def test_a_hash_made_with_other_parameters_is_replaced_at_login(
        self, app: Any, db: Database
    ) -> None:
        older = Passwords(HashParameters(time_cost=2, memory_kib=16, parallelism=1))
        user = await create_user(app, passwords=older)
        before = await stored_hash(db, user)

        async with http_client(app, ip=unique_ip()) as http:
            payload = await login(http, user.email)
            again = await login(http, user.email)

        after = await stored_hash(db, user)
        assert payload["errors"] == []
        assert before.startswith("$argon2id$v=19$m=16,t=2,p=1$")
        assert after.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert again["errors"] == []  # the new hash verifies the same password
        assert await older.verify(after, PASSWORD)

    async def test_a_hash_with_the_current_parameters_is_left_alone(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        before = await stored_hash(db, user)

        async with http_client(app, ip=unique_ip()) as http:
            await login(http, user.email)

        assert await stored_hash(db, user) == before

    async def test_a_failed_login_does_not_rehash(self, app: Any, db: Database) -> None:
        older = Passwords(HashParameters(time_cost=2, memory_kib=16, parallelism=1))
        user = await create_user(app, passwords=older)
        before = await stored_hash(db, user)

        async with http_client(app, ip=unique_ip()) as http:
            await login(http, user.email, OTHER_PASSWORD)

        assert await stored_hash(db, user) == before

    async def test_passwords_are_stored_as_argon2id_never_in_clear(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)

        stored = await stored_hash(db, user)

        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored


class TestPasswordRules:
    @pytest.mark.parametrize(
        "password",
        [
            pytest.param("x1-" + "y" * 9, id="12 characters"),
            pytest.param("x1-" + "y" * 125, id="128 characters"),
        ],
    )
    async def test_accepts_a_length_of_12_to_128(
        self, client: httpx.AsyncClient, password: str
    ) -> None:
        body = await execute(client, CREATE_USER, {"email": unique_email(), "password": password})

        assert body["data"]["createUser"]["errors"] == []

    @pytest.mark.parametrize(
        ("password", "message"),
        [
            pytest.param("x1-" + "y" * 8, "at least 12", id="11 characters"),
            pytest.param("x1-" + "y" * 126, "at most 128", id="129 characters"),
            pytest.param("Password1234", "too common", id="common password, any case"),
            pytest.param("correcthorsebatterystaple", "too common", id="famous passphrase"),
            pytest.param("abababababababab", "too common", id="two characters repeated"),
        ],
    )
    async def test_refuses_short_long_and_common_passwords(
        self, client: httpx.AsyncClient, password: str, message: str
    ) -> None:
        body = await execute(client, CREATE_USER, {"email": unique_email(), "password": password})

        payload = body["data"]["createUser"]
        assert payload["user"] is None
        [error] = payload["errors"]
        assert error["code"] == "VALIDATION"
        assert error["field"] == ["input", "password"]
        assert message in error["message"]

    async def test_refuses_the_email_address_as_password(self, client: httpx.AsyncClient) -> None:
        email = unique_email("long-address")

        body = await execute(client, CREATE_USER, {"email": email, "password": email.upper()})

        [error] = body["data"]["createUser"]["errors"]
        assert error["code"] == "VALIDATION"
        assert error["field"] == ["input", "password"]
        assert "email" in error["message"]
