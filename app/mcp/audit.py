"""One audit event per JSON-RPC request to the MCP Lambda.

`McpEndpoint` opens a `RequestAudit` when it has parsed a request and emits it when the
response is sent, whatever happened in between (rejected at the edge, refused for scope,
answered by the SDK). `OutcomeRecorder`, an SDK middleware, fills in what only the SDK knows:
whether a tool call ended as a tool error, or whether the handler failed.

Outcomes of an MCP request (reason codes in brackets):

- `ok`: answered normally (a JSON-RPC result, or 202 for a notification or response);
- `denied` (why): refused at the edge before the SDK ran it: `no_authorizer_context`,
  `credential_expired`, `missing_scope`, `insufficient_scope`, `method_not_allowed`,
  `origin_not_allowed`, `body_too_large`, `parse_error` (not JSON, or not strict UTF-8),
  `nesting_too_deep`, `batch_not_supported`, `invalid_request`, `header_mismatch`,
  `unknown_resource`, `method_not_supported` (`subscriptions/listen`);
- `tool_error`: a `tools/call` answered with `isError: true` (a `ToolError`, bad arguments, an
  unknown tool, or a tool that crashed: the SDK turns all of these into tool results);
- `error` (why): the SDK answered with a protocol error the request caused: a JSON-RPC error
  (`method_not_found`, `invalid_params`, ...) or a transport 4xx (`http_406`, ...);
- `server_error` (why): the server failed: a JSON-RPC internal error (`internal_error`), an
  unexpected exception (its class name), or an HTTP 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from app.auth.principal import Principal
from app.core.audit import AuditEvent, Outcome, argument_summary, emit
from app.core.identity import Caller

AUDIT_KEY: Final = "serverless_mcp.audit"
INTERNAL_ERROR: Final = -32603
JSONRPC_REASONS: Final = {
    -32700: "parse_error",
    -32600: "invalid_request",
    -32601: "method_not_found",
    -32602: "invalid_params",
    INTERNAL_ERROR: "internal_error",
}


@dataclass
class RequestAudit:
    """What is known about one MCP request so far; mutable while the request is served."""

    caller: Caller
    principal: Principal | None = None
    server: str | None = None
    action: str = "unknown"
    target_kind: str | None = None
    target: str | None = None
    arguments: dict[str, Any] | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def describe(
        self,
        message: Mapping[str, Any],
        target: tuple[str, str] | None,
        log_values: bool,
        registered: bool = True,
    ) -> None:
        """Record what the request asks for; an unregistered tool keeps its name but no kind.

        `ToolCalls`/`ToolErrors` metrics are emitted per tool only for `target_kind = "tool"`,
        so a caller inventing tool names cannot create new metric dimensions.
        """
        method = message.get("method")
        self.action = (
            method if isinstance(method, str) else ("response" if "result" in message else "unknown")
        )
        if target is not None:
            self.target_kind, self.target = target if registered else (None, target[1])
        params = message.get("params")
        if self.action == "tools/call" and isinstance(params, dict):
            self.arguments = argument_summary(params.get("arguments"), include_values=log_values)

    def refuse(self, reason: str) -> None:
        self.outcome, self.reason = "denied", reason

    def emit(self, status: int) -> None:
        outcome: Outcome = self.outcome or (
            "ok" if status < 400 else "server_error" if status >= 500 else "error"
        )
        reason = self.reason if self.outcome else (f"http_{status}" if status >= 400 else None)
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
                server=self.server,
                target_kind=self.target_kind,
                target=self.target,
                reason=reason,
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
                audit.outcome, audit.reason = classify(error)
            raise
        if audit is not None and _is_tool_error(result):
            audit.outcome = "tool_error"
        return result


def classify(error: Exception) -> tuple[Outcome, str]:
    """The outcome and reason code of an exception raised through the SDK's handlers."""
    if isinstance(error, MCPError):
        reason = JSONRPC_REASONS.get(error.code, f"jsonrpc_{error.code}")
        return ("server_error" if error.code == INTERNAL_ERROR else "error"), reason
    if isinstance(error, ValidationError):  # request params that do not fit the method's schema
        return "error", "invalid_params"
    return "server_error", type(error).__name__


def _is_tool_error(result: Any) -> bool:
    if isinstance(result, dict):
        return result.get("isError") is True
    return getattr(result, "is_error", None) is True
