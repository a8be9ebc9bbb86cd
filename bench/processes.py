"""Servers under test: each its own uvicorn process on a free loopback port.

Shared by the HTTP benchmark (bench/run.py) and the real-time one
(bench/realtime.py). Every wait is bounded, and every process started here is
stopped on the way out (SIGINT, then SIGKILL after STOP_SECONDS).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from graphql_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
HOST = "127.0.0.1"

STARTUP_SECONDS = 60.0
STOP_SECONDS = 10.0


class BenchError(Exception):
    """The benchmark cannot produce trustworthy numbers; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """One server to measure: how to start it and where each operation goes."""

    key: str
    label: str
    app: str
    env: Mapping[str, str]
    paths: Mapping[str, str]


@dataclass
class Running:
    target: Target
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The inherited environment minus every server setting, plus the target's own."""
    settings = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in settings}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(target: Target, logs: Path) -> Running:
    port = free_port()
    log = logs / f"{target.key}.log"
    command = [
        PYTHON,
        "-m",
        "uvicorn",
        target.app,
        "--factory",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (fixed command, our own interpreter)
            command,
            cwd=ROOT,
            env=child_env(target.env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
    return Running(target, process, port, log)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_SECONDS)


def log_tail(running: Running, lines: int = 30) -> str:
    try:
        return "\n".join(running.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_problems(running: Running, limit: int = 5) -> list[str]:
    """The server log's last WARNING / ERROR / CRITICAL lines (a query text spans many lines,
    so the plain tail of the log often shows none of them)."""
    try:
        lines = running.log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    markers = (" WARNING ", " ERROR ", " CRITICAL ", "WARNING:", "ERROR:")
    return [line[:400] for line in lines if any(marker in line for marker in markers)][-limit:]


def wait_healthy(running: Running) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise BenchError(
                f"{running.target.key} exited with {running.process.returncode}:\n"
                + log_tail(running)
            )
        with suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(HOST, running.port, timeout=1)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            finally:
                connection.close()
        time.sleep(0.2)
    raise BenchError(f"{running.target.key} not healthy after {STARTUP_SECONDS:.0f}s")


@contextmanager
def servers(targets: Sequence[Target]) -> Iterator[dict[str, Running]]:
    """Start every target, wait until each answers /healthz; stop them all on exit."""
    with tempfile.TemporaryDirectory(prefix="graphql-api-bench-") as logs, ExitStack() as stack:
        running: dict[str, Running] = {}
        for target in targets:
            started = start(target, Path(logs))
            stack.callback(stop, started.process)
            running[target.key] = started
        for started in running.values():
            wait_healthy(started)
            print(f"  {started.target.label}: pid {started.pid}, port {started.port}", flush=True)
        yield running


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB, from /proc."""
    found: dict[str, int] = {}
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process in seconds (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
