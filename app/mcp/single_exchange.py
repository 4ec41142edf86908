"""Handshake-era stateless requests served in one exchange, through the SDK's own kernel.

In stateless JSON mode, the SDK's handshake-era transport builds, for every POST, a transport
object, memory streams, a JSON-RPC dispatcher and a server task, then tears them down: most
of a warm invocation's time. The SDK's own 2026-07-28 entry shows the lighter shape for the
same job: one request, one `serve_one` call (the SDK's single-exchange driver, with the full
middleware chain and handlers), one reply. This module applies that shape to handshake-era
requests, and only where the result is the same as the SDK transport's:

- a POST whose body is a single JSON-RPC request (an `id` and a `method`), whose
  `MCP-Protocol-Version` header is absent or a handshake-era version, that accepts
  `application/json` and declares it as its Content-Type;
- anything else (a notification, a response, a malformed envelope, a modern version, a
  missing Accept or Content-Type) goes to the SDK transport unchanged, which answers it.

The reply is what the SDK's dispatcher writes: the result, or `MCPError` and validation
failures as their JSON-RPC errors; any other exception becomes a generic internal error
(the SDK's handshake-era path would put the exception text on the wire).

On both paths the strings of a JSON-RPC error are cut to `MAX_ECHO` characters (`serve` here,
`bounding_errors` around the SDK transport): SDK errors quote the caller (`Method not found`
carries the method in `data`, `Unknown resource` the URI in its message), and a 900 KB method
name came back as a 900 KB error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
from mcp.server.connection import Connection
from mcp.server.runner import serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp.shared.message import MessageMetadata, ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import DEFAULT_NEGOTIATED_VERSION, INTERNAL_ERROR, ErrorData, RequestId
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Send

from app.core.audit import cut

log = logging.getLogger(__name__)

MAX_ECHO: Final = 256  # characters of any string in a JSON-RPC error object

_HANDSHAKE_VERSIONS: Final = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)


@dataclass
class SingleExchangeContext:
    """A `DispatchContext` for one HTTP request with no back-channel (stateless, JSON replies).

    Server-to-client requests are impossible without a session, and a JSON reply has no room
    for notifications, so both are refused or dropped, as the SDK's stateless JSON mode does.
    """

    transport: TransportContext
    request_id: RequestId
    message_metadata: MessageMetadata
    cancel_requested: anyio.Event = field(default_factory=anyio.Event)
    can_send_request: bool = field(default=False, init=False)

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> None:
        return None

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        return None


def eligible_version(request: Request) -> str | None:
    """The handshake-era version this request runs at, or None if the SDK transport must serve it."""
    header = request.headers.get("mcp-protocol-version")
    if header is None:
        return DEFAULT_NEGOTIATED_VERSION
    return header if header in _HANDSHAKE_VERSIONS else None


def is_single_request(message: Mapping[str, Any]) -> bool:
    request_id = message.get("id")
    return (
        message.get("jsonrpc") == "2.0"
        and isinstance(message.get("method"), str)
        and isinstance(request_id, str | int)
        and not isinstance(request_id, bool)
        and (message.get("params") is None or isinstance(message.get("params"), dict))
    )


def accepts_json(request: Request) -> bool:
    has_json, _ = check_accept_headers(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return has_json and content_type == "application/json"


async def serve(
    session_manager: StreamableHTTPSessionManager,
    request: Request,
    message: Mapping[str, Any],
    protocol_version: str,
) -> Response:
    """Run one request through the SDK kernel and return its JSON-RPC reply."""
    request_id: RequestId = message["id"]
    params = message.get("params")
    dctx = SingleExchangeContext(
        transport=TransportContext(kind="streamable-http", can_send_request=False, headers=request.headers),
        request_id=request_id,
        message_metadata=ServerMessageMetadata(request_context=request),
    )
    connection = Connection.from_envelope(protocol_version, None, None)
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    try:
        reply["result"] = await serve_one(
            session_manager.app,
            dctx,
            message["method"],
            params,
            connection=connection,
            # The state of the server lifespan the session manager entered once per container.
            lifespan_state=session_manager._lifespan_state,
        )
    except Exception as error:
        data = handler_exception_to_error_data(error)
        if data is None:
            log.exception("MCP handler for %r failed", message["method"])
            data = ErrorData(code=INTERNAL_ERROR, message="Internal error")
        reply["error"] = bounded(data.model_dump(mode="json", by_alias=True, exclude_none=True))
    return Response(json.dumps(reply, separators=(",", ":")), media_type="application/json")


def bounded(value: Any) -> Any:
    """`value` (a JSON-RPC error object) with every string in it cut to `MAX_ECHO` characters."""
    if isinstance(value, str):
        return cut(value, MAX_ECHO)
    if isinstance(value, dict):
        return {key: bounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [bounded(item) for item in value]
    return value


def bounding_errors(send: Send) -> Send:
    """`send` for the SDK transport's reply, with the strings of a JSON-RPC error cut as `serve` does.

    Holds the response start until the body: a body whose error is cut changes length. Only a
    complete JSON body longer than `MAX_ECHO` that mentions an error is parsed at all; a stream
    (an SSE reply, sent in parts) passes through as it is.
    """
    held: Message | None = None

    async def bounded_send(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            held = message
            return
        start, held = held, None
        if start is not None and message["type"] == "http.response.body" and not message.get("more_body"):
            body = _bounded_error_body(message.get("body", b""))
            if body is not None:
                headers = [
                    (name, str(len(body)).encode() if name.lower() == b"content-length" else value)
                    for name, value in start.get("headers", [])
                ]
                start, message = {**start, "headers": headers}, {**message, "body": body}
        if start is not None:
            await send(start)
        await send(message)

    return bounded_send


def _bounded_error_body(body: bytes) -> bytes | None:
    """The body with its JSON-RPC error's strings cut, or None if there is nothing to cut."""
    if len(body) <= MAX_ECHO or b'"error"' not in body:
        return None
    try:
        reply = json.loads(body)
    except ValueError:
        return None
    error = reply.get("error") if isinstance(reply, dict) else None
    if not isinstance(error, dict):
        return None
    cut_error = bounded(error)
    if cut_error == error:
        return None
    return json.dumps({**reply, "error": cut_error}, separators=(",", ":")).encode()
