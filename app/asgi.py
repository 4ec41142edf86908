"""The ASGI application behind both Lambda and local HTTP: SDK transport plus the edge checks.

The SDK's streamable-HTTP transport does the MCP protocol. This module adds what a public
endpoint behind API Gateway needs and the SDK does not do the way we want:

- `POST` only on the MCP path: a stateless server has no SSE stream to offer, and a GET would
  open one that never ends, so GET/DELETE get 405 with `Allow: POST` before the SDK sees them.
- `Origin` checked against an allow-list (DNS-rebinding and browser-CSRF defence, per the MCP
  spec); the SDK's own Host check is off because API Gateway and custom domains set the Host.
- one JSON-RPC object per request, at most `MAX_BODY_BYTES`: batches, non-JSON and oversized
  bodies get a JSON-RPC error with a 4xx status, never a 500 or a stack trace.
- the session manager entered once per process, lazily, on the running loop (see
  `SessionManagerRunner`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.config import HttpSettings
from app.permissions import ScopedServer

MCP_PATH = "/mcp"

# JSON-RPC 2.0 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def jsonrpc_error(
    status: int,
    code: int,
    message: str,
    *,
    request_id: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An HTTP error whose body is a JSON-RPC error object, as MCP clients expect."""
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


class SessionManagerRunner:
    """Enter the SDK session manager exactly once per process, on the loop that serves requests.

    `StreamableHTTPSessionManager.run()` may be entered once per instance, and Mangum runs ASGI
    lifespan on every invocation, so lifespan is off and the context is entered here instead,
    inside a task parked on the event loop for the life of the container. Mangum reuses one
    loop across invocations, so the parked task (and the SDK task group it holds) survives
    between warm calls; under uvicorn it is simply the server's loop.
    """

    def __init__(self, session_manager: StreamableHTTPSessionManager) -> None:
        self._session_manager = session_manager
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def ensure_running(self) -> None:
        if self._ready is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            self._task = loop.create_task(self._park(self._ready), name="mcp-session-manager")
        await asyncio.shield(self._ready)

    async def _park(self, ready: asyncio.Future[None]) -> None:
        try:
            async with self._session_manager.run():
                ready.set_result(None)
                await asyncio.Event().wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body to the next app, then reports disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class McpEndpoint:
    """ASGI app for the MCP path: edge checks, then the SDK's streamable-HTTP transport."""

    def __init__(self, session_manager: StreamableHTTPSessionManager, settings: HttpSettings) -> None:
        self._session_manager = session_manager
        self._runner = SessionManagerRunner(session_manager)
        self._settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rejection, body = await self._check(scope, receive)
        if rejection is not None:
            await rejection(scope, receive, send)
            return
        await self._runner.ensure_running()
        await self._session_manager.handle_request(scope, replay(body), send)

    async def _check(self, scope: Scope, receive: Receive) -> tuple[Response | None, bytes]:
        request = Request(scope)
        if request.method != "POST":
            return (
                jsonrpc_error(
                    405,
                    INVALID_REQUEST,
                    "Method not allowed: this stateless MCP endpoint accepts POST only",
                    headers={"Allow": "POST"},
                ),
                b"",
            )
        origin = request.headers.get("origin")
        if origin is not None and origin not in self._settings.allowed_origins:
            return jsonrpc_error(403, INVALID_REQUEST, "Forbidden: origin not allowed"), b""
        limit = self._settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return self._too_large(limit), b""
        body = await read_body(receive, limit)
        if body is None:
            return self._too_large(limit), b""
        try:
            message = json.loads(body)
        except ValueError:
            return jsonrpc_error(400, PARSE_ERROR, "Parse error: the body must be one JSON-RPC object"), b""
        if isinstance(message, list):
            return jsonrpc_error(
                400, INVALID_REQUEST, "Invalid request: JSON-RPC batches are not supported"
            ), b""
        if not isinstance(message, dict):
            return jsonrpc_error(400, INVALID_REQUEST, "Invalid request: the body must be a JSON object"), b""
        return None, body

    @staticmethod
    def _too_large(limit: int) -> Response:
        return jsonrpc_error(413, INVALID_REQUEST, f"Request body too large: the limit is {limit} bytes")


async def health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(server: ScopedServer, settings: HttpSettings) -> Starlette:
    """The Starlette app for `server`: the MCP endpoint at `/mcp` and a health route."""
    # Builds the SDK session manager (stateless, JSON responses). The returned Starlette app is
    # not used: its lifespan would enter the session manager per Lambda invocation.
    server.mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        # API Gateway and custom domains set Host; Origin is checked by McpEndpoint instead.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    endpoint = McpEndpoint(server.mcp.session_manager, settings)
    routes = [
        Route(MCP_PATH, endpoint),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)
