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

Writing an event never fails and never raises, whatever a caller sent, because the MCP Lambda
writes it after the response went out: an exception then would leave the request with no
record at all.

- Every string is bounded: text fields (and the `message` built from them) at `MAX_TEXT`
  characters, argument names and values at `MAX_NAME`, at most `MAX_ITEMS` names, and the
  argument values at `MAX_VALUES` in all; a line stays under `MAX_LINE_BYTES` (CloudWatch Logs
  cuts longer log events, and a cut line no longer parses). A cut string ends in `…` and the
  event lists the cut fields in `truncated` (`arguments` when anything in it was cut, which
  also sets `arguments.truncated`), because a caller's own text may end in `…`.
- A lone surrogate (JSON may escape one, `"\\ud800"`, and `json.loads` keeps it) cannot be
  encoded as UTF-8, so Lambda's stdout would raise on it: it is written as U+FFFD.
- Should the write itself fail (stdout closed, a broken pipe), the failure is counted
  (`AuditTrail.write_failures`) and reported on stderr, which Lambda also sends to the log
  group: the audit line that could not be written, an `audit write failed` line, and an
  `AuditWriteFailures` EMF metric to alarm on.

Metrics go out as one CloudWatch Embedded Metric Format document per event, next to the audit
line: `Authorizations` (dimensions `decision`, `reason`; one per authorizer decision),
`ToolCalls` and `ToolErrors` (dimension `tool`; `tools/call` requests that reached the SDK, so a
call refused for scope is not counted), `TenantToolCalls` (dimension `tenant`, only with
`TENANT_METRICS=true`: one custom metric per tenant, see docs/tenants.md), and `Latency`
(dimension `source`); on stderr,
`AuditWriteFailures` (dimension `source`) for each event that could not be written.
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

SERVICE: Final = "serverless-mcp"
AUDIT_SCHEMA_VERSION: Final = 1
MAX_TEXT: Final = 256  # characters of any text field
MAX_NAME: Final = 64  # characters of an argument name, or of a string among argument values
MAX_ITEMS: Final = 50  # argument names; items of one list or object among argument values
MAX_VALUES: Final = 200  # items among the argument values, at all depths together
MAX_DEPTH: Final = 4  # nesting of argument values below the arguments object
MAX_LINE_BYTES: Final = 64 * 1024
CUT: Final = "…"  # ends a string that was cut
REDACTED: Final = "[REDACTED]"
NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ServerlessMcp"
# Off by default: each tenant becomes a custom metric of its own (docs/tenants.md).
TENANT_METRICS: Final = (os.environ.get("TENANT_METRICS") or "").strip().lower() in ("1", "true", "yes", "on")
_SENSITIVE_KEY: Final = re.compile(
    r"token|secret|password|passwd|authorization|credential|api[_-]?key|cookie", re.I
)
# Values that look like a credential whatever their key: an Authorization header value, a JWT
# (base64url JSON header and payload), an API key of this server.
_SENSITIVE_VALUE: Final = re.compile(
    r"\b(?:bearer|basic)\s+\S|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}|mcpk_[0-9a-f]{16}_", re.I
)
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")
# Built once: `json.dumps` with options builds a new encoder on every call.
_encode: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


Source = Literal["authorizer", "mcp", "oauth"]
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
    server: str | None = None
    target_kind: str | None = None
    target: str | None = None
    reason: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    arguments: dict[str, Any] | None = None

    def to_log(self) -> dict[str, Any]:
        """The event's fields in schema order, text cut to `MAX_TEXT`, and `truncated` if cut."""
        record: dict[str, Any] = {"event_type": "audit", "audit_version": AUDIT_SCHEMA_VERSION}
        truncated: list[str] = []
        # Not dataclasses.asdict, which deep-copies every value: this runs on every request.
        # The instance dict holds the fields in declaration order, the schema order.
        for name, value in vars(self).items():
            if value is None:
                continue
            if isinstance(value, str):
                if len(value) > MAX_TEXT:
                    value = value[:MAX_TEXT] + CUT
                    truncated.append(name)
            elif name == "arguments" and isinstance(value, dict) and value.get("truncated") is True:
                truncated.append(name)
            record[name] = value
        if truncated:
            record["truncated"] = truncated
        return record


class AuditTrail:
    """Writes each audit event as one line, and its metrics as one EMF document, to stdout.

    `stream` sends the audit lines elsewhere (tests capture them); listeners get every line as
    written, with its time (the local stack ships them to a CloudWatch Logs group). The lock
    keeps the two lines of one event together when threads emit at once.
    """

    def __init__(self, service: str, namespace: str, *, tenant_metrics: bool = False) -> None:
        self.service = service
        self.namespace = namespace
        self.tenant_metrics = tenant_metrics
        self.stream: TextIO | None = None  # None: `sys.stdout` as it is at write time
        self.write_failures = 0  # events whose line could not be written, since the process began
        self._listeners: list[Callable[[str, float], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Callable[[str, float], None]) -> Callable[[], None]:
        """Call `listener(line, epoch_seconds)` for every audit line; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: AuditEvent) -> None:
        """Write the event; never raises (a failed write is counted and reported instead)."""
        now = time.time()
        audit_line: str | None = None
        written = False
        try:
            audit_line, metrics = self._render(event, now)
            with self._lock:
                stream, stdout = self.stream or sys.stdout, sys.stdout
                if metrics is None:
                    stream.write(audit_line + "\n")
                    written = True
                elif stream is stdout:
                    stream.write(f"{audit_line}\n{metrics}\n")
                    written = True
                else:
                    stream.write(audit_line + "\n")
                    written = True
                    stdout.write(metrics + "\n")
                    stdout.flush()
                stream.flush()
            for listener in self._listeners:
                listener(audit_line, now)
        except Exception as error:  # the request is answered already: record the failure, go on
            self._report_failure(event, error, now, None if written else audit_line)

    def _render(self, event: AuditEvent, now: float) -> tuple[str, str | None]:
        """The audit line and its EMF document, both writable to any UTF-8 stream."""
        record = event.to_log()
        line: dict[str, Any] = {
            "level": "INFO",
            "message": f"audit {record['source']} {record.get('action', '')} {record['outcome']}",
            "timestamp": rfc3339_utc(now),
            "service": self.service,
            **record,
        }
        trace_header = os.environ.get("_X_AMZN_TRACE_ID")
        if trace_header:
            line["xray_trace_id"] = cut(trace_header.split(";")[0].replace("Root=", ""))
        audit_line = writable(_encode(line))
        # Text fields and names alone stay far below the limit; only argument values can pass it.
        values = (event.arguments or {}).get("values")
        if (
            isinstance(values, dict | list)
            and len(audit_line) * 4 > MAX_LINE_BYTES
            and len(audit_line.encode()) > MAX_LINE_BYTES
        ):
            arguments = {**(event.arguments or {}), "values": "[…]", "truncated": True}
            return self._render(replace(event, arguments=arguments), now)
        metrics = metrics_document(event, self.namespace, int(now * 1000), tenant_metrics=self.tenant_metrics)
        return audit_line, writable(metrics) if metrics is not None else None

    def _report_failure(self, event: AuditEvent, error: Exception, now: float, line: str | None) -> None:
        """Count a failed write; put the line, a notice and a metric on stderr if it works."""
        with self._lock:
            self.write_failures += 1
            notice = {
                "level": "ERROR",
                "message": "audit write failed",
                "timestamp": rfc3339_utc(now),
                "service": self.service,
                "error": type(error).__name__,  # never the message: it may quote the line
                "audit_write_failures": self.write_failures,
            }
            source = event.source if event.source in ("authorizer", "mcp", "oauth") else "unknown"
            directives = _directives_json(self.namespace, (_AUDIT_WRITE_FAILURES,))
            metric = (
                f'{{"_aws":{{"Timestamp":{int(now * 1000)},"CloudWatchMetrics":{directives}}},'
                f'"source":"{source}","AuditWriteFailures":[1]}}'
            )
            lines = [line, _encode(notice), metric] if line is not None else [_encode(notice), metric]
            try:
                sys.stderr.write("\n".join(lines) + "\n")
                sys.stderr.flush()
            except Exception:  # noqa: S110  # stderr is gone too: the counter is all that is left
                pass


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


trail = AuditTrail(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE,
    namespace=NAMESPACE,
    tenant_metrics=TENANT_METRICS,
)


def emit(event: AuditEvent) -> None:
    """Write the event as one JSON line and its metrics as one EMF document."""
    trail.emit(event)


def argument_summary(arguments: Any, *, include_values: bool = False) -> dict[str, Any]:
    """Names and size of tool arguments; values only when `include_values`, and then redacted.

    Names are cut to `MAX_NAME` characters, at most `MAX_ITEMS` of them (sorted first); values
    as `redact` bounds them. `truncated: true` says something was cut.
    """
    if not isinstance(arguments, dict):
        return {"names": [], "size_bytes": 0}
    names = sorted(str(name) for name in arguments)
    cut = len(names) > MAX_ITEMS
    kept = []
    for name in names[:MAX_ITEMS]:
        if len(name) > MAX_NAME:
            name, cut = name[:MAX_NAME] + CUT, True
        kept.append(name)
    summary: dict[str, Any] = {"names": kept}
    try:
        summary["size_bytes"] = len(json.dumps(arguments, separators=(",", ":"), default=str).encode())
    except (RecursionError, ValueError):  # nested past the interpreter's limit: unmeasurable
        cut = True
    if include_values:
        redactor = _Redactor()
        summary["values"] = redactor.redact(arguments, 0)
        cut = cut or redactor.cut
    if cut:
        summary["truncated"] = True
    return summary


def redact(value: Any, depth: int = 0) -> Any:
    """A copy safe to log: sensitive-looking keys masked, strings cut, nesting and size bounded."""
    return _Redactor().redact(value, depth)


class _Redactor:
    """One redaction: counts the items it keeps (at most `MAX_VALUES`) and notes any cut."""

    def __init__(self) -> None:
        self.budget = MAX_VALUES
        self.cut = False

    def redact(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.cut = True
            return "[…]"
        if isinstance(value, dict):
            return {
                self._text(str(k), MAX_NAME): REDACTED
                if _SENSITIVE_KEY.search(str(k))
                else self.redact(v, depth + 1)
                for k, v in self._items(list(value.items()))
            }
        if isinstance(value, list | tuple):
            return [self.redact(item, depth + 1) for item in self._items(list(value))]
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            # `json.loads` accepts NaN and Infinity; written as numbers they would break the line.
            return value if math.isfinite(value) else str(value)
        text = value if isinstance(value, str) else str(value)
        return REDACTED if _SENSITIVE_VALUE.search(text) else self._text(text, MAX_NAME)

    def _items(self, items: list[Any]) -> list[Any]:
        kept = items[: min(MAX_ITEMS, self.budget)]
        self.budget -= len(kept)
        if len(kept) < len(items):
            self.cut = True
        return kept

    def _text(self, text: str, limit: int) -> str:
        if len(text) <= limit:
            return text
        self.cut = True
        return text[:limit] + CUT


def writable(text: str) -> str:
    """`text` as any UTF-8 stream can write it: each lone surrogate becomes U+FFFD."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, or its first `limit` characters and `…` if it is longer."""
    return text if len(text) <= limit else text[:limit] + CUT


# One EMF directive: its dimension names, and its (metric name, unit) pairs.
_Directive = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
_AUTHORIZATIONS: Final[_Directive] = (("decision", "reason"), (("Authorizations", "Count"),))
_TOOL_CALLS: Final[_Directive] = (("tool",), (("ToolCalls", "Count"),))
_TOOL_CALLS_AND_ERRORS: Final[_Directive] = (("tool",), (("ToolCalls", "Count"), ("ToolErrors", "Count")))
_TENANT_TOOL_CALLS: Final[_Directive] = (("tenant",), (("TenantToolCalls", "Count"),))
_LATENCY: Final[_Directive] = (("source",), (("Latency", "Milliseconds"),))
_AUDIT_WRITE_FAILURES: Final[_Directive] = (("source",), (("AuditWriteFailures", "Count"),))


def metrics_document(
    event: AuditEvent, namespace: str, timestamp_ms: int, *, tenant_metrics: bool = False
) -> str | None:
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
        values.update(tool=cut(event.target, 64), ToolCalls=[1])
        if failed:
            values["ToolErrors"] = [1]
        if tenant_metrics and event.tenant:
            # A tenant is a validated id when multi-tenancy is on; cut anyway, like the tool name.
            directives.append(_TENANT_TOOL_CALLS)
            values.update(tenant=cut(event.tenant, 64), TenantToolCalls=[1])
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
