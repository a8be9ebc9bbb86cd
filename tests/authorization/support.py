"""Who calls, in the authorization tests: real users with access tokens, real API keys.

Users are created through the identity service, as `createUser` would, and get
their access token from the app's own issuer; API keys come from
`tests.conftest.api_key_for`. Nothing here bypasses the app's authentication.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from graphql_api.auth.principal import Role
from graphql_api.db.base import Base
from graphql_api.db.models.user import User
from graphql_api.db.session import Database
from graphql_api.schema.ids import to_global_id
from graphql_api.users import service as user_service

PASSWORD = "correct horse battery staple 42"
NEW_PASSWORD = "another quite long passphrase 7"

_numbers = itertools.count(1)


def unique_email(prefix: str) -> str:
    return f"{prefix}-{next(_numbers)}-{uuid.uuid4().hex[:6]}@example.com"


async def create_user(
    app: Any, db: Database, role: Role, investor_id: uuid.UUID | None = None
) -> User:
    """An active, verified user of `role` whose password is PASSWORD."""
    identity = app.state.runtime.identity.identity
    async with db.unit_of_work() as uow:
        return await user_service.create_user(
            uow.session,
            identity,
            unique_email(role.value.lower()),
            PASSWORD,
            role,
            investor_id,
            datetime.now(UTC),
        )


def access_token(app: Any, user: User, lifetime: timedelta | None = None) -> str:
    """An access token for `user`, minted by the app's own issuer."""
    issuer = app.state.runtime.identity.identity.issuer
    token: str = issuer.issue(user.id, user.role.value, datetime.now(UTC), lifetime=lifetime)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_gid(user: User) -> str:
    return to_global_id("User", user.id)


@asynccontextmanager
async def http_client(app: Any, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The real app through ASGI, sending `headers` with every request."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


Snapshot = dict[str, list[str]]


async def snapshot(app: Any, db: Database) -> Snapshot:
    """Every row of every table, once the background work of earlier commits is done."""
    runtime = app.state.runtime
    await runtime.events.publisher.idle()
    await runtime.drain_background()
    tables: Snapshot = {}
    async with db.read_session() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            tables[table.name] = sorted(repr(tuple(row)) for row in rows)
    return tables


def changed_tables(before: Snapshot, after: Snapshot) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]
