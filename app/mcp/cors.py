"""CORS on the MCP endpoint's answers, for browser MCP clients on the origins in ALLOWED_ORIGINS.

A page on another origin may read an answer only if it carries `Access-Control-Allow-Origin`
naming that page's origin (Fetch standard, CORS check: https://fetch.spec.whatwg.org/#cors-check),
and may read a response header beyond the safelisted few only if `Access-Control-Expose-Headers`
names it. For a Lambda proxy integration API Gateway adds neither: the function must ("CORS for
REST APIs in API Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/
how-to-cors.html). The preflight (OPTIONS) never reaches this function: API Gateway answers it
(infra/constructs/mcp_cors.py), and so do the gateway responses' CORS headers (401, 403, ...).

The rules:
- an `Origin` in the allow-list gets itself back (never `*`, never another origin) and no
  `Access-Control-Allow-Credentials`: MCP clients authenticate with the Authorization header,
  never with cookies;
- any other `Origin` gets no CORS header (McpEndpoint answers it 403 anyway; the browser blocks
  the answer either way);
- `Vary: Origin` whenever the list is not empty, since the answer then depends on it;
- an empty list (the default) changes nothing: no header is added at all.
"""

from __future__ import annotations

import contextlib
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import ConfigurationError, SettingsSource

# What a browser MCP client must read: the challenge on a 401/403 (where the resource metadata
# is), the session id and the negotiated protocol version (Streamable HTTP transport). The
# gateway responses expose the same (devtools/mcp_cors.py; a test keeps the two equal).
EXPOSE_HEADERS: Final = ("WWW-Authenticate", "Mcp-Session-Id", "Mcp-Protocol-Version")


def cors_headers(origin: str | None, allowed_origins: frozenset[str]) -> dict[str, str]:
    """The CORS headers an answer to a request with `origin` gets, given the allow-list."""
    if not allowed_origins:
        return {}
    headers = {"Vary": "Origin"}
    if origin is not None and origin in allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = ",".join(EXPOSE_HEADERS)
    return headers


class BrowserCors:
    """ASGI middleware around the MCP endpoint: adds `cors_headers` to every answer it sends."""

    def __init__(self, app: ASGIApp, source: SettingsSource) -> None:
        self.app = app
        self._source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                allowed: frozenset[str] = frozenset()
                # The endpoint read the same (cached) settings before answering; should they
                # fail now, the answer goes out without CORS headers: unreadable, never wider.
                with contextlib.suppress(ConfigurationError):
                    allowed = self._source.auth().allowed_origins
                headers = MutableHeaders(scope=message)
                for name, value in cors_headers(origin, allowed).items():
                    headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_cors)
