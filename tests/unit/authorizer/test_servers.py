"""Several MCP servers behind one authorizer: a credential is bound to its servers, cache-safely.

A token is for the servers its `aud` names (RFC 8707), an API key for the servers its record
lists. The authorizer's Allow policy is a function of the identity sources only: it lists the
resources of every server the credential may call, whatever server the request was for, so the
policy API Gateway caches for one request admits exactly those servers for the next ones ("Use
API Gateway Lambda authorizers": the cached policy is reused for every request with the same
identity sources, https://docs.aws.amazon.com/apigateway/latest/developerguide/
apigateway-use-lambda-authorizer.html). The policies are evaluated the way API Gateway
evaluates them (`devtools.gateway.Policy.allows`: an explicit Deny wins, else an Allow must
match the method ARN).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.auth.api_keys import generate_api_key
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper, trusted_issuers
from app.core.config import AuthSettings, SettingsSource
from app.core.servers import server_url
from app.mcp.tool_scopes_export import server_table
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from devtools.gateway import Policy
from tests.conftest import TEST_MCP_URL, LogCapture

ISSUER = "https://issuer.example.com"
KEYS_SECRET = "serverless-mcp/test/api-keys"
RESEARCH = "/research/mcp"
RESEARCH_URL = server_url(TEST_MCP_URL, RESEARCH)
ARN_PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod"
COGNITO_CLIENT = "cognito-app-client"
EXTRA_AUDIENCE = "https://legacy.example.com/api"
TABLE = server_table()


def arn(method: str, path: str) -> str:
    return f"{ARN_PREFIX}/{method}{path}"


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(ISSUER)


@pytest.fixture(scope="module")
def tool_scopes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scopes") / "tool_scopes.json"
    path.write_text(json.dumps(TABLE.to_json()))
    return path


@pytest.fixture
def keys() -> Iterator[dict[str, str]]:
    """Three real keys in a moto key store: the primary only (no `servers`), research, both."""
    with mock_aws():
        plain, records = {}, []
        for name, servers in (("legacy", None), ("research", ("research",)), ("both", ("main", "research"))):
            plain[name], record = generate_api_key(
                name, ("mcp/access", "mcp/research"), None, 0, servers=servers
            )
            records.append(record.to_json())
        document = {"version": 1, "keys": records}
        boto3.client("secretsmanager").create_secret(Name=KEYS_SECRET, SecretString=json.dumps(document))
        yield plain


def install(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, **env: str) -> Gatekeeper:
    settings = {
        **os.environ,
        "OAUTH_ISSUER": ISSUER,
        "API_KEYS_SECRET_ID": KEYS_SECRET,
        "OAUTH_ALLOWED_CLIENT_IDS": COGNITO_CLIENT,
        "OAUTH_AUDIENCES": EXTRA_AUDIENCE,
        **env,
    }
    keeper = Gatekeeper(SettingsSource(env=settings), fetch_json=issuer.fetch_json)
    keeper.check_configuration()
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    return keeper


@pytest.fixture
def cached(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, tool_scopes_file: Path) -> Gatekeeper:
    """The authorizer of a caching API (TTL 300): servers from the document, no per-tool decisions."""
    return install(
        monkeypatch, issuer, TOOL_SCOPES_FILE=str(tool_scopes_file), AUTHORIZER_CACHE_TTL_SECONDS="300"
    )


def invoke(credential: str, path: str = "/mcp", headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = request_authorizer_event(
        "POST", path, headers={"Authorization": f"Bearer {credential}", **(headers or {})}
    )
    return authorizer.handler(event, None)


def admitted(response: dict[str, Any]) -> set[str]:
    """Which server paths (POST) the returned policy admits, evaluated as API Gateway does."""
    policy = Policy.from_response(response)
    return {path for path in ("/mcp", RESEARCH, "/oauth/token") if policy.allows(arn("POST", path))}


def last_audit(logs: LogCapture) -> dict[str, Any]:
    return logs.audits()[-1]


def test_a_token_for_the_primary_server_is_admitted_there_and_nowhere_else(
    cached: Gatekeeper, issuer: DevIssuer, logs: LogCapture
) -> None:
    token = issuer.mint(audience=TEST_MCP_URL)
    response = invoke(token)
    assert admitted(response) == {"/mcp"}
    assert response["context"]["servers"] == "main"
    statement = response["policyDocument"]["Statement"]
    assert statement == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": [arn("POST", "/mcp"), arn("GET", "/mcp"), arn("DELETE", "/mcp")],
        }
    ]
    audit = last_audit(logs)
    assert (audit["outcome"], audit["server"], audit["status"]) == ("allowed", "main", 200)


def test_a_token_for_one_server_is_refused_at_the_other_by_the_authorizer(
    cached: Gatekeeper, issuer: DevIssuer, logs: LogCapture
) -> None:
    token = issuer.mint(audience=TEST_MCP_URL)
    response = invoke(token, RESEARCH)
    # The answer is the same policy the request at /mcp got: it does not cover /research/mcp.
    assert admitted(response) == {"/mcp"}
    assert not Policy.from_response(response).allows(arn("POST", RESEARCH))
    audit = last_audit(logs)
    assert (audit["outcome"], audit["reason"], audit["server"], audit["status"]) == (
        "denied",
        "wrong_server",
        "research",
        403,
    )

    research_token = issuer.mint(audience=RESEARCH_URL)
    assert admitted(invoke(research_token, RESEARCH)) == {RESEARCH}
    assert admitted(invoke(research_token, "/mcp")) == {RESEARCH}
    assert last_audit(logs)["reason"] == "wrong_server"


def test_the_policy_depends_on_the_credential_only_never_on_the_server_asked_first(
    cached: Gatekeeper, issuer: DevIssuer
) -> None:
    """What API Gateway caches for the first request is what it applies to the next ones."""
    for audience, expected in (
        (TEST_MCP_URL, {"/mcp"}),
        (RESEARCH_URL, {RESEARCH}),
        ([TEST_MCP_URL, RESEARCH_URL], {"/mcp", RESEARCH}),
    ):
        token = issuer.mint(audience=audience)
        first_at_main, first_at_research = invoke(token, "/mcp"), invoke(token, RESEARCH)
        assert first_at_main["policyDocument"] == first_at_research["policyDocument"]
        assert first_at_main["context"] == first_at_research["context"]
        # A cached Allow for A, evaluated at B: API Gateway's 403, whichever came first.
        assert admitted(first_at_main) == admitted(first_at_research) == expected


def test_aud_less_cognito_tokens_and_extra_audiences_are_for_the_primary_server_only(
    cached: Gatekeeper, issuer: DevIssuer
) -> None:
    cognito = issuer.mint(audience=None, client_id=COGNITO_CLIENT, extra_claims={"token_use": "access"})
    assert admitted(invoke(cognito)) == {"/mcp"}
    assert admitted(invoke(cognito, RESEARCH)) == {"/mcp"}
    legacy = issuer.mint(audience=EXTRA_AUDIENCE)
    assert admitted(invoke(legacy, RESEARCH)) == {"/mcp"}


def test_a_token_for_no_server_of_the_api_is_unauthorized(cached: Gatekeeper, issuer: DevIssuer) -> None:
    with pytest.raises(authorizer.Unauthorized):
        invoke(issuer.mint(audience=server_url(TEST_MCP_URL, "/other/mcp")), RESEARCH)


def test_api_keys_call_the_servers_their_record_names(
    cached: Gatekeeper, keys: dict[str, str], logs: LogCapture
) -> None:
    # A record made before several servers existed: the primary server only (fail closed).
    assert admitted(invoke(keys["legacy"], RESEARCH)) == {"/mcp"}
    assert last_audit(logs)["reason"] == "wrong_server"
    assert admitted(invoke(keys["research"], "/mcp")) == {RESEARCH}
    assert last_audit(logs)["reason"] == "wrong_server"
    response = invoke(keys["both"], RESEARCH)
    assert admitted(response) == {"/mcp", RESEARCH}
    assert response["context"]["servers"] == "main research"
    assert last_audit(logs)["outcome"] == "allowed"


def test_a_path_no_server_is_served_at_is_unauthorized(cached: Gatekeeper, issuer: DevIssuer) -> None:
    with pytest.raises(authorizer.Unauthorized):
        invoke(issuer.mint(audience=TEST_MCP_URL), "/unknown/mcp")


def test_without_the_servers_document_only_the_primary_path_is_authorized(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer
) -> None:
    install(monkeypatch, issuer, AUTHORIZER_CACHE_TTL_SECONDS="300")
    token = issuer.mint(audience=TEST_MCP_URL)
    assert invoke(token)["policyDocument"]["Statement"][0]["Resource"] == f"{ARN_PREFIX}/*/*"  # as before
    with pytest.raises(authorizer.Unauthorized):
        invoke(token, RESEARCH)


def test_per_tool_decisions_are_taken_at_each_server_the_policy_admits(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, tool_scopes_file: Path, logs: LogCapture
) -> None:
    install(monkeypatch, issuer, TOOL_SCOPES_FILE=str(tool_scopes_file), AUTHORIZER_CACHE_TTL_SECONDS="0")
    token = issuer.mint(audience=[TEST_MCP_URL, RESEARCH_URL], scopes=["mcp/access"])
    define = {"Mcp-Method": "tools/call", "Mcp-Name": "define"}
    refused = invoke(token, RESEARCH, define)
    assert not Policy.from_response(refused).allows(arn("POST", RESEARCH))
    assert refused["context"] == {"reason": "insufficient_scope", "scope": "mcp/access mcp/research"}
    assert last_audit(logs)["server"] == "research"
    # "define" is no tool of the primary server: nothing to refuse there.
    assert admitted(invoke(token, "/mcp", define)) == {"/mcp"}
    granted = issuer.mint(audience=[TEST_MCP_URL, RESEARCH_URL], scopes=["mcp/access", "mcp/research"])
    assert admitted(invoke(granted, RESEARCH, define)) == {"/mcp", RESEARCH}


def test_both_issuers_accept_every_servers_url_as_audience() -> None:
    settings = AuthSettings(
        mcp_url=TEST_MCP_URL, issuer=ISSUER, audiences=(EXTRA_AUDIENCE,), oauth_front=True
    )
    upstream, front = trusted_issuers(settings, None, ("/mcp", RESEARCH))
    assert set(upstream.audiences) == {TEST_MCP_URL, EXTRA_AUDIENCE, RESEARCH_URL}
    assert set(front.audiences) == {TEST_MCP_URL, RESEARCH_URL}  # no extra audience, no aud-less token
    assert front.audience_required
