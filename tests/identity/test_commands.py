"""Getting in the first time: `create-user`, `create-api-key`, the demo admin, and the
production refusal of unsafe JWT secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError
from sqlalchemy import select

from graphql_api.cli import main
from graphql_api.db.migrations import migrate
from graphql_api.db.models.audit import AuditEntry
from graphql_api.settings import DEVELOPMENT_JWT_SECRET, Settings
from graphql_api.users import bootstrap
from tests.backends import sqlite_url
from tests.conftest import make_settings
from tests.graphql import execute
from tests.identity.support import (
    ME,
    PASSWORD,
    http_client,
    login,
    running_app,
    unique_email,
)

FUNDS = "{ funds { totalCount } }"
CREATE_FUND = """
mutation { createFund(input: { name: "CLI", vintageYear: 2022, targetSizeUsd: "10" }) {
  errors { code } } }
"""
CLEAN_ENVIRONMENT = {
    "APP_ENV": "development",
    "JWT_SECRET": None,
    "REDIS_URL": None,
    "SMTP_URL": None,
}


def invoke(database_url: str, *args: str, **env: str | None) -> Result:
    environment = CLEAN_ENVIRONMENT | {"DATABASE_URL": database_url} | env
    return CliRunner().invoke(main, list(args), env=environment)


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file migrated to head (nothing shared with other tests)."""
    url = sqlite_url(tmp_path, "bootstrap.db")
    await asyncio.to_thread(migrate, url)
    return url


class TestCreateUserCommand:
    async def test_the_created_user_can_log_in_with_that_role(self, database_url: str) -> None:
        email = unique_email("first-admin")

        result = await asyncio.to_thread(
            invoke,
            database_url,
            "create-user",
            "--email",
            email,
            "--password",
            PASSWORD,
            "--role",
            "ADMIN",
        )
        async with running_app(make_settings(database_url)) as app, http_client(app) as http:
            payload = await login(http, email)

        assert result.exit_code == 0, result.output
        assert f"Created ADMIN user {email}" in result.output
        assert PASSWORD not in result.output
        assert payload["errors"] == []
        assert payload["user"]["role"] == "ADMIN"

    async def test_is_recorded_in_the_audit_log_as_the_operator(self, database_url: str) -> None:
        email = unique_email("audited")

        await asyncio.to_thread(
            invoke, database_url, "create-user", "--email", email, "--password", PASSWORD,
            "--role", "MANAGER",
        )  # fmt: skip
        async with (
            running_app(make_settings(database_url)) as app,
            app.state.runtime.db.read_session() as session,
        ):
            entries = list((await session.execute(select(AuditEntry))).scalars())

        [entry] = entries
        assert (entry.actor_kind, entry.actor_id, entry.action) == ("SYSTEM", None, "create-user")
        assert entry.entity_type == "User"
        assert entry.after is not None
        assert entry.after["email"] == email
        assert entry.after["password_hash"] == "[REDACTED]"

    @pytest.mark.parametrize(
        ("password", "message"),
        [("short-pw", "at least 12"), ("password1234", "too common")],
    )
    async def test_a_weak_password_is_refused(
        self, database_url: str, password: str, message: str
    ) -> None:
        email = unique_email("weak")

        result = await asyncio.to_thread(
            invoke, database_url, "create-user", "--email", email, "--password", password,
            "--role", "ADMIN",
        )  # fmt: skip
        async with running_app(make_settings(database_url)) as app, http_client(app) as http:
            payload = await login(http, email, password)

        assert result.exit_code != 0
        assert message in result.output
        assert [error["code"] for error in payload["errors"]] == ["INVALID_CREDENTIALS"]

    async def test_an_existing_email_is_refused(self, database_url: str) -> None:
        email = unique_email("twice")
        args = ("create-user", "--email", email, "--password", PASSWORD, "--role", "ANALYST")

        first = await asyncio.to_thread(invoke, database_url, *args)
        second = await asyncio.to_thread(invoke, database_url, *args)

        assert first.exit_code == 0
        assert second.exit_code != 0
        assert "already exists" in second.output


class TestCreateApiKeyCommand:
    async def test_prints_the_secret_alone_on_the_last_line_and_it_works(
        self, database_url: str
    ) -> None:
        result = await asyncio.to_thread(
            invoke, database_url, "create-api-key", "--name", "deploy bot", "--role", "ANALYST"
        )
        lines = result.output.rstrip("\n").split("\n")
        secret = lines[-1]
        async with (
            running_app(make_settings(database_url)) as app,
            http_client(app, headers={"X-API-Key": secret}) as http,
        ):
            read = await execute(http, FUNDS)
            write = await execute(http, CREATE_FUND)
            me = await execute(http, ME)

        assert result.exit_code == 0, result.output
        assert secret == secret.strip()
        assert secret.startswith("gak_")
        assert " " not in secret
        assert all(secret not in line for line in lines[:-1])
        assert "ANALYST" in lines[0]
        assert "deploy bot" in lines[0]
        assert read["data"] == {"funds": {"totalCount": 0}}
        assert write["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert me["data"] == {"me": None}


class TestDemoAdmin:
    async def test_an_empty_embedded_database_gets_an_admin_and_a_working_header(
        self, database_url: str
    ) -> None:
        settings = make_settings(database_url)

        created = await bootstrap.demo_admin(settings)
        again = await bootstrap.demo_admin(settings)
        assert created is not None
        assert again is not None
        async with running_app(settings) as app, http_client(app) as http:
            header = orjson.loads(again.header)
            me = await execute(http, "{ me { email role } }", headers=header)
            password_login = await login(http, created.email, created.password or "")

        assert created.email == "admin@example.com"
        assert created.password is not None
        assert len(created.password) >= 12
        assert again.password is None  # shown only on the start that made it
        assert "errors" not in me
        assert me["data"] == {"me": {"email": "admin@example.com", "role": "ADMIN"}}
        assert password_login["errors"] == []

    async def test_no_demo_account_once_real_users_exist(self, database_url: str) -> None:
        email = unique_email("real-admin")
        await asyncio.to_thread(
            invoke, database_url, "create-user", "--email", email, "--password", PASSWORD,
            "--role", "ADMIN",
        )  # fmt: skip

        demo = await bootstrap.demo_admin(make_settings(database_url))

        assert demo is None

    async def test_production_never_gets_a_demo_account(self, database_url: str) -> None:
        settings = make_settings(database_url, app_env="production", jwt_secret="s" * 48)

        demo = await bootstrap.demo_admin(settings)

        assert demo is None


@pytest.fixture
def production_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    return monkeypatch


def settings_from_environment() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


class TestProductionJwtSecret:
    def test_a_missing_secret_is_refused(self, production_environment: pytest.MonkeyPatch) -> None:
        with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
            settings_from_environment()

    @pytest.mark.parametrize(
        "secret",
        [
            pytest.param(DEVELOPMENT_JWT_SECRET, id="the development default"),
            pytest.param("s" * 31, id="31 bytes"),
            pytest.param("", id="empty"),
            pytest.param("é" * 15, id="30 bytes in 15 characters"),
        ],
    )
    def test_a_default_or_short_secret_is_refused(
        self, production_environment: pytest.MonkeyPatch, secret: str
    ) -> None:
        production_environment.setenv("JWT_SECRET", secret)

        with pytest.raises(ValidationError, match="at least 32 bytes"):
            settings_from_environment()

    @pytest.mark.parametrize("secret", ["s" * 32, "é" * 16, "x" * 64])
    def test_a_secret_of_32_bytes_or_more_is_accepted(
        self, production_environment: pytest.MonkeyPatch, secret: str
    ) -> None:
        production_environment.setenv("JWT_SECRET", secret)

        settings = settings_from_environment()

        assert settings.is_production
        assert settings.jwt_secret.get_secret_value() == secret

    def test_the_development_mode_keeps_its_default_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("APP_ENV", "development")
        monkeypatch.delenv("JWT_SECRET", raising=False)

        settings = settings_from_environment()

        assert settings.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET

    def test_the_secret_is_not_shown_in_the_settings_repr(
        self, production_environment: pytest.MonkeyPatch
    ) -> None:
        secret = "a-production-secret-of-forty-bytes-long!"
        production_environment.setenv("JWT_SECRET", secret)

        settings = settings_from_environment()

        assert secret not in repr(settings)
        assert secret not in str(settings.model_dump())

    async def test_the_cli_refuses_to_run_in_production_without_a_secret(
        self, database_url: str
    ) -> None:
        email = unique_email("prod")

        result = await asyncio.to_thread(
            invoke, database_url, "create-user", "--email", email, "--password", PASSWORD,
            "--role", "ADMIN", APP_ENV="production",
        )  # fmt: skip
        async with running_app(make_settings(database_url)) as app, http_client(app) as http:
            payload = await login(http, email)

        assert result.exit_code != 0
        assert isinstance(result.exception, ValidationError)
        assert "JWT_SECRET" in str(result.exception)
        assert [error["code"] for error in payload["errors"]] == ["INVALID_CREDENTIALS"]
