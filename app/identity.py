"""Who is calling: the principal the HTTP layer attached to the request, read from a tool.

The authorizer has already verified the credential; the MCP Lambda only reads the result it
passed along in the API Gateway request context. The HTTP layer puts the parsed principal into
the ASGI scope under `PRINCIPAL_SCOPE_KEY`, and tools read it through their `Context`, so tool
code never touches Lambda event shapes.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

PRINCIPAL_SCOPE_KEY = "serverless_mcp.principal"


def request_scope(ctx: Context) -> dict[str, Any]:
    """The ASGI scope of the HTTP request behind this MCP request ({} off HTTP transports)."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, dict) else {}


def principal_summary(ctx: Context) -> dict[str, Any]:
    """A JSON-ready description of the caller; "anonymous" when no authorizer ran."""
    principal = request_scope(ctx).get(PRINCIPAL_SCOPE_KEY)
    if principal is None:
        return {"principal": "anonymous", "auth_method": None, "scopes": []}
    summary: dict[str, Any] = principal.summary()
    return summary
