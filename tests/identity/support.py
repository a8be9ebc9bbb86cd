"""Shared pieces of the identity tests: documents, users, sessions, extra apps, a mailbox."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import text

from graphql_api.app import create_app
from graphql_api.auth.passwords import Passwords
from graphql_api.auth.principal import Role
from graphql_api.db.models.user import User
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from graphql_api.settings import Settings
from graphql_api.users import service as user_service
from graphql_api.users.service import Identity
from tests.graphql import execute

PASSWORD = "c0rrect-h0rse-battery"
OTHER_PASSWORD = "an0ther-l0ng-passphrase"
BASE_URL = "http://testserver"

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    accessToken refreshToken expiresIn
    user { id email role isActive }
    errors { code message field }
  }
}
"""

REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) {
    accessToken refreshToken expiresIn
    user { id role }
    errors { code field }
  }
}
"""

LOGOUT = """
mutation Logout($token: String!) {
  logout(input: { refreshToken: $token }) { ok errors { code } }
}
"""

ME = "{ me { id email role investor { id } } }"

_sequence = iter(range(1, 1_000_000))


def unique_email(name: str = "user") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


def unique_ip() -> str:
    """A client address no other test uses (throttling counts per address)."""
    number = next(_sequence)
    return f"10.{uuid.uuid4().int % 250}.{number // 250 % 250}.{number % 250 + 1}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_gid(user_id: uuid.UUID) -> str:
    return to_global_id("User", user_id)


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def identity_of(app: Any) -> Identity:
    identity: Identity = app.state.runtime.identity.identity
    return identity


def backdated_access_token(app: Any, user: User, seconds: int = 60) -> str:
    """A genuine access token of a session that started `seconds` ago."""
    issued_at = datetime.now(UTC) - timedelta(seconds=seconds)
    return identity_of(app).issuer.issue(user.id, user.role.value, issued_at)


async def create_user(
    app: Any,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    role: Role = Role.ANALYST,
    investor_id: uuid.UUID | None = None,
    passwords: Passwords | None = None,
) -> User:
    """A user straight through the service (no audit entry), hashed like `app` does."""
    identity = identity_of(app)
    if passwords is not None:
        identity = Identity(passwords=passwords, issuer=identity.issuer)
    db: Database = app.state.runtime.db
    async with db.unit_of_work() as uow:
        return await user_service.create_user(
            uow.session,
            identity,
            email or unique_email(role.value.lower()),
            password,
            role,
            investor_id,
            datetime.now(UTC),
        )


@asynccontextmanager
async def http_client(
    app: Any, *, ip: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40_000))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=headers or {}
    ) as http:
        yield http


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """The `login` payload (asserting there is no top-level error)."""
    body = await execute(http, LOGIN, {"email": email, "password": password})
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"]["login"]
    return payload


async def session_of(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Session:
    payload = await login(http, email, password)
    assert payload["errors"] == [], payload["errors"]
    return Session(payload["accessToken"], payload["refreshToken"])


@dataclass(frozen=True)
class Session:
    access: str
    refresh: str


async def refresh(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    body = await execute(http, REFRESH, {"token": token})
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"]["refreshToken"]
    return payload


async def status_with(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """A harmless authenticated query made with these headers."""
    return await http.post("/graphql", json={"query": ME}, headers=headers)


def assert_unauthenticated(response: httpx.Response) -> None:
    """401, a JSON error with code UNAUTHENTICATED, and a Bearer challenge."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/")
    assert response.headers["www-authenticate"].startswith("Bearer")
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["UNAUTHENTICATED"]
    assert "data" not in response.json()


async def scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def execute_sql(db: Database, sql: str, **params: Any) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def drain_mail(app: Any) -> None:
    """Wait (bounded) until the mails queued after the last commits are handed over."""
    await asyncio.wait_for(app.state.runtime.drain_background(), timeout=15)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Any]:
    """Another instance of the real app (its own settings), with its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


# --- a real SMTP server, in process -------------------------------------------------


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps every delivered message."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        parsed = message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    def only_one_to(self, address: str) -> EmailMessage:
        received = self.to(address)
        assert len(received) == 1, [m["Subject"] for m in received]
        return received[0]


def token_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"token=([A-Za-z0-9_-]+)", body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[Inbox, str]]:
    """A real SMTP server on a free loopback port: (its inbox, its SMTP_URL)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    await asyncio.to_thread(controller.start)
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(controller.stop)
