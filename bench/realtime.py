"""Real-time benchmark: `fundEvents` over graphql-transport-ws, against a real server process.

Two servers, one after the other, each its own uvicorn process on a loopback
port: one with the embedded in-process broker, one with Redis pub/sub (skipped
when no Redis URL is given). Latency is measured on both, fan-out on the first:

- Latency. One subscriber follows one fund. One event at a time (the next
  mutation is sent once the previous event has arrived), the harness commits an
  investment with `createInvestment` over HTTP and waits for its event on the
  WebSocket. The commit happens somewhere between sending the mutation and
  reading its response, so "commit -> receipt" lies between two measured
  figures: mutation sent -> event received (an upper bound) and mutation
  response read -> event received (a lower bound, negative when the event
  arrived before the response).
- Fan-out. N subscribers (N WebSocket connections, one subscription each, all
  with the same ADMIN API key) follow the same fund; one mutation's event must
  reach every one of them. Reported: time from sending the mutation until the
  first, the median, the 99th percentile and the last subscriber read it; the
  server's CPU for it; and the server's resident memory (VmRSS from
  /proc/<pid>/status) before the connections, with them open, after the
  events and after they closed.

Every event message is checked: a `next` without `errors`, for the investment
the mutation created. Every wait has a deadline and every loop a count limit;
only loopback addresses are used; the client offers no permessage-deflate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from bench.processes import (
    HOST,
    BenchError,
    Running,
    Target,
    log_problems,
    log_tail,
    memory_kib,
    process_cpu_seconds,
    servers,
)
from graphql_api.schema.context import REVALIDATE_SECONDS

SUBPROTOCOL = Subprotocol("graphql-transport-ws")
OPEN_SECONDS = 10.0
MESSAGE_SECONDS = 10.0  # one event must arrive within this
FANOUT_SECONDS = 60.0  # one event must reach every subscriber within this
CONNECT_CONCURRENCY = 20
CONNECT_ATTEMPTS = 3  # a connection the server refuses (say 4403 when overloaded) is retried
WARMUP_EVENTS = 20
SETTLE_SECONDS = 1.0
MAX_MESSAGES_PER_SUBSCRIBER = 100_000
# A subscription re-checks its credential before an event at most this often.
IDLE_SECONDS = REVALIDATE_SECONDS + 0.5

SUBSCRIPTION = """\
subscription BenchFundEvents($fundId: ID) {
  fundEvents(fundId: $fundId) {
    __typename
    eventId
    cursor
    occurredAt
    fund { id name }
    ... on InvestmentCreatedEvent { investment { id amountUsd investor { name } } }
  }
}
"""

CREATE_FUND = """\
mutation BenchCreateFund($input: CreateFundInput!) {
  createFund(input: $input) { fund { id } errors { code message field } }
}
"""

CREATE_INVESTOR = """\
mutation BenchCreateInvestor($input: CreateInvestorInput!) {
  createInvestor(input: $input) { investor { id } errors { code message field } }
}
"""

CREATE_INVESTMENT = """\
mutation BenchCommit($input: CreateInvestmentInput!) {
  createInvestment(input: $input) { investment { id } errors { code message field } }
}
"""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RealtimeOptions:
    events: int = 1000
    subscribers: int = 1000
    fanout_events: int = 3  # pairs: one after an idle spell, one right after it
    latency_seconds: float = 75.0  # at most this long per latency run (fewer events if need be)


@dataclass
class LatencyResult:
    events: int  # measured (after WARMUP_EVENTS)
    planned: int
    seconds: float
    send_to_event_ms: list[float]
    response_to_event_ms: list[float]
    mutation_ms: list[float]
    server_cpu_seconds: float | None

    @property
    def before_response(self) -> int:
        """Events that arrived before the mutation's HTTP response was read."""
        return sum(1 for value in self.response_to_event_ms if value < 0)


@dataclass
class FanoutEvent:
    after_idle: bool  # the previous event was REVALIDATE_SECONDS or more before
    send_to_first_ms: float
    send_to_p50_ms: float
    send_to_p99_ms: float
    send_to_last_ms: float
    response_to_last_ms: float
    server_cpu_ms: float | None
    client_cpu_ms: float


@dataclass
class FanoutResult:
    subscribers: int
    refused: int  # connection attempts the server refused, then retried
    refusal: str  # the first refusal, as the client saw it
    connect_seconds: float
    first_event_seconds: float  # the priming event, right after subscribing
    events: list[FanoutEvent]
    memory: dict[str, dict[str, int]]  # stage -> VmRSS / VmHWM (KiB)


@dataclass
class BrokerResult:
    broker: str
    latency: LatencyResult | None = None
    fanout: FanoutResult | None = None
    errors: list[str] = field(default_factory=list)  # bad event messages
    failure: str | None = None  # why a measurement could not be completed


@dataclass
class RealtimeResults:
    options: RealtimeOptions
    brokers: list[BrokerResult]
    seconds: float


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank, like bench/load.py."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


# --------------------------------------------------------------------------- protocol


async def within(seconds: float, awaitable: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise BenchError(f"realtime: {what} took longer than {seconds:g}s") from None


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], field_name: str
) -> dict[str, Any]:
    """The payload of a mutation that must succeed (no GraphQL errors, no user errors)."""
    try:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        answer = orjson.loads(response.content)
    except (httpx.HTTPError, orjson.JSONDecodeError) as error:
        raise BenchError(f"realtime: {field_name}: {error!r:.300}") from None
    payload = (answer.get("data") or {}).get(field_name)
    if response.status_code != 200 or answer.get("errors") or not payload or payload["errors"]:
        raise BenchError(f"realtime: {field_name}: {response.status_code} {answer!r:.400}")
    result: dict[str, Any] = payload
    return result


def text(message: dict[str, Any]) -> str:
    """A protocol message as a text frame (the server closes with 4400 on binary ones)."""
    return orjson.dumps(message).decode()


class RefusedError(BenchError):
    """The server closed the WebSocket instead of acknowledging it."""


async def subscribe(url: str, api_key: str, fund_id: str) -> ClientConnection:
    """A graphql-transport-ws connection, acknowledged, with one `fundEvents` subscription."""
    try:
        socket = await connect(
            url,
            subprotocols=[SUBPROTOCOL],
            proxy=None,
            open_timeout=OPEN_SECONDS,
            close_timeout=2,
            ping_interval=None,  # the server sends graphql-transport-ws pings; we answer them
            max_queue=64,
            max_size=2**20,
            compression=None,
        )
    except (OSError, InvalidHandshake, TimeoutError) as error:
        raise RefusedError(f"realtime: WebSocket not opened: {error!r:.300}") from None
    try:
        await socket.send(text({"type": "connection_init", "payload": {"x-api-key": api_key}}))
        try:
            raw = await within(OPEN_SECONDS, socket.recv(), "connection_ack")
        except ConnectionClosed as closed:
            frame = closed.rcvd
            raise RefusedError(
                "realtime: connection_init refused: "
                + (f"{frame.code} {frame.reason}" if frame else "closed without a frame")
            ) from None
        ack = orjson.loads(raw)
        if ack.get("type") != "connection_ack":
            raise BenchError(f"realtime: expected connection_ack, got {ack!r:.300}")
        await socket.send(
            text(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"fundId": fund_id}},
                }
            )
        )
    except BaseException:
        await socket.close()
        raise
    return socket


Sink = Callable[[str, float], None]


async def read_events(socket: ClientConnection, sink: Sink, errors: list[str]) -> None:
    """Hand each event's investment ID and arrival time to `sink`; answer pings; note errors."""
    for _ in range(MAX_MESSAGES_PER_SUBSCRIBER):
        try:
            raw = await socket.recv()
        except ConnectionClosed:
            return
        arrived = time.perf_counter()
        message = orjson.loads(raw)
        kind = message.get("type")
        if kind == "ping":
            await socket.send('{"type":"pong"}')  # a text frame, as the protocol requires
            continue
        if kind == "pong":
            continue
        payload = message.get("payload") or {}
        if kind != "next" or payload.get("errors"):
            errors.append(f"{kind}: {payload!r:.300}")
            continue
        event = (payload.get("data") or {}).get("fundEvents") or {}
        investment = event.get("investment") or {}
        if event.get("__typename") != "InvestmentCreatedEvent" or not investment.get("id"):
            errors.append(f"unexpected event: {event!r:.300}")
            continue
        sink(str(investment["id"]), arrived)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Setup:
    http: httpx.AsyncClient
    ws_url: str
    api_key: str
    fund_id: str
    investor_id: str
    today: str

    async def commit(self) -> tuple[str, float, float]:
        """(investment ID, perf_counter when sent, perf_counter when the response was read)."""
        variables = {
            "input": {
                "fundId": self.fund_id,
                "investorId": self.investor_id,
                "amountUsd": "1.00",
                "investmentDate": self.today,
            }
        }
        sent = time.perf_counter()
        payload = await graphql(self.http, CREATE_INVESTMENT, variables, "createInvestment")
        answered = time.perf_counter()
        return str(payload["investment"]["id"]), sent, answered


async def prepare(http: httpx.AsyncClient, ws_url: str, api_key: str) -> Setup:
    """A fresh fund (no hard cap) and investor, made through the API as a client would."""
    tag = uuid.uuid4().hex[:8]
    fund = await graphql(
        http,
        CREATE_FUND,
        {
            "input": {
                "name": f"Realtime bench {tag}",
                "vintageYear": 2024,
                "targetSizeUsd": "1000000000.00",
            }
        },
        "createFund",
    )
    investor = await graphql(
        http,
        CREATE_INVESTOR,
        {
            "input": {
                "name": f"Realtime bench {tag}",
                "investorType": "INSTITUTION",
                "email": f"realtime-{tag}@example.com",
            }
        },
        "createInvestor",
    )
    return Setup(
        http,
        ws_url,
        api_key,
        str(fund["fund"]["id"]),
        str(investor["investor"]["id"]),
        datetime.now(UTC).date().isoformat(),
    )


class Audience:
    """The fan-out subscribers: N connections, each reading its events on its own task."""

    def __init__(self, setup: Setup, count: int, errors: list[str]) -> None:
        self.setup = setup
        self.count = count
        self.errors = errors
        self.arrivals: dict[str, dict[int, float]] = {}  # investment -> subscriber -> arrival
        self._everyone: dict[str, asyncio.Future[None]] = {}
        self._sockets: list[ClientConnection] = []
        self._readers: list[asyncio.Task[None]] = []
        self.refused = 0
        self.refusals: list[str] = []

    def _sink(self, index: int) -> Sink:
        def sink(investment_id: str, arrived: float) -> None:
            seen = self.arrivals.setdefault(investment_id, {})
            if index in seen:
                self.errors.append(f"subscriber {index} got investment {investment_id} twice")
                return
            seen[index] = arrived
            future = self._everyone.get(investment_id)
            if len(seen) == self.count and future is not None and not future.done():
                future.set_result(None)

        return sink

    async def open(self) -> float:
        """Open every subscription (CONNECT_CONCURRENCY at a time); the seconds it took."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(index: int) -> None:
            setup = self.setup
            for attempt in range(1, CONNECT_ATTEMPTS + 1):
                try:
                    async with gate:
                        socket = await subscribe(setup.ws_url, setup.api_key, setup.fund_id)
                    break
                except RefusedError as refused:
                    self.refused += 1
                    if len(self.refusals) < 3:
                        self.refusals.append(str(refused))
                    if attempt == CONNECT_ATTEMPTS:
                        raise
                    await asyncio.sleep(SETTLE_SECONDS)
            self._sockets.append(socket)
            reader = read_events(socket, self._sink(index), self.errors)
            self._readers.append(asyncio.create_task(reader, name=f"subscriber-{index}"))

        started = time.perf_counter()
        await within(
            OPEN_SECONDS + self.count * 0.1,
            asyncio.gather(*(open_one(index) for index in range(self.count))),
            f"opening {self.count} subscriptions",
        )
        return time.perf_counter() - started

    async def event(self, what: str) -> tuple[str, float, float, float]:
        """Commit one investment and wait until every subscriber has its event:
        (investment ID, sent, response read, last arrival) as perf_counter values."""
        investment_id, sent, answered = await within(
            MESSAGE_SECONDS, self.setup.commit(), "createInvestment"
        )
        if len(self.arrivals.get(investment_id, {})) < self.count:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._everyone[investment_id] = future
            try:
                await within(FANOUT_SECONDS, future, what)
            except BenchError:
                got = len(self.arrivals.get(investment_id, {}))
                closed = sum(1 for reader in self._readers if reader.done())
                raise BenchError(
                    f"realtime fan-out: {what}: {got} of {self.count} subscribers got it "
                    f"within {FANOUT_SECONDS:g} s; {closed} connection(s) closed by then; "
                    f"{len(self.errors)} error message(s)"
                    + (f", the first: {self.errors[0]}" if self.errors else "")
                ) from None
        if self.errors:
            raise BenchError(f"realtime fan-out: bad event message: {self.errors[0]}")
        return investment_id, sent, answered, max(self.arrivals[investment_id].values())

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(
                    *(socket.close() for socket in self._sockets), return_exceptions=True
                ),
                30,
            )


async def timed_event(
    audience: Audience, running: Running, number: int, *, after_idle: bool
) -> FanoutEvent:
    server_before = process_cpu_seconds(running.pid)
    client_before = time.process_time()
    investment_id, sent, answered, _ = await audience.event(f"event {number}")
    server_after = process_cpu_seconds(running.pid)
    client_after = time.process_time()
    times = sorted(audience.arrivals[investment_id].values())
    event = FanoutEvent(
        after_idle=after_idle,
        send_to_first_ms=(times[0] - sent) * 1000,
        send_to_p50_ms=(percentile(times, 0.5) - sent) * 1000,
        send_to_p99_ms=(percentile(times, 0.99) - sent) * 1000,
        send_to_last_ms=(times[-1] - sent) * 1000,
        response_to_last_ms=(times[-1] - answered) * 1000,
        server_cpu_ms=(
            (server_after - server_before) * 1000
            if server_after is not None and server_before is not None
            else None
        ),
        client_cpu_ms=(client_after - client_before) * 1000,
    )
    kind = "after idle" if after_idle else "short gap"
    print(
        f"    fan-out event {number} ({kind}): all {audience.count} in "
        f"{event.send_to_last_ms:.0f} ms after sending the mutation, "
        f"server CPU {event.server_cpu_ms or 0:.0f} ms",
        flush=True,
    )
    return event


async def measure_latency(
    setup: Setup, running: Running, options: RealtimeOptions, errors: list[str]
) -> LatencyResult:
    listener = Audience(setup, 1, errors)
    committed: set[str] = set()
    sends: list[float] = []
    responses: list[float] = []
    mutations: list[float] = []
    try:
        await listener.open()
        await asyncio.sleep(SETTLE_SECONDS)  # the subscription reaches the hub
        deadline = time.monotonic() + options.latency_seconds
        cpu_before = process_cpu_seconds(running.pid)
        started = time.perf_counter()
        for number in range(WARMUP_EVENTS + options.events):
            if time.monotonic() > deadline:
                print(f"    latency: time limit reached after {len(sends)} events", flush=True)
                break
            if number == WARMUP_EVENTS:
                cpu_before = process_cpu_seconds(running.pid)
                started = time.perf_counter()
            investment_id, sent, answered, arrived = await listener.event(f"event {number + 1}")
            committed.add(investment_id)
            if number >= WARMUP_EVENTS:
                sends.append((arrived - sent) * 1000)
                responses.append((arrived - answered) * 1000)
                mutations.append((answered - sent) * 1000)
        elapsed = time.perf_counter() - started
        cpu_after = process_cpu_seconds(running.pid)
        await asyncio.sleep(0.2)  # anything unexpected that was still on its way
    finally:
        await listener.close()
    if errors or set(listener.arrivals) != committed:
        raise BenchError(
            f"realtime latency: {len(listener.arrivals)} events for {len(committed)} "
            f"commitments; {errors[:1]}"
        )
    return LatencyResult(
        events=len(sends),
        planned=options.events,
        seconds=elapsed,
        send_to_event_ms=sends,
        response_to_event_ms=responses,
        mutation_ms=mutations,
        server_cpu_seconds=(
            cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None
        ),
    )


async def measure_fanout(
    setup: Setup, running: Running, options: RealtimeOptions, result: BrokerResult
) -> None:
    """Fill `result.fanout` as the measurement goes (what completed stays when a step fails)."""
    audience = Audience(setup, options.subscribers, result.errors)
    fanout = result.fanout = FanoutResult(audience.count, 0, "", math.nan, math.nan, [], {})
    fanout.memory["before connecting"] = memory_kib(running.pid)
    try:
        fanout.connect_seconds = await audience.open()
        fanout.refused = audience.refused
        fanout.refusal = audience.refusals[0] if audience.refusals else ""
        print(
            f"    fan-out: {audience.count} subscriptions open in {fanout.connect_seconds:.1f}s"
            + (
                f" ({audience.refused} attempts refused and retried, first: {fanout.refusal})"
                if audience.refused
                else ""
            ),
            flush=True,
        )
        await asyncio.sleep(SETTLE_SECONDS)
        # The first event proves every subscription is live (there is no "subscribed" ack).
        _, sent, _, last = await audience.event("the first event")
        fanout.first_event_seconds = last - sent
        await asyncio.sleep(SETTLE_SECONDS)
        fanout.memory["subscribed"] = memory_kib(running.pid)
        for number in range(1, 2 * options.fanout_events + 1):
            # Alternately: after an idle spell (every subscription re-checks its API key
            # before its next event, as it does at most every REVALIDATE_SECONDS) and
            # right after that event.
            after_idle = number % 2 == 1
            await asyncio.sleep(IDLE_SECONDS if after_idle else SETTLE_SECONDS / 4)
            event = await timed_event(audience, running, number, after_idle=after_idle)
            fanout.events.append(event)
        await asyncio.sleep(SETTLE_SECONDS)
        fanout.memory["after the events"] = memory_kib(running.pid)
    finally:
        fanout.refused = audience.refused
        fanout.refusal = audience.refusals[0] if audience.refusals else ""
        await audience.close()
        await asyncio.sleep(2 * SETTLE_SECONDS)
        fanout.memory["connections closed"] = memory_kib(running.pid)


# --------------------------------------------------------------------------- driver


async def _drive(
    running: Running, api_key: str, options: RealtimeOptions, fanout: bool, result: BrokerResult
) -> None:
    """Fill `result` as the measurements complete (what completed stays when one fails)."""
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{running.port}",
        headers={"X-API-Key": api_key, "Accept": "application/graphql-response+json"},
        timeout=MESSAGE_SECONDS,
        trust_env=False,  # loopback only: no proxy from the environment
    ) as http:
        setup = await prepare(http, f"ws://{HOST}:{running.port}/graphql", api_key)
        print(f"  {running.target.label}: latency, {options.events} events …", flush=True)
        result.latency = await measure_latency(setup, running, options, result.errors)
        if fanout:
            print(
                f"  {running.target.label}: fan-out to {options.subscribers} subscribers …",
                flush=True,
            )
            await measure_fanout(setup, running, options, result)


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop  # noqa: PLC0415 (optional, as in bench/load.py)
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def run(
    server_env: Mapping[str, str],
    api_key: str,
    options: RealtimeOptions,
    redis_url: str | None,
) -> RealtimeResults:
    """Start one server per broker (in turn) and measure each; fan-out on the first."""
    targets = [
        Target(
            "in-process broker",
            "server, in-process broker",
            "graphql_api.app:create_app",
            dict(server_env),
            {},
        )
    ]
    if redis_url:
        channel = f"graphql_api_bench:{uuid.uuid4().hex[:12]}:events"
        targets.append(
            Target(
                "Redis broker",
                "server, Redis broker",
                "graphql_api.app:create_app",
                {**server_env, "REDIS_URL": redis_url, "EVENTS_CHANNEL": channel},
                {},
            )
        )
    started = time.perf_counter()
    results: list[BrokerResult] = []
    for index, target in enumerate(targets):
        result = BrokerResult(target.key)
        results.append(result)
        try:
            with servers([target]) as running:
                server = running[target.key]
                try:
                    _run_async(_drive(server, api_key, options, index == 0, result))
                except BenchError as error:
                    problems = log_problems(server)
                    result.failure = "\n".join(
                        [str(error), *(["server log:", *problems] if problems else [])]
                    )
                    print(f"  {target.key}: FAILED: {result.failure}", flush=True)
                if server.process.poll() is not None:
                    result.failure = f"the server died:\n{log_tail(server)}"
        except BenchError as error:  # the server did not start
            result.failure = str(error)
    return RealtimeResults(options, results, time.perf_counter() - started)


# --------------------------------------------------------------------------- report


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.1f}"


def _seconds(value: float) -> str:
    return "n/a (failed)" if math.isnan(value) else f"{value:.1f} s"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:,.1f}"


def render(results: RealtimeResults, other_load: str) -> list[str]:
    """The results.md section (Markdown lines)."""
    options = results.options
    lines = [
        "## Real time: `fundEvents` over graphql-transport-ws",
        "",
        "What it measures (`bench/realtime.py`; "
        f"{results.seconds:.0f} s in all; the whole machine meanwhile: {other_load}):",
        "",
        "- Each broker gets its own server process (the same settings as above; the Redis one "
        "with `REDIS_URL` on the local Redis and a channel of its own). Subscription: "
        "`fundEvents(fundId:)` selecting `__typename eventId cursor occurredAt fund { id name } "
        "... on InvestmentCreatedEvent { investment { id amountUsd investor { name } } }`, "
        "authenticated with the ADMIN API key in `connection_init`. The client (this harness, "
        "one process, uvloop, the `websockets` library) offers no permessage-deflate.",
        f"- **Latency**: one subscriber; {WARMUP_EVENTS} warm-up events, then up to "
        f"{options.events:,} measured ones, strictly one at a time: `createInvestment` over "
        "HTTP (keep-alive, httpx), then wait for its event. The commit happens between "
        "sending the mutation and reading its response, so commit -> receipt lies between "
        "*response -> event* (lower bound; negative when the event beat the response) and "
        "*send -> event* (upper bound, includes the mutation itself). Every message must be a "
        "`next` without `errors` for the investment just created, exactly once.",
        f"- **Fan-out**: {options.subscribers:,} WebSocket connections (one subscription each, "
        f"opened {CONNECT_CONCURRENCY} at a time) on the in-process-broker server follow the "
        "same fund; a first event proves each is live; then "
        f"{options.fanout_events} pairs of events: one after {IDLE_SECONDS:g} s idle (each "
        "subscription re-checks its API key, one SQL query, before delivering an event when "
        f"{REVALIDATE_SECONDS:g} s have passed since its last check) and one sent "
        f"{SETTLE_SECONDS / 4:g} s after the previous one reached everyone (no re-check, unless "
        f"that previous fan-out itself took about {REVALIDATE_SECONDS:g} s). Times run from "
        "sending the mutation to the moment the client read the "
        "message on each connection; the client's own CPU is given, to show it was not the "
        "bottleneck. Server memory: VmRSS / VmHWM from `/proc/<pid>/status`.",
        "",
        "### Latency (ms, one event at a time)",
        "",
        "| broker | events | send -> event p50 | p99 | response -> event p50 | p99 "
        "| events before the response | mutation p50 | server CPU ms/event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for broker in results.brokers:
        latency = broker.latency
        if latency is None:
            continue
        cpu = (
            f"{latency.server_cpu_seconds * 1000 / latency.events:.1f}"
            if latency.server_cpu_seconds is not None and latency.events
            else "n/a"
        )
        lines.append(
            f"| {broker.broker} | {latency.events:,}"
            + (f" (of {latency.planned:,}: time limit)" if latency.events < latency.planned else "")
            + f" | {_ms(percentile(latency.send_to_event_ms, 0.5))}"
            f" | {_ms(percentile(latency.send_to_event_ms, 0.99))}"
            f" | {_ms(percentile(latency.response_to_event_ms, 0.5))}"
            f" | {_ms(percentile(latency.response_to_event_ms, 0.99))}"
            f" | {latency.before_response}"
            f" | {_ms(percentile(latency.mutation_ms, 0.5))} | {cpu} |"
        )
    for broker in results.brokers:
        fanout = broker.fanout
        if fanout is None:
            continue
        lines += [
            "",
            f"### Fan-out: one event to {fanout.subscribers:,} subscribers ({broker.broker})",
            "",
            f"Opening the {fanout.subscribers:,} subscriptions took "
            f"{_seconds(fanout.connect_seconds)}"
            + (
                f" ({fanout.refused} connection attempts were refused by the server and "
                f"retried after 1 s; the first: `{fanout.refusal}`)"
                if fanout.refused
                else ""
            )
            + "; the first event after subscribing reached all "
            f"of them {_ms(fanout.first_event_seconds * 1000)} ms after its mutation was sent.",
            "",
            "| event | first ms | p50 ms | p99 ms | all (last) ms | response -> last ms "
            "| server CPU ms | client CPU ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for number, event in enumerate(fanout.events, start=1):
            kind = (
                f"{IDLE_SECONDS:g} s after the previous (all keys re-checked)"
                if event.after_idle
                else f"{SETTLE_SECONDS / 4:g} s after the previous"
            )
            server_cpu = "n/a" if event.server_cpu_ms is None else f"{event.server_cpu_ms:,.0f}"
            lines.append(
                f"| {number}: {kind} | {event.send_to_first_ms:,.0f} | "
                f"{event.send_to_p50_ms:,.0f} | {event.send_to_p99_ms:,.0f} | "
                f"{event.send_to_last_ms:,.0f} | {event.response_to_last_ms:,.0f} | "
                f"{server_cpu} | {event.client_cpu_ms:,.0f} |"
            )
        lines += [
            "",
            "Server memory (MiB):",
            "",
            "| stage | VmRSS | VmHWM (peak) |",
            "|---|---:|---:|",
        ]
        for stage, values in fanout.memory.items():
            lines.append(f"| {stage} | {_mib(values.get('VmRSS'))} | {_mib(values.get('VmHWM'))} |")
        before = fanout.memory.get("before connecting", {}).get("VmRSS")
        subscribed = fanout.memory.get("subscribed", {}).get("VmRSS")
        if before is not None and subscribed is not None:
            lines += [
                "",
                f"{(subscribed - before) / 1024:,.1f} MiB more with {fanout.subscribers:,} "
                f"subscriptions open (about {(subscribed - before) / fanout.subscribers:,.0f} KiB "
                "each, before any event).",
            ]
    failures = [broker for broker in results.brokers if broker.failure]
    if failures:
        lines += ["", "### Failures", ""]
        for broker in failures:
            lines += [f"{broker.broker}:", "", "```", (broker.failure or "")[:2000], "```", ""]
    lines.append("")
    return lines


def interpretation(results: RealtimeResults) -> list[str]:
    """Bullets for the report's Interpretation section."""
    bullets: list[str] = []
    latencies = [
        f"{broker.broker}: p50 {percentile(latency.response_to_event_ms, 0.5):.1f}-"
        f"{percentile(latency.send_to_event_ms, 0.5):.1f} ms, p99 "
        f"{percentile(latency.response_to_event_ms, 0.99):.1f}-"
        f"{percentile(latency.send_to_event_ms, 0.99):.1f} ms"
        for broker in results.brokers
        if (latency := broker.latency) is not None and latency.events
    ]
    if latencies:
        bullets.append(
            "- **Event latency, commit -> receipt** (between the response -> event and "
            "send -> event bounds): " + "; ".join(latencies) + "."
        )
    for broker in results.brokers:
        fanout = broker.fanout
        if fanout is None or not fanout.events:
            continue
        idle = [event for event in fanout.events if event.after_idle]
        busy = [event for event in fanout.events if not event.after_idle]

        def describe(events: list[FanoutEvent], count: int) -> str:
            last = sorted(event.send_to_last_ms for event in events)
            cpu = [event.server_cpu_ms for event in events if event.server_cpu_ms is not None]
            spread = (
                f"{last[0]:,.0f} ms" if len(last) == 1 else f"{last[0]:,.0f}-{last[-1]:,.0f} ms"
            )
            text = f"all {count:,} in {spread}"
            if cpu:
                per = sum(cpu) / len(cpu) / count * 1000
                text += f", about {per:,.0f} µs of server CPU per subscriber"
            return text

        memory = fanout.memory
        before = memory.get("before connecting", {}).get("VmRSS")
        subscribed = memory.get("subscribed", {}).get("VmRSS")
        after = memory.get("after the events", {}).get("VmRSS")
        bullets.append(
            f"- **Fan-out to {fanout.subscribers:,} subscribers** (one server process): "
            + (
                f"events sent {SETTLE_SECONDS / 4:g} s after the previous one reached "
                f"{describe(busy, fanout.subscribers)}"
                if busy
                else ""
            )
            + (
                f"; after an idle spell, when every subscription first re-checks its API key "
                f"(one SQL query each), {describe(idle, fanout.subscribers)}"
                if idle
                else ""
            )
            + " (server CPU per subscriber: the event's server CPU, the mutation's own "
            "included, over the subscribers; /proc counts in 10 ms ticks). Delivery is serial "
            "in one process: the last subscriber waits for the work done for all the others."
            + (
                f" A fan-out took close to {REVALIDATE_SECONDS:g} s or more here, so the "
                "event after it found many subscriptions' last check that old and re-checked "
                "them again: once fan-out is that slow, the re-check throttle stops saving "
                "the queries, which shows in the spread of the short-gap events."
                if any(
                    event.send_to_last_ms >= REVALIDATE_SECONDS * 1000 * 0.8
                    for event in fanout.events
                )
                else ""
            )
            + (
                f" Server RSS {before / 1024:,.0f} MiB before, {subscribed / 1024:,.0f} MiB "
                f"with the subscriptions open, {after / 1024:,.0f} MiB after the events."
                if before and subscribed and after
                else ""
            )
        )
    failed = [broker.broker for broker in results.brokers if broker.failure]
    if failed:
        bullets.append(
            f"- **Real-time failures** ({', '.join(failed)}; see Failures): what completed "
            "before the failure is reported above; the rest was not measured."
        )
    return bullets
