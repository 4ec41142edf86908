"""The MCP server: one `MCPServer` with every tool module registered on it."""

from __future__ import annotations

from mcp.server import MCPServer

from app.mcp.permissions import ScopedServer
from app.mcp.widgets import apps_extension
from app.tools import register_all

SERVER_NAME = "serverless-mcp"
INSTRUCTIONS = (
    "Example MCP server running on AWS Lambda behind API Gateway. "
    "Tools you lack the scope for are hidden from tools/list."
)


def build_server() -> ScopedServer:
    """A fresh server with all tools registered (tests build their own; Lambda builds one).

    `subscriptions=False`: every reply is one buffered JSON document, so there is no stream to
    deliver change notifications on. The SDK then serves no `subscriptions/listen` and, at
    2026-07-28, advertises no `listChanged` or `subscribe` capability it could not honour
    (`server/discover`); at 2025-11-25 (`initialize`) it advertises none by default. The edge
    refuses `subscriptions/listen` for any server (`app.mcp.asgi.UNSUPPORTED_METHODS`).

    The MCP Apps extension is declared (`app.mcp.widgets.apps_extension`); the widgets themselves
    come with their tools (`ScopedServer.tool(widget=...)`).
    """
    server = ScopedServer(
        MCPServer(
            SERVER_NAME,
            instructions=INSTRUCTIONS,
            version="0.1.0",
            subscriptions=False,
            extensions=[apps_extension()],
        )
    )
    register_all(server)
    return server
