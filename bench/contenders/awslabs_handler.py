"""`awslabs-mcp-lambda-handler`: AWS Labs' dependency-light MCP handler, stateless (no session store).

It implements the JSON-RPC methods itself (no `mcp` SDK, no ASGI), so it is close to the floor
by construction; it also answers only the 2024-11-05 protocol and has no auth or scopes.
The package is installed only in its own virtualenv, hence the import through importlib (the
project's type checker cannot see it).
"""

from __future__ import annotations

import importlib
from typing import Any

_module: Any = importlib.import_module("awslabs.mcp_lambda_handler")
mcp_server: Any = _module.MCPLambdaHandler(name="awslabs-mcp-lambda-handler", version="1.0.0")


@mcp_server.tool()  # type: ignore[untyped-decorator]
def add(a: float, b: float) -> float:
    """Add two numbers and return the sum."""
    return a + b


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = mcp_server.handle_request(event, context)
    return response
