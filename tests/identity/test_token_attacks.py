"""Bearer-token attacks against the HTTP endpoint: each one is a 401, never a session."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from graphql_api.auth.principal import Role
from graphql_api.db.models.user import User
from graphql_api.db.session import Database
from graphql_api.users import service as user_service
from tests.graphql import data_of, error_codes, execute
from tests.identity.support import (
    ME,
    assert_unauthenticated,
    backdated_access_token,
    bearer,
    create_user,
    http_client,
    refresh,
    session_of,
    status_with,
    unique_ip,
    user_gid,
)

CREATE_FUND = """
mutation { createFund(input: { name: "Attack", vintageYear: 2020, targetSizeUsd: "1000" }) {
  fund { id } errors { code } } }
"""
SET_ROLE = """
mutation SetRole($id: ID!, $role: Role!) {
  setUserRole(input: { userId: $id, role: $role }) { user { role } errors { code } }
}
"""
CHANGE_PASSWORD = """
mutation Change($current: String!, $new: String!) {
  changePassword(input: { currentPassword: $current, newPassword: $new }) {
    accessToken errors { code }
  }
}
"""
PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQc=\n-----END PUBLIC KEY-----\n"
)
OTHER_KEY = "an-attackers-secret-of-more-than-32-bytes!"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims_for(app: Any, user: User, **overrides: Any) -> dict[str, Any]:
    """The claims the server would issue now, with some changed (None removes one)."""
    settings = app.state.runtime.settings
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "role": user.role.value,
        "iat": now,
        "exp": now + 900,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    } | overrides
    return {key: value for key, value in claims.items() if value is not None}


def server_secret(app: Any) -> str:
    secret: str = app.state.runtime.settings.jwt_secret.get_secret_value()
    return secret


def signed(app: Any, claims: dict[str, Any]) -> str:
    """Signed with the server's own secret: only the claims can be wrong."""
    return jwt.encode(claims, server_secret(app), algorithm="HS256")


def unsigned(claims: dict[str, Any]) -> str:
    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."


def hmac_signed(claims: dict[str, Any], key: str, algorithm: str = "HS256") -> str:
    """Signed by hand (PyJWT itself refuses PEM keys and short HS512 keys)."""
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[algorithm]
    signing_input = f"{segment({'alg': algorithm, 'typ': 'JWT'})}.{segment(claims)}"
    signature = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The token's header and signature around other claims (a tampered token)."""
    header, _, signature = token.split(".")
    return f"{header}.{segment(claims)}.{signature}"


class TestForgedAndMalformedTokens:
    @pytest.mark.parametrize(
        "forge",
        [
            pytest.param(lambda app, claims: unsigned(claims), id="alg none"),
            pytest.param(
                lambda app, claims: unsigned(claims).replace(
                    segment({"alg": "none", "typ": "JWT"}), segment({"alg": "NoNe"})
                ),
                id="alg none, odd case",
            ),
            pytest.param(
                lambda app, claims: jwt.encode(claims, OTHER_KEY, algorithm="HS256"),
                id="HS256 with another key",
            ),
            pytest.param(
                lambda app, claims: hmac_signed(claims, server_secret(app), "HS512"),
                id="HS512 with the server's key (algorithm not pinned)",
            ),
            pytest.param(
                lambda app, claims: (
                    f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}."
                    f"{b64(secrets.token_bytes(256))}"
                ),
                id="RS256 header (RS/HS confusion)",
            ),
            pytest.param(
                lambda app, claims: hmac_signed(claims, PUBLIC_KEY),
                id="HS256 keyed with a public key",
            ),
            pytest.param(
                lambda app, claims: signed(app, claims)[:-2] + "AA", id="broken signature"
            ),
        ],
    )
    async def test_a_token_not_signed_with_hs256_and_the_servers_key_is_refused(
        self, app: Any, db: Database, forge: Callable[[Any, dict[str, Any]], str]
    ) -> None:
        user = await create_user(app, role=Role.ADMIN)

        async with http_client(app) as http:
            response = await status_with(http, bearer(forge(app, claims_for(app, user))))

        assert_unauthenticated(response)

    async def test_control_a_token_forged_the_same_way_with_the_servers_key_is_accepted(
        self, app: Any, db: Database
    ) -> None:
        # Proves the forgeries above fail for what they change, not for how they are made.
        user = await create_user(app, role=Role.ADMIN)

        async with http_client(app) as http:
            response = await status_with(
                http, bearer(hmac_signed(claims_for(app, user), server_secret(app)))
            )

        assert response.status_code == 200
        assert response.json()["data"]["me"]["id"] == user_gid(user.id)

    @pytest.mark.parametrize(
        "overrides",
        [
            pytest.param({"exp": int(datetime.now(UTC).timestamp()) - 60}, id="expired"),
            pytest.param({"aud": "another-api"}, id="wrong audience"),
            pytest.param({"iss": "someone-else"}, id="wrong issuer"),
            pytest.param({"iat": int(datetime.now(UTC).timestamp()) + 3600}, id="issued later"),
            pytest.param({"nbf": int(datetime.now(UTC).timestamp()) + 3600}, id="not yet valid"),
            pytest.param({"sub": "not-a-uuid"}, id="subject not a user id"),
            pytest.param({"sub": str(uuid.uuid4())}, id="subject of no user"),
            *(
                pytest.param({claim: None}, id=f"no {claim}")
                for claim in ("exp", "iat", "iss", "aud", "sub", "jti", "role")
            ),
        ],
    )
    async def test_a_correctly_signed_token_with_a_wrong_claim_is_refused(
        self, app: Any, db: Database, overrides: dict[str, Any]
    ) -> None:
        user = await create_user(app, role=Role.ADMIN)

        async with http_client(app) as http:
            response = await status_with(
                http, bearer(signed(app, claims_for(app, user, **overrides)))
            )

        assert_unauthenticated(response)

    async def test_an_expired_token_issued_by_the_server_is_refused(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        token = backdated_access_token(app, user, seconds=16 * 60)

        async with http_client(app) as http:
            response = await status_with(http, bearer(token))

        assert_unauthenticated(response)
        assert "expired" in response.json()["errors"][0]["message"]

    @pytest.mark.parametrize(
        "authorization",
        [
            pytest.param("Bearer garbage", id="garbage"),
            pytest.param("Bearer a.b.c", id="three garbage segments"),
            pytest.param("Bearer " + "A" * 10_000, id="huge"),
            pytest.param("Bearer", id="Bearer without a token"),
            pytest.param("Bearer    ", id="Bearer and spaces"),
            pytest.param("Basic dXNlcjpwYXNzd29yZA==", id="Basic scheme"),
            pytest.param("Token abc.def.ghi", id="another scheme"),
            pytest.param("abc.def.ghi", id="no scheme"),
        ],
    )
    async def test_a_malformed_authorization_header_is_refused(
        self, app: Any, db: Database, authorization: str
    ) -> None:
        async with http_client(app) as http:
            response = await status_with(http, {"Authorization": authorization})

        assert_unauthenticated(response)

    async def test_a_bad_token_is_refused_even_next_to_a_valid_api_key(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await status_with(client, {"Authorization": "Bearer garbage"})

        assert_unauthenticated(response)

    async def test_no_credentials_at_all_is_anonymous_not_an_error(
        self, anonymous_client: httpx.AsyncClient
    ) -> None:
        body = await execute(anonymous_client, ME)

        assert error_codes(body) == ["UNAUTHENTICATED"]


class TestTamperedRoleClaim:
    async def test_raising_the_role_claim_of_a_real_token_breaks_its_signature(
        self, app: Any, db: Database
    ) -> None:
        analyst = await create_user(app, role=Role.ANALYST)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, analyst.email)).access
            claims = jwt.decode(token, options={"verify_signature": False})

            response = await http.post(
                "/graphql",
                json={"query": CREATE_FUND},
                headers=bearer(with_payload(token, claims | {"role": "ADMIN"})),
            )

        assert_unauthenticated(response)

    @pytest.mark.parametrize(
        "forge",
        [
            pytest.param(lambda claims: jwt.encode(claims, OTHER_KEY, "HS256"), id="re-signed"),
            pytest.param(unsigned, id="unsigned"),
        ],
    )
    async def test_an_admin_role_claim_on_a_forged_token_is_refused(
        self, app: Any, db: Database, forge: Callable[[dict[str, Any]], str]
    ) -> None:
        analyst = await create_user(app, role=Role.ANALYST)

        async with http_client(app) as http:
            response = await http.post(
                "/graphql",
                json={"query": CREATE_FUND},
                headers=bearer(forge(claims_for(app, analyst, role="ADMIN"))),
            )

        assert_unauthenticated(response)

    async def test_the_stored_role_counts_not_the_claim(self, app: Any, db: Database) -> None:
        # Even a token the server signed itself cannot raise the role it names.
        analyst = await create_user(app, role=Role.ANALYST)
        token = signed(app, claims_for(app, analyst, role="ADMIN"))

        async with http_client(app) as http:
            me = await status_with(http, bearer(token))
            write = await execute(http, CREATE_FUND, headers=bearer(token))

        assert me.json()["data"]["me"]["role"] == "ANALYST"
        assert error_codes(write) == ["FORBIDDEN"]


class TestTokensOfChangedAccounts:
    async def test_a_deactivated_users_token_is_refused_on_the_next_request(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, user.email)).access
            before = await status_with(http, bearer(token))

            await data_of(
                client,
                "mutation($id: ID!) { deactivateUser(input: { userId: $id }) { errors { code } } }",
                {"id": user_gid(user.id)},
            )
            after = await status_with(http, bearer(token))

        assert before.status_code == 200
        assert_unauthenticated(after)

    async def test_a_token_issued_before_a_password_change_is_refused(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        older_session = backdated_access_token(app, user)
        async with http_client(app, ip=unique_ip()) as http:
            current = (await session_of(http, user.email)).access
            changed = await execute(
                http,
                CHANGE_PASSWORD,
                {"current": "c0rrect-h0rse-battery", "new": "a-brand-new-passphrase"},
                headers=bearer(current),
            )

            response = await status_with(http, bearer(older_session))

        assert changed["data"]["changePassword"]["errors"] == []
        assert_unauthenticated(response)

    async def test_after_a_role_change_old_tokens_end_and_new_sessions_have_the_new_role(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        user = await create_user(app, role=Role.ANALYST)
        async with http_client(app, ip=unique_ip()) as http:
            refresh_token = (await session_of(http, user.email)).refresh
            old_token = backdated_access_token(app, user)
            refused_before = await execute(http, CREATE_FUND, headers=bearer(old_token))

            changed = await data_of(client, SET_ROLE, {"id": user_gid(user.id), "role": "MANAGER"})
            old_after = await status_with(http, bearer(old_token))
            new_token = (await session_of(http, user.email)).access
            allowed_after = await execute(http, CREATE_FUND, headers=bearer(new_token))
            refreshed = await refresh(http, refresh_token)

        assert error_codes(refused_before) == ["FORBIDDEN"]
        assert changed["setUserRole"] == {"user": {"role": "MANAGER"}, "errors": []}
        assert_unauthenticated(old_after)
        assert jwt.decode(new_token, options={"verify_signature": False})["role"] == "MANAGER"
        assert allowed_after["data"]["createFund"]["errors"] == []
        assert refreshed["user"]["role"] == "MANAGER"
        refreshed_claims = jwt.decode(refreshed["accessToken"], options={"verify_signature": False})
        assert refreshed_claims["role"] == "MANAGER"

    async def test_a_demoted_admins_old_token_cannot_administer(
        self, app: Any, db: Database
    ) -> None:
        admin = await create_user(app, role=Role.ADMIN)
        old_token = backdated_access_token(app, admin)
        async with db.unit_of_work() as uow:
            await user_service.set_user_role(
                uow.session, admin.id, Role.ANALYST, None, datetime.now(UTC)
            )

        async with http_client(app) as http:
            response = await http.post(
                "/graphql", json={"query": CREATE_FUND}, headers=bearer(old_token)
            )

        assert_unauthenticated(response)
