"""The authorizer Lambda handler: REQUEST-authorizer events in, policies or "Unauthorized" out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from app.auth.api_keys import generate_api_key
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper
from app.core.config import SettingsSource
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from tests.conftest import TEST_MCP_URL, LogCapture

ISSUER = "https://issuer.example.com"
STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"
KEYS_SECRET = "serverless-mcp/test/api-keys"


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(ISSUER)


@pytest.fixture
def api_key() -> Iterator[str]:
    """A real key whose hash (only) is stored in a moto Secrets Manager key store."""
    with mock_aws():
        plaintext, record = generate_api_key("ci-bot", ("mcp/access", "mcp/profile"), None, now=0)
        document = {"version": 1, "keys": [record.to_json()]}
        boto3.client("secretsmanager").create_secret(Name=KEYS_SECRET, SecretString=json.dumps(document))
        yield plaintext


@pytest.fixture(autouse=True)
def gatekeeper(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> Gatekeeper:
    """The handler's gatekeeper, with JWKS served in-process by the test issuer."""
    env = {**os.environ, "OAUTH_ISSUER": ISSUER, "API_KEYS_SECRET_ID": KEYS_SECRET}
    keeper = Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    return keeper


def invoke(headers: dict[str, str] | None = None, **event_overrides: Any) -> dict[str, Any]:
    event = request_authorizer_event("POST", "/mcp", headers=headers or {})
    event.update(event_overrides)
    return authorizer.handler(event, None)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def test_valid_jwt_gets_a_stage_wide_allow_with_the_principal(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access", "mcp/profile"], subject="alice")
    response = invoke(bearer(token))
    assert response["principalId"] == "alice"
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": STAGE_ARN}
    ]
    assert response["context"] == {
        "principal": "alice",
        "auth_method": "jwt",
        "scopes": "mcp/access mcp/profile",
        "client_id": "mcp-lambda-dev",
        "expires_at": str(jwt.decode(token, options={"verify_signature": False})["exp"]),
    }
    assert token not in json.dumps(response)


def test_valid_api_key_gets_an_allow_with_its_key_id(api_key: str) -> None:
    response = invoke(bearer(api_key))
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["context"]["auth_method"] == "api_key"
    assert response["context"]["principal"] == "apikey:ci-bot"
    assert response["context"]["key_id"] == api_key.split("_")[1]
    assert api_key.split("_", 2)[2] not in json.dumps(response)


def test_valid_credential_without_base_scope_is_an_explicit_deny(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/profile"])
    response = invoke(bearer(token))
    assert response["policyDocument"]["Statement"][0] == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": STAGE_ARN,
    }
    assert response["context"] == {"reason": "missing_scope"}


@pytest.mark.parametrize(
    "case",
    ["missing", "garbage", "expired", "wrong_audience", "wrong_issuer", "lowercase_scheme", "two_headers"],
)
def test_bad_credentials_are_unauthorized(issuer: DevIssuer, case: str) -> None:
    good = issuer.mint(audience=TEST_MCP_URL)
    headers = {
        "missing": {},
        "garbage": bearer("not-a-token"),
        "expired": bearer(issuer.mint(audience=TEST_MCP_URL, now=0)),
        "wrong_audience": bearer(issuer.mint(audience="https://other.example.com/mcp")),
        "wrong_issuer": bearer(DevIssuer("https://evil.example.com").mint(audience=TEST_MCP_URL)),
        "lowercase_scheme": {"Authorization": f"bearer {good}"},
        # `headers` holds a valid credential, as API Gateway puts the last value there: only a
        # handler that reads `multiValueHeaders` (both values) refuses it.
        "two_headers": bearer(good),
    }[case]
    overrides: dict[str, Any] = {}
    if case == "two_headers":
        overrides["multiValueHeaders"] = {"Authorization": [f"Bearer {good}", f"Bearer {good}"]}
    with pytest.raises(authorizer.Unauthorized) as info:
        invoke(headers, **overrides)
    assert str(info.value) == "Unauthorized"


def test_unreachable_jwks_fails_closed(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> None:
    def unreachable(url: str, timeout: float) -> dict[str, Any]:
        raise OSError("connection refused")

    env = {**os.environ, "OAUTH_ISSUER": ISSUER}
    monkeypatch.setattr(authorizer, "gatekeeper", Gatekeeper(SettingsSource(env=env), fetch_json=unreachable))
    with pytest.raises(authorizer.Unauthorized):
        invoke(bearer(issuer.mint(audience=TEST_MCP_URL)))


@pytest.mark.parametrize("arn", [None, "", "not-an-arn", "arn:aws:lambda:us-east-1:1:function:x"])
def test_malformed_method_arn_never_allows(issuer: DevIssuer, arn: str | None) -> None:
    with pytest.raises(authorizer.Unauthorized):
        invoke(bearer(issuer.mint(audience=TEST_MCP_URL)), methodArn=arn)


def test_each_decision_is_one_audit_line_with_a_reason_and_no_credential(
    issuer: DevIssuer, logs: LogCapture
) -> None:
    token = issuer.mint(audience=TEST_MCP_URL)
    other = issuer.mint(audience="https://other.example.com/mcp")
    invoke(bearer(token))
    with pytest.raises(authorizer.Unauthorized):
        invoke(bearer(other))
    output = logs.text()
    audits = logs.audits()
    assert [(a["outcome"], a.get("reason")) for a in audits] == [
        ("allowed", None),
        ("denied", "bad_audience"),
    ]
    assert all(a["source"] == "authorizer" and a["action"] == "authorize" for a in audits)
    assert token[-20:] not in output
    assert other[-20:] not in output
    assert "Bearer" not in output


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: "Bearer " + b.hex())))
def test_fuzzed_authorization_header_never_allows_and_never_crashes(header: str) -> None:
    try:
        response = invoke({"Authorization": header})
    except authorizer.Unauthorized:
        return
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"


_MUTATIONS = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "truncate"]),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(list("AQgw_-.0z=+/ ")),
)


def _mutate(credential: str, mutation: tuple[str, int, str]) -> str:
    kind, position, char = mutation
    at = position % len(credential)
    if kind == "replace":
        return credential[:at] + char + credential[at + 1 :]
    if kind == "insert":
        return credential[:at] + char + credential[at:]
    if kind == "delete":
        return credential[:at] + credential[at + 1 :]
    return credential[:at]


def _try_mutated(credential: str, mutation: tuple[str, int, str]) -> tuple[str, bool]:
    """The mutated credential and whether the authorizer allowed it (an identical one must be)."""
    mutated = _mutate(credential, mutation)
    try:
        response = invoke(bearer(mutated))
    except authorizer.Unauthorized:
        assert mutated != credential
        return mutated, False
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    return mutated, True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=_MUTATIONS)
def test_a_mutated_valid_jwt_is_allowed_only_if_it_carries_the_same_signed_bytes(
    issuer: DevIssuer, mutation: tuple[str, int, str]
) -> None:
    """Starts from a credential the authorizer ALLOWS, so a broken signature check would fail here."""
    token = issuer.mint(audience=TEST_MCP_URL, now=1_700_000_000, expires_in=10**9)
    mutated, allowed = _try_mutated(token, mutation)
    if not allowed:
        return
    # Allowed only unchanged: every other spelling of the same bytes is refused too.
    assert mutated == token


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=_MUTATIONS)
def test_a_mutated_valid_api_key_is_never_allowed(api_key: str, mutation: tuple[str, int, str]) -> None:
    mutated, allowed = _try_mutated(api_key, mutation)
    assert allowed == (mutated == api_key)
