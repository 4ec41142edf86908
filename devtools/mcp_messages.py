"""JSON-RPC messages and HTTP headers for MCP requests, as the official client sends them.

Two protocol generations share one endpoint: the handshake era (initialize, then requests
carrying `MCP-Protocol-Version`) and 2026-07-28 (no initialize; every request carries the
version and client capabilities in `params._meta` and names its method in headers).
"""

from __future__ import annotations

import json
from typing import Any, Literal

Generation = Literal["2025-11-25", "2026-07-28"]
HANDSHAKE_VERSION: Generation = "2025-11-25"
MODERN_VERSION: Generation = "2026-07-28"

BASE_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def jsonrpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        message["id"] = request_id
    if params is not None:
        message["params"] = params
    return message


def initialize_request(request_id: int = 1) -> dict[str, Any]:
    return jsonrpc(
        "initialize",
        {
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "serverless-mcp-devtools", "version": "0.1.0"},
        },
        request_id,
    )


def mcp_request(
    method: str,
    params: dict[str, Any] | None = None,
    *,
    generation: Generation = HANDSHAKE_VERSION,
    request_id: int = 1,
) -> tuple[dict[str, str], str]:
    """Headers and body for one MCP request in the given protocol generation."""
    headers = dict(BASE_HEADERS)
    if method == "initialize":
        return headers, json.dumps(initialize_request(request_id))
    headers["MCP-Protocol-Version"] = generation
    body_params = dict(params or {})
    if generation == MODERN_VERSION:
        headers["Mcp-Method"] = method
        name = body_params.get("name") or body_params.get("uri")
        if isinstance(name, str):
            headers["Mcp-Name"] = name
        body_params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
            "io.modelcontextprotocol/clientInfo": {"name": "serverless-mcp-devtools", "version": "0.1.0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    return headers, json.dumps(jsonrpc(method, body_params or None, request_id))


def tool_call_params(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments}
