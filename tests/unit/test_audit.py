"""The audit event schema, argument summaries and redaction, EMF metrics, and the authorizer's
one audit event per decision."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from app.auth.api_keys import generate_api_key
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper
from app.core.audit import (
    MAX_NAME,
    MAX_TEXT,
    MAX_VALUES,
    REDACTED,
    AuditEvent,
    argument_summary,
    emit,
    redact,
    rfc3339_utc,
    trail,
)
from app.core.config import SettingsSource
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
        "truncated",
    ]
    assert record["event_type"] == "audit"
    assert record["audit_version"] == 1
    assert record["user_agent"] == "x" * 256 + "…"
    assert record["truncated"] == ["user_agent"]
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


# --- any input, bounded output, a write that fails ---------------------------------------------

# Every code point, lone surrogates included: a JSON body may carry "\ud800" escaped, and
# `json.loads` hands it to Python as a lone surrogate, which no UTF-8 stream can encode.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=700)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=60) | st.dictionaries(ANY_TEXT, inner, max_size=60),
    max_leaves=150,
)
TEXT_FIELDS = [
    f.name
    for f in fields(AuditEvent)
    if f.name not in ("source", "outcome", "status", "latency_ms", "arguments")
]
# CloudWatch Logs takes log events of at most 256 KB (PutLogEvents: "Each log event can be no
# larger than 256 KB", https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html;
# newer accounts 1 MB): a longer line is cut and no longer parses as JSON. Stay well inside.
LINE_BUDGET = 64 * 1024


def strict_utf8_stream() -> io.TextIOWrapper:
    """A stream that encodes like Lambda's stdout: UTF-8, errors are errors."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="\n", write_through=True)


def written_lines(stream: io.TextIOWrapper) -> list[str]:
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    # Split on newlines only: `splitlines` also splits on U+0085 and U+2028, which JSON leaves raw.
    return buffer.getvalue().decode("utf-8").removesuffix("\n").split("\n")


def reject_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON (CloudWatch would not parse the line)")


@contextmanager
def audit_stream(stream: io.TextIOWrapper) -> Iterator[io.TextIOWrapper]:
    previous, trail.stream = trail.stream, stream
    try:
        yield stream
    finally:
        trail.stream = previous


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.fixed_dictionaries({name: ANY_TEXT for name in TEXT_FIELDS}),
    arguments=st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=80),
    include_values=st.booleans(),
)
def test_any_text_in_any_field_still_writes_one_bounded_json_line(
    texts: dict[str, str], arguments: dict[str, Any], include_values: bool
) -> None:
    failures = trail.write_failures
    summary = argument_summary(arguments, include_values=include_values)
    event = AuditEvent(source="mcp", outcome="ok", status=200, latency_ms=1.0, arguments=summary, **texts)
    with audit_stream(strict_utf8_stream()) as stream:
        emit(event)
    (line,) = written_lines(stream)
    assert len(line.encode()) <= LINE_BUDGET
    record = json.loads(line, parse_constant=reject_constant)
    assert trail.write_failures == failures
    cut = {name for name, text in texts.items() if len(text) > MAX_TEXT}
    assert set(record.get("truncated", [])) - {"arguments"} == cut
    for name in TEXT_FIELDS:
        assert len(record[name]) <= MAX_TEXT + 1
    assert len(record["message"]) <= MAX_TEXT + 40
    assert all(len(name) <= MAX_NAME + 1 for name in record["arguments"]["names"])


@pytest.mark.parametrize("field", ["action", "target", "user_agent", "principal", "reason"])
def test_a_lone_surrogate_is_written_as_a_replacement_character(field: str) -> None:
    event = AuditEvent(source="mcp", action="tools/call", outcome="ok")
    setattr(event, field, "before\ud800after")
    with audit_stream(strict_utf8_stream()) as stream:
        emit(event)
    (line,) = written_lines(stream)
    assert json.loads(line)[field] == "before\ufffdafter"


def test_a_lone_surrogate_in_an_argument_name_or_value_is_written() -> None:
    summary = argument_summary({"\udc00name": "value\ud83d", "ok": 1}, include_values=True)
    event = AuditEvent(source="mcp", action="tools/call", outcome="ok", arguments=summary)
    with audit_stream(strict_utf8_stream()) as stream:
        emit(event)
    (line,) = written_lines(stream)
    arguments = json.loads(line)["arguments"]
    assert arguments["names"] == ["ok", "\ufffdname"]
    assert arguments["values"] == {"\ufffdname": "value\ufffd", "ok": 1}


def test_a_900_kb_method_name_gives_a_short_line_that_says_it_was_cut() -> None:
    method = "m" * 900_000
    with audit_stream(strict_utf8_stream()) as stream:
        emit(AuditEvent(source="mcp", action=method, outcome="error", reason="method_not_found"))
    (line,) = written_lines(stream)
    record = json.loads(line)
    assert len(line) < 2048
    assert record["action"] == "m" * MAX_TEXT + "…"
    assert record["message"] == f"audit mcp {'m' * MAX_TEXT}… error"
    assert record["truncated"] == ["action"]


def test_an_event_that_was_not_cut_has_no_truncated_field(logs: LogCapture) -> None:
    emit(AuditEvent(source="mcp", action="tools/list", outcome="ok", user_agent="x" * MAX_TEXT))
    (audit,) = logs.audits()
    assert "truncated" not in audit


def test_argument_names_are_bounded_in_length_and_number_and_say_so() -> None:
    arguments = {f"{index:03d}" + "n" * 200: index for index in range(80)}
    summary = argument_summary(arguments)
    assert len(summary["names"]) == 50
    assert all(len(name) == MAX_NAME + 1 and name.endswith("…") for name in summary["names"])
    assert summary["truncated"] is True
    assert summary["size_bytes"] == len(json.dumps(arguments, separators=(",", ":")))
    assert "truncated" not in argument_summary({"a": 1, "b": 2})


def test_argument_values_are_bounded_in_total_and_say_so() -> None:
    arguments = {f"k{i}": [{"v": "x" * 64} for _ in range(50)] for i in range(50)}
    summary = argument_summary(arguments, include_values=True)
    leaves = json.dumps(summary["values"]).count('"x')
    assert leaves <= MAX_VALUES
    assert summary["truncated"] is True
    with audit_stream(strict_utf8_stream()) as stream:
        emit(AuditEvent(source="mcp", action="tools/call", outcome="ok", arguments=summary))
    (line,) = written_lines(stream)
    assert json.loads(line)["truncated"] == ["arguments"]
    assert len(line.encode()) <= LINE_BUDGET


def test_non_finite_numbers_in_argument_values_stay_valid_json() -> None:
    summary = argument_summary({"a": float("nan"), "b": [float("inf"), -float("inf")]}, include_values=True)
    with audit_stream(strict_utf8_stream()) as stream:
        emit(AuditEvent(source="mcp", action="tools/call", outcome="ok", arguments=summary))
    (line,) = written_lines(stream)
    values = json.loads(line, parse_constant=reject_constant)["arguments"]["values"]
    assert values == {"a": "nan", "b": ["inf", "-inf"]}


def closed_stream() -> io.TextIOWrapper:
    stream = strict_utf8_stream()
    stream.close()
    return stream


class BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("broken", [closed_stream, BrokenPipe], ids=["closed", "broken-pipe"])
def test_a_write_that_fails_is_counted_and_reported_on_stderr_with_a_metric(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], broken: Callable[[], TextIO]
) -> None:
    """Lambda sends stdout AND stderr to the function's log group, where EMF documents are
    extracted from any log event (https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html):
    when stdout fails, the record and the failure go to stderr."""
    capsys.readouterr()
    failures = trail.write_failures
    monkeypatch.setattr(sys, "stdout", broken())
    monkeypatch.setattr(trail, "stream", None)
    event = AuditEvent(source="mcp", action="tools/call", outcome="ok", request_id="r-broken", latency_ms=1.0)
    emit(event)  # never raises
    emit(replace(event, request_id="r-broken-2"))
    assert trail.write_failures == failures + 2
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    audits = [line for line in lines if line.get("event_type") == "audit"]
    assert [audit["request_id"] for audit in audits] == ["r-broken", "r-broken-2"]
    notices = [line for line in lines if line.get("message") == "audit write failed"]
    assert [notice["level"] for notice in notices] == ["ERROR", "ERROR"]
    assert [notice["audit_write_failures"] for notice in notices] == [failures + 1, failures + 2]
    assert notices[0]["error"] in ("ValueError", "BrokenPipeError")
    points = metric_points("\n".join(json.dumps(line) for line in lines if "_aws" in line))
    assert [(name, dims, value) for name, dims, value in points if name == "AuditWriteFailures"] == [
        ("AuditWriteFailures", {"source": "mcp"}, 1.0)
    ] * 2


def test_a_listener_that_fails_is_counted_and_the_line_is_still_written(
    logs: LogCapture, capfd: pytest.CaptureFixture[str]
) -> None:
    failures = trail.write_failures

    def broken_listener(line: str, created: float) -> None:
        raise ConnectionError("log shipper is down")

    remove = trail.add_listener(broken_listener)
    try:
        emit(AuditEvent(source="authorizer", action="authorize", outcome="allowed"))
    finally:
        remove()
    assert [audit["outcome"] for audit in logs.audits()] == ["allowed"]
    assert trail.write_failures == failures + 1
    err = capfd.readouterr().err
    assert "ConnectionError" in err
    assert '"event_type":"audit"' not in err  # the line itself was written: no duplicate
