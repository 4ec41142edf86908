"""No token, API key, secret value or Authorization header in any log line, in any flow.

Every flow runs with secret values generated for this test: JWTs from a dev issuer, API keys in
a moto key store, the upstream credential in moto Secrets Manager. Requests go the way the
deployed stack sends them: the REQUEST authorizer decides on the Authorization header, and an
allowed request reaches the MCP Lambda with the authorizer context AND the original headers
(API Gateway passes the Authorization header on). Then everything that was written is scanned:
the audit trail, every standard logging record (caplog, DEBUG and up), and the process's
stdout and stderr (capfd: EMF metrics, the SDK's and Mangum's logs).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from mangum import Mangum
from moto import mock_aws

from app.auth.api_keys import generate_api_key
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper
from app.core.config import SettingsSource
from app.mcp.handler import build_asgi_app
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event, rest_v1_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.conftest import TEST_MCP_URL, LogCapture
from tests.unit.mcp.test_upstream_tool import FakeUpstream, Reply

ISSUER = "https://issuer.example.com"
KEYS_SECRET_ID = "serverless-mcp/test/no-secrets/api-keys"
UPSTREAM_SECRET_ID = "serverless-mcp/test/no-secrets/upstream"
# An Authorization header written out in any shape: `Authorization: x`, `"authorization": "x"`,
# `'Authorization', 'x'` (a header tuple), `authorization=x`.
HEADER_VALUE = re.compile(r"""authorization['"]?\s*[:=,]\s*[(\[]?\s*b?['"]?\s*\w""", re.IGNORECASE)


@dataclass
class Stack:
    """The authorizer and the MCP Lambda wired like API Gateway, plus every secret in play."""

    mcp: LambdaRuntime
    upstream: FakeUpstream
    issuer: DevIssuer
    secrets: dict[str, str]

    def request(
        self, authorization: str | None, message: tuple[dict[str, str], str] = mcp_request("tools/list")
    ) -> tuple[int, dict[str, Any] | None]:
        """One request through the gateway: authorizer, then (if allowed) the MCP Lambda."""
        headers = {"User-Agent": "no-secrets-test/1.0"}
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            policy = authorizer.handler(request_authorizer_event("POST", "/mcp", headers=headers), None)
        except authorizer.Unauthorized:
            return 401, None
        if policy["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            return 403, None
        request_headers, body = message
        event = rest_v1_event(
            "POST",
            "/mcp",
            headers={**request_headers, **headers},
            body=body,
            authorizer={"principalId": policy["principalId"], **policy["context"]},
        )
        status, _, raw = response_from_lambda(self.mcp.invoke_sync(event))
        return status, json.loads(raw) if raw else None

    def direct(self, authorization: str) -> int:
        """The MCP Lambda invoked without the authorizer (misconfigured wiring): 401."""
        headers, body = mcp_request("tools/list")
        event = rest_v1_event("POST", "/mcp", headers={**headers, "Authorization": authorization}, body=body)
        status, _, _ = response_from_lambda(self.mcp.invoke_sync(event))
        return status


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    issuer = DevIssuer(ISSUER)
    upstream = FakeUpstream()
    with mock_aws():
        valid_key, valid_record = generate_api_key("ci-bot", ("mcp/access", "mcp/upstream"), None, now=0)
        revoked_key, revoked_record = generate_api_key("old-bot", ("mcp/access",), None, now=0)
        store = {
            "version": 1,
            "keys": [valid_record.to_json(), replace(revoked_record, revoked=True).to_json()],
        }
        upstream_credential = secrets.token_urlsafe(32)
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name=KEYS_SECRET_ID, SecretString=json.dumps(store))
        upstream_document = {"description": "example upstream credential", "api_key": upstream_credential}
        client.create_secret(Name=UPSTREAM_SECRET_ID, SecretString=json.dumps(upstream_document))

        env = {
            **os.environ,
            "OAUTH_ISSUER": ISSUER,
            "API_KEYS_SECRET_ID": KEYS_SECRET_ID,
            "UPSTREAM_SECRET_ID": UPSTREAM_SECRET_ID,
            "UPSTREAM_URL": f"{upstream.url}/status",
            "AUDIT_LOG_ARGUMENTS": "true",
        }
        keeper = Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
        monkeypatch.setattr(authorizer, "gatekeeper", keeper)
        mcp = LambdaRuntime(Mangum(build_asgi_app(SettingsSource(env=env), env), lifespan="off"))
        known = {
            "valid API key": valid_key,
            "valid API key secret part": valid_key[22:],
            "revoked API key": revoked_key,
            "revoked API key secret part": revoked_key[22:],
            "upstream credential": upstream_credential,
        }
        try:
            yield Stack(mcp=mcp, upstream=upstream, issuer=issuer, secrets=known)
        finally:
            mcp.close()
            upstream.close()


def test_no_flow_writes_a_secret_to_any_log(
    stack: Stack,
    logs: LogCapture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    issuer, known = stack.issuer, stack.secrets

    def token(name: str, **kwargs: Any) -> str:
        kwargs.setdefault("audience", TEST_MCP_URL)
        value = (kwargs.pop("issuer", None) or issuer).mint(**kwargs)
        known[f"JWT {name}"] = value
        known[f"JWT {name} signature"] = value.rsplit(".", 1)[1]
        return value

    full = token("full", scopes=["mcp/access", "mcp/profile", "mcp/upstream"], subject="alice")
    narrow = token("narrow", scopes=["mcp/access"], subject="bob")
    expired = token("expired", now=0)
    foreign = token("other audience", audience="https://other.example.com/mcp")
    stranger = token("other issuer", issuer=DevIssuer("https://evil.example.com"))
    no_base_scope = token("no base scope", scopes=["mcp/profile"])
    header, payload, signature = token("to tamper").split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    known["JWT tampered"] = tampered
    key_id = known["valid API key"][5:21]
    wrong_secret = f"mcpk_{key_id}_{secrets.token_urlsafe(32)[:43]}"
    unknown_key = f"mcpk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)[:43]}"
    known["API key with a wrong secret"] = wrong_secret
    known["unknown API key"] = unknown_key

    def call(name: str, arguments: dict[str, Any]) -> tuple[dict[str, str], str]:
        return mcp_request("tools/call", tool_call_params(name, arguments))

    # JWT: allowed, every kind of MCP request and outcome.
    assert stack.request(f"Bearer {full}", mcp_request("initialize"))[0] == 200
    assert stack.request(f"Bearer {full}")[0] == 200
    assert stack.request(f"Bearer {full}", call("add", {"a": 1, "b": 2}))[0] == 200
    assert stack.request(f"Bearer {full}", call("whoami", {}))[0] == 200
    status, body = stack.request(f"Bearer {full}", call("days_between", {"start": "x", "end": "y"}))
    assert (status, body and body["result"]["isError"]) == (200, True)
    status, body = stack.request(f"Bearer {full}", call("upstream_status", {}))
    assert (status, body and body["result"]["isError"]) == (200, False)
    stack.upstream.reply = Reply(status=500, echo_headers=True)  # an upstream that echoes the credential
    status, body = stack.request(f"Bearer {full}", call("upstream_status", {}))
    assert (status, body and body["result"]["isError"]) == (200, True)
    assert len(stack.upstream.received) == 2
    # Step-up: a valid token without the tool's scope.
    assert stack.request(f"Bearer {narrow}", call("upstream_status", {}))[0] == 403
    assert stack.request(f"Bearer {narrow}", call("whoami", {}))[0] == 403
    # JWT: refused.
    assert stack.request(f"Bearer {no_base_scope}")[0] == 403
    for refused in (expired, foreign, stranger, tampered, "not-a-token"):
        assert stack.request(f"Bearer {refused}")[0] == 401
    assert stack.request(f"bearer {full}")[0] == 401
    assert stack.request(f"Basic {full}")[0] == 401
    assert stack.request(None)[0] == 401
    # API keys: allowed (a tool call, the upstream tool), revoked, wrong secret, unknown.
    assert stack.request(f"Bearer {known['valid API key']}", call("add", {"a": 2, "b": 3}))[0] == 200
    stack.upstream.reply = Reply()
    assert stack.request(f"Bearer {known['valid API key']}", call("upstream_status", {}))[0] == 200
    for refused in (known["revoked API key"], wrong_secret, unknown_key):
        assert stack.request(f"Bearer {refused}")[0] == 401
    # The MCP Lambda reached without the authorizer, with a token in the header.
    assert stack.direct(f"Bearer {full}") == 401

    # Everything that was written anywhere.
    out, err = capfd.readouterr()
    records = "\n".join(
        f"{record.getMessage()} {record.__dict__!r} {caplog.handler.format(record)}"
        for record in caplog.records
    )
    written = "\n".join([logs.text(), out, err, caplog.text, records])

    # The scan sees the flows: every request left its audit event and metrics.
    sources = [audit["source"] for audit in logs.audits()]
    assert (sources.count("authorizer"), sources.count("mcp")) == (23, 12)
    assert '"_aws"' in out
    assert "audit mcp tools/call tool_error" in logs.text()
    assert "mangum.http" in caplog.text  # and the standard logging records
    for name, value in known.items():
        assert value not in written, f"the {name} appears in the logs"
    assert "Bearer " not in written
    assert not HEADER_VALUE.search(written), HEADER_VALUE.search(written)
