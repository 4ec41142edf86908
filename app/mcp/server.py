"""The MCP server: one `MCPServer` with every tool module registered on it."""

from __future__ import annotations

import importlib

from mcp.server import MCPServer

from app.core.servers import Server
from app.mcp.permissions import ScopedServer
from app.mcp.widgets import apps_extension
from app.servers import REGISTRY

SERVER_NAME = "serverless-mcp"
INSTRUCTIONS = (
    "Example MCP server running on AWS Lambda behind API Gateway. "
    "Tools you lack the scope for are hidden from tools/list."
)


def build_server(server_spec: Server | None = None) -> ScopedServer:
    """A fresh server with all its tools registered (tests build their own; Lambda builds one).

    `server_spec`: which registry entry (`app/servers/__init__.py`); the primary one by default.
    Its package's `register_all` registers the tools; its optional `NAME` and `INSTRUCTIONS`
    replace this module's defaults.

    `subscriptions=False`: every reply is one buffered JSON document, so there is no stream to
    deliver change notifications on. The SDK then serves no `subscriptions/listen` and, at
    2026-07-28, advertises no `listChanged` or `subscribe` capability it could not honour
    (`server/discover`); at 2025-11-25 (`initialize`) it advertises none by default. The edge
    refuses `subscriptions/listen` for any server (`app.mcp.asgi.UNSUPPORTED_METHODS`).

    The MCP Apps extension is declared (`app.mcp.widgets.apps_extension`); the widgets themselves
    come with their tools (`ScopedServer.tool(widget=...)`).
    """
    spec = server_spec or REGISTRY.primary
    package = importlib.import_module(spec.package)
    server = ScopedServer(
        MCPServer(
            getattr(package, "NAME", SERVER_NAME),
            instructions=getattr(package, "INSTRUCTIONS", INSTRUCTIONS),
            version="0.1.0",
            subscriptions=False,
            extensions=[apps_extension()],
        )
    )
    package.register_all(server)
    return server
