"""The MCP server: one `MCPServer` with every tool module registered on it."""

from __future__ import annotations

from mcp.server import MCPServer

from app.permissions import ScopedServer
from app.tools import register_all

SERVER_NAME = "serverless-mcp"
INSTRUCTIONS = (
    "Example MCP server running on AWS Lambda behind API Gateway. "
    "Tools you lack the scope for are hidden from tools/list."
)


def build_server() -> ScopedServer:
    """A fresh server with all tools registered (tests build their own; Lambda builds one)."""
    server = ScopedServer(MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version="0.1.0"))
    register_all(server)
    return server
