"""The audit events of a real flow, shipped to a (moto) CloudWatch Logs group and read back.

Both handlers run as in production: the authorizer decides on the Authorization header and an
allowed request reaches the MCP handler with the authorizer context and the SAME API Gateway
request id. What they write is put into a log stream the way Lambda does (one log event per
line, in time order), then read back with `get_log_events` and `filter_log_events` and checked
against the documented schema.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper
from app.core.audit import AuditEvent
from app.core.config import SettingsSource
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event, rest_v1_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef
from tests.conftest import TEST_ISSUER, TEST_MCP_URL, LogCapture

GROUP = "/serverless-mcp/test/audit"
STREAM = "2026/11/22/[$LATEST]0123456789abcdef"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ENVELOPE = {"level", "message", "timestamp", "service", "xray_trace_id"}  # app/core/audit.py writes these
SCHEMA = {"event_type", "audit_version", *(f.name for f in fields(AuditEvent))}
REQUIRED = {
    "timestamp",
    "level",
    "message",
    "service",
    "event_type",
    "audit_version",
    "source",
    "action",
    "outcome",
    "request_id",
    "source_ip",
    "user_agent",
    "status",
    "latency_ms",
}
OUTCOMES = {"allowed", "denied", "ok", "tool_error", "error", "server_error"}
TEXT_FIELDS = (
    "source",
    "action",
    "outcome",
    "request_id",
    "source_ip",
    "user_agent",
    "principal",
    "auth_method",
    "client_id",
    "key_id",
    "tenant",
    "target_kind",
    "target",
    "reason",
)


@pytest.fixture
def gateway(
    monkeypatch: pytest.MonkeyPatch, mcp_handler_runtime: LambdaRuntime
) -> tuple[DevIssuer, LambdaRuntime]:
    """The authorizer (JWKS served in-process) and the real MCP handler in a warm runtime."""
    issuer = DevIssuer(TEST_ISSUER)
    keeper = Gatekeeper(SettingsSource(), fetch_json=issuer.fetch_json)
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    return issuer, mcp_handler_runtime


def through_gateway(
    runtime: LambdaRuntime, token: str, tool: str, arguments: dict[str, Any]
) -> tuple[int, str]:
    """One tools/call: authorizer, then the MCP handler, with one API Gateway request id."""
    request_id = f"gw-{uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "cloudwatch-test/1.0"}
    try:
        policy = authorizer.handler(
            request_authorizer_event("POST", "/mcp", headers=headers, request_id=request_id), None
        )
    except authorizer.Unauthorized:
        return 401, request_id
    if policy["policyDocument"]["Statement"][0]["Effect"] != "Allow":
        return 403, request_id
    message_headers, body = mcp_request("tools/call", tool_call_params(tool, arguments))
    event = rest_v1_event(
        "POST",
        "/mcp",
        headers={**message_headers, **headers},
        body=body,
        authorizer={"principalId": policy["principalId"], **policy["context"]},
        request_id=request_id,
    )
    status, _, _ = response_from_lambda(runtime.invoke_sync(event))
    return status, request_id


def epoch_ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def validate(record: Any) -> None:
    """One audit event, as a CloudWatch log event's message, against the documented schema."""
    assert isinstance(record, dict)
    assert record.keys() >= REQUIRED, REQUIRED - record.keys()
    assert record.keys() <= SCHEMA | ENVELOPE, record.keys() - SCHEMA - ENVELOPE
    assert record["event_type"] == "audit"
    assert record["audit_version"] == 1
    assert RFC3339.match(record["timestamp"]), record["timestamp"]
    assert datetime.fromisoformat(record["timestamp"]).utcoffset() is not None
    assert record["source"] in ("authorizer", "mcp")
    assert record["outcome"] in OUTCOMES
    assert all(isinstance(record[key], str) and record[key] for key in TEXT_FIELDS if key in record)
    assert isinstance(record["status"], int)
    assert isinstance(record["latency_ms"], int | float)
    assert record["latency_ms"] >= 0
    if record["outcome"] in ("denied", "error", "server_error"):
        assert record["reason"]
    if "arguments" in record:
        assert set(record["arguments"]) <= {"names", "size_bytes", "values"}
        assert all(isinstance(name, str) for name in record["arguments"]["names"])
        assert isinstance(record["arguments"]["size_bytes"], int)


def test_audit_events_of_a_flow_survive_a_round_trip_through_cloudwatch_logs(
    gateway: tuple[DevIssuer, LambdaRuntime], logs: LogCapture
) -> None:
    issuer, runtime = gateway
    full = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access", "mcp/profile"], subject="alice")
    narrow = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"], subject="bob")
    foreign = issuer.mint(audience="https://other.example.com/mcp")
    ok = through_gateway(runtime, full, "add", {"a": 1, "b": 2})
    tool_error = through_gateway(runtime, full, "days_between", {"start": "x", "end": "y"})
    step_up = through_gateway(runtime, narrow, "whoami", {})
    refused = through_gateway(runtime, foreign, "add", {"a": 1, "b": 2})
    assert [status for status, _ in (ok, tool_error, step_up, refused)] == [200, 200, 403, 401]

    lines = [line for line in logs.text().splitlines() if '"event_type":"audit"' in line]
    assert len(lines) == 7  # 4 authorizer decisions + 3 MCP requests (the refused one never got there)
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        client.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
        shipped: list[InputLogEventTypeDef] = [
            {"timestamp": epoch_ms(json.loads(line)["timestamp"]), "message": line} for line in lines
        ]
        response = client.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=shipped)
        assert "rejectedLogEventsInfo" not in response

        stored = client.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True)["events"]
        by_outcome = {
            outcome: client.filter_log_events(logGroupName=GROUP, filterPattern=f'"{outcome}"')["events"]
            for outcome in ("allowed", "denied", "tool_error")
        }
        correlated = client.filter_log_events(logGroupName=GROUP, filterPattern=f'"{step_up[1]}"')["events"]

    assert [event["message"] for event in stored] == lines
    records = [json.loads(event["message"]) for event in stored]
    for record, event in zip(records, stored, strict=True):
        validate(record)
        assert len(event["message"].encode()) < 256 * 1024  # CloudWatch's per-event limit
        assert event["timestamp"] == epoch_ms(record["timestamp"])

    def parsed(events: list[Any]) -> list[tuple[str, str, str | None]]:
        return [
            (r["source"], r["action"], r.get("reason"))
            for r in map(json.loads, [e["message"] for e in events])
        ]

    assert parsed(by_outcome["allowed"]) == [("authorizer", "authorize", None)] * 3
    assert parsed(by_outcome["denied"]) == [
        ("mcp", "tools/call", "insufficient_scope"),
        ("authorizer", "authorize", "bad_audience"),
    ]
    assert parsed(by_outcome["tool_error"]) == [("mcp", "tools/call", None)]
    # API Gateway's request id ties the authorizer's decision to the MCP request it let through.
    assert [(r["source"], r["outcome"]) for r in map(json.loads, [e["message"] for e in correlated])] == [
        ("authorizer", "allowed"),
        ("mcp", "denied"),
    ]
    mcp_records = {r["request_id"]: r for r in records if r["source"] == "mcp"}
    assert mcp_records[ok[1]]["principal"] == "alice"
    assert mcp_records[ok[1]]["target"] == "add"
    assert mcp_records[tool_error[1]]["outcome"] == "tool_error"
