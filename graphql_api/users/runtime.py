"""The identity machinery of one process, built from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from graphql_api.auth.passwords import HashParameters, Passwords
from graphql_api.auth.throttle import LoginThrottle, ThrottleLimits
from graphql_api.auth.tokens import TokenIssuer
from graphql_api.kv import KeyValueStore, MemoryStore, RedisStore
from graphql_api.mail import LogMailer, Mailer, SmtpMailer
from graphql_api.resilience import CircuitBreaker, FallbackStore
from graphql_api.settings import Settings
from graphql_api.users.service import Identity


@dataclass
class IdentityRuntime:
    identity: Identity
    throttle: LoginThrottle
    store: KeyValueStore
    mailer: Mailer
    allow_signup: bool
    public_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityRuntime:
        store: KeyValueStore = (
            FallbackStore(RedisStore(settings.redis_url), CircuitBreaker("key-value store"))
            if settings.redis_url
            else MemoryStore()
        )
        passwords = Passwords(
            HashParameters(
                time_cost=settings.password_hash_time_cost,
                memory_kib=settings.password_hash_memory_kib,
                parallelism=settings.password_hash_parallelism,
            )
        )
        issuer = TokenIssuer(
            secret=settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime=timedelta(minutes=settings.access_token_minutes),
        )
        mailer: Mailer = (
            SmtpMailer(settings.smtp_url.get_secret_value(), settings.mail_from)
            if settings.smtp_url
            else LogMailer(include_body=not settings.is_production)
        )
        return cls(
            identity=Identity(
                passwords=passwords,
                issuer=issuer,
                refresh_lifetime=timedelta(days=settings.refresh_token_days),
            ),
            throttle=LoginThrottle(
                store,
                ThrottleLimits(
                    per_account=settings.login_failures_per_account,
                    per_ip=settings.login_failures_per_ip,
                    window_seconds=settings.login_failure_window_seconds,
                ),
            ),
            store=store,
            mailer=mailer,
            allow_signup=settings.signup_allowed,
            public_url=settings.public_url.rstrip("/"),
        )

    async def close(self) -> None:
        await self.store.close()
