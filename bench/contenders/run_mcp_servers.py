"""`run-mcp-servers-with-aws-lambda`: a stdio MCP server wrapped by the package's REST (v1) handler.

This is the package's documented use: `APIGatewayProxyEventHandler` around a
`StdioServerAdapterRequestHandler`, which starts the MCP server as a child process for EVERY
request, initializes a client session with it and forwards the call. The child process is
this same file run as a script: a `mcp` 1.x `FastMCP` server with the same `add` tool
(the package pins `mcp` below 2 through its dependencies).

Installed only in its own virtualenv with `mcp` 1.x, hence the imports through importlib (the
project's type checker sees `mcp` 2.3, whose API differs).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def add(a: float, b: float) -> float:
    """Add two numbers and return the sum."""
    return a + b


def serve_stdio() -> None:
    """The child process: a stdio MCP server with the `add` tool."""
    fastmcp: Any = importlib.import_module("mcp.server.fastmcp")
    server = fastmcp.FastMCP("run-mcp-servers-add")
    server.tool()(add)
    server.run()


def _build() -> Any:
    stdio: Any = importlib.import_module("mcp.client.stdio")
    mcp_lambda: Any = importlib.import_module("mcp_lambda")
    params = stdio.StdioServerParameters(command=sys.executable, args=["-P", __file__])
    return mcp_lambda.APIGatewayProxyEventHandler(mcp_lambda.StdioServerAdapterRequestHandler(params))


# Run as a script, this file is the child MCP server; imported, it is the Lambda handler.
_handler: Any = None if __name__ == "__main__" else _build()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = _handler.handle(event, context)
    return response


if __name__ == "__main__":
    serve_stdio()
