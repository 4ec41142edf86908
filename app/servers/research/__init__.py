"""A second example server, served at `/research/mcp` by its own function with its own scope.

It shows what a server of its own buys: a client signed in for the primary server (`/mcp`)
can't call these tools with that token (its audience names the other server), and an API key
calls it only if the key names it (`keys create --server research`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.servers.research import glossary

if TYPE_CHECKING:
    from app.mcp.permissions import ScopedServer

NAME = "serverless-mcp-research"
INSTRUCTIONS = (
    "Research helpers: look up terms of the MCP and OAuth specifications this template follows. "
    "Runs on its own AWS Lambda function behind the same API Gateway and authorizer as the main server."
)


def register_all(server: ScopedServer) -> None:
    """Register the research server's tools and resources on `server`."""
    glossary.register(server)
