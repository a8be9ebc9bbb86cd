"""The per-request context every resolver receives as `info.context`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket

from graphql_api.auth.authenticate import Authenticated, Credentials, authenticate, revoke
from graphql_api.auth.principal import ANONYMOUS, Principal, Viewer
from graphql_api.db.session import Database
from graphql_api.events.system import EventSystem
from graphql_api.schema.loaders import Loaders, SharedEventLoaders
from graphql_api.schema.persisted import PersistedQueries
from graphql_api.schema.traffic import TrafficPolicy
from graphql_api.settings import Settings
from graphql_api.users.runtime import IdentityRuntime
from graphql_api.users.service import UnauthenticatedError

REVALIDATE_SECONDS = 5.0


@dataclass
class Runtime:
    """What lives as long as the process: settings, database, events, identity."""

    settings: Settings
    db: Database
    events: EventSystem
    identity: IdentityRuntime
    traffic: TrafficPolicy
    persisted: PersistedQueries
    event_loaders: SharedEventLoaders = field(init=False)
    _background: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    _credential_checks: dict[Credentials, tuple[float, asyncio.Task[Principal | None]]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.event_loaders = SharedEventLoaders(self.db)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the response, keeping a reference until it is done."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def current_principal(self, credentials: Credentials) -> Principal | None:
        """Who these credentials name now (None: no longer valid), checked once per
        REVALIDATE_SECONDS per process, however many connections present them.

        A thousand subscriptions on one API key would otherwise re-check it a
        thousand times at once when an event arrives, exhausting the pool.
        """
        now = time.monotonic()
        cached = self._credential_checks.get(credentials)
        if cached is not None and now - cached[0] < REVALIDATE_SECONDS:
            return await asyncio.shield(cached[1])
        if len(self._credential_checks) > 10_000:
            self._credential_checks.clear()
        check = asyncio.create_task(self._check(credentials))
        self._credential_checks[credentials] = (now, check)
        try:
            return await asyncio.shield(check)
        except Exception:
            self._credential_checks.pop(credentials, None)  # do not cache a failure
            raise

    async def _check(self, credentials: Credentials) -> Principal | None:
        identity = self.identity
        try:
            current = await authenticate(
                self.db, identity.identity, identity.store, credentials, datetime.now(UTC)
            )
        except UnauthenticatedError:
            return None
        return current.principal

    async def drain_background(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.gather(*tuple(self._background), return_exceptions=True)


@dataclass
class Context:
    """One request: who is calling, its loaders (fresh each time), its id, the runtime."""

    runtime: Runtime
    request: Request | WebSocket
    request_id: str
    authenticated: Authenticated = field(default_factory=lambda: Authenticated(ANONYMOUS))
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.runtime.db, self.viewer)

    connection_params: object = None  # a WebSocket's connection_init payload (Strawberry sets it)
    credentials: Credentials | None = None
    checked_at: float = 0.0

    def sign_in(self, authenticated: Authenticated, credentials: Credentials) -> None:
        """A WebSocket identified itself: its operations now run as this principal."""
        self.authenticated = authenticated
        self.credentials = credentials
        self.checked_at = time.monotonic()
        self.loaders = Loaders(self.runtime.db, self.viewer)

    async def still_authenticated(self) -> bool:
        """For a long-lived WebSocket: is its credential still good, for the same principal?

        A revoked key, a deactivated user, a role change or a logout ends what the
        connection may do; checked at most every REVALIDATE_SECONDS.
        """
        if self.credentials is None:
            return True
        now = time.monotonic()
        if now - self.checked_at < REVALIDATE_SECONDS:
            return True
        if await self.runtime.current_principal(self.credentials) != self.principal:
            return False
        self.checked_at = now
        return True

    @property
    def principal(self) -> Principal:
        return self.authenticated.principal

    @property
    def viewer(self) -> Viewer:
        """Which rows and emails this request may read (applied in every repository)."""
        return self.principal.viewer

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def client_ip(self) -> str:
        """The caller's address (uvicorn applies X-Forwarded-For from trusted proxies)."""
        client = self.request.client
        return client.host if client is not None else "unknown"

    async def revoke_access_token(self) -> None:
        """End the access token this request was made with (logout)."""
        await revoke(self.runtime.identity.store, self.authenticated, datetime.now(UTC))

    @staticmethod
    def today() -> date:
        """Today's date in UTC: the clock the domain rules use."""
        return datetime.now(UTC).date()
