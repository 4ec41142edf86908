"""The authorizer's decision logic alone: `Gatekeeper.decide` on the event's Authorization header.

Not an MCP contender. It measures what the authorizer adds to a raw `jwt.decode` to reach a
decision (settings, header parsing, algorithm and key choice, claim, audience and scope
checks, principal), without the event translation, the policy document and the audit line
that the handler adds around it (those are the handler rows). Same events, same environment
and same warm JWKS as the handler.
"""

from __future__ import annotations

from typing import Any

from app.authorizer.handler import AuthorizerRequest, gatekeeper


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # As the handler reads it: the routing headers only when decisions are per tool.
    request = AuthorizerRequest.from_event(event, per_tool=gatekeeper.tool_scopes() is not None)
    decision = gatekeeper.decide(request.authorization, request.target, request.path)
    if decision.principal is None:
        raise RuntimeError("Unauthorized")
    return {"sub": "bench-user" if decision.allowed else "", "principal": decision.principal.subject}
