"""The MCP Lambda's audit trail: one event per JSON-RPC request, whatever became of it.

Every request goes through the real entry point (API Gateway event → Mangum → the app) with
its own API Gateway request id, so each test finds exactly the events of its own requests.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

import pytest
from mangum import Mangum
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from app.core.audit import REDACTED, AuditEvent, trail
from app.core.config import HttpSettings, SettingsSource, read_bool
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.permissions import ScopedServer
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import Generation, mcp_request, tool_call_params
from tests.conftest import LogCapture
from tests.unit.test_audit import metric_points

SCHEMA_ORDER = ["event_type", "audit_version", *(f.name for f in fields(AuditEvent))]
OUTCOMES = {"allowed", "denied", "ok", "tool_error", "error", "server_error"}
CONTEXT = {
    "principalId": "apikey:ci-bot",
    "principal": "apikey:ci-bot",
    "auth_method": "api_key",
    "scopes": "mcp/access",
    "key_id": "0123456789abcdef",
    "client_id": "ci-client",
    "tenant": "tenant-7",
}
BROWSER = "audit-test/1.0 (+https://example.com)"


def send(
    runtime: LambdaRuntime,
    request: tuple[dict[str, str], str] | None = None,
    *,
    fmt: EventFormat = "v1",
    method: str = "POST",
    context: Mapping[str, str] | None = CONTEXT,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Send one request; its HTTP status and the API Gateway request id it carried."""
    request_headers, body = request or mcp_request("tools/list")
    request_id = f"req-{uuid.uuid4()}"
    event = proxy_event(
        fmt,
        method,
        "/mcp",
        headers={**request_headers, "User-Agent": BROWSER, **(headers or {})},
        body=body,
        authorizer=dict(context) if context is not None else None,
        source_ip="203.0.113.7",
        request_id=request_id,
    )
    status, _, _ = response_from_lambda(runtime.invoke_sync(event))
    return status, request_id


def audit_of(logs: LogCapture, request_id: str) -> dict[str, Any]:
    """The one audit event of a request (fails if there are none or several)."""
    (audit,) = [a for a in logs.audits() if a.get("request_id") == request_id]
    return audit


def tool_call(name: str, arguments: dict[str, Any], **kwargs: Any) -> tuple[dict[str, str], str]:
    return mcp_request("tools/call", tool_call_params(name, arguments), **kwargs)


# --- the production server (the real handler module) -----------------------------------------


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_a_tool_call_is_one_event_with_every_documented_field(
    mcp_runtime: LambdaRuntime, logs: LogCapture, fmt: EventFormat
) -> None:
    status, request_id = send(mcp_runtime, tool_call("add", {"a": 2, "b": 40}), fmt=fmt)
    assert status == 200
    audit = audit_of(logs, request_id)
    timestamp, latency = audit.pop("timestamp"), audit.pop("latency_ms")
    assert {k: audit[k] for k in SCHEMA_ORDER if k in audit} == {
        "event_type": "audit",
        "audit_version": 1,
        "source": "mcp",
        "action": "tools/call",
        "outcome": "ok",
        "request_id": request_id,  # API Gateway's request id: the correlation id
        "source_ip": "203.0.113.7",
        "user_agent": BROWSER,
        "principal": "apikey:ci-bot",
        "auth_method": "api_key",
        "client_id": "ci-client",
        "key_id": "0123456789abcdef",
        "tenant": "tenant-7",
        "server": "main",
        "target_kind": "tool",
        "target": "add",
        "status": 200,
        "arguments": {"names": ["a", "b"], "size_bytes": len('{"a":2,"b":40}')},
    }
    assert datetime.fromisoformat(timestamp).tzinfo is not None
    assert isinstance(latency, float)
    assert latency >= 0
    keys = [k for k in audit if k in SCHEMA_ORDER]
    assert keys == sorted(keys, key=SCHEMA_ORDER.index)


@pytest.mark.parametrize(
    ("request_", "action", "target"),
    [
        (mcp_request("initialize"), "initialize", None),
        (mcp_request("tools/list"), "tools/list", None),
        (
            mcp_request("resources/read", {"uri": "info://server"}),
            "resources/read",
            ("resource", "info://server"),
        ),
        (
            mcp_request("prompts/get", {"name": "summarize", "arguments": {"text": "t"}}),
            "prompts/get",
            ("prompt", "summarize"),
        ),
        (mcp_request("tools/list", generation="2026-07-28"), "tools/list", None),
    ],
)
def test_the_action_is_the_json_rpc_method_and_the_target_its_item(
    mcp_runtime: LambdaRuntime,
    logs: LogCapture,
    request_: tuple[dict[str, str], str],
    action: str,
    target: tuple[str, str] | None,
) -> None:
    status, request_id = send(mcp_runtime, request_)
    audit = audit_of(logs, request_id)
    assert status == 200
    assert (audit["action"], audit["outcome"]) == (action, "ok")
    assert (audit.get("target_kind"), audit.get("target")) == (target or (None, None))
    assert "arguments" not in audit  # only tools/call carries an argument summary


def test_a_notification_is_one_ok_event(mcp_runtime: LambdaRuntime, logs: LogCapture) -> None:
    headers, _ = mcp_request("tools/list")
    body = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    status, request_id = send(mcp_runtime, (headers, body))
    assert status == 202
    audit = audit_of(logs, request_id)
    assert (audit["action"], audit["outcome"], audit["status"]) == ("notifications/initialized", "ok", 202)


def test_a_tool_error_is_recorded_and_the_argument_values_are_not(
    mcp_runtime: LambdaRuntime, logs: LogCapture
) -> None:
    marker = f"not-a-date-{uuid.uuid4().hex}"
    status, request_id = send(mcp_runtime, tool_call("days_between", {"start": marker, "end": "2026-01-01"}))
    assert status == 200
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["target"]) == ("tool_error", "days_between")
    assert audit["arguments"]["names"] == ["end", "start"]
    assert "values" not in audit["arguments"]
    assert marker not in logs.text()


NARROW = {**CONTEXT, "scopes": "mcp/access"}


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("no_authorizer_context", 401, "no_authorizer_context"),
        ("missing_base_scope", 403, "missing_scope"),
        ("tool_scope", 403, "insufficient_scope"),
        ("origin", 403, "origin_not_allowed"),
        ("batch", 400, "batch_not_supported"),
        ("get", 405, "method_not_allowed"),
        ("delete", 405, "method_not_allowed"),
        ("not_json", 400, "parse_error"),
        ("not_an_object", 400, "invalid_request"),
        ("too_large", 413, "body_too_large"),
    ],
)
def test_every_refusal_is_one_denied_event_with_its_reason(
    mcp_runtime: LambdaRuntime,
    logs: LogCapture,
    capfd: pytest.CaptureFixture[str],
    case: str,
    status: int,
    reason: str,
) -> None:
    headers, body = mcp_request("tools/list")
    kwargs: dict[str, Any] = {}
    request: tuple[dict[str, str], str] = (headers, body)
    if case == "no_authorizer_context":
        kwargs["context"] = None
    elif case == "missing_base_scope":
        kwargs["context"] = {**CONTEXT, "scopes": "mcp/profile"}
    elif case == "tool_scope":
        request = tool_call("whoami", {})
        kwargs["context"] = NARROW
    elif case == "origin":
        kwargs["headers"] = {"Origin": "https://evil.example"}
    elif case == "batch":
        request = (headers, json.dumps([json.loads(body), json.loads(body)]))
    elif case in ("get", "delete"):
        kwargs["method"] = case.upper()
    elif case == "not_json":
        request = (headers, "{not json")
    elif case == "not_an_object":
        request = (headers, '"tools/list"')
    elif case == "too_large":
        request = (headers, json.dumps({"padding": "x" * HttpSettings().max_body_bytes}))
    capfd.readouterr()
    got, request_id = send(mcp_runtime, request, **kwargs)
    assert got == status
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"], audit["status"]) == ("denied", reason, status)
    assert audit["source_ip"] == "203.0.113.7"
    if case == "no_authorizer_context":
        assert "principal" not in audit
    else:
        assert audit["principal"] == "apikey:ci-bot"
    if case in ("get", "delete"):
        assert audit["action"] == case.upper()
    if case == "tool_scope":
        assert (audit["action"], audit["target_kind"], audit["target"]) == ("tools/call", "tool", "whoami")
    # A refused call never ran: it is not counted as a tool call.
    assert not [p for p in metric_points(capfd.readouterr().out) if p[0] in ("ToolCalls", "ToolErrors")]


@pytest.mark.parametrize(
    ("request_", "headers", "status", "reason"),
    [
        (mcp_request("no/such/method"), {}, 200, "method_not_found"),
        (mcp_request("tools/call", {"arguments": {}}), {}, 200, "invalid_params"),
        # An unknown resource URI is refused at the edge now (test_authorization.py); an
        # unknown prompt is the SDK's -32602.
        (mcp_request("prompts/get", {"name": "no_such_prompt"}), {}, 200, "invalid_params"),
        (mcp_request("tools/list"), {"Accept": "text/html"}, 406, "http_406"),
    ],
)
def test_protocol_errors_caused_by_the_request_are_error_events(
    mcp_runtime: LambdaRuntime,
    logs: LogCapture,
    request_: tuple[dict[str, str], str],
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    got, request_id = send(mcp_runtime, request_, headers=headers)
    assert got == status
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"], audit["status"]) == ("error", reason, status)


def test_every_outcome_is_one_of_the_documented_values(mcp_runtime: LambdaRuntime, logs: LogCapture) -> None:
    send(mcp_runtime, tool_call("add", {"a": 1, "b": 1}))
    send(mcp_runtime, tool_call("whoami", {}), context=NARROW)
    send(mcp_runtime, mcp_request("no/such/method"))
    audits = logs.audits()
    assert len(audits) == 3
    assert {a["outcome"] for a in audits} <= OUTCOMES


def test_tool_metrics_count_calls_and_errors_by_tool_and_latency(
    mcp_runtime: LambdaRuntime, logs: LogCapture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    send(mcp_runtime, tool_call("add", {"a": 1, "b": 2}))
    send(mcp_runtime, tool_call("add", {"a": 3, "b": 4}))
    send(mcp_runtime, tool_call("days_between", {"start": "x", "end": "y"}))
    send(mcp_runtime, mcp_request("tools/list"))
    points = metric_points(capfd.readouterr().out)
    counted = [(name, dims["tool"]) for name, dims, _ in points if name in ("ToolCalls", "ToolErrors")]
    assert counted == [
        ("ToolCalls", "add"),
        ("ToolCalls", "add"),
        ("ToolCalls", "days_between"),
        ("ToolErrors", "days_between"),
    ]
    latency = [(dims, value) for name, dims, value in points if name == "Latency"]
    assert [dims for dims, _ in latency] == [{"source": "mcp"}] * 4
    assert [value for _, value in latency] == [a["latency_ms"] for a in logs.audits()]


def test_invented_tool_names_are_audited_but_never_become_metric_dimensions(
    mcp_runtime: LambdaRuntime, logs: LogCapture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    send(mcp_runtime, tool_call("invented-tool-123", {}))
    points = metric_points(capfd.readouterr().out)
    assert [name for name, _, _ in points if name in ("ToolCalls", "ToolErrors")] == []
    (event,) = logs.audits()
    assert event["target"] == "invented-tool-123"
    assert "target_kind" not in event


# --- a server of our own: argument logging opt-in, server errors -----------------------------

RuntimeFactory = Callable[[Mapping[str, str]], LambdaRuntime]


def build_server() -> ScopedServer:
    server = ScopedServer(MCPServer("audit-test"))

    @server.tool(audit_arguments=True)
    def sign_in(username: str, password: str, api_key: str = "", note: str = "", limit: int = 0) -> str:
        """Opted in to argument logging."""
        return "signed in"

    @server.tool()
    def lookup(username: str, password: str) -> str:
        """Not opted in."""
        return "found"

    @server.tool()
    def refuse() -> str:
        raise ToolError("refused on purpose")

    @server.resource("report://broken")
    def broken() -> str:
        raise RuntimeError("the report store is down")

    return server


@pytest.fixture
def runtime_with() -> Iterator[RuntimeFactory]:
    """Build the app as the handler module does, for our own server and environment."""
    runtimes: list[LambdaRuntime] = []

    def factory(overrides: Mapping[str, str]) -> LambdaRuntime:
        env = {**os.environ, **overrides}
        app = create_app(
            build_server(),
            SettingsSource(env=env),
            HttpSettings.from_env(env),
            log_arguments=read_bool(env, "AUDIT_LOG_ARGUMENTS", False),
        )
        runtimes.append(LambdaRuntime(Mangum(AuthorizerContext(app), lifespan="off")))
        return runtimes[-1]

    yield factory
    for runtime in runtimes:
        runtime.close()


SIGN_IN = {
    "username": "alice",
    "password": "hunter2-password-value",
    "api_key": "k-value-0123456789",
    "note": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
    "limit": 5,
}


def test_an_opted_in_tool_logs_redacted_values_when_the_switch_is_on(
    runtime_with: RuntimeFactory, logs: LogCapture
) -> None:
    runtime = runtime_with({"AUDIT_LOG_ARGUMENTS": "true"})
    status, request_id = send(runtime, tool_call("sign_in", SIGN_IN))
    assert status == 200
    arguments = audit_of(logs, request_id)["arguments"]
    assert arguments["names"] == ["api_key", "limit", "note", "password", "username"]
    assert arguments["values"] == {
        "username": "alice",
        "password": REDACTED,
        "api_key": REDACTED,
        "note": REDACTED,
        "limit": 5,
    }
    text = logs.text()
    for secret in ("hunter2-password-value", "k-value-0123456789", "eyJhbGciOiJSUzI1NiJ9"):
        assert secret not in text


@pytest.mark.parametrize(
    ("switch", "tool"),
    [("false", "sign_in"), ("", "sign_in"), ("true", "lookup")],
    ids=["switch-off", "switch-default", "tool-not-opted-in"],
)
def test_values_are_not_logged_without_both_the_switch_and_the_opt_in(
    runtime_with: RuntimeFactory, logs: LogCapture, switch: str, tool: str
) -> None:
    runtime = runtime_with({"AUDIT_LOG_ARGUMENTS": switch})
    arguments = {"username": "alice-the-user", "password": "hunter2-password-value"}
    status, request_id = send(runtime, tool_call(tool, arguments))
    assert status == 200
    summary = audit_of(logs, request_id)["arguments"]
    assert summary == {
        "names": ["password", "username"],
        "size_bytes": len(json.dumps(arguments).replace(" ", "")),
    }
    assert "alice-the-user" not in logs.text()


def test_tool_error_and_server_error_outcomes(runtime_with: RuntimeFactory, logs: LogCapture) -> None:
    runtime = runtime_with({})
    _, refused = send(runtime, tool_call("refuse", {}))
    _, broken = send(runtime, mcp_request("resources/read", {"uri": "report://broken"}))
    assert (audit_of(logs, refused)["outcome"], audit_of(logs, refused)["target"]) == ("tool_error", "refuse")
    audit = audit_of(logs, broken)
    assert (audit["outcome"], audit["reason"]) == ("server_error", "internal_error")
    assert (audit["target_kind"], audit["target"]) == ("resource", "report://broken")
    assert "the report store is down" not in json.dumps(audit)


# --- hostile input: every request still leaves one bounded record -----------------------------


class StrictLogs:
    """The audit lines as Lambda's stdout would take them: UTF-8, where errors are errors."""

    def __init__(self) -> None:
        self.stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n", write_through=True)

    def lines(self) -> list[str]:
        buffer = self.stream.buffer
        assert isinstance(buffer, io.BytesIO)
        return [line for line in buffer.getvalue().decode("utf-8").split("\n") if line]

    def audit_of(self, request_id: str) -> dict[str, Any]:
        (audit,) = [a for a in map(json.loads, self.lines()) if a.get("request_id") == request_id]
        assert isinstance(audit, dict)
        return audit


@pytest.fixture
def strict_logs() -> Iterator[StrictLogs]:
    logs = StrictLogs()
    previous, trail.stream = trail.stream, logs.stream
    try:
        yield logs
    finally:
        trail.stream = previous


@pytest.mark.parametrize(
    ("request_", "field", "expected"),
    [
        (tool_call("add", {"a": 1, "b": 2, "\ud800": 3}), "arguments", ["a", "b", "\ufffd"]),
        (tool_call("add\udfff", {}), "target", "add\ufffd"),
        (mcp_request("tools/\ud800list"), "action", "tools/\ufffdlist"),
        # An HTTP header cannot carry a surrogate: the Mcp-Method header names another method.
        (
            ({**mcp_request("tools/list", generation="2026-07-28")[0]}, mcp_request("tools/\ud800list")[1]),
            "action",
            "tools/\ufffdlist",
        ),
    ],
    ids=["argument-name", "tool-name", "method", "method-2026"],
)
def test_a_lone_surrogate_in_a_request_still_leaves_its_audit_record(
    mcp_runtime: LambdaRuntime,
    strict_logs: StrictLogs,
    request_: tuple[dict[str, str], str],
    field: str,
    expected: Any,
) -> None:
    # json.dumps escapes the surrogate ("\ud800"): valid JSON that json.loads turns back into one.
    assert "\\ud" in request_[1] or "\\ud" in json.dumps(request_[1])
    failures = trail.write_failures
    status, request_id = send(mcp_runtime, request_)
    assert status < 500
    audit = strict_logs.audit_of(request_id)
    assert (audit[field]["names"] if field == "arguments" else audit[field]) == expected
    assert trail.write_failures == failures


@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
def test_a_900_kb_method_name_leaves_a_bounded_record_and_a_bounded_error(
    mcp_runtime: LambdaRuntime, strict_logs: StrictLogs, generation: Generation
) -> None:
    method = "x/" + "m" * 900_000
    headers, body = mcp_request(method, generation=generation)
    request_id = f"req-{uuid.uuid4()}"
    event = proxy_event(
        "v1", "POST", "/mcp", headers=headers, body=body, authorizer=dict(CONTEXT), request_id=request_id
    )
    status, _, reply = response_from_lambda(mcp_runtime.invoke_sync(event))
    assert status in (200, 404)
    error = json.loads(reply)["error"]
    assert error["code"] == -32601
    assert len(reply) < 2048  # the method is echoed in `error.data`, cut
    (line,) = [line for line in strict_logs.lines() if request_id in line]
    audit = json.loads(line)
    assert len(line) < 4096
    assert audit["action"] == method[:256] + "…"
    assert audit["truncated"] == ["action"]
    assert len(audit["message"]) < 300


def test_an_audit_write_that_fails_does_not_fail_the_request_and_is_counted(
    mcp_runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    closed = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    closed.close()
    monkeypatch.setattr(trail, "stream", closed)
    failures = trail.write_failures
    capfd.readouterr()
    status, request_id = send(mcp_runtime, tool_call("add", {"a": 1, "b": 2}))
    assert status == 200
    assert trail.write_failures == failures + 1
    err = capfd.readouterr().err
    (audit,) = [json.loads(line) for line in err.splitlines() if request_id in line]
    assert (audit["action"], audit["outcome"]) == ("tools/call", "ok")
    assert '"AuditWriteFailures":[1]' in err
