"""Runtime configuration, read from the environment (and an optional `.env` file).

This is the only module that reads the environment. Everything else receives a
`Settings` instance (infrastructure) or plain arguments (services), which keeps
tests free to build any configuration without touching `os.environ`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./graphql_api.db"


class AppEnv(StrEnum):
    """Which safeguards are on: production turns on every one of them."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every knob the server has, with the defaults of the embedded mode."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: AppEnv = AppEnv.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"

    graphiql_enabled: bool | None = None
    introspection_enabled: bool | None = None
    load_demo_data: bool | None = None

    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=5, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)
    db_echo: bool = False

    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    events_channel: str = "graphql_api:events"
    events_poll_seconds: float = Field(default=5.0, gt=0, le=86_400)
    outbox_relay_seconds: float = Field(default=1.0, gt=0, le=86_400)
    outbox_retention_days: float = Field(default=7, gt=0)
    subscriber_queue_size: int = Field(default=256, ge=1, le=100_000)
    ws_connection_init_timeout_seconds: float = Field(default=10, gt=0, le=600)
    ws_keepalive_seconds: float = Field(default=15, gt=0, le=600)
    ws_max_subscriptions: int = Field(default=20, ge=1, le=1000)
    allowed_origins: list[str] = Field(default_factory=list)

    parser_cache_size: int = Field(default=1024, ge=0)
    validation_cache_size: int = Field(default=1024, ge=0)
    gc_freeze: bool = True

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.PRODUCTION

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def graphiql(self) -> bool:
        """GraphiQL is on in development and off in production unless enabled."""
        return (
            self.graphiql_enabled if self.graphiql_enabled is not None else not self.is_production
        )

    @property
    def introspection(self) -> bool:
        """Introspection follows the same rule as GraphiQL (which needs it)."""
        if self.introspection_enabled is not None:
            return self.introspection_enabled
        return not self.is_production

    @property
    def demo_data(self) -> bool:
        """Demo data is loaded into an empty database only in the embedded mode by default."""
        return self.load_demo_data if self.load_demo_data is not None else self.is_sqlite
