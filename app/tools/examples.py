"""Example tools, one resource and one prompt: copy one of these to start your own.

- `add`: a pure function; the SDK derives the input schema from the type hints.
- `whoami`: reads the caller's identity, as established by the authorizer.
- `days_between`: validates its input and answers a clear tool error (`isError: true`) the
  model can read and correct, instead of crashing.
- `server-info` resource and `summarize` prompt: the other two MCP primitives.
- `identity://caller/{field}`: a resource TEMPLATE with a scope. Every URI it matches needs
  `mcp/profile`, exactly like `whoami`; a field it does not know is an unknown resource.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError

from app.core.identity import principal_summary
from app.mcp.permissions import ScopedServer

PROFILE_SCOPE = "mcp/profile"


def register(server: ScopedServer) -> None:
    """Register the example tools, resource and prompt on `server`."""

    @server.tool(title="Add two numbers")
    def add(a: float, b: float) -> float:
        """Add two numbers and return the sum."""
        return a + b

    @server.tool(title="Who am I", scopes=[PROFILE_SCOPE])
    def whoami(ctx: Context) -> dict[str, Any]:
        """Return the identity this server sees for the caller: principal, auth method, scopes."""
        return principal_summary(ctx)

    @server.tool(title="Days between two dates")
    def days_between(start: str, end: str) -> int:
        """Count the days from `start` to `end` (ISO 8601 dates, e.g. 2026-01-31)."""
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            # A ToolError becomes `isError: true` with this text: the model can fix its input.
            # The message does not echo the input: argument values stay out of the logs.
            raise ToolError("start and end must be ISO 8601 dates, like 2026-01-31") from None
        return (last - first).days

    @server.resource("info://server", name="server-info", mime_type="application/json")
    def server_info() -> dict[str, Any]:
        """What this server is and how it is protected."""
        return {
            "name": server.mcp.name,
            "transport": "streamable-http (stateless, JSON responses)",
            "auth": "OAuth 2.1 bearer tokens or API keys, validated by the API Gateway authorizer",
        }

    @server.resource(
        "identity://caller/{field}", name="caller-identity", mime_type="text/plain", scopes=[PROFILE_SCOPE]
    )
    def caller_identity(field: str, ctx: Context) -> str:
        """One field of the caller's identity: principal, auth_method, scopes, client_id, key_id, tenant."""
        summary = principal_summary(ctx)
        if field not in summary:
            # Answered as -32602 "unknown resource": the URI names nothing this template serves.
            raise ResourceNotFoundError(
                "Unknown resource: identity://caller/ knows only " + ", ".join(summary)
            )
        value = summary[field]
        return " ".join(value) if isinstance(value, list) else str(value or "")

    @server.prompt(title="Summarize a text")
    def summarize(text: str, audience: str = "a busy engineer") -> str:
        """Ask the model for a short summary of `text` for `audience`."""
        return f"Summarize the following for {audience} in three bullet points:\n\n{text}"
