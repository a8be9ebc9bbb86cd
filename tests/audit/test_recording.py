"""Every mutation writes audit entries in its own transaction: who, what, before, after."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Connection

from graphql_api.auth.principal import Role
from graphql_api.db.models.user import User
from graphql_api.db.session import Database
from graphql_api.schema.ids import from_global_id
from tests.audit.support import (
    CREATE_FUND,
    REDACTED,
    UPDATE_FUND,
    KeyCaller,
    audit_entries,
    entries_of,
    key_caller,
    only,
)
from tests.factories import create_fund, create_investor, gid
from tests.identity.support import (
    LOGIN,
    OTHER_PASSWORD,
    PASSWORD,
    REFRESH,
    bearer,
    create_user,
    drain_mail,
    http_client,
    session_of,
    unique_email,
    unique_ip,
    user_gid,
)

CREATE_INVESTOR = """
mutation CreateInvestor($email: String!) {
  createInvestor(input: { name: "Audited LP", investorType: INSTITUTION, email: $email }) {
    investor { id } errors { code }
  }
}
"""
UPDATE_INVESTOR = """
mutation UpdateInvestor($id: ID!) {
  updateInvestor(input: { id: $id, investorType: FAMILY_OFFICE }) {
    investor { id } errors { code }
  }
}
"""
CREATE_INVESTMENT = """
mutation CreateInvestment($fund: ID!, $investor: ID!) {
  createInvestment(input: { fundId: $fund, investorId: $investor, amountUsd: "2500.50",
                            investmentDate: "2024-02-01" }) {
    investment { id } errors { code }
  }
}
"""
CREATE_USER = """
mutation CreateUser($email: String!, $password: String!) {
  createUser(input: { email: $email, password: $password, role: ANALYST }) {
    user { id } errors { code }
  }
}
"""
SET_USER_ROLE = """
mutation SetRole($id: ID!) {
  setUserRole(input: { userId: $id, role: MANAGER }) { user { id } errors { code } }
}
"""
DEACTIVATE_USER = """
mutation Deactivate($id: ID!) {
  deactivateUser(input: { userId: $id }) { user { id } errors { code } }
}
"""
CREATE_API_KEY = """
mutation { createApiKey(input: { name: "audited key", role: ANALYST }) {
  apiKey { id prefix } secret errors { code } } }
"""
REVOKE_API_KEY = """
mutation Revoke($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } errors { code } } }
"""
CHANGE_PASSWORD = """
mutation Change($current: String!, $new: String!) {
  changePassword(input: { currentPassword: $current, newPassword: $new }) {
    accessToken refreshToken errors { code }
  }
}
"""
REGISTER = """
mutation Register($email: String!) {
  register(input: { email: $email, password: "a-registered-passphrase" }) { ok errors { code } }
}
"""
VERIFY_EMAIL = """
mutation Verify($token: String!) { verifyEmail(input: { token: $token }) { errors { code } } }
"""
REQUEST_RESET = """
mutation RequestReset($email: String!) {
  requestPasswordReset(input: { email: $email }) { ok errors { code } }
}
"""
RESET_PASSWORD = """
mutation Reset($token: String!) {
  resetPassword(input: { token: $token, newPassword: "a-reset-passphrase-42" }) {
    user { id } errors { code }
  }
}
"""
NEW_PASSWORD = "a-changed-passphrase-7"


async def mutate(
    http: httpx.AsyncClient,
    document: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """The response's `data` and the request id the server answered with."""
    response = await http.post(
        "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"], response.headers["x-request-id"]


def assert_by_key(entry: dict[str, Any], caller: KeyCaller, action: str, request_id: str) -> None:
    assert entry["actorKind"] == "API_KEY"
    assert entry["actorId"] == caller.key_id
    assert entry["action"] == action
    assert entry["requestId"] == request_id


def mailed_token(caplog: pytest.LogCaptureFixture, email: str) -> str:
    """The token of the newest mail to `email` (the embedded mode writes mails to the log)."""
    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name == "graphql_api.mail" and record.getMessage().startswith(f"mail to {email}:")
    ]
    found = re.search(r"token=([A-Za-z0-9_-]+)", messages[-1])
    assert found is not None
    return found.group(1)


def key_in(global_id: str) -> str:
    """The record key inside a global ID, as the audit log's values spell it."""
    decoded = from_global_id(global_id)
    assert decoded is not None
    return str(decoded[1])


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@pytest.fixture
async def admin(app: Any, db: Database) -> Any:
    async with key_caller(app) as caller:
        yield caller


class TestDomainMutations:
    async def test_create_fund_records_the_new_fund(self, admin: KeyCaller) -> None:
        data, request_id = await mutate(admin.http, CREATE_FUND, {"name": "Audit Fund I"})

        [entry] = await entries_of(admin.http, "createFund")
        assert_by_key(entry, admin, "createFund", request_id)
        assert entry["entityType"] == "Fund"
        # entityId of an inserted record: see the report (recorded as null); the row id is here
        assert entry["after"]["id"] == key_in(data["createFund"]["fund"]["id"])
        assert entry["before"] is None
        assert entry["after"]["name"] == "Audit Fund I"
        assert entry["after"]["vintage_year"] == 2021
        assert entry["after"]["status"] == "FUNDRAISING"
        assert entry["after"]["version"] == 1
        assert entry["after"]["hard_cap_usd"] is None

    async def test_update_fund_records_only_the_changed_fields(
        self, admin: KeyCaller, db: Database
    ) -> None:
        fund = await create_fund(db, name="Before Name")

        _, request_id = await mutate(admin.http, UPDATE_FUND, {"id": gid(fund), "name": "After"})

        [entry] = await entries_of(admin.http, "updateFund")
        assert_by_key(entry, admin, "updateFund", request_id)
        assert entry["entityId"] == gid(fund)
        assert entry["before"]["name"] == "Before Name"
        assert entry["after"]["name"] == "After"
        assert (entry["before"]["version"], entry["after"]["version"]) == (1, 2)
        assert set(entry["after"]) <= {"name", "version", "updated_at"}
        assert set(entry["before"]) == set(entry["after"])

    async def test_create_and_update_investor_are_recorded(
        self, admin: KeyCaller, db: Database
    ) -> None:
        email = unique_email("lp")

        created, create_request = await mutate(admin.http, CREATE_INVESTOR, {"email": email})
        investor_id = created["createInvestor"]["investor"]["id"]
        _, update_request = await mutate(admin.http, UPDATE_INVESTOR, {"id": investor_id})

        [create] = await entries_of(admin.http, "createInvestor")
        [update] = await entries_of(admin.http, "updateInvestor")
        assert_by_key(create, admin, "createInvestor", create_request)
        assert_by_key(update, admin, "updateInvestor", update_request)
        assert update["entityId"] == investor_id
        assert create["after"]["id"] == key_in(investor_id)
        assert create["after"]["email"] == email
        assert create["after"]["investor_type"] == "INSTITUTION"
        assert update["before"]["investor_type"] == "INSTITUTION"
        assert update["after"]["investor_type"] == "FAMILY_OFFICE"
        assert "email" not in update["after"]

    async def test_create_investment_records_the_commitment(
        self, admin: KeyCaller, db: Database
    ) -> None:
        fund = await create_fund(db)
        investor = await create_investor(db)

        data, request_id = await mutate(
            admin.http, CREATE_INVESTMENT, {"fund": gid(fund), "investor": gid(investor)}
        )

        entries = await entries_of(admin.http, "createInvestment")
        for entry in entries:
            assert_by_key(entry, admin, "createInvestment", request_id)
        investment = only(entries, "Investment")
        assert investment["after"]["id"] == key_in(data["createInvestment"]["investment"]["id"])
        assert investment["after"]["amount_usd"] == "2500.50"
        assert investment["after"]["fund_id"] == str(fund.id)
        assert investment["after"]["investor_id"] == str(investor.id)
        assert investment["after"]["investment_date"] == "2024-02-01"


class TestAdministrationMutations:
    async def test_create_user_records_the_user_with_its_hash_redacted(
        self, admin: KeyCaller
    ) -> None:
        email = unique_email("created")

        data, request_id = await mutate(
            admin.http, CREATE_USER, {"email": email, "password": PASSWORD}
        )

        [entry] = await entries_of(admin.http, "createUser")
        assert_by_key(entry, admin, "createUser", request_id)
        assert entry["entityType"] == "User"
        assert entry["after"]["id"] == key_in(data["createUser"]["user"]["id"])
        assert entry["after"]["email"] == email
        assert entry["after"]["role"] == "ANALYST"
        assert entry["after"]["password_hash"] == REDACTED

    async def test_set_user_role_records_the_role_change(self, admin: KeyCaller, app: Any) -> None:
        user = await create_user(app, role=Role.ANALYST)

        _, request_id = await mutate(admin.http, SET_USER_ROLE, {"id": user_gid(user.id)})

        [entry] = await entries_of(admin.http, "setUserRole")
        assert_by_key(entry, admin, "setUserRole", request_id)
        assert entry["entityId"] == user_gid(user.id)
        assert entry["before"]["role"] == "ANALYST"
        assert entry["after"]["role"] == "MANAGER"
        assert "email" not in entry["after"]

    async def test_deactivate_user_records_the_deactivation(
        self, admin: KeyCaller, app: Any
    ) -> None:
        user = await create_user(app)

        _, request_id = await mutate(admin.http, DEACTIVATE_USER, {"id": user_gid(user.id)})

        user_entry = only(await entries_of(admin.http, "deactivateUser"), "User")
        assert_by_key(user_entry, admin, "deactivateUser", request_id)
        assert user_entry["entityId"] == user_gid(user.id)
        assert user_entry["before"]["is_active"] is True
        assert user_entry["after"]["is_active"] is False

    async def test_create_and_revoke_api_key_are_recorded_without_the_secret(
        self, admin: KeyCaller
    ) -> None:
        created, create_request = await mutate(admin.http, CREATE_API_KEY)
        key = created["createApiKey"]["apiKey"]
        secret = created["createApiKey"]["secret"]
        _, revoke_request = await mutate(admin.http, REVOKE_API_KEY, {"id": key["id"]})

        [create] = await entries_of(admin.http, "createApiKey")
        [revoke] = await entries_of(admin.http, "revokeApiKey")
        assert_by_key(create, admin, "createApiKey", create_request)
        assert_by_key(revoke, admin, "revokeApiKey", revoke_request)
        assert create["entityType"] == revoke["entityType"] == "ApiKey"
        assert revoke["entityId"] == key["id"]
        assert create["after"]["id"] == key_in(key["id"])
        assert create["after"]["prefix"] == key["prefix"]
        assert create["after"]["secret_digest"] == REDACTED
        assert revoke["before"] == {"revoked_at": None}
        assert set(revoke["after"]) == {"revoked_at"}
        logged = json.dumps([create, revoke])
        assert secret not in logged
        assert sha256(secret) not in logged


class TestSessionMutations:
    async def test_login_and_refresh_record_the_session_with_its_digest_redacted(
        self, admin: KeyCaller, app: Any
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            logged_in, login_request = await mutate(
                http, LOGIN, {"email": user.email, "password": PASSWORD}
            )
            refreshed, refresh_request = await mutate(
                http, REFRESH, {"token": logged_in["login"]["refreshToken"]}
            )

        [login_entry] = await entries_of(admin.http, "login")
        refresh_entries = await entries_of(admin.http, "refreshToken")
        assert login_entry["actorKind"] == "ANONYMOUS"
        assert login_entry["requestId"] == login_request
        assert login_entry["entityType"] == "RefreshToken"
        assert login_entry["after"]["user_id"] == str(user.id)
        assert login_entry["after"]["token_digest"] == REDACTED
        assert {entry["requestId"] for entry in refresh_entries} == {refresh_request}
        assert sorted(bool(entry["before"]) for entry in refresh_entries) == [False, True]
        rotated = next(entry for entry in refresh_entries if entry["before"])
        assert set(rotated["after"]) == {"rotated_at"}
        logged = json.dumps([login_entry, *refresh_entries])
        for token in (
            logged_in["login"]["refreshToken"],
            refreshed["refreshToken"]["refreshToken"],
        ):
            assert token not in logged
            assert sha256(token) not in logged

    async def test_change_password_is_recorded_as_the_user(
        self, admin: KeyCaller, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)
            changed, request_id = await mutate(
                http,
                CHANGE_PASSWORD,
                {"current": PASSWORD, "new": NEW_PASSWORD},
                headers=bearer(session.access),
            )

        entries = await entries_of(admin.http, "changePassword")
        assert changed["changePassword"]["errors"] == []
        for entry in entries:
            assert entry["actorKind"] == "USER"
            assert entry["actorId"] == user_gid(user.id)
            assert entry["requestId"] == request_id
        user_entry = only(entries, "User")
        assert user_entry["entityId"] == user_gid(user.id)
        assert user_entry["after"]["sessions_valid_after"] is not None
        assert only(entries, "RefreshToken")["after"]["token_digest"] == REDACTED
        async with db.read_session() as read:
            stored = (await read.execute(select(User.password_hash))).scalars().all()
        logged = json.dumps(entries)
        assert NEW_PASSWORD not in logged
        assert not any(password_hash in logged for password_hash in stored)


class TestSelfServiceMutations:
    async def test_register_and_verify_email_are_recorded_without_the_emailed_token(
        self, admin: KeyCaller, app: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="graphql_api.mail")
        email = unique_email("registered")
        async with http_client(app, ip=unique_ip()) as http:
            _, register_request = await mutate(http, REGISTER, {"email": email})
            await drain_mail(app)
            token = mailed_token(caplog, email)
            verified, verify_request = await mutate(http, VERIFY_EMAIL, {"token": token})

        registered = await entries_of(admin.http, "register")
        verification = await entries_of(admin.http, "verifyEmail")
        assert verified["verifyEmail"]["errors"] == []
        assert {entry["requestId"] for entry in registered} == {register_request}
        assert {entry["requestId"] for entry in verification} == {verify_request}
        assert {entry["actorKind"] for entry in registered + verification} == {"ANONYMOUS"}
        assert only(registered, "User")["after"]["password_hash"] == REDACTED
        assert only(registered, "OneTimeToken")["after"]["token_digest"] == REDACTED
        assert only(registered, "OneTimeToken")["after"]["purpose"] == "VERIFY_EMAIL"
        assert only(verification, "User")["after"]["email_verified_at"] is not None
        assert set(only(verification, "OneTimeToken")["after"]) == {"used_at"}
        logged = json.dumps(registered + verification)
        assert token not in logged
        assert sha256(token) not in logged
        assert "a-registered-passphrase" not in logged

    async def test_password_reset_is_recorded_without_the_emailed_token(
        self, admin: KeyCaller, app: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="graphql_api.mail")
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            _, request_request = await mutate(http, REQUEST_RESET, {"email": user.email})
            await drain_mail(app)
            token = mailed_token(caplog, user.email)
            reset, reset_request = await mutate(http, RESET_PASSWORD, {"token": token})

        requested = await entries_of(admin.http, "requestPasswordReset")
        resets = await entries_of(admin.http, "resetPassword")
        assert reset["resetPassword"]["errors"] == []
        assert only(requested, "OneTimeToken")["requestId"] == request_request
        assert only(requested, "OneTimeToken")["after"]["purpose"] == "RESET_PASSWORD"
        assert {entry["requestId"] for entry in resets} == {reset_request}
        assert only(resets, "User")["after"]["sessions_valid_after"] is not None
        assert set(only(resets, "OneTimeToken")["after"]) == {"used_at"}
        logged = json.dumps(requested + resets)
        assert token not in logged
        assert sha256(token) not in logged

    async def test_a_reset_request_for_an_unknown_email_records_nothing(
        self, admin: KeyCaller, app: Any
    ) -> None:
        async with http_client(app, ip=unique_ip()) as http:
            await mutate(http, REQUEST_RESET, {"email": unique_email("nobody")})

        assert await audit_entries(admin.http) == []


REFUSED = [
    pytest.param(CREATE_FUND, {"name": "   "}, id="createFund with a blank name"),
    pytest.param(CREATE_USER, {"email": "x@example.com", "password": "short"}, id="weak password"),
    pytest.param(CREATE_USER, {"email": "bad", "password": PASSWORD}, id="invalid email"),
    pytest.param(LOGIN, {"email": "nobody@example.com", "password": PASSWORD}, id="login failed"),
    pytest.param(REFRESH, {"token": "no-such-token"}, id="refresh with a bad token"),
    pytest.param(VERIFY_EMAIL, {"token": "no-such-token"}, id="verify with a bad token"),
    pytest.param(RESET_PASSWORD, {"token": "no-such-token"}, id="reset with a bad token"),
    pytest.param(
        REVOKE_API_KEY, {"id": "QXBpS2V5OjAxOTNhMDAwLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMA=="},
        id="revoke an unknown key",
    ),
    pytest.param(
        DEACTIVATE_USER, {"id": user_gid(uuid.UUID(int=1))}, id="deactivate an unknown user"
    ),
]  # fmt: skip


class TestRefusedMutations:
    @pytest.mark.parametrize(("document", "variables"), REFUSED)
    async def test_a_refused_mutation_records_nothing(
        self, admin: KeyCaller, document: str, variables: dict[str, Any]
    ) -> None:
        data, _ = await mutate(admin.http, document, variables)

        [payload] = data.values()
        assert payload["errors"] != []
        assert await audit_entries(admin.http) == []

    async def test_a_version_conflict_records_nothing(self, admin: KeyCaller, db: Database) -> None:
        fund = await create_fund(db)

        data, _ = await mutate(
            admin.http, UPDATE_FUND, {"id": gid(fund), "name": "Late", "expected": 7}
        )

        assert data["updateFund"]["errors"] == [{"code": "VERSION_CONFLICT"}]
        assert await audit_entries(admin.http) == []

    async def test_a_forbidden_mutation_records_nothing(self, admin: KeyCaller, app: Any) -> None:
        async with key_caller(app, Role.ANALYST) as analyst:
            response = await analyst.http.post(
                "/graphql", json={"query": CREATE_FUND, "variables": {"name": "Nope"}}
            )

        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await audit_entries(admin.http) == []

    async def test_a_duplicate_email_records_nothing(self, admin: KeyCaller, app: Any) -> None:
        user = await create_user(app)

        data, _ = await mutate(admin.http, CREATE_USER, {"email": user.email, "password": PASSWORD})

        assert data["createUser"]["errors"] == [{"code": "DUPLICATE_EMAIL"}]
        assert await audit_entries(admin.http) == []

    async def test_a_wrong_current_password_records_nothing(
        self, admin: KeyCaller, app: Any
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)
            before = len(await audit_entries(admin.http))
            data, _ = await mutate(
                http,
                CHANGE_PASSWORD,
                {"current": OTHER_PASSWORD, "new": NEW_PASSWORD},
                headers=bearer(session.access),
            )

        assert data["changePassword"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
        assert len(await audit_entries(admin.http)) == before


class TestSameTransaction:
    async def test_the_entry_is_written_in_the_transaction_of_the_change(
        self, admin: KeyCaller, db: Database
    ) -> None:
        writes: list[tuple[int, str]] = []

        def record(connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
            table = re.match(r"\s*INSERT INTO (\w+)", statement)
            if table and table.group(1) in ("funds", "audit_log"):
                writes.append((id(connection.get_transaction()), table.group(1)))

        event.listen(db.engine.sync_engine, "before_cursor_execute", record)
        try:
            await mutate(admin.http, CREATE_FUND, {"name": "One Transaction"})
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", record)

        assert sorted(table for _, table in writes) == ["audit_log", "funds"]
        assert len({transaction for transaction, _ in writes}) == 1
