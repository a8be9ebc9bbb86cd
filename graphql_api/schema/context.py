"""The per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from starlette.requests import Request
from starlette.websockets import WebSocket

from graphql_api.db.session import Database
from graphql_api.events.system import EventSystem
from graphql_api.schema.loaders import Loaders, SharedEventLoaders
from graphql_api.settings import Settings


@dataclass
class Runtime:
    """What lives as long as the process: settings, the database, the event machinery."""

    settings: Settings
    db: Database
    events: EventSystem
    event_loaders: SharedEventLoaders = field(init=False)

    def __post_init__(self) -> None:
        self.event_loaders = SharedEventLoaders(self.db)


@dataclass
class Context:
    """One request: its loaders (fresh each time), its id, and the runtime."""

    runtime: Runtime
    request: Request | WebSocket
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.runtime.db)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @staticmethod
    def today() -> date:
        """Today's date in UTC: the clock the domain rules use."""
        return datetime.now(UTC).date()
