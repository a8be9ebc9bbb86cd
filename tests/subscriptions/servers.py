"""Real servers on loopback ports: the app under uvicorn in the test's loop, or in a subprocess.

`LiveServer` runs `create_app(settings)` under uvicorn inside the test's event
loop, so a test can look at the running process (its hub, its settings).
`ServerProcess` starts `python -m uvicorn graphql_api.app:create_app --factory`
with its configuration in the environment, for what needs separate processes:
several instances on one database, killing Redis connections, SIGTERM.
Both are always stopped in `finally` blocks, and every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Self

import httpx
import uvicorn

from graphql_api.app import create_app
from graphql_api.db.session import Database
from graphql_api.schema.context import Runtime
from graphql_api.settings import Settings
from tests.subscriptions.credentials import HEADERS

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_client(base_url: str) -> httpx.AsyncClient:
    """An HTTP client for one server (no proxies from the environment: loopback only)."""
    return httpx.AsyncClient(base_url=base_url, timeout=10, trust_env=False, headers=HEADERS)


class _SignalFreeServer(uvicorn.Server):
    """uvicorn without its signal handlers: pytest keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LiveServer:
    """The real application under uvicorn on a free 127.0.0.1 port, in this event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self._server = _SignalFreeServer(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=0,
                lifespan="on",
                log_level="warning",
                log_config=None,  # leave the logging configuration to the app (and pytest)
                timeout_graceful_shutdown=5,
            )
        )
        self._task: asyncio.Task[None] | None = None
        self._sigterm_handler: Any = None
        self.port = 0

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def write_buffer_sizes(self) -> list[int]:
        """Bytes each open connection has waiting in uvicorn's transport (not yet in the kernel)."""
        return [
            connection.transport.get_write_buffer_size()
            for connection in tuple(self._server.server_state.connections)
            if connection.transport is not None
        ]

    async def start(self) -> None:
        # The app's lifespan wraps SIGTERM (graceful shutdown); give pytest its handler back.
        self._sigterm_handler = signal.getsignal(signal.SIGTERM)
        self._task = asyncio.create_task(self._server.serve(), name="live-uvicorn")
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / 0.01) + 1):
            if self._server.started:
                self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
                return
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise AssertionError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        await self.stop()
        raise AssertionError(f"uvicorn did not start within {START_TIMEOUT}s")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            raise AssertionError(f"uvicorn did not stop within {STOP_TIMEOUT}s") from None
        finally:
            self._task = None
            if self._sigterm_handler is not None:
                signal.signal(signal.SIGTERM, self._sigterm_handler)
        lifespan = self._server.lifespan
        assert not lifespan.shutdown_failed, "the app's shutdown failed"
        assert not lifespan.error_occurred, "the app's lifespan raised"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


class ServerProcess:
    """`python -m uvicorn graphql_api.app:create_app --factory` on a free port; output to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "APP_ENV": "development", "LOAD_DEMO_DATA": "false"} | env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "graphql_api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "info",
        ]
        with self.log_path.open("wb") as log:
            # Popen returns at once; the waits below poll without blocking the loop.
            self.process = subprocess.Popen(  # noqa: S603, ASYNC220 (our own fixed command line)
                command, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        async with http_client(self.http_url) as http:
            for _ in range(int(START_TIMEOUT / 0.1) + 1):
                if time.monotonic() > deadline:
                    break
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited early:\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"server not healthy within {START_TIMEOUT}s:\n{self.log()}")

    async def wait_exit(self, within: float) -> int | None:
        """The exit code once the process has ended; None if it still runs after `within` s."""
        assert self.process is not None
        deadline = time.monotonic() + within
        for _ in range(int(within / 0.05) + 1):
            code = self.process.poll()
            if code is not None or time.monotonic() >= deadline:
                return code
            await asyncio.sleep(0.05)
        return self.process.poll()

    def terminate(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in time."""
        if self.process is None:
            return
        self.terminate()
        if await self.wait_exit(STOP_TIMEOUT) is None:
            self.process.kill()
            await self.wait_exit(5)

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def processes(*servers: ServerProcess) -> AsyncIterator[tuple[ServerProcess, ...]]:
    """Start several server processes; stop every one of them, whatever happens."""
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            stack.push_async_callback(server.stop)
        started = await asyncio.gather(
            *(server.start() for server in servers), return_exceptions=True
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield servers
