"""Security headers on every HTTP response.

API responses forbid everything a browser could do with them; the GraphiQL
page (HTML) gets a policy that still lets it load its scripts and styles and
talk to this server. HSTS is sent only over HTTPS (behind a proxy, uvicorn
takes the scheme from X-Forwarded-Proto when the proxy is trusted).

API responses are `Cache-Control: no-store`: they hold what one caller may
see, as of now (a GET query too), so no browser, proxy or CDN may keep one
and serve it later, to another caller or after a row was deleted.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
GRAPHIQL_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https:; "
    "style-src 'self' 'unsafe-inline' https:; img-src 'self' data: https:; "
    "font-src 'self' data: https:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts_seconds: int) -> None:
        self.app = app
        self.hsts_seconds = hsts_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault(
                    "Content-Security-Policy", GRAPHIQL_POLICY if html else API_POLICY
                )
                if not html:
                    headers.setdefault("Cache-Control", "no-store")
                if https and self.hsts_seconds:
                    headers.setdefault(
                        "Strict-Transport-Security",
                        f"max-age={self.hsts_seconds}; includeSubDomains",
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)
