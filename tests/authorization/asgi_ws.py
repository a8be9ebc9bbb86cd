"""A WebSocket to the real app through ASGI, in this event loop (no server, no port).

The app under test is the session's app of one back end (the `app` fixture), so
a subscription runs through the same view, authentication and permission classes
as over uvicorn. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, Self

TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Closed:
    """The app closed the socket."""

    code: int
    reason: str


class AsgiWebSocket:
    """One graphql-transport-ws (or graphql-ws) connection to an ASGI app."""

    def __init__(self, app: Any, subprotocol: str = "graphql-transport-ws") -> None:
        self._app = app
        self._subprotocol = subprotocol
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"sec-websocket-protocol", self._subprotocol.encode()),
            ],
            "subprotocols": [self._subprotocol],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self._to_app.put_nowait({"type": "websocket.connect"})
        self._task = asyncio.create_task(
            self._app(scope, self._to_app.get, self._from_app.put), name="asgi-websocket"
        )
        accepted = await self._next()
        assert accepted["type"] == "websocket.accept", accepted
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(asyncio.shield(self._task), TIMEOUT)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            raise AssertionError(f"the app did not end the socket within {TIMEOUT}s") from None

    async def _next(self, within: float = TIMEOUT) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self._from_app.get(), within)
        except TimeoutError:
            raise AssertionError(f"nothing from the app within {within}s") from None

    async def send(self, message: dict[str, Any]) -> None:
        self._to_app.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self, within: float = TIMEOUT) -> dict[str, Any] | Closed:
        """The next protocol message, or how the app closed the socket."""
        event = await self._next(within)
        if event["type"] == "websocket.close":
            return Closed(int(event.get("code", 1000)), str(event.get("reason") or ""))
        assert event["type"] == "websocket.send", event
        message: dict[str, Any] = json.loads(event["text"])
        return message

    def receive_nowait(self) -> dict[str, Any] | Closed | None:
        """What the app has sent, if anything (never waits)."""
        if self._from_app.empty():
            return None
        event = self._from_app.get_nowait()
        if event["type"] == "websocket.close":
            return Closed(int(event.get("code", 1000)), str(event.get("reason") or ""))
        message: dict[str, Any] = json.loads(event["text"])
        return message

    async def init(self, payload: dict[str, Any]) -> dict[str, Any] | Closed:
        """connection_init with `payload`: the app's answer (an ack, or a close)."""
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()
