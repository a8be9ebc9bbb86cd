"""One ADMIN API key that every server of these tests knows, and how to present it."""

from __future__ import annotations

from datetime import UTC, datetime

from graphql_api.auth import credentials
from graphql_api.auth.principal import Role
from graphql_api.db.engine import create_engine
from graphql_api.db.models import ApiKey
from graphql_api.db.session import Database
from tests.conftest import make_settings

ADMIN_KEY = "gak_subtests_" + "k" * 43
HEADERS = {"X-API-Key": ADMIN_KEY}
INIT_PAYLOAD = {"x-api-key": ADMIN_KEY}


async def grant_admin_key(url: str) -> None:
    """Store the shared key (hashed, as the server stores keys) in this database."""
    database = Database(create_engine(make_settings(url)))
    try:
        async with database.unit_of_work() as uow:
            uow.session.add(
                ApiKey(
                    name="subscription tests",
                    prefix=credentials.api_key_prefix(ADMIN_KEY),
                    secret_digest=credentials.digest(ADMIN_KEY),
                    role=Role.ADMIN,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        await database.dispose()
