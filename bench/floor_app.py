"""The floor: the benchmark's two operations with hand-written SQL, raw asyncpg and orjson.

No GraphQL, no ORM: what answering the same requests costs at the least on the
same stack (uvicorn + httptools + uvloop + Starlette). Each route answers one
operation with one statement and serialises the exact JSON shape the GraphQL
server returns, so the benchmark can check that both carry the same data.

Run it like the server: `uvicorn bench.floor_app:create_app --factory`, with
`BENCH_DSN` (a plain `postgresql://` DSN) in the environment.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.documents import NESTED_FUNDS, NESTED_INVESTMENTS, global_id

POOL_SIZE = 10  # the server's DB_POOL_SIZE default
JSON_OPTIONS = orjson.OPT_UTC_Z

# The first 50 funds by name (id breaks ties, as the server's keyset ordering
# does), each with its first 20 investments in creation order (an index range
# scan per fund), then their investors in one join. MATERIALIZED keeps the
# planner from moving the investor join into the per-fund loop.
NESTED_SQL = """
WITH page AS MATERIALIZED (
    SELECT f.id AS fund_id, f.name AS fund_name, i.id, i.investor_id, i.amount_cents,
           i.investment_date, i.created_at
    FROM (SELECT id, name FROM funds ORDER BY name, id LIMIT $1) AS f
    LEFT JOIN LATERAL (
        SELECT id, investor_id, amount_cents, investment_date, created_at
        FROM investments
        WHERE fund_id = f.id
        ORDER BY created_at, id
        LIMIT $2
    ) AS i ON true
)
SELECT p.fund_id, p.fund_name, p.id, p.amount_cents, p.investment_date, v.name, v.email
FROM page AS p
LEFT JOIN investors AS v ON v.id = p.investor_id
ORDER BY p.fund_name, p.fund_id, p.created_at, p.id
"""

FUND_SQL = """
SELECT id, name, vintage_year, status, target_size_cents, hard_cap_cents, created_at
FROM funds
WHERE id = $1
"""


def usd(cents: int | None) -> str | None:
    """Cents as the server's Decimal scalar writes money: always two decimals."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def fund_key(global_fund_id: object) -> uuid.UUID | None:
    """The key in a `Fund` global ID; None for anything else (the server answers null)."""
    if not isinstance(global_fund_id, str):
        return None
    try:
        type_name, _, key = base64.b64decode(global_fund_id, validate=True).decode().partition(":")
        return uuid.UUID(key) if type_name == "Fund" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def nested_data(rows: list[asyncpg.Record]) -> dict[str, Any]:
    funds: list[dict[str, Any]] = []
    current: uuid.UUID | None = None
    investments: list[dict[str, Any]] = []
    for fid, fname, iid, cents, day, investor_name, investor_email in rows:
        if fid != current:
            current = fid
            investments = []
            funds.append(
                {"id": global_id("Fund", fid), "name": fname, "investments": {"nodes": investments}}
            )
        if iid is not None:
            investments.append(
                {
                    "id": global_id("Investment", iid),
                    "amountUsd": usd(cents),
                    "investmentDate": day,
                    "investor": {"name": investor_name, "email": investor_email},
                }
            )
    return {"funds": {"nodes": funds}}


def fund_data(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return {"fund": None}
    return {
        "fund": {
            "id": global_id("Fund", row[0]),
            "name": row[1],
            "vintageYear": row[2],
            "status": row[3],
            "targetSizeUsd": usd(row[4]),
            "hardCapUsd": usd(row[5]),
            "createdAt": row[6],
        }
    }


def json_response(data: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps({"data": data}, option=JSON_OPTIONS), media_type="application/json"
    )


def create_app() -> Starlette:
    dsn = os.environ["BENCH_DSN"]
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        state["pool"] = pool
        try:
            yield
        finally:
            await pool.close()

    async def nested(request: Request) -> Response:
        await request.body()  # the same request as the server's; the text is not needed
        rows = await state["pool"].fetch(NESTED_SQL, NESTED_FUNDS, NESTED_INVESTMENTS)
        return json_response(nested_data(rows))

    async def fund(request: Request) -> Response:
        variables = orjson.loads(await request.body()).get("variables") or {}
        key = fund_key(variables.get("id"))
        row = await state["pool"].fetchrow(FUND_SQL, key) if key is not None else None
        return json_response(fund_data(row))

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/nested", nested, methods=["POST"]),
            Route("/fund", fund, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
