"""A request id for every request: the caller's `X-Request-ID` if sane, else a new one.

It is returned in the response header and quoted in masked errors and in the
log, so a user's report can be matched to the server's record of it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    """The id the middleware assigned (or a fresh one outside it, e.g. in tests)."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if request_id is None:
        request_id = state["request_id"] = uuid.uuid4().hex
    return str(request_id)


class RequestIdMiddleware:
    """Assign the id before anything else runs and echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or ()).get(HEADER.encode(), b"").decode("latin-1")
        request_id = sent if _ACCEPTABLE.fullmatch(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
