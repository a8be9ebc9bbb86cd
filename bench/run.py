"""`make bench`: seed PostgreSQL, start the server and the floor, drive both, write results.md.

    python -m bench.run [--duration 10] [--warmup 2] [--rounds 2] [--connections 32]
                        [--quick] [--quiet-wait 5] [--retries 1] [--budget SECONDS]
                        [--realtime | --no-realtime] [--realtime-events 1000]
                        [--subscribers 1000] [--output bench/results.md]

1. Recreates the database `graphql_api_bench` on the local PostgreSQL, migrates
   it and seeds 200 funds, 2,000 investors and 20,000 investments with the
   project's own seeder (seed 42), then ANALYZEs it. Creates an ADMIN API key
   there (`graphql_api.users.bootstrap.create_api_key`, what `graphql-api
   create-api-key` runs): every request sends it as `X-API-Key`.
2. Starts, each as its own uvicorn process (uvloop, httptools, no access log,
   a free loopback port): the server with its defaults, the server with
   GC_FREEZE=false, the server with the parser and validation caches off, and
   the floor (bench/floor_app.py: raw asyncpg + orjson, no GraphQL). Every
   server runs with RATE_LIMIT_ENABLED=false: the cost-based rate limiter
   (10,000 points by default) would answer this load with 429s.
3. Checks that every server answers both operations with exactly the floor's
   data (parsed JSON compared; all ~100 fund IDs of the `fund(id)` scenario),
   no `errors`, and an `extensions.cost` report.
4. Counts the SQL statements each operation executes (bench/sqlcount.py: the
   app in this process, SQLAlchemy's cursor events).
5. Drives every (operation, server) pair with bench/load.py in its own process:
   32 keep-alive connections, a warm-up, then a fixed measured window. Any
   non-200 status, error body or body of the wrong length marks the measurement
   failed. Rounds are interleaved (all servers, then again) and the median is
   reported. Before each measurement it waits (bounded) for other load on the
   machine to stop; a measurement that other load disturbed anyway is taken
   again (at most --retries times, while --budget allows; the least disturbed
   kept). The report gives the CPU the server, PostgreSQL, the load generator
   and everything else used.
6. Real time (bench/realtime.py, skip with --no-realtime, or run alone with
   --realtime): event latency from a createInvestment over HTTP to its
   `fundEvents` message over graphql-transport-ws, with the in-process broker
   and with Redis, and fan-out of one event to 1,000 subscribers, with the
   server's memory before and after.
7. Writes bench/results.md.

Everything is bounded in time, only loopback addresses are used, and every
subprocess is terminated on the way out (also on Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
import orjson

from bench import realtime, sqlcount
from bench.documents import fund_body, nested_body
from bench.load import CLOCK_TICKS, system_busy_ticks
from bench.processes import (
    HOST,
    PYTHON,
    ROOT,
    BenchError,
    Running,
    Target,
    log_tail,
    servers,
)
from graphql_api.auth.principal import Role
from graphql_api.db.engine import create_engine
from graphql_api.db.migrations import migrate
from graphql_api.seeding import generator, writer
from graphql_api.settings import Settings
from graphql_api.users import bootstrap

RESULTS = ROOT / "bench" / "results.md"

PG = "postgres@127.0.0.1:5432"
DATABASE = "graphql_api_bench"
ADMIN_DSN = f"postgresql://{PG}/postgres"
BENCH_DSN = f"postgresql://{PG}/{DATABASE}"
APP_DATABASE_URL = f"postgresql+asyncpg://{PG}/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/14"  # a database number the tests (0) do not use

SIZES = generator.Sizes(funds=200, investors=2_000, investments=20_000)
SEED = 42
FUND_SAMPLE = 100

HTTP_TIMEOUT_SECONDS = 30.0
LOADGEN_SLACK_SECONDS = 90.0
SPARE_SECONDS = 30.0  # the default budget: the planned measurements' time plus this
LOADGEN_OVERHEAD_SECONDS = 2.0  # starting the load generator, connecting, counting sessions
QUIET_CORES = 0.25  # other load (in CPUs busy) below which the machine counts as quiet
NOISY_CORES = 0.15  # other load during a measurement above which the report flags it
POOL_TIMEOUT_SECONDS = 5.0  # the server's DB_POOL_TIMEOUT_SECONDS default

Operation = Literal["nested", "fund"]
OPERATIONS: tuple[Operation, ...] = ("nested", "fund")
OPERATION_TITLES: dict[Operation, str] = {
    "nested": "Nested query: 50 funds by name x 20 investments x investor name and email",
    "fund": "`fund(id)`: one fund by ID, cycling through 100 real IDs",
}

# Every request to the GraphQL server: the API key, and the CSRF-prevention
# header the server requires on GET (harmless on POST, which is what is sent).
PREFLIGHT = {"Apollo-Require-Preflight": "true"}

GRAPHQL_PATHS: dict[str, str] = {"nested": "/graphql", "fund": "/graphql"}
SERVER_ENV = {
    "DATABASE_URL": APP_DATABASE_URL,
    "APP_ENV": "development",
    "LOG_LEVEL": "INFO",
    "DB_ECHO": "false",
    "DB_POOL_SIZE": "10",
    "DB_MAX_OVERFLOW": "5",
    "DB_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_SECONDS),
    "LOAD_DEMO_DATA": "false",
    # The cost-based rate limiter (10,000 points per caller by default) would
    # answer a closed loop at full speed with 429s: this measures capacity.
    "RATE_LIMIT_ENABLED": "false",
    "GC_FREEZE": "true",
    "PARSER_CACHE_SIZE": "1024",
    "VALIDATION_CACHE_SIZE": "1024",
}
TARGETS = (
    Target(
        "floor",
        "floor: raw asyncpg + orjson",
        "bench.floor_app:create_app",
        {"BENCH_DSN": BENCH_DSN},
        {"nested": "/nested", "fund": "/fund"},
    ),
    Target(
        "server",
        "server (defaults: caches on, GC tuned)",
        "graphql_api.app:create_app",
        SERVER_ENV,
        GRAPHQL_PATHS,
    ),
    Target(
        "no-gc-tuning",
        "server, GC_FREEZE=false",
        "graphql_api.app:create_app",
        {**SERVER_ENV, "GC_FREEZE": "false"},
        GRAPHQL_PATHS,
    ),
    Target(
        "no-caches",
        "server, parser + validation caches off",
        "graphql_api.app:create_app",
        {**SERVER_ENV, "PARSER_CACHE_SIZE": "0", "VALIDATION_CACHE_SIZE": "0"},
        GRAPHQL_PATHS,
    ),
)


@dataclass
class Measurement:
    target: str
    operation: Operation
    rps: float
    p50_ms: float
    p99_ms: float
    completed: int
    seconds: float
    cpu: dict[str, float | None]
    new_connections: int | None
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def other_cpu(self) -> float | None:
        """CPU seconds the rest of the machine used during the measured window."""
        parts = [self.cpu.get(name) for name in ("system", "server", "postgres", "loadgen")]
        if any(value is None for value in parts):
            return None
        system, *ours = (value or 0.0 for value in parts)
        return max(0.0, system - sum(ours))

    def other_cores(self) -> float:
        return (self.other_cpu() or 0.0) / self.seconds


@dataclass
class Dataset:
    funds: int
    investors: int
    investments: int
    fund_keys: list[uuid.UUID]
    postmaster_pid: int | None
    postgres_version: str
    api_key: str
    headers: dict[str, str]


@dataclass
class Summary:
    target: Target
    operation: Operation
    runs: list[Measurement] = field(default_factory=list)
    failed: list[Measurement] = field(default_factory=list)

    def median(self, name: str) -> float:
        if not self.runs:
            return math.nan
        return float(statistics.median(getattr(run, name) for run in self.runs))

    @staticmethod
    def _cpu(run: Measurement, part: str) -> float | None:
        return run.other_cpu() if part == "other" else run.cpu.get(part)

    def cpu_ms_per_request(self, part: str) -> float | None:
        values = [self._cpu(run, part) for run in self.runs]
        if not values or any(value is None for value in values):
            return None
        completed = sum(run.completed for run in self.runs)
        return 1000 * sum(value or 0.0 for value in values) / completed if completed else None

    def cpu_share(self, part: str) -> float | None:
        """Cores used on average over the measured windows (1.0 = one core busy)."""
        values = [self._cpu(run, part) for run in self.runs]
        if not values or any(value is None for value in values):
            return None
        seconds = sum(run.seconds for run in self.runs)
        return sum(value or 0.0 for value in values) / seconds if seconds else None


# --------------------------------------------------------------------------- database


async def _recreate_database() -> None:
    connection = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


def bench_settings() -> Settings:
    """The harness's view of the server settings (the servers get the same via SERVER_ENV)."""
    return Settings(
        database_url=APP_DATABASE_URL,
        app_env="development",
        load_demo_data=False,
        rate_limit_enabled=False,
    )


async def _credentials() -> tuple[str, dict[str, str]]:
    """A fresh ADMIN API key (as `graphql-api create-api-key --role ADMIN` makes one), and
    the headers every request sends with it."""
    prefix, secret = await bootstrap.create_api_key(bench_settings(), "benchmark", Role.ADMIN)
    print(f"Created the ADMIN API key {prefix} (benchmark) in {DATABASE}.", flush=True)
    return secret, {"X-API-Key": secret, **PREFLIGHT}


async def _seed() -> Dataset:
    engine = create_engine(bench_settings())
    try:
        today = datetime.now(UTC).date()
        await writer.write(engine, generator.generate(SIZES, SEED, today))
    finally:
        await engine.dispose()
    api_key, headers = await _credentials()
    connection = await asyncpg.connect(BENCH_DSN, timeout=10)
    try:
        await connection.execute("ANALYZE")  # planner statistics, as a live database has
        counts = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM funds), (SELECT count(*) FROM investors),"
            " (SELECT count(*) FROM investments)"
        )
        assert counts is not None
        keys = [row[0] for row in await connection.fetch("SELECT id FROM funds ORDER BY id")]
        postmaster_pid = _parent_pid(await connection.fetchval("SELECT pg_backend_pid()"))
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return Dataset(
        funds=counts[0],
        investors=counts[1],
        investments=counts[2],
        fund_keys=random.Random(SEED).sample(keys, min(FUND_SAMPLE, len(keys))),
        postmaster_pid=postmaster_pid,
        postgres_version=str(version),
        api_key=api_key,
        headers=headers,
    )


def _parent_pid(pid: int) -> int | None:
    """The parent of a live process: the postmaster, for a backend's pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:  # PostgreSQL on another machine or in a container: no backend CPU figures
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def prepare_database() -> Dataset:
    print(f"Recreating database {DATABASE} …", flush=True)
    asyncio.run(_recreate_database())
    migrate(APP_DATABASE_URL)
    started = time.perf_counter()
    dataset = asyncio.run(_seed())
    print(
        f"Seeded {dataset.funds} funds, {dataset.investors} investors and "
        f"{dataset.investments} investments in {time.perf_counter() - started:.1f}s.",
        flush=True,
    )
    expected = (SIZES.funds, SIZES.investors, SIZES.investments)
    if (dataset.funds, dataset.investors, dataset.investments) != expected:
        raise BenchError(f"seeded counts differ from {expected}")
    return dataset


# --------------------------------------------------------------------------- correctness


def post(running: Running, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, running.port, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        connection.request(
            "POST",
            path,
            body,
            {
                "Content-Type": "application/json",
                "Accept": "application/graphql-response+json, application/json;q=0.9",
                **headers,
            },
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def bodies(operation: Operation, dataset: Dataset) -> list[bytes]:
    if operation == "nested":
        return [nested_body()]
    return [fund_body(key) for key in dataset.fund_keys]


def first_difference(left: Any, right: Any, path: str = "$") -> str:
    if type(left) is not type(right):
        return f"{path}: {left!r:.80} != {right!r:.80}"
    if isinstance(left, dict):
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                return first_difference(left.get(key), right.get(key), f"{path}.{key}")
    if isinstance(left, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items != {len(right)} items"
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            if a != b:
                return first_difference(a, b, f"{path}[{index}]")
    return f"{path}: {left!r:.80} != {right!r:.80}"


def check_floor_shape(operation: Operation, data: Any) -> None:
    """The floor's answer is the reference: make sure it is not trivially empty."""
    if operation == "nested":
        funds = data["data"]["funds"]["nodes"]
        investments = sum(len(fund["investments"]["nodes"]) for fund in funds)
        if len(funds) != 50 or investments < 50 * 10:
            raise BenchError(f"floor nested answer too small: {len(funds)} funds, {investments}")
        if any(len(fund["investments"]["nodes"]) > 20 for fund in funds):
            raise BenchError("floor nested answer has more than 20 investments per fund")
    elif data["data"]["fund"] is None:
        raise BenchError("floor answered null for a seeded fund")


def cost_of(key: str, operation: Operation, answer: dict[str, Any]) -> tuple[int, int]:
    """(requested, actual) points of `extensions.cost`, which every server response carries."""
    cost = (answer.get("extensions") or {}).get("cost")
    if not isinstance(cost, dict) or not isinstance(cost.get("requestedQueryCost"), int):
        raise BenchError(f"{key} {operation}: no extensions.cost in {answer.get('extensions')!r}")
    return int(cost["requestedQueryCost"]), int(cost["actualQueryCost"])


Requests = dict[tuple[str, Operation], list[dict[str, Any]]]
Costs = dict[Operation, set[tuple[int, int]]]


def reference_requests(running: dict[str, Running], dataset: Dataset) -> tuple[Requests, Costs]:
    """Per (target, operation): the requests to send, each with its verified body length;
    and the query costs (requested, actual) the server reported for each operation.

    Every server's answer must equal the floor's (parsed JSON), carry no `errors`
    and report its cost: a benchmark of wrong answers or of errors would measure nothing.
    """
    floor = running["floor"]
    requests: Requests = {}
    costs: Costs = {operation: set() for operation in OPERATIONS}
    for operation in OPERATIONS:
        expected: list[Any] = []
        for body in bodies(operation, dataset):
            status, raw = post(floor, floor.target.paths[operation], body, dataset.headers)
            if status != 200:
                raise BenchError(f"floor {operation}: status {status}: {raw[:300]!r}")
            data = orjson.loads(raw)
            check_floor_shape(operation, data)
            expected.append(data)
        for key, server in running.items():
            path = server.target.paths[operation]
            items = []
            for body, reference in zip(bodies(operation, dataset), expected, strict=True):
                lengths = set()
                for _ in range(2):  # twice: is the whole body the same every time?
                    status, raw = post(server, path, body, dataset.headers)
                    if status != 200:
                        raise BenchError(f"{key} {operation}: status {status}: {raw[:300]!r}")
                    answer = orjson.loads(raw)
                    if "errors" in answer or answer.get("data") != reference["data"]:
                        raise BenchError(
                            f"{key} {operation} differs from the floor at "
                            + first_difference(
                                {"errors": answer.get("errors"), "data": answer.get("data")},
                                {"errors": None, "data": reference["data"]},
                            )
                        )
                    if key != "floor":
                        costs[operation].add(cost_of(key, operation, answer))
                    lengths.add(len(raw))
                # Extensions (say, a rate-limit status) may vary; then only the status
                # and the `data`-first body are checked under load.
                expected_length = lengths.pop() if len(lengths) == 1 else -1
                items.append(
                    {"path": path, "body": body.decode(), "expected_length": expected_length}
                )
            requests[key, operation] = items
        fixed = [
            item["expected_length"] >= 0 for key in running for item in requests[key, operation]
        ]
        print(
            f"  {operation}: all servers return the floor's data (body length fixed, and "
            f"checked under load, for {sum(fixed)} of {len(fixed)} requests)",
            flush=True,
        )
    return requests, costs


# --------------------------------------------------------------------------- load


@dataclass(frozen=True, slots=True)
class LoadOptions:
    connections: int
    warmup: float
    duration: float
    quiet_wait: float
    retries: int

    @property
    def seconds_per_measurement(self) -> float:
        return self.warmup + self.duration + LOADGEN_OVERHEAD_SECONDS


class Budget:
    """Seconds left for the load phase: quiet waits and retries only come out of the spare.

    The planned measurements always run; what is spare is the budget minus the
    time they are expected to take.
    """

    def __init__(self, seconds: float, measurements: int, per_measurement: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.remaining = measurements
        self.per_measurement = per_measurement
        self.retries_skipped = 0
        self.waits_cut = 0

    def spare(self) -> float:
        return self.deadline - time.monotonic() - self.remaining * self.per_measurement

    def done_one(self) -> None:
        self.remaining = max(0, self.remaining - 1)


def other_load(seconds: float = 1.0) -> float | None:
    """CPUs busy on the machine over `seconds` (our servers are idle meanwhile)."""
    before = system_busy_ticks()
    time.sleep(seconds)
    after = system_busy_ticks()
    if before is None or after is None:
        return None
    return (after - before) / CLOCK_TICKS / seconds


def wait_until_quiet(limit: float, budget: Budget) -> None:
    """Wait (at most `limit` seconds, and only what the budget spares) for other
    processes to leave the CPUs alone."""
    limit = min(limit, max(0.0, budget.spare()))
    if limit <= 0:
        return
    deadline = time.monotonic() + limit
    busy = other_load(min(1.0, limit))
    if busy is None or busy <= QUIET_CORES:
        return
    print(f"  waiting for a quiet machine (other load {busy:.2f} CPUs) …", flush=True)
    while time.monotonic() < deadline:
        busy = other_load()
        if busy is None or busy <= QUIET_CORES:
            return
    budget.waits_cut += 1
    print(f"  still {busy:.2f} CPUs of other load; measuring anyway (see the report)", flush=True)


async def _sessions() -> int:
    connection = await asyncpg.connect(BENCH_DSN, timeout=10)
    try:
        count = await connection.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1", DATABASE
        )
    finally:
        await connection.close()
    return int(count)


def database_sessions() -> int | None:
    """Sessions PostgreSQL has opened on the bench database so far (statistics may lag)."""
    try:
        return asyncio.run(_sessions())
    except (OSError, asyncpg.PostgresError, TypeError):
        return None


def drive(
    running: Running,
    operation: Operation,
    requests: list[dict[str, Any]],
    options: LoadOptions,
    dataset: Dataset,
) -> tuple[Measurement, dict[str, Any]]:
    config = {
        "host": HOST,
        "port": running.port,
        "connections": options.connections,
        "warmup_seconds": options.warmup,
        "duration_seconds": options.duration,
        "requests": requests,
        "headers": dataset.headers,
        "server_pid": running.process.pid,
        "postmaster_pid": dataset.postmaster_pid,
        "database": DATABASE,
    }
    sessions_before = database_sessions()
    with tempfile.NamedTemporaryFile("wb", suffix=".json", prefix="bench-load-") as file:
        file.write(orjson.dumps(config))
        file.flush()
        process = subprocess.Popen(  # noqa: S603 (fixed command, our own interpreter)
            [PYTHON, "-m", "bench.load", file.name],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(
                timeout=options.warmup + options.duration + LOADGEN_SLACK_SECONDS
            )
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"load generator timed out on {running.target.key}") from error
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise BenchError(f"load generator failed ({process.returncode}):\n{err.decode()[-2000:]}")
    if running.process.poll() is not None:
        raise BenchError(f"{running.target.key} died under load:\n{log_tail(running)}")
    result: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    if not result["completed"] and not result["errors"]:
        raise BenchError(f"{running.target.key} {operation}: no request completed")
    latency = result["latency_ms"]
    measurement = Measurement(
        target=running.target.key,
        operation=operation,
        rps=result["rps"],
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        completed=result["completed"],
        seconds=result["seconds"],
        cpu=result["cpu_seconds"],
        new_connections=(
            sessions_after - sessions_before - 1  # our own first count
            if sessions_before is not None and (sessions_after := database_sessions()) is not None
            else None
        ),
        errors=dict(result["errors"]),
        error_samples=list(result["error_samples"]),
    )
    return measurement, result


def measure(
    running: Running,
    operation: Operation,
    requests: list[dict[str, Any]],
    options: LoadOptions,
    dataset: Dataset,
    budget: Budget,
) -> tuple[Measurement, dict[str, Any]]:
    """One measurement; measured again (a bounded number of times, while the budget
    spares the time) when other load disturbed it. Keeps the least disturbed attempt.
    """
    best: tuple[Measurement, dict[str, Any]] | None = None
    for attempt in range(1 + options.retries):
        wait_until_quiet(options.quiet_wait, budget)
        measurement, raw = drive(running, operation, requests, options, dataset)
        if attempt == 0:
            budget.done_one()
        if measurement.errors:  # reported as they are, never measured away
            return measurement, raw
        if best is None or measurement.other_cores() < best[0].other_cores():
            best = measurement, raw
        if measurement.other_cores() <= NOISY_CORES:
            break
        if attempt < options.retries:
            if budget.spare() < options.seconds_per_measurement:
                budget.retries_skipped += 1
                print(
                    f"  {running.target.key} {operation}: other load "
                    f"{measurement.other_cores():.2f} CPUs during the measurement; no time "
                    "left in the budget to measure again",
                    flush=True,
                )
                break
            print(
                f"  {running.target.key} {operation}: other load "
                f"{measurement.other_cores():.2f} CPUs during the measurement; measuring again",
                flush=True,
            )
    assert best is not None
    return best


# --------------------------------------------------------------------------- report


def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions() -> str:
    names = (
        "strawberry-graphql",
        "graphql-core",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "sqlalchemy",
        "asyncpg",
        "orjson",
    )
    found = []
    for name in names:
        with suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def revision() -> str:
    try:
        commit = subprocess.run(
            ["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--", "graphql_api"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} (with uncommitted changes in graphql_api/)" if dirty else commit


def load_average() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _times(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or not denominator or math.isnan(denominator):
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def _change(new: float, old: float) -> str:
    percent = round((new / old - 1) * 100)
    return f"{percent:+d}%" if percent else "±0%"


@dataclass
class HttpRun:
    """What the HTTP part measured, for the report."""

    summaries: dict[tuple[str, Operation], Summary]
    options: LoadOptions
    rounds: int
    loadgen_loop: str
    costs: Costs
    statements: dict[str, sqlcount.StatementCount]
    budget: Budget
    seconds: float


def render(
    dataset: Dataset,
    started: datetime,
    load_before: str,
    load_after: str,
    command: str,
    elapsed: float,
    http: HttpRun | None,
    live: realtime.RealtimeResults | None,
    live_other_load: str,
) -> str:
    parts = ", ".join(
        part
        for part, ran in (("HTTP queries", http is not None), ("real time", live is not None))
        if ran
    )
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (`python -m bench.run`); rerun it to refresh this file.",
        "Numbers from one machine: compare rows with each other, not with other machines.",
        "",
        "## Setup",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; graphql_api at {revision()}",
        f"- Command: {command}, from the repository root ({elapsed / 60:.1f} min in all; "
        f"parts run: {parts})",
        f"- Machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}; load average before/after: {load_before} / {load_after}",
        f"- Python {platform.python_version()}, PostgreSQL {dataset.postgres_version} "
        "(same machine, loopback)",
        f"- Libraries: {versions()}",
        f"- Data: {dataset.funds} funds, {dataset.investors:,} investors, "
        f"{dataset.investments:,} investments (`graphql_api.seeding`, seed {SEED}), ANALYZEd",
        "- Every server runs single-process (`uvicorn --factory --loop uvloop --http httptools "
        "--no-access-log`, from `.venv`) on a loopback port with `APP_ENV=development` and its "
        "defaults (DB pool 10 + 5 overflow, 5 s checkout timeout, parser and validation "
        "caches of 1024 documents, GC tuned: `gc.freeze()` and thresholds (50000, 50, 100)) "
        "unless a row says otherwise, and with **`RATE_LIMIT_ENABLED=false`**: the cost-based "
        "rate limiter (10,000 points per caller by default) would answer this load with 429s. "
        "This measures capacity, not the rate policy.",
        "- Authentication: an ADMIN API key created in the bench database "
        "(`graphql_api.users.bootstrap.create_api_key`, what `graphql-api create-api-key "
        "--role ADMIN` runs), sent as `X-API-Key` on every request (and in `connection_init` on "
        "WebSockets), with `Apollo-Require-Preflight: true` (the server's CSRF rule for GET; "
        "the requests here are POSTs). The server looks the key up on every request; the floor "
        "ignores it.",
        "",
    ]
    if http is not None:
        lines += render_http(http, dataset)
    if live is not None:
        lines += realtime.render(live, live_other_load)
    lines += ["## Interpretation", "", *interpretation(http, live), ""]
    return "\n".join(lines)


def render_http(run: HttpRun, dataset: Dataset) -> list[str]:
    summaries, options, rounds = run.summaries, run.options, run.rounds
    lines = [
        "## HTTP queries: method",
        "",
        "- The floor (`bench/floor_app.py`) answers the same request bodies on the same stack "
        "(uvicorn + Starlette) with one hand-written SQL statement on a raw asyncpg pool "
        "(10 connections) and orjson; it does not parse GraphQL, and does not authenticate. "
        "It is what fetching and serialising this data costs at the least.",
        "- Before measuring, every server's answer to both operations (for `fund(id)`: all "
        f"{len(dataset.fund_keys)} IDs, twice) is checked to carry exactly the floor's `data` "
        "(parsed JSON), no `errors`, and an `extensions.cost` report.",
        f"- Load: `bench/load.py`, {options.connections} keep-alive HTTP/1.1 connections, "
        "closed loop (each connection sends its next request once the previous response is "
        "read), POST `application/json`; "
        f"{options.warmup:g} s warm-up, then {options.duration:g} s measured; "
        + (
            f"{rounds} interleaved rounds per row (every scenario once, then again), median "
            "reported. "
            if rounds > 1
            else "one round. "
        )
        + 'Every response is checked: status 200, a body that starts with `{"data":{` (the '
        "server writes `errors` first when there are any) and has the exact length of the "
        "verified answer; a measurement with a bad response is reported under Errors and left "
        "out of the tables. Latency is taken per request with `perf_counter_ns`; p50/p99 are "
        "exact nearest-rank percentiles.",
        f"- The load generator is one process ({run.loadgen_loop} event loop, protocol "
        "callbacks, no coroutine per request). It shares the CPUs with the server and "
        "PostgreSQL, so its CPU use is measured (below) and kept small. With a closed loop of "
        f"{options.connections} connections, latency is about {options.connections} / "
        "throughput: p50 is queueing at saturation, not the cost of one request alone.",
        f"- Before each measurement the harness waits (at most {options.quiet_wait:g} s, within "
        f"the time budget) until other processes use less than {QUIET_CORES} CPUs; a "
        f"measurement during which they used more than {NOISY_CORES} CPUs is taken again (at "
        f"most {options.retries} time(s), while the budget allows) and the least disturbed "
        f"attempt is kept. This run: {run.budget.waits_cut} wait(s) ended with the machine "
        f"still busy, {run.budget.retries_skipped} retry(ies) skipped for lack of time; the "
        f"HTTP part took {run.seconds:.0f} s.",
        "- `x floor` = floor req/s / row req/s (how many floor requests fit in the time of "
        "one), and server CPU per request / the floor's. CPU figures come from /proc.",
        "- SQL statements per request: `bench/sqlcount.py` runs the app in the harness "
        "process and counts SQLAlchemy cursor executions made on behalf of each request "
        "(after 3 warm-up requests; BEGIN/COMMIT and background tasks not counted). The floor "
        "runs one statement per request.",
        "",
        "## HTTP queries: results",
        "",
    ]
    for operation in OPERATIONS:
        floor = summaries["floor", operation]
        floor_rps = floor.median("rps")
        floor_cpu = floor.cpu_ms_per_request("server")
        count = run.statements.get(operation)
        cost = ", ".join(
            f"{requested} requested / {actual} actual"
            for requested, actual in sorted(run.costs[operation])
        )
        lines += [
            f"### {OPERATION_TITLES[operation]}",
            "",
            (
                f"Server: {count.per_request:g} SQL statements per request "
                f"({', '.join(count.first_request)}; {count.requests} requests counted); "
                if count is not None
                else ""
            )
            + f"query cost reported in `extensions.cost`: {cost or 'n/a'} points.",
            "",
            "| scenario | req/s | p50 ms | p99 ms | x floor (req/s) | server CPU ms/req "
            "| x floor (CPU) | req/s range |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for target in TARGETS:
            summary = summaries[target.key, operation]
            failures = f" ({len(summary.failed)} failed, see Errors)" if summary.failed else ""
            if not summary.runs:
                lines.append(f"| {target.label}{failures} | failed | | | | | | |")
                continue
            rps = summary.median("rps")
            cpu = summary.cpu_ms_per_request("server")
            low = min(run.rps for run in summary.runs)
            high = max(run.rps for run in summary.runs)
            lines.append(
                f"| {target.label}{failures} | {rps:,.0f} | {summary.median('p50_ms'):.1f} | "
                f"{summary.median('p99_ms'):.1f} | {_times(floor_rps, rps)} | {_ms(cpu)} | "
                f"{_times(cpu, floor_cpu)} | {low:,.0f}-{high:,.0f} |"
            )
        lines.append("")
    lines += [
        "### Where the CPU went during the measured windows",
        "",
        f"Cores: CPUs busy on average (of {os.cpu_count()}). Other load: everything on the "
        "machine besides the server, its PostgreSQL backends and the load generator; more "
        "than a few hundredths of a CPU means the measurement was disturbed. New DB "
        "connections: PostgreSQL sessions opened during the run (warm-up included).",
        "",
        "| operation | scenario | PostgreSQL CPU ms/req | server cores | PostgreSQL cores "
        "| load generator cores | other load | new DB connections |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for operation in OPERATIONS:
        for target in TARGETS:
            summary = summaries[target.key, operation]
            connections = [run.new_connections for run in summary.runs]
            lines.append(
                f"| {operation} | {target.label} | "
                f"{_ms(summary.cpu_ms_per_request('postgres'))} | "
                f"{_cores(summary.cpu_share('server'))} | "
                f"{_cores(summary.cpu_share('postgres'))} | "
                f"{_cores(summary.cpu_share('loadgen'))} | "
                f"{_cores(summary.cpu_share('other'))} | "
                + (
                    "n/a"
                    if any(count is None for count in connections)
                    else ", ".join(str(count) for count in connections)
                )
                + " |"
            )
    failed = [run for summary in summaries.values() for run in summary.failed]
    if failed:
        lines += [
            "",
            "### Errors",
            "",
            "These measurements received error responses and are left out of the tables: "
            "the server did not cope with this load.",
            "",
        ]
        for run_ in failed:
            sample = run_.error_samples[0][:400] if run_.error_samples else ""
            lines.append(f"- {run_.target}/{run_.operation}: {run_.errors}; first: `{sample}`")
    lines.append("")
    return lines


def interpretation(http: HttpRun | None, live: realtime.RealtimeResults | None) -> list[str]:
    bullets: list[str] = []
    if http is not None:
        bullets += http_interpretation(http.summaries, http.options.connections, http.statements)
    if live is not None:
        bullets += realtime.interpretation(live)
    return bullets


def http_interpretation(
    summaries: dict[tuple[str, Operation], Summary],
    connections: int,
    statements: dict[str, sqlcount.StatementCount],
) -> list[str]:
    def rps(key: str, operation: Operation) -> float:
        return summaries[key, operation].median("rps")

    def cpu(key: str, operation: Operation) -> float:
        return summaries[key, operation].cpu_ms_per_request("server") or float("nan")

    def overlap(key: str, other: str, operation: Operation) -> bool:
        """Whether the req/s ranges over the rounds overlap: the difference is not resolved."""
        mine = [run.rps for run in summaries[key, operation].runs]
        theirs = [run.rps for run in summaries[other, operation].runs]
        return min(mine) <= max(theirs) and min(theirs) <= max(mine)

    names = {"nested": "the nested query", "fund": "`fund(id)`"}
    if any(not summary.runs for summary in summaries.values()):
        return [
            "- Some scenarios failed under load (see Errors), so there are no ratios to "
            "compare; the server returned errors at this concurrency."
        ]
    bullets = [
        "- **Ratio to the floor.** "
        + "; ".join(
            f"for {names[operation]} the floor serves "
            f"{rps('floor', operation) / rps('server', operation):.1f}x as many requests per "
            f"second ({rps('floor', operation):,.0f} vs {rps('server', operation):,.0f}) and "
            f"spends {cpu('server', operation) / cpu('floor', operation):.1f}x less server CPU "
            f"per request ({cpu('floor', operation):.2f} vs {cpu('server', operation):.2f} ms)"
            for operation in OPERATIONS
        ).replace("for", "For", 1)
        + ". The server is one process, so one CPU bounds its throughput: the gap is Python "
        "work per request in the server (GraphQL execution, Strawberry, SQLAlchemy), while "
        "PostgreSQL's share per request stays small (table above).",
    ]
    if statements:
        bullets.append(
            "- **SQL per request.** For "
            + "; ".join(
                f"{names[operation]}: {statements[operation].per_request:g} statements "
                f"({', '.join(statements[operation].first_request)})"
                for operation in OPERATIONS
                if operation in statements
            )
            + ", against the floor's one. One of them is the API-key lookup the server makes "
            "for every request (the floor does not authenticate)"
            + (
                "; the nested query's 50 funds x 20 investments x investors take a constant "
                "number of statements, not one per fund (no N+1)."
                if "nested" in statements and statements["nested"].per_request <= 5
                else "."
            )
        )
    for key, what in (
        ("no-gc-tuning", "**Garbage-collector tuning** (GC_FREEZE=true, the default) vs off"),
        ("no-caches", "**Parser and validation caches** (on by default) vs off"),
    ):
        parts = [
            f"{names[operation]}: {rps('server', operation):,.0f} vs "
            f"{rps(key, operation):,.0f} req/s "
            f"({_change(rps('server', operation), rps(key, operation))}"
            + (
                ", within the noise: the ranges overlap"
                if overlap("server", key, operation)
                else ""
            )
            + f"), {cpu('server', operation):.2f} vs {cpu(key, operation):.2f} ms of server CPU "
            f"per request ({_change(cpu('server', operation), cpu(key, operation))})"
            for operation in OPERATIONS
        ]
        bullets.append(f"- {what}: " + "; ".join(parts) + ".")
    slowest = max(summaries[target.key, "nested"].median("p99_ms") for target in TARGETS[1:])
    if slowest > POOL_TIMEOUT_SECONDS * 1000 / 2:
        bullets.append(
            f"- **Latency.** The nested query's p99 reaches {slowest / 1000:.1f} s at "
            f"{connections} connections, within a "
            f"factor 2 of the server's {POOL_TIMEOUT_SECONDS:g} s DB pool checkout timeout "
            "(DB_POOL_TIMEOUT_SECONDS): a request that waits longer for a connection fails with "
            "SERVICE_UNAVAILABLE, which this benchmark would report under Errors."
        )
    failed = [f"{run.target}/{run.operation}" for sm in summaries.values() for run in sm.failed]
    if failed:
        bullets.append(
            f"- **Errors under load** in {', '.join(failed)} (see Errors): at "
            f"{connections} connections the server answered some requests with errors; the "
            "medians above use only the error-free measurements."
        )
    loadgen = max((summary.cpu_share("loadgen") or 0.0) for summary in summaries.values())
    bullets.append(
        f"- **Load generator.** At most {loadgen:.2f} of a CPU in any row (the most for the "
        "floor, which answers fastest), so it takes little from the servers."
    )
    noisy = [
        f"{summary.target.key}/{summary.operation}"
        for summary in summaries.values()
        if (summary.cpu_share("other") or 0.0) > NOISY_CORES
    ]
    bullets.append(
        "- Differences within the req/s range of a row are noise, not effects."
        + (
            f" Other processes used more than {NOISY_CORES} CPUs during {', '.join(noisy)}: "
            "those throughputs are low and CPU per request is the sturdier figure; rerun "
            "on a quiet machine for clean numbers."
            if noisy
            else " No other load of note ran during the measurements."
        )
    )
    return bullets


# --------------------------------------------------------------------------- main


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=None, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="HTTP: 4 s per scenario, 1 s warm-up, one round; real time: 200 events, "
        "200 subscribers",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="where to write the results (Markdown)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        help="seconds to wait at most, before each measurement, for other load to stop (5)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="times to measure again when other load disturbed a measurement (1)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the HTTP load phase; quiet waits and retries only use what the "
        "planned measurements leave of it (default: planned time + 30)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--realtime", action="store_true", help="only the real-time benchmark (no HTTP load)"
    )
    which.add_argument(
        "--no-realtime", action="store_true", help="only the HTTP load (no real-time benchmark)"
    )
    parser.add_argument(
        "--realtime-events", type=int, default=None, help="latency events per broker (1000)"
    )
    parser.add_argument("--subscribers", type=int, default=None, help="fan-out subscribers (1000)")
    parser.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help=f"Redis for the Redis-broker run, loopback only; 'none' to skip it ({REDIS_URL})",
    )
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    arguments.duration = arguments.duration or (4.0 if quick else 10.0)
    arguments.warmup = arguments.warmup if arguments.warmup is not None else (1.0 if quick else 2.0)
    arguments.rounds = arguments.rounds or (1 if quick else 2)
    arguments.realtime_events = arguments.realtime_events or (200 if quick else 1000)
    arguments.subscribers = arguments.subscribers or (200 if quick else 1000)
    if not 1 <= arguments.connections <= 1024:
        parser.error("--connections must be between 1 and 1024")
    if not 0 < arguments.duration <= 600 or not 0 <= arguments.warmup <= 120:
        parser.error("--duration must be in (0, 600] and --warmup in [0, 120]")
    if not 1 <= arguments.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    if not 0 <= arguments.quiet_wait <= 600:
        parser.error("--quiet-wait must be between 0 and 600")
    if not 0 <= arguments.retries <= 5:
        parser.error("--retries must be between 0 and 5")
    if arguments.budget is not None and not 0 < arguments.budget <= 7200:
        parser.error("--budget must be in (0, 7200]")
    if not 1 <= arguments.realtime_events <= 100_000:
        parser.error("--realtime-events must be between 1 and 100000")
    if not 1 <= arguments.subscribers <= 5000:
        parser.error("--subscribers must be between 1 and 5000")
    if arguments.redis_url.lower() == "none":
        arguments.redis_url = None
    elif urlsplit(arguments.redis_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--redis-url must point at a loopback address")
    return arguments


def _terminate(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_http(arguments: argparse.Namespace, dataset: Dataset) -> HttpRun:
    options = LoadOptions(
        arguments.connections,
        arguments.warmup,
        arguments.duration,
        arguments.quiet_wait,
        arguments.retries,
    )
    summaries = {
        (target.key, operation): Summary(target, operation)
        for target in TARGETS
        for operation in OPERATIONS
    }
    planned = arguments.rounds * len(OPERATIONS) * len(TARGETS)
    seconds = arguments.budget or planned * options.seconds_per_measurement + SPARE_SECONDS
    loadgen_loop = "asyncio"
    print("Counting SQL statements per request …", flush=True)
    statements = count_statements(dataset)
    for name, count in statements.items():
        print(f"  {name}: {count.per_request:g} ({', '.join(count.first_request)})", flush=True)
    print("Starting the servers …", flush=True)
    started = time.perf_counter()
    with servers(TARGETS) as running:
        print("Checking answers against the floor …", flush=True)
        requests, costs = reference_requests(running, dataset)
        budget = Budget(seconds, planned, options.seconds_per_measurement)
        for round_number in range(1, arguments.rounds + 1):
            for operation in OPERATIONS:
                for target in TARGETS:
                    measurement, raw = measure(
                        running[target.key],
                        operation,
                        requests[target.key, operation],
                        options,
                        dataset,
                        budget,
                    )
                    loadgen_loop = str(raw["event_loop"]).split(".")[0]
                    summary = summaries[target.key, operation]
                    if measurement.errors:
                        summary.failed.append(measurement)
                        print(
                            f"  round {round_number} {operation:6} {target.key:13} FAILED: "
                            f"{measurement.errors}\n    "
                            + "\n    ".join(measurement.error_samples)
                            + "\n"
                            + log_tail(running[target.key], 10),
                            flush=True,
                        )
                        continue
                    summary.runs.append(measurement)
                    cpu = measurement.cpu
                    print(
                        f"  round {round_number} {operation:6} {target.key:13} "
                        f"{measurement.rps:8,.1f} req/s  p50 {measurement.p50_ms:7.2f} ms  "
                        f"p99 {measurement.p99_ms:7.2f} ms  cpu server {cpu['server']} s, "
                        f"postgres {cpu['postgres']} s, loadgen {cpu['loadgen']} s, "
                        f"other {measurement.other_cores():.2f} CPUs",
                        flush=True,
                    )
    return HttpRun(
        summaries,
        options,
        arguments.rounds,
        loadgen_loop,
        costs,
        statements,
        budget,
        time.perf_counter() - started,
    )


def count_statements(dataset: Dataset) -> dict[str, sqlcount.StatementCount]:
    settings = bench_settings().model_copy(update={"gc_freeze": False, "log_level": "WARNING"})
    operations = {
        "nested": [nested_body()] * 20,
        "fund": [fund_body(key) for key in dataset.fund_keys],
    }
    return asyncio.run(sqlcount.count_statements(settings, operations, dataset.headers))


def run_realtime(
    arguments: argparse.Namespace, dataset: Dataset
) -> tuple[realtime.RealtimeResults, str]:
    """The real-time results, and how busy the rest of the machine was meanwhile."""
    options = realtime.RealtimeOptions(
        events=arguments.realtime_events, subscribers=arguments.subscribers
    )
    print("Real time (fundEvents over graphql-transport-ws) …", flush=True)
    before = system_busy_ticks()
    results = realtime.run(SERVER_ENV, dataset.api_key, options, arguments.redis_url)
    after = system_busy_ticks()
    busy = (
        f"{(after - before) / CLOCK_TICKS / results.seconds:.2f} of {os.cpu_count()} CPUs busy "
        "(the server, PostgreSQL, Redis, this client and other processes together)"
        if before is not None and after is not None and results.seconds
        else "unknown"
    )
    return results, busy


def benchmark(arguments: argparse.Namespace, command: str) -> None:
    started = datetime.now(UTC)
    clock = time.perf_counter()
    load_before = load_average()
    dataset = prepare_database()
    http = None if arguments.realtime else run_http(arguments, dataset)
    live, live_load = (None, "") if arguments.no_realtime else run_realtime(arguments, dataset)
    report = render(
        dataset,
        started,
        load_before,
        load_average(),
        command,
        time.perf_counter() - clock,
        http,
        live,
        live_load,
    )
    arguments.output.write_text(report)
    print(f"Wrote {arguments.output} ({(time.perf_counter() - clock) / 60:.1f} min).")
    failed = sum(len(summary.failed) for summary in http.summaries.values()) if http else 0
    if failed:
        raise BenchError(f"{failed} measurement(s) received error responses; see the report")
    if live is not None and any(broker.failure for broker in live.brokers):
        raise BenchError("a real-time measurement failed; see the report")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    extra = list(sys.argv[1:] if argv is None else argv)
    command = "`" + " ".join([".venv/bin/python -m bench.run", *extra]) + "`"
    if not extra:
        command = f"`make bench`, which runs {command}"
    signal.signal(signal.SIGTERM, _terminate)
    try:
        benchmark(arguments, command)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
