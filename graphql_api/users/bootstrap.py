"""Getting in the first time: the CLI's create-user / create-api-key, and the demo admin.

These run outside any request, as the operator (the audit log records them as
actor kind SYSTEM).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from graphql_api.audit.recorder import AUDIT_CONTEXT, AuditContext
from graphql_api.auth.principal import Role
from graphql_api.db.engine import create_engine
from graphql_api.db.session import Database
from graphql_api.settings import Settings
from graphql_api.users import repository
from graphql_api.users import service as user_service
from graphql_api.users.runtime import IdentityRuntime

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_HEADER_LIFETIME = timedelta(hours=12)


def _as_operator(action: str) -> dict[str, object]:
    return {AUDIT_CONTEXT: AuditContext(actor_kind="SYSTEM", actor_id=None, action=action)}


@dataclass(frozen=True, slots=True)
class DemoAdmin:
    email: str
    password: str | None  # only on the start that created it
    header: str


async def _with_database(settings: Settings) -> Database:
    return Database(create_engine(settings))


async def create_user(
    settings: Settings, email: str, password: str, role: Role, investor_id: uuid.UUID | None
) -> uuid.UUID:
    runtime = IdentityRuntime.from_settings(settings)
    db = await _with_database(settings)
    try:
        async with db.unit_of_work(_as_operator("create-user")) as uow:
            user = await user_service.create_user(
                uow.session, runtime.identity, email, password, role, investor_id, datetime.now(UTC)
            )
        return user.id
    finally:
        await db.dispose()
        await runtime.close()


async def create_api_key(settings: Settings, name: str, role: Role) -> tuple[str, str]:
    """(key prefix, secret)."""
    db = await _with_database(settings)
    try:
        async with db.unit_of_work(_as_operator("create-api-key")) as uow:
            key, secret = await user_service.create_api_key(
                uow.session, name, role, None, datetime.now(UTC)
            )
        return key.prefix, secret
    finally:
        await db.dispose()


async def demo_admin(settings: Settings) -> DemoAdmin | None:
    """Create the demo admin on an empty user table; a fresh GraphiQL header either way.

    Only for the embedded development mode: production never gets a demo account.
    """
    if settings.is_production:
        return None
    runtime = IdentityRuntime.from_settings(settings)
    db = await _with_database(settings)
    try:
        password: str | None = None
        async with db.unit_of_work(_as_operator("demo-admin")) as uow:
            user = await repository.get_user_by_email(uow.session, DEMO_ADMIN_EMAIL)
            if user is None:
                if await repository.count_users(uow.session):
                    return None  # someone set up real users: no demo account
                password = secrets.token_urlsafe(12)
                user = await user_service.create_user(
                    uow.session,
                    runtime.identity,
                    DEMO_ADMIN_EMAIL,
                    password,
                    Role.ADMIN,
                    None,
                    datetime.now(UTC),
                )
        if not user.is_active:
            return None
        token = runtime.identity.issuer.issue(
            user.id, user.role.value, datetime.now(UTC), lifetime=DEMO_HEADER_LIFETIME
        )
        header = orjson.dumps({"Authorization": f"Bearer {token}"}).decode()
        return DemoAdmin(DEMO_ADMIN_EMAIL, password, header)
    finally:
        await db.dispose()
        await runtime.close()
