"""Regression tests for security fixes in logins, sessions, mail and the audit log.

Each class names the bug it guards against; every test goes through the real
app (GraphQL over ASGI), a real database, and where it matters a real Redis or
a real SMTP server. Nothing is mocked.

Not covered: `register` now hashes the password even when the address is
taken, so both answers take the same time. The only difference is CPU time
(no row, no log line, no answer changes), and timing assertions and call
counting are both ruled out here; that the two answers are identical is
covered by test_self_service (`test_an_existing_email_gets_the_same_answer...`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as redis
from sqlalchemy import select

from graphql_api.auth import credentials
from graphql_api.auth.principal import Role
from graphql_api.db.models import AuditEntry
from graphql_api.db.models.user import OneTimeToken, RefreshToken, TokenPurpose, User
from graphql_api.db.session import Database
from graphql_api.users.service import normalised_email
from tests.audit.support import CREATE_FUND, REDACTED, KeyCaller, audit_entries, key_caller, only
from tests.conftest import make_settings, unique_channel
from tests.factories import create_fund, create_investor, gid
from tests.graphql import data_of, error_codes, execute
from tests.identity.conftest import MailingApp
from tests.identity.support import (
    LOGIN,
    LOGOUT,
    OTHER_PASSWORD,
    PASSWORD,
    assert_unauthenticated,
    bearer,
    create_user,
    drain_mail,
    http_client,
    refresh,
    running_app,
    session_of,
    status_with,
    token_in,
    unique_email,
    unique_ip,
    user_gid,
)

CHANGE_PASSWORD = """
mutation Change($current: String!, $new: String!) {
  changePassword(input: { currentPassword: $current, newPassword: $new }) {
    accessToken refreshToken errors { code field }
  }
}
"""
SET_ROLE = """
mutation SetRole($id: ID!, $role: Role!) {
  setUserRole(input: { userId: $id, role: $role }) { user { role } errors { code } }
}
"""
REQUEST_RESET = """
mutation RequestReset($email: String!) {
  requestPasswordReset(input: { email: $email }) { ok errors { code } }
}
"""
RESET_PASSWORD = """
mutation Reset($token: String!, $password: String!) {
  resetPassword(input: { token: $token, newPassword: $password }) {
    user { email } errors { code field }
  }
}
"""
CREATE_INVESTOR = """
mutation CreateInvestor($email: String!) {
  createInvestor(input: { name: "Regression LP", investorType: INSTITUTION, email: $email }) {
    investor { id } errors { code }
  }
}
"""
CREATE_INVESTMENT = """
mutation CreateInvestment($fund: ID!, $investor: ID!, $amount: Decimal!) {
  createInvestment(input: { fundId: $fund, investorId: $investor, amountUsd: $amount,
                            investmentDate: "2024-02-01" }) {
    investment { id } errors { code }
  }
}
"""
CREATE_USER = """
mutation CreateUser($email: String!) {
  createUser(input: { email: $email, password: "a-created-passphrase-9", role: ANALYST }) {
    user { id } errors { code }
  }
}
"""
CREATE_API_KEY = """
mutation { createApiKey(input: { name: "regression key", role: ANALYST }) {
  apiKey { id } errors { code } } }
"""
NEW_PASSWORD = "a-brand-new-passphrase-3"
AUDIT_LOG_ONLY_IDS = (
    "query Audit($filter: AuditFilter) { auditLog(filter: $filter) { nodes { id } } }"
)
REDIS_PREFIX = "graphql_api:"
MAILS_PER_ADDRESS_PER_HOUR = 5  # the cap users/mutations.py sets


# --- helpers -------------------------------------------------------------------------


def outcome(body: dict[str, Any]) -> str:
    """What one login attempt got: its top-level error code, or its payload's."""
    if body.get("errors"):
        return str(body["errors"][0]["extensions"]["code"])
    payload = body["data"]["login"]
    return str(payload["errors"][0]["code"]) if payload["errors"] else "LOGGED_IN"


async def attempt(http: httpx.AsyncClient, email: str, password: str) -> str:
    return outcome(await execute(http, LOGIN, {"email": email, "password": password}))


async def burst(clients: list[httpx.AsyncClient], email: str, count: int) -> list[str]:
    """`count` wrong-password logins for `email`, all in flight at once."""
    return list(
        await asyncio.gather(
            *(attempt(clients[n % len(clients)], email, OTHER_PASSWORD) for n in range(count))
        )
    )


def issued_at(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["iat"])


async def sessions_valid_after(db: Database, user_id: Any) -> datetime:
    async with db.read_session() as session:
        statement = select(User.sessions_valid_after).where(User.id == user_id)
        value = (await session.execute(statement)).scalar_one()
    assert value is not None
    return value


async def ended_in_its_second(db: Database, user_id: Any, token: str) -> bool:
    """Was `token` issued in the very second the user's sessions were ended?

    That is the case whole-second `iat` values let through.
    """
    cut_off = await sessions_valid_after(db, user_id)
    return int(issued_at(token)) == int(cut_off.timestamp())


ATTEMPTS = 5


async def in_one_second(scenario: Callable[[], Awaitable[bool]]) -> None:
    """Run `scenario` (which asserts) until one run fell within one whole second.

    Almost every run does (logging in and ending the session take milliseconds);
    retrying a few times makes it near certain that the case the fix is about was
    exercised, while every run has to pass its assertions.
    """
    for _ in range(ATTEMPTS):
        if await scenario():
            return


@contextmanager
def logs_as_emitted(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """caplog's handler first on the root logger, at DEBUG.

    The app installs its own root handler (and removes caplog's) when it is
    created; that handler's filter rewrites records in place. caplog's handler
    goes first, so `caplog.text` holds every message exactly as it was emitted.
    """
    root = logging.getLogger()
    root.removeHandler(caplog.handler)
    root.handlers.insert(0, caplog.handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(caplog.handler)
        root.setLevel(level)


_TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


async def reset_digest(db: Database, user_id: Any) -> str:
    async with db.read_session() as session:
        statement = select(OneTimeToken.token_digest).where(
            OneTimeToken.user_id == user_id, OneTimeToken.purpose == TokenPurpose.RESET_PASSWORD
        )
        digest: str = (await session.execute(statement)).scalar_one()
    return digest


def logged_secrets(text: str, digest: str) -> list[str]:
    """Every token-shaped string in `text` whose digest is the stored one."""
    return [found for found in _TOKEN_SHAPED.findall(text) if credentials.digest(found) == digest]


# --- 1. the login throttle counts an attempt before the password check -------------

PER_ACCOUNT = 3
BURST = 10
WINDOW_SECONDS = 600


def throttled_settings(database_url: str, per_ip: int, **overrides: Any) -> Any:
    return make_settings(
        database_url,
        login_failures_per_account=PER_ACCOUNT,
        login_failures_per_ip=per_ip,
        login_failure_window_seconds=WINDOW_SECONDS,
        **overrides,
    )


@pytest.fixture
async def throttled_app(
    database_urls: dict[str, str], backend: str, db: Database
) -> AsyncIterator[Any]:
    """The embedded mode (counts in process memory); the address limit out of the way."""
    async with running_app(throttled_settings(database_urls[backend], per_ip=100)) as app:
        yield app


@pytest.fixture
async def redis_instances(
    database_urls: dict[str, str], backend: str, db: Database, redis_url: str
) -> AsyncIterator[tuple[Any, Any]]:
    """Two instances counting in one Redis."""
    settings = throttled_settings(
        database_urls[backend],
        per_ip=100,
        redis_url=redis_url,
        events_channel=unique_channel("secreg-throttle"),
    )
    async with running_app(settings) as first, running_app(settings) as second:
        yield first, second


class TestParallelGuessesCannotOutrunTheThrottle:
    async def test_a_burst_of_wrong_passwords_gets_only_the_allowed_failures(
        self, throttled_app: Any
    ) -> None:
        user = await create_user(throttled_app)
        async with http_client(throttled_app, ip=unique_ip()) as http:
            outcomes = await burst([http], user.email, BURST)
            after = await attempt(http, user.email, PASSWORD)

        assert len(outcomes) == BURST
        assert outcomes.count("INVALID_CREDENTIALS") == PER_ACCOUNT
        assert outcomes.count("RATE_LIMITED") == BURST - PER_ACCOUNT
        assert after == "RATE_LIMITED"

    async def test_a_burst_spread_over_two_instances_is_counted_once_in_redis(
        self, redis_instances: tuple[Any, Any], redis_url: str
    ) -> None:
        first, second = redis_instances
        user = await create_user(first)
        address = unique_ip()
        account = credentials.digest(normalised_email(user.email))[:32]
        keys = [
            f"{REDIS_PREFIX}login-fail:account:{account}",
            f"{REDIS_PREFIX}login-fail:ip:{address}",
        ]
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            async with (
                http_client(first, ip=address) as on_first,
                http_client(second, ip=address) as on_second,
            ):
                outcomes = await burst([on_first, on_second], user.email, BURST)
                counts = [await store.get(key) for key in keys]
                after = await attempt(on_second, user.email, PASSWORD)
        finally:
            await store.delete(*keys)
            await store.aclose()

        assert outcomes.count("INVALID_CREDENTIALS") == PER_ACCOUNT
        assert outcomes.count("RATE_LIMITED") == BURST - PER_ACCOUNT
        # refused attempts were handed back: only the real failures remain counted
        assert counts == [str(PER_ACCOUNT), str(PER_ACCOUNT)]
        assert after == "RATE_LIMITED"


class TestOnlyFailuresStayCounted:
    async def test_refused_attempts_and_correct_logins_do_not_use_up_the_address(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        per_ip = 6
        settings = throttled_settings(database_urls[backend], per_ip=per_ip)
        async with running_app(settings) as app:
            attacked, bystander = await create_user(app), await create_user(app)
            async with http_client(app, ip=unique_ip()) as http:
                outcomes = await burst([http], attacked.email, BURST)
                # 3 failures counted for the address; 7 refused attempts handed back
                later = [await attempt(http, bystander.email, PASSWORD) for _ in range(per_ip)]

        assert outcomes.count("INVALID_CREDENTIALS") == PER_ACCOUNT
        assert later == ["LOGGED_IN"] * per_ip


# --- 2. throttle keys use the normalised address ----------------------------------------
# Case and surrounding blanks are covered by test_throttling; these spellings are
# ones only the email validator folds (full-width characters in the domain).


FULLWIDTH_FULL_STOP = "\uff0e"
FULLWIDTH_SMALL_E = "\uff45"


def validator_spellings(email: str) -> list[str]:
    local, domain = email.split("@")
    wide_dots = domain.replace(".", FULLWIDTH_FULL_STOP)
    return [
        f"{local}@{wide_dots}",
        f"{local}@{domain.replace('e', FULLWIDTH_SMALL_E, 1)}",
        f" {local.upper()}@{wide_dots.upper()} ",
    ]


class TestSpellingsOfOneAccountShareOneCount:
    async def test_a_spelling_the_validator_folds_is_the_same_account(
        self, throttled_app: Any
    ) -> None:
        user = await create_user(throttled_app)
        spelling = validator_spellings(user.email)[0]
        async with http_client(throttled_app, ip=unique_ip()) as http:
            logged_in = await attempt(http, spelling, PASSWORD)

        assert spelling.strip().lower() != user.email
        assert logged_in == "LOGGED_IN"

    async def test_failures_under_such_spellings_throttle_the_account(
        self, throttled_app: Any
    ) -> None:
        user = await create_user(throttled_app)
        spellings = validator_spellings(user.email)
        async with http_client(throttled_app, ip=unique_ip()) as http:
            failures = [await attempt(http, spelling, OTHER_PASSWORD) for spelling in spellings]

            after = await attempt(http, user.email, PASSWORD)

        assert len(spellings) == PER_ACCOUNT
        assert {spelling.strip().lower() for spelling in spellings}.isdisjoint({user.email})
        assert failures == ["INVALID_CREDENTIALS"] * PER_ACCOUNT
        assert after == "RATE_LIMITED"


# --- 3. a session ended in the same second as its token was issued -----------------------


class TestTokensOfTheSameSecondEnd:
    async def test_change_password_ends_the_token_it_was_called_with_and_keeps_the_new(
        self, app: Any, db: Database
    ) -> None:
        async def scenario() -> bool:
            user = await create_user(app)
            async with http_client(app, ip=unique_ip()) as http:
                current = await session_of(http, user.email)
                other_device = await session_of(http, user.email)
                body = await execute(
                    http,
                    CHANGE_PASSWORD,
                    {"current": PASSWORD, "new": NEW_PASSWORD},
                    headers=bearer(current.access),
                )
                payload = body["data"]["changePassword"]
                old = await status_with(http, bearer(current.access))
                other = await status_with(http, bearer(other_device.access))
                fresh = await status_with(http, bearer(payload["accessToken"]))
                fresh_refresh = await refresh(http, payload["refreshToken"])

            assert payload["errors"] == []
            assert_unauthenticated(old)
            assert_unauthenticated(other)
            assert fresh.status_code == 200, fresh.text
            assert fresh.json()["data"]["me"]["id"] == user_gid(user.id)
            assert fresh_refresh["errors"] == []
            return await ended_in_its_second(db, user.id, current.access)

        await in_one_second(scenario)

    async def test_a_role_change_ends_a_token_issued_just_before(
        self, app: Any, db: Database, client: httpx.AsyncClient
    ) -> None:
        async def scenario() -> bool:
            user = await create_user(app, role=Role.ANALYST)
            async with http_client(app, ip=unique_ip()) as http:
                old_token = (await session_of(http, user.email)).access
                changed = await data_of(
                    client, SET_ROLE, {"id": user_gid(user.id), "role": "MANAGER"}
                )
                old = await status_with(http, bearer(old_token))
                new_token = (await session_of(http, user.email)).access
                new = await execute(
                    http, CREATE_FUND, {"name": "By the promoted"}, headers=bearer(new_token)
                )

            assert changed["setUserRole"] == {"user": {"role": "MANAGER"}, "errors": []}
            assert_unauthenticated(old)
            assert new["data"]["createFund"]["errors"] == []
            return await ended_in_its_second(db, user.id, old_token)

        await in_one_second(scenario)

    async def test_a_password_reset_ends_a_token_issued_just_before(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        http = mailing_app.http

        async def scenario() -> bool:
            user = await create_user(mailing_app.app)
            old_token = (await session_of(http, user.email)).access
            requested = await execute(http, REQUEST_RESET, {"email": user.email})
            await drain_mail(mailing_app.app)
            token = token_in(mailing_app.inbox.to(user.email)[-1])
            reset = await execute(http, RESET_PASSWORD, {"token": token, "password": NEW_PASSWORD})
            old = await status_with(http, bearer(old_token))
            new_token = (await session_of(http, user.email, NEW_PASSWORD)).access
            new = await status_with(http, bearer(new_token))

            assert requested["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
            assert reset["data"]["resetPassword"]["errors"] == []
            assert_unauthenticated(old)
            assert new.status_code == 200, new.text
            return await ended_in_its_second(db, user.id, old_token)

        await in_one_second(scenario)


# --- 5, 6, 7, 9. the audit log ------------------------------------------------------------


@pytest.fixture
async def admin(app: Any, db: Database) -> AsyncIterator[KeyCaller]:
    async with key_caller(app) as caller:
        yield caller


async def entries_of(admin: KeyCaller, action: str) -> list[dict[str, Any]]:
    return list(reversed(await audit_entries(admin.http, action=[action])))


async def mutate(
    http: httpx.AsyncClient,
    document: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = await execute(http, document, variables, headers=headers)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


class TestInsertsNameTheirRecord:
    async def test_create_fund(self, admin: KeyCaller) -> None:
        data = await mutate(admin.http, CREATE_FUND, {"name": "Entity Id Fund"})

        [entry] = await entries_of(admin, "createFund")
        assert entry["entityType"] == "Fund"
        assert entry["entityId"] == data["createFund"]["fund"]["id"]

    async def test_create_investor(self, admin: KeyCaller) -> None:
        data = await mutate(admin.http, CREATE_INVESTOR, {"email": unique_email("lp")})

        [entry] = await entries_of(admin, "createInvestor")
        assert entry["entityId"] == data["createInvestor"]["investor"]["id"]

    async def test_create_investment(self, admin: KeyCaller, db: Database) -> None:
        fund, investor = await create_fund(db), await create_investor(db)

        data = await mutate(
            admin.http,
            CREATE_INVESTMENT,
            {"fund": gid(fund), "investor": gid(investor), "amount": "10.00"},
        )

        entry = only(await entries_of(admin, "createInvestment"), "Investment")
        assert entry["entityId"] == data["createInvestment"]["investment"]["id"]

    async def test_create_user_and_api_key(self, admin: KeyCaller) -> None:
        user = await mutate(admin.http, CREATE_USER, {"email": unique_email("made")})
        key = await mutate(admin.http, CREATE_API_KEY)

        [user_entry] = await entries_of(admin, "createUser")
        [key_entry] = await entries_of(admin, "createApiKey")
        assert user_entry["entityId"] == user["createUser"]["user"]["id"]
        assert key_entry["entityId"] == key["createApiKey"]["apiKey"]["id"]


async def family_ids(db: Database, user_id: Any) -> set[Any]:
    async with db.read_session() as session:
        statement = select(RefreshToken.family_id).where(RefreshToken.user_id == user_id)
        return set((await session.execute(statement)).scalars())


async def noted_family_ids(db: Database) -> list[Any]:
    async with db.read_session() as session:
        statement = select(AuditEntry.entity_id).where(
            AuditEntry.entity_type == "RefreshTokenFamily"
        )
        return list((await session.execute(statement)).scalars())


class TestBulkUpdatesAreAudited:
    async def test_logout_records_the_ended_session(
        self, admin: KeyCaller, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)
            await mutate(http, LOGOUT, {"token": session.refresh}, headers=bearer(session.access))

        entry = only(await entries_of(admin, "logout"), "RefreshTokenFamily")
        assert entry["before"] is None
        assert entry["after"]["reason"] == "logout"
        assert entry["after"]["user_id"] == str(user.id)
        assert entry["after"]["revoked_at"] is not None
        assert await noted_family_ids(db) == list(await family_ids(db, user.id))
        assert session.refresh not in json.dumps(entry)

    async def test_logout_with_an_unknown_token_records_nothing(
        self, admin: KeyCaller, app: Any
    ) -> None:
        async with http_client(app, ip=unique_ip()) as http:
            await mutate(http, LOGOUT, {"token": "not-a-refresh-token"})

        assert await entries_of(admin, "logout") == []

    async def test_reusing_a_refresh_token_records_the_revoked_family(
        self, admin: KeyCaller, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            stolen = (await session_of(http, user.email)).refresh
            assert (await refresh(http, stolen))["errors"] == []
            reused = await refresh(http, stolen)

        assert [error["code"] for error in reused["errors"]] == ["INVALID_TOKEN"]
        families = [
            entry
            for entry in await entries_of(admin, "refreshToken")
            if entry["entityType"] == "RefreshTokenFamily"
        ]
        assert len(families) == 1
        assert families[0]["after"]["reason"] == "refresh token reused"
        assert families[0]["after"]["user_id"] == str(user.id)
        assert await noted_family_ids(db) == list(await family_ids(db, user.id))

    async def test_create_investment_records_the_funds_committed_total(
        self, admin: KeyCaller, db: Database
    ) -> None:
        fund, investor = await create_fund(db), await create_investor(db)
        variables = {"fund": gid(fund), "investor": gid(investor)}

        for amount in ("2500.50", "100.25"):
            await mutate(admin.http, CREATE_INVESTMENT, {**variables, "amount": amount})

        entries = await entries_of(admin, "createInvestment")
        funds = [entry for entry in entries if entry["entityType"] == "Fund"]
        assert [entry["entityId"] for entry in funds] == [gid(fund), gid(fund)]
        totals = [
            (Decimal(entry["before"]["committed_usd"]), Decimal(entry["after"]["committed_usd"]))
            for entry in funds
        ]
        assert totals == [
            (Decimal("0"), Decimal("2500.50")),
            (Decimal("2500.50"), Decimal("2600.75")),
        ]
        assert {entry["actorId"] for entry in funds} == {admin.key_id}


class TestPasswordChangesShowInTheAudit:
    async def test_change_password_shows_the_hash_changed_but_never_the_hash(
        self, admin: KeyCaller, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        async with db.read_session() as session:
            old_hash = (
                await session.execute(select(User.password_hash).where(User.id == user.id))
            ).scalar_one()
        async with http_client(app, ip=unique_ip()) as http:
            tokens = await session_of(http, user.email)
            await mutate(
                http,
                CHANGE_PASSWORD,
                {"current": PASSWORD, "new": NEW_PASSWORD},
                headers=bearer(tokens.access),
            )
        async with db.read_session() as session:
            new_hash = (
                await session.execute(select(User.password_hash).where(User.id == user.id))
            ).scalar_one()

        entry = only(await entries_of(admin, "changePassword"), "User")
        assert entry["before"]["password_hash"] == REDACTED
        assert entry["after"]["password_hash"] == REDACTED
        assert "email" not in entry["after"]
        logged = json.dumps(entry)
        assert old_hash not in logged
        assert new_hash not in logged
        assert NEW_PASSWORD not in logged

    async def test_a_password_reset_shows_the_hash_changed(
        self, admin: KeyCaller, mailing_app: MailingApp
    ) -> None:
        user = await create_user(mailing_app.app)
        http = mailing_app.http
        await mutate(http, REQUEST_RESET, {"email": user.email})
        await drain_mail(mailing_app.app)
        token = token_in(mailing_app.inbox.only_one_to(user.email))
        await mutate(http, RESET_PASSWORD, {"token": token, "password": NEW_PASSWORD})

        entry = only(await entries_of(admin, "resetPassword"), "User")
        assert (entry["before"]["password_hash"], entry["after"]["password_hash"]) == (
            REDACTED,
            REDACTED,
        )

    async def test_a_change_that_leaves_the_password_alone_does_not_list_it(
        self, admin: KeyCaller, app: Any
    ) -> None:
        user = await create_user(app, role=Role.ANALYST)

        await mutate(admin.http, SET_ROLE, {"id": user_gid(user.id), "role": "MANAGER"})

        [entry] = await entries_of(admin, "setUserRole")
        assert "password_hash" not in entry["before"]
        assert "password_hash" not in entry["after"]


class TestAuditFilterByActor:
    async def test_api_key_and_user_ids_both_select_their_changes(
        self, admin: KeyCaller, app: Any
    ) -> None:
        manager = await create_user(app, role=Role.MANAGER)
        async with key_caller(app, Role.MANAGER) as other_key:
            await mutate(admin.http, CREATE_FUND, {"name": "By the admin key"})
            await mutate(other_key.http, CREATE_FUND, {"name": "By the other key"})
            async with http_client(app, ip=unique_ip()) as http:
                token = (await session_of(http, manager.email)).access
                await mutate(http, CREATE_FUND, {"name": "By the manager"}, headers=bearer(token))
            manager_id = user_gid(manager.id)

            by_admin_key = await audit_entries(admin.http, actorId={"eq": admin.key_id})
            by_other_or_manager = await audit_entries(
                admin.http, actorId={"in": [other_key.key_id, manager_id]}
            )

        assert [(e["actorKind"], e["actorId"]) for e in by_admin_key] == [("API_KEY", admin.key_id)]
        assert [e["after"]["name"] for e in by_admin_key] == ["By the admin key"]
        assert [(e["actorId"], e["after"]["name"]) for e in by_other_or_manager] == [
            (manager_id, "By the manager"),
            (other_key.key_id, "By the other key"),
        ]

    @pytest.mark.parametrize("kind", ["Fund", "Investor"])
    async def test_an_id_of_another_type_is_bad_user_input(
        self, admin: KeyCaller, db: Database, kind: str
    ) -> None:
        record = await (create_fund(db) if kind == "Fund" else create_investor(db))

        body = await execute(
            admin.http, AUDIT_LOG_ONLY_IDS, {"filter": {"actorId": {"eq": gid(record)}}}
        )

        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "User or ApiKey" in body["errors"][0]["message"]


# --- 10. refreshToken names its argument, not an `input` object --------------------------


class TestRefreshTokenErrorPath:
    async def test_an_unknown_token_points_at_the_argument(self, app: Any, db: Database) -> None:
        async with http_client(app, ip=unique_ip()) as http:
            payload = await refresh(http, "not-a-refresh-token")

        assert payload["errors"] == [{"code": "INVALID_TOKEN", "field": ["refreshToken"]}]

    async def test_a_reused_token_points_at_the_argument(self, app: Any, db: Database) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            token = (await session_of(http, user.email)).refresh
            await refresh(http, token)
            payload = await refresh(http, token)

        assert payload["errors"] == [{"code": "INVALID_TOKEN", "field": ["refreshToken"]}]


# --- 8. production without SMTP_URL never logs a mail's secret ---------------------------


class TestMailsInTheLog:
    async def test_production_logs_that_a_mail_was_not_sent_but_not_its_link(
        self,
        database_urls: dict[str, str],
        backend: str,
        db: Database,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        settings = make_settings(
            database_urls[backend], app_env="production", jwt_secret=secrets.token_urlsafe(48)
        )
        async with running_app(settings) as app:
            user = await create_user(app)
            with logs_as_emitted(caplog):
                async with http_client(app, ip=unique_ip()) as http:
                    body = await execute(http, REQUEST_RESET, {"email": user.email})
                await drain_mail(app)
            text = caplog.text
        digest = await reset_digest(db, user.id)

        assert settings.smtp_url is None
        assert body["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
        assert logged_secrets(text, digest) == []
        assert "reset-password" not in text
        assert "token=" not in text
        # the capture did see the mailer: it said the mail could not go out
        assert "'Reset your password' not sent" in text

    async def test_control_the_embedded_mode_still_logs_the_mail_with_its_token(
        self, app: Any, db: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        user = await create_user(app)
        with logs_as_emitted(caplog):
            async with http_client(app, ip=unique_ip()) as http:
                await execute(http, REQUEST_RESET, {"email": user.email})
            await drain_mail(app)
            text = caplog.text
        digest = await reset_digest(db, user.id)

        assert app.state.runtime.settings.is_production is False
        assert "reset-password" in text
        assert len(logged_secrets(text, digest)) >= 1


# --- 11. at most a few mails per address per hour ---------------------------------------


class TestMailsPerAddressAreCapped:
    async def test_seven_reset_requests_deliver_five_mails_and_get_one_answer(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        bystander = await create_user(mailing_app.app)
        requests = MAILS_PER_ADDRESS_PER_HOUR + 2

        answers = [
            await execute(mailing_app.http, REQUEST_RESET, {"email": user.email})
            for _ in range(requests)
        ]
        other = await execute(mailing_app.http, REQUEST_RESET, {"email": bystander.email})
        await drain_mail(mailing_app.app)

        assert [body["data"] for body in answers] == [
            {"requestPasswordReset": {"ok": True, "errors": []}}
        ] * requests
        assert other["data"] == answers[0]["data"]
        delivered = mailing_app.inbox.to(user.email)
        assert len(delivered) == MAILS_PER_ADDRESS_PER_HOUR
        assert {mail["Subject"] for mail in delivered} == {"Reset your password"}
        assert len(mailing_app.inbox.to(bystander.email)) == 1

    async def test_the_cap_counts_every_kind_of_mail_to_the_address(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        owner = await create_user(mailing_app.app)
        register = """
        mutation Register($email: String!) {
          register(input: { email: $email, password: "a-registered-passphrase" }) { ok }
        }
        """

        for _ in range(MAILS_PER_ADDRESS_PER_HOUR):
            await execute(mailing_app.http, register, {"email": owner.email})
        reset = await execute(mailing_app.http, REQUEST_RESET, {"email": owner.email})
        await drain_mail(mailing_app.app)

        assert reset["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
        delivered = mailing_app.inbox.to(owner.email)
        assert len(delivered) == MAILS_PER_ADDRESS_PER_HOUR
        assert {mail["Subject"] for mail in delivered} == {"You already have an account"}
