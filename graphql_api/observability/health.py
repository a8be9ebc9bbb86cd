"""Liveness and readiness.

`/healthz` says the process answers (no dependency checks: a database outage
must not make an orchestrator restart every instance). `/readyz` says whether
this instance can serve: PostgreSQL (or SQLite) and Redis, when configured,
each answer within READINESS_TIMEOUT_SECONDS; otherwise 503 with a JSON body
naming what failed, so a load balancer stops sending traffic until it is back.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from graphql_api.db.session import Database
from graphql_api.observability import metrics
from graphql_api.settings import Settings

Endpoint = Callable[[Request], Awaitable[Response]]


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def _check(probe: Awaitable[object], seconds: float) -> str:
    try:
        await asyncio.wait_for(probe, seconds)
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except Exception as error:
        return type(error).__name__
    return "ok"


async def _database(db: Database) -> None:
    async with db.read_session() as session:
        await session.execute(text("SELECT 1"))


async def _redis(url: str, seconds: float) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=seconds, socket_timeout=seconds)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def readiness(settings: Settings, db: Database) -> tuple[bool, dict[str, str]]:
    timeout = settings.readiness_timeout_seconds
    probes = {"database": _check(_database(db), timeout)}
    if settings.redis_url:
        probes["redis"] = _check(_redis(settings.redis_url, timeout), timeout)
    results = dict(zip(probes, await asyncio.gather(*probes.values()), strict=True))
    return all(result == "ok" for result in results.values()), results


def readyz_endpoint(settings: Settings, db: Database) -> Endpoint:
    async def readyz(_: Request) -> Response:
        ready, checks = await readiness(settings, db)
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
            headers={"cache-control": "no-store"},
        )

    return readyz


def metrics_endpoint(settings: Settings) -> Endpoint:
    """`/metrics`, behind `Authorization: Bearer <METRICS_TOKEN>` when that is set."""
    # An empty METRICS_TOKEN means "no token", not "the empty bearer token".
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    token = token or None

    async def metrics_page(request: Request) -> Response:
        if token is not None:
            sent = request.headers.get("authorization", "")
            if not secrets.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse(
                    "metrics need a bearer token",
                    status_code=401,
                    headers={"www-authenticate": "Bearer"},
                )
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return metrics_page
