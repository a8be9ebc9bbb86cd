"""A loopback TCP proxy in front of Redis that can go down and come back: a real outage.

While down, it refuses new connections (nothing listens on its port) and has
dropped every open one; `up` listens on the same port again.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections = 0

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def down(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in tuple(self._writers):
            writer.transport.abort()
        await self._settle()

    async def _settle(self) -> None:
        if self._handlers:
            await asyncio.wait(tuple(self._handlers), timeout=5)

    def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.create_task(self._serve(client_reader, client_writer))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(client_writer)
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            except OSError:
                return
            self._writers.add(upstream_writer)
            self.connections += 1
            try:
                await asyncio.gather(
                    _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
                )
            finally:
                self._writers.discard(upstream_writer)
                await _close(upstream_writer)
        finally:
            self._writers.discard(client_writer)
            await _close(client_writer)

    async def __aenter__(self) -> Self:
        await self.up()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.down()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65_536):
            writer.write(data)
            await writer.drain()
    # One direction ended: end the other one too.
    writer.transport.abort()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
