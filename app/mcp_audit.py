"""One audit event per JSON-RPC request to the MCP Lambda.

`McpEndpoint` opens a `RequestAudit` when it has parsed a request and emits it when the
response is sent, whatever happened in between (rejected at the edge, refused for scope,
answered by the SDK). `OutcomeRecorder`, an SDK middleware, fills in what only the SDK knows:
whether a tool call ended as a tool error, or whether the handler failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from app.audit import AuditEvent, Outcome, argument_summary, emit
from app.auth.principal import Principal
from app.identity import Caller

AUDIT_KEY: Final = "serverless_mcp.audit"


@dataclass
class RequestAudit:
    """What is known about one MCP request so far; mutable while the request is served."""

    caller: Caller
    principal: Principal | None = None
    action: str = "unknown"
    target_kind: str | None = None
    target: str | None = None
    arguments: dict[str, Any] | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def describe(self, message: Mapping[str, Any], target: tuple[str, str] | None, log_values: bool) -> None:
        method = message.get("method")
        self.action = (
            method if isinstance(method, str) else ("response" if "result" in message else "unknown")
        )
        if target is not None:
            self.target_kind, self.target = target
        params = message.get("params")
        if self.action == "tools/call" and isinstance(params, dict):
            self.arguments = argument_summary(params.get("arguments"), include_values=log_values)

    def refuse(self, reason: str) -> None:
        self.outcome, self.reason = "denied", reason

    def emit(self, status: int) -> None:
        outcome: Outcome = self.outcome or (
            "ok" if status < 400 else "server_error" if status >= 500 else "error"
        )
        principal = self.principal
        emit(
            AuditEvent(
                source="mcp",
                action=self.action,
                outcome=outcome,
                request_id=self.caller.request_id,
                source_ip=self.caller.source_ip,
                user_agent=self.caller.user_agent,
                principal=principal.subject if principal else None,
                auth_method=principal.auth_method if principal else None,
                client_id=principal.client_id if principal else None,
                key_id=principal.key_id if principal else None,
                tenant=principal.tenant if principal else None,
                target_kind=self.target_kind,
                target=self.target,
                reason=self.reason,
                status=status,
                latency_ms=round((time.perf_counter() - self.started) * 1000, 3),
                arguments=self.arguments,
            )
        )


class OutcomeRecorder:
    """SDK middleware: records a tool error or a failed handler on the request's audit."""

    def __init__(self, audit_of: Callable[[Any], RequestAudit | None]) -> None:
        self._audit_of = audit_of

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        audit = self._audit_of(ctx)
        try:
            result = await call_next(ctx)
        except Exception as error:
            if audit is not None:
                audit.outcome, audit.reason = "error", type(error).__name__
            raise
        if audit is not None and isinstance(result, dict) and result.get("isError") is True:
            audit.outcome = "tool_error"
        return result
