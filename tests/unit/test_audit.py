"""The audit event schema, argument summaries and redaction, EMF metrics, and the authorizer's
one audit event per decision."""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.audit import REDACTED, AuditEvent, argument_summary, emit, redact, rfc3339_utc, trail
from app.auth.api_keys import generate_api_key
from app.authorization import Gatekeeper
from app.config import SettingsSource
from app.handlers import authorizer
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from tests.conftest import TEST_MCP_URL, LogCapture

ISSUER = "https://issuer.example.com"
KEYS_SECRET = "serverless-mcp/test/audit-api-keys"
SCHEMA_ORDER = ["event_type", "audit_version", *(f.name for f in fields(AuditEvent))]


def emf_lines(output: str) -> list[dict[str, Any]]:
    """The CloudWatch Embedded Metric Format documents printed to stdout."""
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def metric_points(output: str) -> list[tuple[str, dict[str, str], float]]:
    """(metric name, dimensions, value) for every directive of every EMF document."""
    points = []
    for document in emf_lines(output):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            (dimension_names,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                dimensions = {name: document[name] for name in dimension_names}
                (value,) = document[metric["Name"]]
                points.append((metric["Name"], dimensions, value))
    return points


# --- the event itself -----------------------------------------------------------------------


def test_to_log_keeps_the_schema_order_drops_unset_fields_and_cuts_long_text() -> None:
    event = AuditEvent(
        source="mcp",
        action="tools/call",
        outcome="ok",
        request_id="req-1",
        user_agent="x" * 1000,
        principal="alice",
        target_kind="tool",
        target="add",
        status=200,
        latency_ms=1.5,
    )
    record = event.to_log()
    assert list(record) == [
        "event_type",
        "audit_version",
        "source",
        "action",
        "outcome",
        "request_id",
        "user_agent",
        "principal",
        "target_kind",
        "target",
        "status",
        "latency_ms",
    ]
    assert record["event_type"] == "audit"
    assert record["audit_version"] == 1
    assert record["user_agent"] == "x" * 256 + "…"
    assert None not in record.values()


def test_emit_writes_one_json_line_with_the_fields_at_top_level(
    logs: LogCapture, capfd: pytest.CaptureFixture[str]
) -> None:
    emit(AuditEvent(source="authorizer", action="authorize", outcome="denied", reason="expired"))
    (line,) = [line for line in logs.text().splitlines() if '"event_type"' in line]
    record = json.loads(line)
    assert record["message"] == "audit authorizer authorize denied"
    assert (record["source"], record["outcome"], record["reason"]) == ("authorizer", "denied", "expired")
    assert record["level"] == "INFO"
    assert record["service"] == "serverless-mcp"
    datetime.fromisoformat(record["timestamp"])  # RFC 3339


def test_no_log_level_or_logging_configuration_drops_an_audit_line(logs: LogCapture) -> None:
    logging.disable(logging.CRITICAL)
    try:
        emit(AuditEvent(source="mcp", action="tools/call", outcome="ok"))
    finally:
        logging.disable(logging.NOTSET)
    assert [audit["outcome"] for audit in logs.audits()] == ["ok"]


def test_the_xray_trace_id_is_added_when_lambda_traces(
    logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = "1-5759e988-bd862e3fe1be46a994272793"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1")
    emit(AuditEvent(source="mcp", action="tools/list", outcome="ok"))
    (audit,) = logs.audits()
    assert audit["xray_trace_id"] == root
    assert list(audit)[-1] == "xray_trace_id"


def test_listeners_get_each_audit_line_as_written(logs: LogCapture) -> None:
    heard: list[tuple[str, float]] = []
    remove = trail.add_listener(lambda line, created: heard.append((line, created)))
    try:
        emit(AuditEvent(source="authorizer", action="authorize", outcome="allowed"))
    finally:
        remove()
    emit(AuditEvent(source="authorizer", action="authorize", outcome="denied"))
    (line, created) = heard[0]
    assert len(heard) == 1
    assert line == logs.text().splitlines()[0]
    assert datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp() == pytest.approx(
        created, abs=0.001
    )


# --- arguments --------------------------------------------------------------------------------


def test_argument_summary_is_names_and_size_only_by_default() -> None:
    summary = argument_summary({"b": "two", "a": 1, "password": "hunter2"})
    compact = '{"b":"two","a":1,"password":"hunter2"}'
    assert summary == {"names": ["a", "b", "password"], "size_bytes": len(compact)}
    assert "hunter2" not in json.dumps(summary)


@pytest.mark.parametrize("arguments", [None, [], "text", 7])
def test_argument_summary_of_no_object_is_empty(arguments: Any) -> None:
    assert argument_summary(arguments) == {"names": [], "size_bytes": 0}


def test_argument_values_when_included_are_redacted() -> None:
    summary = argument_summary({"city": "Oslo", "api_key": "k-123"}, include_values=True)
    assert summary["values"] == {"city": "Oslo", "api_key": REDACTED}


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Passwd",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "token",
        "refresh_token",
        "client_secret",
        "Authorization",
        "credentials",
        "cookie",
    ],
)
def test_sensitive_keys_are_redacted_at_any_depth(key: str) -> None:
    value = secrets.token_urlsafe(16)
    redacted = redact({key: value, "nested": {"list": [{key: value}]}})
    assert redacted == {key: REDACTED, "nested": {"list": [{key: REDACTED}]}}


@pytest.mark.parametrize(
    "value",
    [
        "Bearer abc.def.ghi",
        "please use basic dXNlcjpwYXNz",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        f"mcpk_{'0' * 16}_{'A' * 43}",
    ],
)
def test_credential_shaped_values_are_redacted_whatever_their_key(value: str) -> None:
    assert redact({"note": value, "items": [value]}) == {"note": REDACTED, "items": [REDACTED]}


def test_redaction_bounds_size_and_depth() -> None:
    deep: dict[str, Any] = {"v": "bottom"}
    for _ in range(10):
        deep = {"d": deep}
    redacted = redact({"long": "y" * 500, "many": list(range(200)), "deep": deep, "obj": object()})
    assert redacted["long"] == "y" * 64 + "…"
    assert len(redacted["many"]) == 50
    assert "bottom" not in json.dumps(redacted)
    assert isinstance(redacted["obj"], str)


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_by_event_kind(capfd: pytest.CaptureFixture[str], logs: LogCapture) -> None:
    capfd.readouterr()
    emit(AuditEvent(source="authorizer", action="authorize", outcome="allowed", latency_ms=2.0))
    emit(AuditEvent(source="authorizer", action="authorize", outcome="denied", reason="expired"))
    tool_call = AuditEvent(
        source="mcp", action="tools/call", outcome="ok", target_kind="tool", target="add", latency_ms=3.0
    )
    emit(tool_call)
    emit(replace(tool_call, outcome="tool_error", target="days_between"))
    emit(replace(tool_call, outcome="denied", target="whoami", reason="insufficient_scope"))
    emit(AuditEvent(source="mcp", action="tools/list", outcome="ok"))
    points = metric_points(capfd.readouterr().out)
    assert points == [
        ("Authorizations", {"decision": "allowed", "reason": "none"}, 1.0),
        ("Latency", {"source": "authorizer"}, 2.0),
        ("Authorizations", {"decision": "denied", "reason": "expired"}, 1.0),
        ("ToolCalls", {"tool": "add"}, 1.0),
        ("Latency", {"source": "mcp"}, 3.0),
        ("ToolCalls", {"tool": "days_between"}, 1.0),
        ("ToolErrors", {"tool": "days_between"}, 1.0),
        ("Latency", {"source": "mcp"}, 3.0),
        # A call refused for scope never ran: no ToolCalls, only its latency.
        ("Latency", {"source": "mcp"}, 3.0),
    ]


def test_metrics_go_to_the_configured_namespace_with_units(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    emit(
        AuditEvent(
            source="mcp", action="tools/call", outcome="ok", target_kind="tool", target="add", latency_ms=1
        )
    )
    documents = emf_lines(capfd.readouterr().out)
    directives = [directive for document in documents for directive in document["_aws"]["CloudWatchMetrics"]]
    units = {metric["Name"]: metric["Unit"] for directive in directives for metric in directive["Metrics"]}
    assert units == {"ToolCalls": "Count", "Latency": "Milliseconds"}
    assert {directive["Namespace"] for directive in directives} == {
        os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    }


# --- the authorizer: one event per decision --------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(ISSUER)


@pytest.fixture
def api_keys() -> Iterator[dict[str, str]]:
    """Real keys in a moto key store: a valid one and a revoked one."""
    with mock_aws():
        valid, valid_record = generate_api_key("ci-bot", ("mcp/access",), None, now=0)
        revoked, revoked_record = generate_api_key("old-bot", ("mcp/access",), None, now=0)
        document = {
            "version": 1,
            "keys": [valid_record.to_json(), replace(revoked_record, revoked=True).to_json()],
        }
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=KEYS_SECRET, SecretString=json.dumps(document)
        )
        yield {"valid": valid, "revoked": revoked}


@pytest.fixture(autouse=True)
def gatekeeper(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> None:
    env = {**os.environ, "OAUTH_ISSUER": ISSUER, "API_KEYS_SECRET_ID": KEYS_SECRET}
    keeper = Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)


def authorize(authorization: str | None, request_id: str, **overrides: Any) -> str:
    headers = {"User-Agent": "audit-test/1.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    event = request_authorizer_event(
        "POST", "/mcp", headers=headers, source_ip="198.51.100.9", request_id=request_id
    )
    event.update(overrides)
    try:
        response = authorizer.handler(event, None)
    except authorizer.Unauthorized:
        return "401"
    effect: str = response["policyDocument"]["Statement"][0]["Effect"]
    return effect


def test_every_decision_is_one_audit_event_with_the_documented_fields(
    issuer: DevIssuer, api_keys: dict[str, str], logs: LogCapture, capfd: pytest.CaptureFixture[str]
) -> None:
    jwt_ok = issuer.mint(audience=TEST_MCP_URL, subject="alice", extra_claims={"tid": "tenant-7"})
    no_scope = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/profile"], subject="bob")
    expired = issuer.mint(audience=TEST_MCP_URL, now=0)
    key_id, secret = api_keys["valid"][5:21], api_keys["valid"][22:]
    wrong_secret = f"mcpk_{key_id}_{secret[::-1]}"
    capfd.readouterr()
    decisions = [
        ("r-jwt", f"Bearer {jwt_ok}", "Allow"),
        ("r-key", f"Bearer {api_keys['valid']}", "Allow"),
        ("r-scope", f"Bearer {no_scope}", "Deny"),
        ("r-expired", f"Bearer {expired}", "401"),
        ("r-none", None, "401"),
        ("r-revoked", f"Bearer {api_keys['revoked']}", "401"),
        ("r-wrong", f"Bearer {wrong_secret}", "401"),
    ]
    for request_id, header, expected in decisions:
        assert authorize(header, request_id) == expected
    assert authorize(f"Bearer {jwt_ok}", "r-arn", methodArn="not-an-arn") == "401"
    out = capfd.readouterr().out

    audits = logs.audits()
    assert [a["request_id"] for a in audits] == [d[0] for d in decisions] + ["r-arn"]
    by_id = {a["request_id"]: a for a in audits}
    common = {"event_type": "audit", "audit_version": 1, "source": "authorizer", "action": "authorize"}
    origin = {"source_ip": "198.51.100.9", "user_agent": "audit-test/1.0"}
    for audit in audits:
        assert audit.items() >= {**common, **origin}.items()
        assert isinstance(audit["latency_ms"], float)
        assert audit["latency_ms"] >= 0
        datetime.fromisoformat(audit["timestamp"])
        keys = [k for k in audit if k in SCHEMA_ORDER]
        assert keys == sorted(keys, key=SCHEMA_ORDER.index)
    assert _pick(by_id["r-jwt"]) == {
        "outcome": "allowed",
        "principal": "alice",
        "auth_method": "jwt",
        "client_id": "mcp-lambda-dev",
        "tenant": "tenant-7",
        "status": 200,
    }
    assert _pick(by_id["r-key"]) == {
        "outcome": "allowed",
        "principal": "apikey:ci-bot",
        "auth_method": "api_key",
        "key_id": key_id,
        "status": 200,
    }
    assert _pick(by_id["r-scope"]) == {"outcome": "denied", "reason": "missing_scope", "status": 403}
    assert [_pick(by_id[r]) for r in ("r-expired", "r-none", "r-revoked", "r-wrong", "r-arn")] == [
        {"outcome": "denied", "reason": reason, "status": 401}
        for reason in ("expired", "missing_credential", "revoked_key", "bad_secret", "internal_error")
    ]

    authorizations = [dims for name, dims, _ in metric_points(out) if name == "Authorizations"]
    assert authorizations == [
        {"decision": "allowed", "reason": "none"},
        {"decision": "allowed", "reason": "none"},
        {"decision": "denied", "reason": "missing_scope"},
        {"decision": "denied", "reason": "expired"},
        {"decision": "denied", "reason": "missing_credential"},
        {"decision": "denied", "reason": "revoked_key"},
        {"decision": "denied", "reason": "bad_secret"},
        {"decision": "denied", "reason": "internal_error"},
    ]
    latencies = [dims for name, dims, _ in metric_points(out) if name == "Latency"]
    assert latencies == [{"source": "authorizer"}] * 8


def _pick(audit: dict[str, Any]) -> dict[str, Any]:
    """The decision-specific fields of an authorizer audit event."""
    keys = ("outcome", "reason", "principal", "auth_method", "client_id", "key_id", "tenant", "status")
    return {key: audit[key] for key in keys if key in audit}


def test_timestamps_are_rfc3339_utc_with_milliseconds_as_powertools_writes_them() -> None:
    edges = [0.0, 1_795_000_000.0, 1_795_000_000.999, 1_795_000_000.9999996, 1_795_000_061.5, 1e9 + 0.0015]
    rng = random.Random(7)
    for epoch in edges + [rng.uniform(0, 2e9) for _ in range(2000)]:
        expected = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")
        assert rfc3339_utc(epoch) == expected, epoch
