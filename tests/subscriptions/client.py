"""Minimal GraphQL-over-WebSocket clients (graphql-transport-ws and legacy graphql-ws).

Every wait is bounded: a message that does not come within its timeout fails
the test with what did come, instead of hanging it. Messages of operations the
caller is not asking about are kept, in order, for a later `receive_for`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from tests.subscriptions.credentials import INIT_PAYLOAD

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
TIMEOUT = 5.0
MAX_MESSAGES = 10_000  # no wait reads more than this many messages, whatever the time

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Closed:
    """How the server ended the connection, and what it sent before."""

    code: int | None
    reason: str
    messages: list[Message]


class ServerClosedError(AssertionError):
    """The server closed the connection while a message was expected."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the server closed the connection: {code} {reason!r}")
        self.code = code
        self.reason = reason


@asynccontextmanager
async def open_socket(
    url: str,
    subprotocol: str,
    *,
    origin: str | None = None,
    max_queue: int | None = 16,
    max_size: int | None = 2**22,
) -> AsyncIterator[ClientConnection]:
    """A websocket to `url`, closed on exit (no proxy, no client pings, short timeouts)."""
    async with connect(
        url,
        subprotocols=[Subprotocol(subprotocol)],
        origin=Origin(origin) if origin is not None else None,
        proxy=None,
        open_timeout=TIMEOUT,
        close_timeout=2,
        ping_interval=None,
        max_queue=max_queue,
        max_size=max_size,
        compression=None,
    ) as socket:
        yield socket


class WsClient:
    """What both protocols share: sending JSON, bounded receiving, per-operation inboxes."""

    subprotocol: ClassVar[str]
    skipped_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._kept: list[Message] = []
        self.skipped = 0

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, *, init: bool = True, origin: str | None = None, max_queue: int = 16
    ) -> AsyncIterator[Self]:
        async with open_socket(url, cls.subprotocol, origin=origin, max_queue=max_queue) as socket:
            client = cls(socket)
            if init:
                await client.init()
            yield client

    async def init(self) -> None:
        raise NotImplementedError

    async def send(self, message: Message) -> None:
        await self.socket.send(json.dumps(message))

    async def send_raw(self, text: str) -> None:
        await self.socket.send(text)

    async def _read(self, within: float) -> Message:
        """The next message off the wire, skipping keep-alives."""
        deadline = time.monotonic() + within
        for _ in range(MAX_MESSAGES):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                raw = await asyncio.wait_for(self.socket.recv(), remaining)
            except TimeoutError:
                raise AssertionError(f"no message within {within}s") from None
            except ConnectionClosed as closed:
                frame = closed.rcvd
                raise ServerClosedError(
                    frame.code if frame else None, frame.reason if frame else ""
                ) from closed
            message: Message = json.loads(raw)
            if message.get("type") in self.skipped_types:
                self.skipped += 1
                continue
            return message
        raise AssertionError(f"no message within {within}s")

    async def receive(self, within: float = TIMEOUT) -> Message:
        """The next message, whatever operation it belongs to."""
        if self._kept:
            return self._kept.pop(0)
        return await self._read(within)

    async def receive_for(self, operation_id: str, within: float = TIMEOUT) -> Message:
        """The next message of one operation; others are kept for later."""
        for index, message in enumerate(self._kept):
            if message.get("id") == operation_id:
                return self._kept.pop(index)
        deadline = time.monotonic() + within
        for _ in range(MAX_MESSAGES):
            message = await self._read(max(deadline - time.monotonic(), 0.001))
            if message.get("id") == operation_id:
                return message
            self._kept.append(message)
        raise AssertionError(f"{MAX_MESSAGES} messages, none for operation {operation_id}")

    async def expect_nothing(self, seconds: float) -> list[Message]:
        """Whatever arrives within `seconds` (an empty list is what the caller hopes for)."""
        arrived = list(self._kept)
        self._kept.clear()
        deadline = time.monotonic() + seconds
        for _ in range(MAX_MESSAGES):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                arrived.append(await self._read(remaining))
            except ServerClosedError:
                raise
            except AssertionError:  # nothing more within the time: what we hoped for
                break
        return arrived

    async def until_complete(
        self, operation_id: str, *, limit: int, within: float = TIMEOUT
    ) -> list[Message]:
        """The operation's messages up to and including its `complete` (at most `limit`)."""
        deadline = time.monotonic() + within
        messages: list[Message] = []
        for _ in range(limit):
            message = await self.receive_for(operation_id, max(deadline - time.monotonic(), 0))
            messages.append(message)
            if message["type"] == "complete":
                return messages
        raise AssertionError(f"no `complete` among {limit} messages: {messages[-3:]}")

    async def closed(self, within: float = TIMEOUT) -> Closed:
        """Read until the server closes the connection; its code, reason and last messages."""
        messages = list(self._kept)
        self._kept.clear()
        deadline = time.monotonic() + within
        for _ in range(MAX_MESSAGES):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                messages.append(await self._read(remaining))
            except ServerClosedError as closed:
                return Closed(closed.code, closed.reason, messages)
            except AssertionError:  # nothing within the time
                break
        raise AssertionError(f"the server did not close within {within}s: {messages[-3:]}")


class TransportWsClient(WsClient):
    """graphql-transport-ws (the graphql-ws library's protocol)."""

    subprotocol = TRANSPORT_WS

    async def init(self, payload: Any = INIT_PAYLOAD) -> None:
        message: Message = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.send(message)
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload: Message = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})

    async def next_data(self, operation_id: str, within: float = TIMEOUT) -> dict[str, Any]:
        """The data of the operation's next `next` message, which must carry no errors."""
        message = await self.receive_for(operation_id, within)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


class LegacyWsClient(WsClient):
    """The legacy graphql-ws protocol (subscriptions-transport-ws); `ka` messages are counted."""

    subprotocol = LEGACY_WS
    skipped_types = frozenset({"ka"})

    async def init(self) -> None:
        await self.send({"type": "connection_init", "payload": INIT_PAYLOAD})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def start(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        payload: Message = {"query": query, "variables": variables or {}}
        await self.send({"id": operation_id, "type": "start", "payload": payload})

    async def stop(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "stop"})

    async def subscribe(
        self, operation_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        """`start`, under the name graphql-transport-ws gives it."""
        await self.start(operation_id, query, variables)

    async def complete(self, operation_id: str) -> None:
        """`stop`, under the name graphql-transport-ws gives it."""
        await self.stop(operation_id)

    async def next_data(self, operation_id: str, within: float = TIMEOUT) -> dict[str, Any]:
        message = await self.receive_for(operation_id, within)
        assert message["type"] == "data", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


async def collect(
    client: TransportWsClient | LegacyWsClient,
    operation_id: str,
    field: str,
    count: int,
    within: float = TIMEOUT,
) -> list[dict[str, Any]]:
    """`count` events of one operation (`field` of each message's data), within `within` seconds."""
    deadline = time.monotonic() + within
    events: list[dict[str, Any]] = []
    for _ in range(count):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"only {len(events)} of {count} events within {within}s")
        data = await client.next_data(operation_id, remaining)
        events.append(data[field])
    return events
