"""The audit trail: one event schema for both Lambdas, one JSON line per event on stdout.

The authorizer writes one event per decision, the MCP Lambda one per JSON-RPC request. Each is
one JSON line with the envelope of a Powertools Logger line (`level`, `message`, `timestamp`,
`service`, and `xray_trace_id` when tracing) followed by the fields of `AuditEvent` at the top
level, so CloudWatch metric filters and Logs Insights can select on them
(`event_type = "audit"`).

The line goes straight to stdout, which Lambda delivers to CloudWatch Logs, not through
`logging`: no log level or logging configuration can drop the audit trail, and the logging
machinery (record, caller lookup, handler lock, generic formatter) cost about 40 µs per line
here, a quarter of the JWT signature check the authorizer exists for.

What is never in an event: a token, an API key, a secret, the Authorization header, or a tool
argument value (argument names and sizes only, unless a tool opts in and `AUDIT_LOG_ARGUMENTS`
is true, and then with sensitive-looking keys and credential-shaped values redacted and long
strings cut).

Metrics go out as one CloudWatch Embedded Metric Format document per event, next to the audit
line: `Authorizations` (dimensions `decision`, `reason`; one per authorizer decision),
`ToolCalls` and `ToolErrors` (dimension `tool`; `tools/call` requests that reached the SDK, so a
call refused for scope is not counted), and `Latency` (dimension `source`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

SERVICE: Final = "serverless-mcp"
AUDIT_SCHEMA_VERSION: Final = 1
MAX_TEXT: Final = 256
REDACTED: Final = "[REDACTED]"
NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ServerlessMcp"
_SENSITIVE_KEY: Final = re.compile(
    r"token|secret|password|passwd|authorization|credential|api[_-]?key|cookie", re.I
)
# Values that look like a credential whatever their key: an Authorization header value, a JWT
# (base64url JSON header and payload), an API key of this server.
_SENSITIVE_VALUE: Final = re.compile(
    r"\b(?:bearer|basic)\s+\S|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}|mcpk_[0-9a-f]{16}_", re.I
)
# Built once: `json.dumps` with options builds a new encoder on every call.
_encode: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


Source = Literal["authorizer", "mcp"]
Outcome = Literal["allowed", "denied", "ok", "tool_error", "error", "server_error"]


@dataclass
class AuditEvent:
    """One audited decision or JSON-RPC request. Field order is the documented schema order.

    Not frozen: a frozen dataclass sets each of its 17 fields through `object.__setattr__`,
    which made building an event cost a fifth of writing it. Events are built, emitted and
    dropped; nothing keeps one to mutate.
    """

    source: Source
    action: str
    outcome: Outcome
    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    principal: str | None = None
    auth_method: str | None = None
    client_id: str | None = None
    key_id: str | None = None
    tenant: str | None = None
    target_kind: str | None = None
    target: str | None = None
    reason: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    arguments: dict[str, Any] | None = None

    def to_log(self) -> dict[str, Any]:
        record: dict[str, Any] = {"event_type": "audit", "audit_version": AUDIT_SCHEMA_VERSION}
        # Not dataclasses.asdict, which deep-copies every value: this runs on every request.
        # The instance dict holds the fields in declaration order, the schema order.
        for name, value in vars(self).items():
            if value is not None:
                record[name] = _cut(value) if isinstance(value, str) else value
        return record


class AuditTrail:
    """Writes each audit event as one line, and its metrics as one EMF document, to stdout.

    `stream` sends the audit lines elsewhere (tests capture them); listeners get every line as
    written, with its time (the local stack ships them to a CloudWatch Logs group). The lock
    keeps the two lines of one event together when threads emit at once.
    """

    def __init__(self, service: str, namespace: str) -> None:
        self.service = service
        self.namespace = namespace
        self.stream: TextIO | None = None  # None: `sys.stdout` as it is at write time
        self._listeners: list[Callable[[str, float], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Callable[[str, float], None]) -> Callable[[], None]:
        """Call `listener(line, epoch_seconds)` for every audit line; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: AuditEvent) -> None:
        now = time.time()
        line: dict[str, Any] = {
            "level": "INFO",
            "message": f"audit {event.source} {event.action} {event.outcome}",
            "timestamp": rfc3339_utc(now),
            "service": self.service,
            **event.to_log(),
        }
        trace_header = os.environ.get("_X_AMZN_TRACE_ID")
        if trace_header:
            line["xray_trace_id"] = trace_header.split(";")[0].replace("Root=", "")
        audit_line = _encode(line)
        metrics = metrics_document(event, self.namespace, int(now * 1000))
        with self._lock:
            stream, stdout = self.stream or sys.stdout, sys.stdout
            if metrics is None:
                stream.write(audit_line + "\n")
            elif stream is stdout:
                stream.write(f"{audit_line}\n{metrics}\n")
            else:
                stream.write(audit_line + "\n")
                stdout.write(metrics + "\n")
                stdout.flush()
            stream.flush()
        for listener in self._listeners:
            listener(audit_line, now)


def rfc3339_utc(epoch_seconds: float) -> str:
    """`2026-11-22T03:04:11.762+00:00`: the timestamp Powertools Logger writes (rfc3339, utc)."""
    whole = math.floor(epoch_seconds)
    microseconds = round((epoch_seconds - whole) * 1e6)  # as datetime rounds, then truncates
    if microseconds == 1_000_000:
        whole, microseconds = whole + 1, 0
    return f"{_utc_second(whole)}.{microseconds // 1000:03d}+00:00"


@functools.lru_cache(maxsize=4)
def _utc_second(epoch_second: int) -> str:
    # Formatting a datetime cost more than the rest of the envelope; events share seconds.
    return datetime.fromtimestamp(epoch_second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


trail = AuditTrail(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE, namespace=NAMESPACE)


def emit(event: AuditEvent) -> None:
    """Write the event as one JSON line and its metrics as one EMF document."""
    trail.emit(event)


def argument_summary(arguments: Any, *, include_values: bool = False) -> dict[str, Any]:
    """Names and size of tool arguments; values only when `include_values`, and then redacted."""
    if not isinstance(arguments, dict):
        return {"names": [], "size_bytes": 0}
    size = len(json.dumps(arguments, separators=(",", ":"), default=str).encode())
    summary: dict[str, Any] = {"names": sorted(str(name) for name in arguments)[:50], "size_bytes": size}
    if include_values:
        summary["values"] = redact(arguments)
    return summary


def redact(value: Any, depth: int = 0) -> Any:
    """A copy safe to log: sensitive-looking keys masked, strings cut, nesting bounded."""
    if depth > 4:
        return "[…]"
    if isinstance(value, dict):
        return {
            str(k): REDACTED if _SENSITIVE_KEY.search(str(k)) else redact(v, depth + 1)
            for k, v in list(value.items())[:50]
        }
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in list(value)[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return REDACTED if _SENSITIVE_VALUE.search(text) else _cut(text, 64)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# One EMF directive: its dimension names, and its (metric name, unit) pairs.
_Directive = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
_AUTHORIZATIONS: Final[_Directive] = (("decision", "reason"), (("Authorizations", "Count"),))
_TOOL_CALLS: Final[_Directive] = (("tool",), (("ToolCalls", "Count"),))
_TOOL_CALLS_AND_ERRORS: Final[_Directive] = (("tool",), (("ToolCalls", "Count"), ("ToolErrors", "Count")))
_LATENCY: Final[_Directive] = (("source",), (("Latency", "Milliseconds"),))


def metrics_document(event: AuditEvent, namespace: str, timestamp_ms: int) -> str | None:
    """The event's metrics as one CloudWatch Embedded Metric Format document, or None.

    The document Powertools Metrics writes (one `CloudWatchMetrics` directive per dimension set,
    dimension and metric values at the top level), built here because `single_metric` cost
    about 70 µs per metric: as much as the JWT signature check. The directives depend only on
    the kind of event, so their JSON is built once per kind.
    """
    directives: list[_Directive] = []
    values: dict[str, Any] = {}
    if event.source == "authorizer":
        directives.append(_AUTHORIZATIONS)
        values.update(decision=event.outcome, reason=event.reason or "none", Authorizations=[1])
    elif (
        event.target_kind == "tool"
        and event.target
        and event.action == "tools/call"
        and event.outcome != "denied"
    ):
        failed = event.outcome in ("tool_error", "server_error", "error")
        directives.append(_TOOL_CALLS_AND_ERRORS if failed else _TOOL_CALLS)
        values.update(tool=_cut(event.target, 64), ToolCalls=[1])
        if failed:
            values["ToolErrors"] = [1]
    if event.latency_ms is not None:
        directives.append(_LATENCY)
        values.update(source=event.source, Latency=[event.latency_ms])
    if not directives:
        return None
    cloudwatch_metrics = _directives_json(namespace, tuple(directives))
    aws = f'"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":{cloudwatch_metrics}}}'
    return f"{{{aws},{_encode(values)[1:-1]}}}"


@functools.lru_cache(maxsize=64)
def _directives_json(namespace: str, directives: tuple[_Directive, ...]) -> str:
    return _encode(
        [
            {
                "Namespace": namespace,
                "Dimensions": [list(dimension_names)],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics],
            }
            for dimension_names, metrics in directives
        ]
    )
