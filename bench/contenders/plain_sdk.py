"""The plain SDK setup: what a careful user writes with `mcp` 2.3 and Mangum, nothing more.

`MCPServer` stateless JSON app, the SDK's own Starlette app, Host checks off (API Gateway sets
the Host), Mangum with lifespan off, and the one wrapper without which warm invocations fail:
the session manager entered once, in a task parked on Mangum's event loop (FIELD-NOTES,
"Mangum 0.22.0 on Lambda"). No auth context, scopes or audit: those are ours to pay for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

server = MCPServer("plain-sdk")


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers and return the sum."""
    return a + b


class WarmSafe:
    """Enter `session_manager.run()` once per container, then pass every request through."""

    def __init__(self, app: ASGIApp, session_manager: StreamableHTTPSessionManager) -> None:
        self._app = app
        self._session_manager = session_manager
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.get_running_loop().create_task(self._park(self._ready))
        await asyncio.shield(self._ready)
        await self._app(scope, receive, send)

    async def _park(self, ready: asyncio.Future[None]) -> None:
        async with self._session_manager.run():
            ready.set_result(None)
            await asyncio.Event().wait()


_app = server.streamable_http_app(
    streamable_http_path="/mcp",
    stateless_http=True,
    json_response=True,
    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
)
_adapter = Mangum(WarmSafe(_app, server.session_manager), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = _adapter(event, context)
    return response
