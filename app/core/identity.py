"""Who is calling and from where: what the Lambda entry point puts into the ASGI scope.

The authorizer has already verified the credential; the MCP Lambda's entry point reads the
result from the API Gateway request context and stores a `Principal` (and a `Caller` with
the request id, source IP and user agent) in the ASGI scope. Everything behind it, tools
included, reads them from there and never touches Lambda event shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mcp.server.mcpserver import Context

from app.auth.principal import Principal

PRINCIPAL_KEY: Final = "serverless_mcp.principal"
CALLER_KEY: Final = "serverless_mcp.caller"


@dataclass(frozen=True)
class Caller:
    """Where a request came from, for the audit trail (API Gateway's request id correlates)."""

    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


def principal_of(scope: Mapping[str, Any]) -> Principal | None:
    principal = scope.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else None


def caller_of(scope: Mapping[str, Any]) -> Caller:
    caller = scope.get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else Caller()


def scope_of(request: object) -> Mapping[str, Any]:
    """The ASGI scope of an SDK request object ({} off HTTP transports, where there is none)."""
    scope = getattr(request, "scope", None)
    return scope if isinstance(scope, Mapping) else {}


def request_scope(ctx: Context) -> Mapping[str, Any]:
    """The ASGI scope of the HTTP request behind this tool, resource or prompt call."""
    return scope_of(ctx.request_context.request)


def current_principal(ctx: Context) -> Principal | None:
    """The verified caller of the current tool, resource or prompt call."""
    return principal_of(request_scope(ctx))


def principal_summary(ctx: Context) -> dict[str, Any]:
    """A JSON-ready description of the caller (never a credential)."""
    principal = current_principal(ctx)
    if principal is None:  # only reachable off the HTTP entry point, e.g. an in-process test
        return {"principal": "anonymous", "auth_method": None, "scopes": []}
    return principal.summary()
