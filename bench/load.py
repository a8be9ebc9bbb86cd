"""A small closed-loop HTTP/1.1 load generator: `python -m bench.load CONFIG.json`.

Cheap on purpose (the server under test shares a 2-core machine with it): one
process, uvloop when available, and no coroutine per request. Each of the N
keep-alive connections is an `asyncio.Protocol` that writes its next request
from `data_received` as soon as the previous response is complete (status
line, `Content-Length`, body). Latencies are `perf_counter_ns` samples; the
percentiles are exact (nearest rank over the sorted samples).

Every response is checked: status 200, a body that starts with `{"data":{`
(the GraphQL server writes `errors` first when there are any) and, when the
config gives one, the exact body length of the verified reference response.

The result is one JSON object on standard output. CPU time over the measured
window is reported for this process, for the server process (`server_pid`),
for the PostgreSQL backends connected to `database` (children of
`postmaster_pid`) and for the whole machine, read from /proc: what the machine
spent beyond these three is other load, which makes a measurement suspect.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson

BODY_PREFIX = b'{"data":{'
HEADER_END = b"\r\n\r\n"
CONTENT_LENGTH = b"\r\ncontent-length:"
MAX_HEADER_BYTES = 16_384
MAX_ERROR_SAMPLES = 5
DRAIN_SECONDS = 30.0
CONNECT_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Template:
    """One request, ready to write, and the body length its response must have (or -1)."""

    raw: bytes
    expected_length: int


@dataclass(frozen=True, slots=True)
class Config:
    host: str
    port: int
    connections: int
    warmup_seconds: float
    duration_seconds: float
    templates: tuple[Template, ...]
    server_pid: int | None
    postmaster_pid: int | None
    database: str | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Config:
        host, port = str(raw["host"]), int(raw["port"])
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the load generator only drives loopback addresses")
        headers = {str(name): str(value) for name, value in raw.get("headers", {}).items()}
        templates = tuple(
            Template(
                request_bytes(host, port, str(item["path"]), str(item["body"]).encode(), headers),
                int(item.get("expected_length", -1)),
            )
            for item in raw["requests"]
        )
        if not templates:
            raise ValueError("no requests to send")
        return cls(
            host=host,
            port=port,
            connections=max(1, min(int(raw["connections"]), 1024)),
            warmup_seconds=max(0.0, float(raw["warmup_seconds"])),
            duration_seconds=max(0.1, float(raw["duration_seconds"])),
            templates=templates,
            server_pid=raw.get("server_pid"),
            postmaster_pid=raw.get("postmaster_pid"),
            database=raw.get("database"),
        )


def request_bytes(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    """A keep-alive POST of a JSON body, as a GraphQL client sends it (plus `headers`)."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/graphql-response+json, application/json;q=0.9\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class Generator:
    """Shared state: which request comes next, what was measured, what went wrong."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.templates = config.templates
        self.next_index = 0
        self.measuring = False
        self.stopping = False
        self.latencies: list[int] = []
        self.warmup_completed = 0
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.in_flight = 0
        self.drained = loop.create_future()

    def send(self, connection: ClientConnection) -> None:
        if self.stopping:
            if self.in_flight == 0 and not self.drained.done():
                self.drained.set_result(None)
            return
        index = self.next_index
        self.next_index = index + 1 if index + 1 < len(self.templates) else 0
        connection.template = self.templates[index]
        connection.waiting = True
        self.in_flight += 1
        connection.started = time.perf_counter_ns()
        connection.transport.write(connection.template.raw)

    def complete(self, connection: ClientConnection, status: int, body: bytearray) -> None:
        elapsed = time.perf_counter_ns() - connection.started
        connection.waiting = False
        self.in_flight -= 1
        assert connection.template is not None
        expected = connection.template.expected_length
        if status != 200:
            self.error(f"status {status}", bytes(body[:300]))
        elif not body.startswith(BODY_PREFIX):
            self.error("body without data", bytes(body[:300]))
        elif expected >= 0 and len(body) != expected:
            self.error("unexpected body length", f"{len(body)} != {expected}".encode())
        elif self.measuring:
            self.latencies.append(elapsed)
        else:
            self.warmup_completed += 1
        self.send(connection)

    def error(self, kind: str, detail: bytes) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{kind}: {detail.decode('utf-8', 'replace')}")

    def lost(self, connection: ClientConnection, exc: Exception | None) -> None:
        if connection.waiting:
            connection.waiting = False
            self.in_flight -= 1
        if not self.stopping:
            self.error("connection lost", repr(exc).encode())
        if self.in_flight == 0 and self.stopping and not self.drained.done():
            self.drained.set_result(None)


class ClientConnection(asyncio.Protocol):
    """One keep-alive connection: parse a response, hand it over, send the next request."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set on connect
        self.template: Template | None = None
        self.started = 0
        self.buffer = bytearray()
        self.status = 0
        self.body_start = -1
        self.body_end = -1
        self.waiting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def start(self) -> None:
        self.generator.send(self)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            if self.body_end < 0 and not self._read_head():
                return
            if len(buffer) < self.body_end:
                return
            body = buffer[self.body_start : self.body_end]
            del buffer[: self.body_end]
            self.body_start = self.body_end = -1
            self.generator.complete(self, self.status, body)
            if not buffer:
                return

    def _read_head(self) -> bool:
        buffer = self.buffer
        end = buffer.find(HEADER_END)
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self._fail(b"response head too long")
            return False
        head = bytes(buffer[:end]).lower()
        start = head.find(CONTENT_LENGTH)
        if not head.startswith(b"http/1.1 ") or start < 0:
            self._fail(head[:300])
            return False
        start += len(CONTENT_LENGTH)
        stop = head.find(b"\r\n", start)
        self.status = int(head[9:12])
        self.body_start = end + len(HEADER_END)
        self.body_end = self.body_start + int(head[start : stop if stop >= 0 else len(head)])
        return True

    def _fail(self, detail: bytes) -> None:
        self.generator.error("malformed response", detail)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.lost(self, exc)


def process_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def backend_ticks(postmaster_pid: int, database: str) -> dict[int, int]:
    """CPU ticks of each PostgreSQL backend connected to `database` (by process title)."""
    marker = f" {database} ".encode()
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[1]) != postmaster_pid:
                continue
            if marker not in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                continue
        except (OSError, ValueError):
            continue
        found[int(entry.name)] = int(fields[11]) + int(fields[12])
    return found


def system_busy_ticks() -> int | None:
    """CPU ticks spent busy (not idle, not waiting for I/O) by the whole machine, all CPUs."""
    try:
        with Path("/proc/stat").open("rb") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    return sum(int(fields[index]) for index in (1, 2, 3, 6, 7, 8))


@dataclass(frozen=True, slots=True)
class CpuSample:
    own: float
    server: int | None
    backends: dict[int, int]
    system: int | None


def sample_cpu(config: Config) -> CpuSample:
    backends = (
        backend_ticks(config.postmaster_pid, config.database)
        if config.postmaster_pid and config.database
        else {}
    )
    server = process_ticks(config.server_pid) if config.server_pid else None
    return CpuSample(time.process_time(), server, backends, system_busy_ticks())


def cpu_seconds(before: CpuSample, after: CpuSample) -> dict[str, float | None]:
    server = (
        (after.server - before.server) / CLOCK_TICKS
        if after.server is not None and before.server is not None
        else None
    )
    backends = sum(ticks - before.backends.get(pid, 0) for pid, ticks in after.backends.items())
    system = (
        (after.system - before.system) / CLOCK_TICKS
        if after.system is not None and before.system is not None
        else None
    )
    return {
        "loadgen": round(after.own - before.own, 3),
        "server": None if server is None else round(server, 3),
        "postgres": round(backends / CLOCK_TICKS, 3) if after.backends else None,
        "system": None if system is None else round(system, 3),
    }


def percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in milliseconds."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1] / 1e6


async def run(config: Config) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    generator = Generator(config, loop)
    connections: list[ClientConnection] = []
    for _ in range(config.connections):
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: ClientConnection(generator), config.host, config.port),
            CONNECT_SECONDS,
        )
        connections.append(protocol)
    try:
        for connection in connections:
            connection.start()
        await asyncio.sleep(config.warmup_seconds)
        before = sample_cpu(config)
        started = time.perf_counter_ns()
        generator.measuring = True
        await asyncio.sleep(config.duration_seconds)
        generator.measuring = False
        elapsed = (time.perf_counter_ns() - started) / 1e9
        after = sample_cpu(config)
        generator.stopping = True
        if generator.in_flight == 0 and not generator.drained.done():
            generator.drained.set_result(None)
        try:
            await asyncio.wait_for(asyncio.shield(generator.drained), DRAIN_SECONDS)
        except TimeoutError:
            generator.error("responses still missing at the end", b"")
    finally:
        generator.stopping = True
        for connection in connections:
            connection.transport.close()
    ordered = sorted(generator.latencies)
    completed = len(ordered)
    return {
        "completed": completed,
        "warmup_completed": generator.warmup_completed,
        "seconds": round(elapsed, 3),
        "rps": completed / elapsed,
        "latency_ms": {
            "p50": percentile(ordered, 0.50),
            "p90": percentile(ordered, 0.90),
            "p99": percentile(ordered, 0.99),
            "max": ordered[-1] / 1e6 if ordered else math.nan,
            "mean": sum(ordered) / completed / 1e6 if completed else math.nan,
        },
        "errors": dict(generator.errors),
        "error_samples": generator.error_samples,
        "cpu_seconds": cpu_seconds(before, after),
        "event_loop": type(loop).__module__,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.load CONFIG.json", file=sys.stderr)
        return 2
    config = Config.from_json(orjson.loads(Path(args[0]).read_bytes()))
    try:
        import uvloop  # noqa: PLC0415 (optional)
    except ImportError:
        result = asyncio.run(run(config))
    else:
        result = uvloop.run(run(config))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
