"""Turn request credentials into a principal (HTTP headers or a WebSocket init payload).

`Authorization: Bearer <access token>` for users, `X-API-Key: <key>` for
services; nothing at all means anonymous. A credential that is present but
wrong is an error, never a silent downgrade to anonymous.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from graphql_api.auth.principal import ANONYMOUS, Principal
from graphql_api.db.session import Database
from graphql_api.kv import KeyValueStore
from graphql_api.users import service as user_service
from graphql_api.users.service import Identity, UnauthenticatedError

REVOKED_PREFIX = "revoked-access-token:"


@dataclass(frozen=True, slots=True)
class Credentials:
    bearer: str | None = None
    api_key: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Credentials:
        """From HTTP headers or a connection_init payload (keys in any letter case)."""
        lowered = {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}
        authorization = lowered.get("authorization", "").strip()
        bearer = None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise UnauthenticatedError("Authorization must be `Bearer <access token>`.")
            bearer = token.strip()
        api_key = lowered.get("x-api-key", "").strip() or None
        return cls(bearer=bearer, api_key=api_key)


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    expires_at: datetime | None = None
    token_id: str | None = None


async def authenticate(
    db: Database, identity: Identity, store: KeyValueStore, credentials: Credentials, now: datetime
) -> Authenticated:
    """The principal behind the credentials; UnauthenticatedError when they are not valid."""
    if credentials.bearer is None and credentials.api_key is None:
        return Authenticated(ANONYMOUS)
    async with db.read_session() as session:
        if credentials.bearer is not None:
            claims = identity.issuer.verify_or_none(credentials.bearer)
            if claims is not None and await store.fetch(REVOKED_PREFIX + claims.token_id):
                raise UnauthenticatedError("The session has ended; log in again.")
            principal, expires_at = await user_service.principal_for_access_token(
                session, identity.issuer, credentials.bearer
            )
            return Authenticated(principal, expires_at, claims.token_id if claims else None)
        assert credentials.api_key is not None
        principal, due = await user_service.principal_for_api_key(session, credentials.api_key, now)
    if due and principal.id is not None and _first_to_record(principal.id, now):
        async with db.unit_of_work() as uow:  # a write: it takes the writer's lock
            await user_service.record_api_key_use(uow.session, principal.id, now)
    return Authenticated(principal)


# When a key's `lastUsedAt` falls due, every request of a burst would see it due
# and queue on the row's lock (or SQLite's writer lock) to write the same thing;
# within one process, only the first of them writes.
_RECORDED_AT: dict[uuid.UUID, datetime] = {}


def _first_to_record(key_id: uuid.UUID, now: datetime) -> bool:
    last = _RECORDED_AT.get(key_id)
    if last is not None and now - last < user_service.API_KEY_TOUCH_INTERVAL:
        return False
    if len(_RECORDED_AT) > 10_000:
        _RECORDED_AT.clear()
    _RECORDED_AT[key_id] = now
    return True


async def revoke(store: KeyValueStore, authenticated: Authenticated, now: datetime) -> None:
    """Refuse this access token from now on (until it would have expired anyway)."""
    if authenticated.token_id is None or authenticated.expires_at is None:
        return
    remaining = int((authenticated.expires_at - now).total_seconds()) + 5
    if remaining > 0:
        await store.put(REVOKED_PREFIX + authenticated.token_id, "1", remaining)
