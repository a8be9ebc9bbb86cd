"""Runtime configuration, read from the environment (and an optional `.env` file).

This is the only module that reads the environment. Everything else receives a
`Settings` instance (infrastructure) or plain arguments (services), which keeps
tests free to build any configuration without touching `os.environ`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./graphql_api.db"


DEVELOPMENT_JWT_SECRET = "development-only-jwt-secret-never-use-in-production"  # noqa: S105 (refused in production)
MIN_SECRET_BYTES = 32


class UnsafeSettingsError(ValueError):
    """Production settings that would start an unsafe server."""


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

    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_issuer: str = "graphql-api"
    jwt_audience: str = "graphql-api"
    access_token_minutes: float = Field(default=15, gt=0, le=24 * 60)
    refresh_token_days: float = Field(default=30, gt=0, le=365)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65_536, ge=8, le=4_194_304)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)
    allow_signup: bool | None = None
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_ip: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    smtp_url: SecretStr | None = None
    mail_from: str = "graphql-api <no-reply@localhost>"
    public_url: str = "http://127.0.0.1:8000"

    # Traffic protection (issue 5): limits checked before anything runs.
    max_document_chars: int = Field(default=20_000, ge=100)
    max_tokens: int = Field(default=3_000, ge=50)
    max_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_directives: int = Field(default=50, ge=0)
    max_root_fields: int = Field(default=20, ge=1)
    max_query_cost: int = Field(default=5_000, ge=1)
    rate_limit_enabled: bool = True
    rate_limit_capacity: float = Field(default=10_000, gt=0)
    rate_limit_refill_per_second: float = Field(default=500, ge=0)
    rate_limits_by_role: dict[str, tuple[float, float]] = Field(default_factory=dict)
    operation_timeout_seconds: float = Field(default=30, gt=0, le=600)
    batching_enabled: bool = False
    max_batch_operations: int = Field(default=10, ge=1, le=100)
    apq_ttl_seconds: int = Field(default=86_400, ge=60)
    trusted_documents_path: str | None = None
    trusted_documents_only: bool = False
    trusted_documents_admin_exempt: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    hsts_seconds: int = Field(default=31_536_000, ge=0)

    # Operations (issue 6): logs, traces, metrics, health, shutdown.
    log_format: str | None = Field(default=None, pattern="^(json|console)$")
    slow_operation_seconds: float = Field(default=1.0, gt=0)
    metrics_token: SecretStr | None = None
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "graphql-api"
    trace_resolvers: bool = False
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    shutdown_grace_seconds: float = Field(default=20.0, gt=0, le=600)

    parser_cache_size: int = Field(default=1024, ge=0)
    validation_cache_size: int = Field(default=1024, ge=0)
    gc_freeze: bool = True

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        """Production refuses to start with a default or short JWT secret, or open CORS."""
        if self.app_env is AppEnv.PRODUCTION and "*" in self.cors_origins:
            raise UnsafeSettingsError("CORS_ORIGINS may not contain '*' in production.")
        if self.app_env is AppEnv.PRODUCTION:
            secret = self.jwt_secret.get_secret_value()
            if secret == DEVELOPMENT_JWT_SECRET or len(secret.encode()) < MIN_SECRET_BYTES:
                raise UnsafeSettingsError(
                    f"JWT_SECRET must be set to a random value of at least {MIN_SECRET_BYTES} "
                    "bytes in production (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`)."
                )
        return self

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
    def signup_allowed(self) -> bool:
        """Self-service registration: on in development, off in production unless enabled."""
        return self.allow_signup if self.allow_signup is not None else not self.is_production

    @property
    def demo_data(self) -> bool:
        """Demo data is loaded into an empty database only in the embedded mode by default."""
        return self.load_demo_data if self.load_demo_data is not None else self.is_sqlite
