"""The MCP servers this stack serves: one line per server, the primary one first.

Adding a server is one folder plus one line: create `app/servers/<name>/__init__.py` with a
`register_all(server: ScopedServer)` function (optionally `NAME` and `INSTRUCTIONS`), and list
it here (`mcp-lambda new-server <name>` does both). The first server is served at `/mcp`, every
other one at `/<name>/mcp`, each by its own Lambda function with its own resource URL, metadata
and scopes (docs/servers.md).
"""

from __future__ import annotations

from app.core.servers import Registry, ServerSpec

SERVERS: tuple[ServerSpec, ...] = (
    ServerSpec("main", "app.tools"),  # the primary server, at /mcp
    ServerSpec("research", "app.servers.research"),  # a second example server, at /research/mcp
)

REGISTRY = Registry(SERVERS)  # validated at import: a bad line stops here, naming the entry
