"""Self-service end to end: mails go through a real SMTP server (aiosmtpd) and are read back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from graphql_api.auth.principal import Role
from graphql_api.db.models.user import OneTimeToken, TokenPurpose, User
from graphql_api.db.session import Database
from graphql_api.settings import Settings
from graphql_api.users import service as user_service
from tests.conftest import make_settings
from tests.factories import create_investor, gid
from tests.graphql import error_codes, execute
from tests.identity.conftest import MailingApp
from tests.identity.support import (
    OTHER_PASSWORD,
    PASSWORD,
    assert_unauthenticated,
    backdated_access_token,
    bearer,
    create_user,
    drain_mail,
    http_client,
    login,
    refresh,
    running_app,
    session_of,
    status_with,
    token_in,
    unique_email,
    unique_ip,
)

REGISTER = """
mutation Register($email: String!, $password: String!) {
  register(input: { email: $email, password: $password }) { ok errors { code message field } }
}
"""
VERIFY_EMAIL = """
mutation Verify($token: String!) {
  verifyEmail(input: { token: $token }) {
    user { email role emailVerified investor { id } }
    errors { code field }
  }
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
CHANGE_PASSWORD = """
mutation Change($current: String!, $new: String!) {
  changePassword(input: { currentPassword: $current, newPassword: $new }) {
    accessToken refreshToken expiresIn user { email } errors { code field }
  }
}
"""
NEW_PASSWORD = "a-brand-new-passphrase"


async def count_users(db: Database, email: str) -> int:
    async with db.read_session() as session:
        statement = select(func.count()).select_from(User).where(User.email == email)
        return int((await session.execute(statement)).scalar_one())


async def expire_tokens(db: Database, user_id: Any) -> None:
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(OneTimeToken)
            .where(OneTimeToken.user_id == user_id)
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )


async def mailed_reset_token(mailing: MailingApp, email: str) -> str:
    body = await execute(mailing.http, REQUEST_RESET, {"email": email})
    assert body["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
    await drain_mail(mailing.app)
    return token_in(mailing.inbox.to(email)[-1])


class TestRegister:
    async def test_mails_a_verification_link_that_links_the_investor_of_that_email(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        investor = await create_investor(db, email=unique_email("investor"))

        registered = await execute(
            mailing_app.http, REGISTER, {"email": investor.email.upper(), "password": PASSWORD}
        )
        await drain_mail(mailing_app.app)
        mail = mailing_app.inbox.only_one_to(investor.email)
        verified = await execute(mailing_app.http, VERIFY_EMAIL, {"token": token_in(mail)})
        session = await session_of(mailing_app.http, investor.email)
        me = await status_with(mailing_app.http, bearer(session.access))

        assert registered["data"]["register"] == {"ok": True, "errors": []}
        assert mail["Subject"] == "Confirm your email address"
        assert mail["From"] == "graphql-api <no-reply@localhost>"
        assert "http://127.0.0.1:8000/verify-email?token=" in mail.get_content()
        assert verified["data"]["verifyEmail"] == {
            "user": {
                "email": investor.email,
                "role": "INVESTOR",
                "emailVerified": True,
                "investor": None,  # the anonymous caller may not read the investor record
            },
            "errors": [],
        }
        assert me.json()["data"]["me"]["role"] == "INVESTOR"
        assert me.json()["data"]["me"]["investor"] == {"id": gid(investor)}

    async def test_an_unverified_account_is_not_linked_to_the_investor(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        investor = await create_investor(db, email=unique_email("investor"))

        await execute(mailing_app.http, REGISTER, {"email": investor.email, "password": PASSWORD})
        session = await session_of(mailing_app.http, investor.email)
        me = await status_with(mailing_app.http, bearer(session.access))
        await drain_mail(mailing_app.app)

        assert me.json()["data"]["me"]["investor"] is None

    async def test_a_verification_token_works_once(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        email = unique_email("newcomer")
        await execute(mailing_app.http, REGISTER, {"email": email, "password": PASSWORD})
        await drain_mail(mailing_app.app)
        token = token_in(mailing_app.inbox.only_one_to(email))

        first = await execute(mailing_app.http, VERIFY_EMAIL, {"token": token})
        second = await execute(mailing_app.http, VERIFY_EMAIL, {"token": token})

        assert first["data"]["verifyEmail"]["errors"] == []
        assert first["data"]["verifyEmail"]["user"]["investor"] is None
        assert second["data"]["verifyEmail"] == {
            "user": None,
            "errors": [{"code": "INVALID_TOKEN", "field": ["input", "token"]}],
        }

    async def test_an_expired_verification_token_is_invalid(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        email = unique_email("late")
        await execute(mailing_app.http, REGISTER, {"email": email, "password": PASSWORD})
        await drain_mail(mailing_app.app)
        token = token_in(mailing_app.inbox.only_one_to(email))
        async with db.read_session() as session:
            user_id = (await session.execute(select(User.id).where(User.email == email))).scalar()
        await expire_tokens(db, user_id)

        verified = await execute(mailing_app.http, VERIFY_EMAIL, {"token": token})

        assert [e["code"] for e in verified["data"]["verifyEmail"]["errors"]] == ["INVALID_TOKEN"]

    async def test_an_existing_email_gets_the_same_answer_and_its_owner_a_notice(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        owner = await create_user(mailing_app.app, role=Role.MANAGER)
        newcomer = unique_email("newcomer")

        taken = await execute(
            mailing_app.http, REGISTER, {"email": owner.email, "password": OTHER_PASSWORD}
        )
        fresh = await execute(
            mailing_app.http, REGISTER, {"email": newcomer, "password": OTHER_PASSWORD}
        )
        await drain_mail(mailing_app.app)

        assert "errors" not in taken
        assert taken["data"] == fresh["data"] == {"register": {"ok": True, "errors": []}}
        notice = mailing_app.inbox.only_one_to(owner.email)
        assert notice["Subject"] == "You already have an account"
        assert "token=" not in notice.get_content()
        assert mailing_app.inbox.only_one_to(newcomer)["Subject"] == "Confirm your email address"
        assert await count_users(db, owner.email) == 1
        still_manager = await login(mailing_app.http, owner.email)
        assert still_manager["user"]["role"] == "MANAGER"
        refused = await login(mailing_app.http, owner.email, OTHER_PASSWORD)
        assert [e["code"] for e in refused["errors"]] == ["INVALID_CREDENTIALS"]

    @pytest.mark.parametrize(
        ("email", "password", "field"),
        [
            pytest.param("not-an-email", PASSWORD, "email", id="invalid email"),
            pytest.param(None, "short-pass", "password", id="short password"),
            pytest.param(None, "password1234", "password", id="common password"),
        ],
    )
    async def test_refuses_invalid_input_without_mailing(
        self, mailing_app: MailingApp, db: Database, email: str | None, password: str, field: str
    ) -> None:
        address = email or unique_email("weak")

        body = await execute(mailing_app.http, REGISTER, {"email": address, "password": password})
        await drain_mail(mailing_app.app)

        payload = body["data"]["register"]
        assert payload["ok"] is False
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("VALIDATION", ["input", field])
        ]
        assert mailing_app.inbox.messages == []
        assert await count_users(db, address) == 0

    async def test_is_refused_when_signup_is_disabled(
        self, database_urls: dict[str, str], backend: str, db: Database
    ) -> None:
        email = unique_email("hopeful")
        settings = make_settings(database_urls[backend], allow_signup=False)

        async with running_app(settings) as app, http_client(app) as http:
            body = await execute(http, REGISTER, {"email": email, "password": PASSWORD})

        assert body["data"]["register"] == {
            "ok": False,
            "errors": [
                {"code": "SIGNUP_DISABLED", "message": "Registration is disabled.", "field": None}
            ],
        }
        assert await count_users(db, email) == 0


class TestSignupSetting:
    def test_signup_is_on_in_the_embedded_mode_and_off_in_production(self) -> None:
        production = Settings(
            _env_file=None,  # type: ignore[call-arg]
            app_env="production",
            jwt_secret="p" * 48,
        )
        enabled = production.model_copy(update={"allow_signup": True})

        assert Settings(_env_file=None).signup_allowed is True  # type: ignore[call-arg]
        assert production.signup_allowed is False
        assert enabled.signup_allowed is True


class TestPasswordReset:
    async def test_known_and_unknown_emails_get_the_same_answer_and_only_one_mail(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        unknown = unique_email("stranger")

        known_answer = await execute(mailing_app.http, REQUEST_RESET, {"email": user.email})
        unknown_answer = await execute(mailing_app.http, REQUEST_RESET, {"email": unknown})
        invalid_answer = await execute(mailing_app.http, REQUEST_RESET, {"email": "not-an-email"})
        await drain_mail(mailing_app.app)

        assert "errors" not in known_answer
        assert known_answer["data"] == unknown_answer["data"] == invalid_answer["data"]
        assert known_answer["data"] == {"requestPasswordReset": {"ok": True, "errors": []}}
        assert len(mailing_app.inbox.messages) == 1
        mail = mailing_app.inbox.only_one_to(user.email)
        assert mail["Subject"] == "Reset your password"
        assert "/reset-password?token=" in mail.get_content()

    async def test_a_deactivated_account_gets_no_mail(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        async with db.unit_of_work() as uow:
            await user_service.deactivate_user(uow.session, user.id, datetime.now(UTC))

        answer = await execute(mailing_app.http, REQUEST_RESET, {"email": user.email})
        await drain_mail(mailing_app.app)

        assert answer["data"]["requestPasswordReset"] == {"ok": True, "errors": []}
        assert mailing_app.inbox.messages == []

    async def test_the_mailed_token_sets_a_new_password_once_and_ends_every_session(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        http = mailing_app.http
        first = await session_of(http, user.email)
        second = await session_of(http, user.email)
        older_access = backdated_access_token(mailing_app.app, user)
        token = await mailed_reset_token(mailing_app, user.email)

        reset = await execute(http, RESET_PASSWORD, {"token": token, "password": NEW_PASSWORD})
        again = await execute(http, RESET_PASSWORD, {"token": token, "password": OTHER_PASSWORD})

        assert reset["data"]["resetPassword"] == {"user": {"email": user.email}, "errors": []}
        assert again["data"]["resetPassword"] == {
            "user": None,
            "errors": [{"code": "INVALID_TOKEN", "field": ["input", "token"]}],
        }
        for ended in (first.refresh, second.refresh):
            assert [e["code"] for e in (await refresh(http, ended))["errors"]] == ["INVALID_TOKEN"]
        assert_unauthenticated(await status_with(http, bearer(older_access)))
        assert (await login(http, user.email, NEW_PASSWORD))["errors"] == []
        old_password = await login(http, user.email, PASSWORD)
        assert [e["code"] for e in old_password["errors"]] == ["INVALID_CREDENTIALS"]

    async def test_an_expired_token_is_invalid(self, mailing_app: MailingApp, db: Database) -> None:
        user = await create_user(mailing_app.app)
        token = await mailed_reset_token(mailing_app, user.email)
        await expire_tokens(db, user.id)

        reset = await execute(
            mailing_app.http, RESET_PASSWORD, {"token": token, "password": NEW_PASSWORD}
        )

        assert [e["code"] for e in reset["data"]["resetPassword"]["errors"]] == ["INVALID_TOKEN"]
        assert (await login(mailing_app.http, user.email))["errors"] == []

    async def test_the_token_expires_one_hour_after_it_was_mailed(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)

        await mailed_reset_token(mailing_app, user.email)

        async with db.read_session() as session:
            [row] = (
                await session.execute(select(OneTimeToken).where(OneTimeToken.user_id == user.id))
            ).scalars()
        assert row.purpose is TokenPurpose.RESET_PASSWORD
        assert (row.expires_at - row.created_at).total_seconds() == 3600

    async def test_a_newer_mail_makes_the_older_link_invalid(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        older = await mailed_reset_token(mailing_app, user.email)
        newer = await mailed_reset_token(mailing_app, user.email)

        stale = await execute(
            mailing_app.http, RESET_PASSWORD, {"token": older, "password": NEW_PASSWORD}
        )
        current = await execute(
            mailing_app.http, RESET_PASSWORD, {"token": newer, "password": NEW_PASSWORD}
        )

        assert [e["code"] for e in stale["data"]["resetPassword"]["errors"]] == ["INVALID_TOKEN"]
        assert current["data"]["resetPassword"]["errors"] == []

    async def test_a_weak_new_password_is_refused_and_the_token_stays_usable(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        token = await mailed_reset_token(mailing_app, user.email)

        weak = await execute(
            mailing_app.http, RESET_PASSWORD, {"token": token, "password": "qwerty123456"}
        )
        strong = await execute(
            mailing_app.http, RESET_PASSWORD, {"token": token, "password": NEW_PASSWORD}
        )

        assert [(e["code"], e["field"]) for e in weak["data"]["resetPassword"]["errors"]] == [
            ("VALIDATION", ["input", "newPassword"])
        ]
        assert strong["data"]["resetPassword"]["errors"] == []

    async def test_a_reset_token_does_not_verify_an_email(
        self, mailing_app: MailingApp, db: Database
    ) -> None:
        user = await create_user(mailing_app.app)
        token = await mailed_reset_token(mailing_app, user.email)

        verified = await execute(mailing_app.http, VERIFY_EMAIL, {"token": token})

        assert [e["code"] for e in verified["data"]["verifyEmail"]["errors"]] == ["INVALID_TOKEN"]


class TestChangePassword:
    async def test_returns_a_fresh_session_and_ends_the_others(
        self, app: Any, db: Database
    ) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            current = await session_of(http, user.email)
            other_device = await session_of(http, user.email)
            older_access = backdated_access_token(app, user)

            body = await execute(
                http,
                CHANGE_PASSWORD,
                {"current": PASSWORD, "new": NEW_PASSWORD},
                headers=bearer(current.access),
            )
            payload = body["data"]["changePassword"]
            fresh_me = await status_with(http, bearer(payload["accessToken"]))
            fresh_refresh = await refresh(http, payload["refreshToken"])
            other_refresh = await refresh(http, other_device.refresh)
            own_old_refresh = await refresh(http, current.refresh)
            older = await status_with(http, bearer(older_access))
            new_login = await login(http, user.email, NEW_PASSWORD)

        assert payload["errors"] == []
        assert payload["expiresIn"] == 900
        assert payload["user"] == {"email": user.email}
        assert fresh_me.status_code == 200
        assert fresh_me.json()["data"]["me"]["email"] == user.email
        assert fresh_refresh["errors"] == []
        assert [e["code"] for e in other_refresh["errors"]] == ["INVALID_TOKEN"]
        assert [e["code"] for e in own_old_refresh["errors"]] == ["INVALID_TOKEN"]
        assert_unauthenticated(older)
        assert new_login["errors"] == []

    async def test_a_wrong_current_password_changes_nothing(self, app: Any, db: Database) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)

            body = await execute(
                http,
                CHANGE_PASSWORD,
                {"current": OTHER_PASSWORD, "new": NEW_PASSWORD},
                headers=bearer(session.access),
            )
            still_in = await refresh(http, session.refresh)
            old_password = await login(http, user.email, PASSWORD)

        assert body["data"]["changePassword"]["accessToken"] is None
        assert [(e["code"], e["field"]) for e in body["data"]["changePassword"]["errors"]] == [
            ("INVALID_CREDENTIALS", ["input", "currentPassword"])
        ]
        assert still_in["errors"] == []
        assert old_password["errors"] == []

    async def test_a_weak_new_password_is_refused(self, app: Any, db: Database) -> None:
        user = await create_user(app)
        async with http_client(app, ip=unique_ip()) as http:
            session = await session_of(http, user.email)

            body = await execute(
                http,
                CHANGE_PASSWORD,
                {"current": PASSWORD, "new": "welcome12345"},
                headers=bearer(session.access),
            )

        assert [(e["code"], e["field"]) for e in body["data"]["changePassword"]["errors"]] == [
            ("VALIDATION", ["input", "newPassword"])
        ]

    async def test_an_api_key_has_no_password_to_change(self, client: httpx.AsyncClient) -> None:
        body = await execute(client, CHANGE_PASSWORD, {"current": PASSWORD, "new": NEW_PASSWORD})

        assert error_codes(body) == ["FORBIDDEN"]

    async def test_anonymous_callers_must_log_in_first(
        self, anonymous_client: httpx.AsyncClient
    ) -> None:
        body = await execute(
            anonymous_client, CHANGE_PASSWORD, {"current": PASSWORD, "new": NEW_PASSWORD}
        )

        assert error_codes(body) == ["UNAUTHENTICATED"]


class TestEmbeddedModeMail:
    async def test_without_smtp_url_mails_are_written_to_the_log(
        self, app: Any, db: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        email = unique_email("embedded")
        caplog.set_level(logging.INFO, logger="graphql_api.mail")

        async with http_client(app) as http:
            await execute(http, REGISTER, {"email": email, "password": PASSWORD})
            await drain_mail(app)
            [record] = [
                r
                for r in caplog.records
                if r.name == "graphql_api.mail" and r.getMessage().startswith(f"mail to {email}:")
            ]
            verified = await execute(
                http, VERIFY_EMAIL, {"token": record.getMessage().rsplit("token=")[-1].split()[0]}
            )

        assert app.state.runtime.settings.smtp_url is None
        assert record.getMessage().startswith(f"mail to {email}: Confirm your email address")
        assert verified["data"]["verifyEmail"]["errors"] == []
