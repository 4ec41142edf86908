"""Tenants at the authorizer: every principal it lets through has one when MULTI_TENANT is on.

The tenant comes from the API key's record (`keys create --tenant`), the upstream token's
`TENANT_CLAIM` (a string, or one `<prefix><id>` group in a list such as `cognito:groups`), or
the front's own `tenant` claim; a principal with none gets `DEFAULT_TENANT` or is refused with
API Gateway's 403 (an explicit Deny). Off (the default), nothing changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.auth.api_keys import generate_api_key
from app.auth.tenants import FRONT_TENANT_RULE, TenantRule
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper, trusted_issuers
from app.core.config import AuthSettings, ConfigurationError, SettingsSource
from app.core.tenancy import TenancySettings
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from tests.conftest import TEST_MCP_URL, LogCapture

ISSUER = "https://issuer.example.com"
KEYS_SECRET = "serverless-mcp/test/tenant-api-keys"


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(ISSUER)


@pytest.fixture
def keys() -> Iterator[dict[str, str]]:
    """Two real keys in a moto key store: one acting for tenant `acme`, one with no tenant."""
    with mock_aws():
        acme, acme_record = generate_api_key("acme-bot", ("mcp/access",), None, now=0, tenant="acme")
        plain, plain_record = generate_api_key("old-bot", ("mcp/access",), None, now=0)
        document = {"version": 1, "keys": [acme_record.to_json(), plain_record.to_json()]}
        boto3.client("secretsmanager").create_secret(Name=KEYS_SECRET, SecretString=json.dumps(document))
        yield {"acme": acme, "none": plain}


def use(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, **settings: str) -> Gatekeeper:
    env = {**os.environ, "OAUTH_ISSUER": ISSUER, "API_KEYS_SECRET_ID": KEYS_SECRET, **settings}
    keeper = Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
    keeper.check_configuration()
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    return keeper


def invoke(credential: str) -> dict[str, Any]:
    event = request_authorizer_event("POST", "/mcp", headers={"Authorization": f"Bearer {credential}"})
    return authorizer.handler(event, None)


def effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def token(issuer: DevIssuer, **claims: Any) -> str:
    return issuer.mint(audience=TEST_MCP_URL, subject="alice", extra_claims=claims)


def test_off_by_default_nothing_changes(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, keys: dict[str, str]
) -> None:
    use(monkeypatch, issuer)
    assert "tenant" not in invoke(keys["none"])["context"]
    assert invoke(keys["acme"])["context"]["tenant"] == "acme"
    # The informational reading of the common claims, unchecked, as before.
    assert invoke(token(issuer, tid="72f988bf tenant"))["context"]["tenant"] == "72f988bf tenant"


def test_an_api_key_acts_for_its_tenant(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, keys: dict[str, str]
) -> None:
    use(monkeypatch, issuer, MULTI_TENANT="true")
    response = invoke(keys["acme"])
    assert effect(response) == "Allow"
    assert response["context"]["tenant"] == "acme"


def test_a_key_without_a_tenant_is_refused_with_403_and_audited(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, keys: dict[str, str], logs: LogCapture
) -> None:
    use(monkeypatch, issuer, MULTI_TENANT="true")
    response = invoke(keys["none"])
    # An explicit Deny: API Gateway answers 403 (ACCESS_DENIED), not 401 (signing in again as
    # the same caller cannot help).
    assert effect(response) == "Deny"
    assert response["context"] == {"reason": "missing_tenant"}
    (event,) = logs.audits()
    assert (event["outcome"], event["reason"], event["status"]) == ("denied", "missing_tenant", 403)
    assert event["principal"] == "apikey:old-bot"  # whose request it was
    assert "tenant" not in event


def test_the_default_tenant_applies_to_callers_without_one(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, keys: dict[str, str], logs: LogCapture
) -> None:
    use(monkeypatch, issuer, MULTI_TENANT="true", DEFAULT_TENANT="shared")
    assert invoke(keys["none"])["context"]["tenant"] == "shared"
    assert invoke(keys["acme"])["context"]["tenant"] == "acme"
    assert invoke(token(issuer))["context"]["tenant"] == "shared"
    assert [event["tenant"] for event in logs.audits()] == ["shared", "acme", "shared"]


def test_a_jwt_names_its_tenant_in_the_configured_claim(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer
) -> None:
    use(monkeypatch, issuer, MULTI_TENANT="true", TENANT_CLAIM="custom:tenant")
    response = invoke(token(issuer, **{"custom:tenant": "acme", "tenant": "globex"}))
    assert (effect(response), response["context"]["tenant"]) == ("Allow", "acme")
    # `tid` and friends are not read any more: only the configured claim names a tenant.
    assert invoke(token(issuer, tid="acme"))["context"] == {"reason": "missing_tenant"}


def test_cognito_groups_name_the_tenant(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> None:
    use(
        monkeypatch, issuer, MULTI_TENANT="true", TENANT_CLAIM="cognito:groups", TENANT_GROUP_PREFIX="tenant:"
    )
    allowed = invoke(token(issuer, **{"cognito:groups": ["readers", "tenant:acme"]}))
    assert allowed["context"]["tenant"] == "acme"
    assert invoke(token(issuer, **{"cognito:groups": ["readers"]}))["context"] == {"reason": "missing_tenant"}


@pytest.mark.parametrize(
    "claims",
    [
        {"tenant": "acme corp"},
        {"tenant": ["acme"]},
        {"tenant": "a" * 65},
    ],
)
def test_an_invalid_tenant_claim_is_refused_even_with_a_default(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, claims: dict[str, Any]
) -> None:
    """Never the default tenant instead: that would put a misconfigured user into its data."""
    use(monkeypatch, issuer, MULTI_TENANT="true", DEFAULT_TENANT="shared")
    response = invoke(token(issuer, **claims))
    assert effect(response) == "Deny"
    assert response["context"] == {"reason": "invalid_tenant"}


def test_two_tenant_groups_are_refused(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer) -> None:
    use(
        monkeypatch, issuer, MULTI_TENANT="true", TENANT_CLAIM="cognito:groups", TENANT_GROUP_PREFIX="tenant:"
    )
    response = invoke(token(issuer, **{"cognito:groups": ["tenant:acme", "tenant:globex"]}))
    assert response["context"] == {"reason": "invalid_tenant"}


def test_the_front_s_tokens_are_read_by_its_own_tenant_claim() -> None:
    """Whatever TENANT_CLAIM says, the front writes the resolved tenant as `tenant`."""
    settings = AuthSettings(mcp_url=TEST_MCP_URL, issuer=ISSUER, oauth_front=True)
    groups = TenancySettings(multi_tenant=True, rule=TenantRule("cognito:groups", "tenant:"))
    upstream, front = trusted_issuers(settings, groups)
    assert upstream.tenant_rule == TenantRule("cognito:groups", "tenant:")
    assert front.tenant_rule == FRONT_TENANT_RULE == TenantRule("tenant")
    off_upstream, off_front = trusted_issuers(settings, TenancySettings())
    assert (off_upstream.tenant_rule, off_front.tenant_rule) == (None, None)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"MULTI_TENANT": "maybe"}, "MULTI_TENANT"),
        ({"MULTI_TENANT": "true", "DEFAULT_TENANT": "shared tenant"}, "DEFAULT_TENANT"),
        ({"MULTI_TENANT": "true", "TENANT_CLAIM": "my claim"}, "TENANT_CLAIM"),
        ({"MULTI_TENANT": "true", "TENANT_GROUP_PREFIX": "tenant :"}, "TENANT_GROUP_PREFIX"),
    ],
)
def test_a_bad_setting_stops_the_cold_start_naming_it(settings: dict[str, str], named: str) -> None:
    keeper = Gatekeeper(SettingsSource(env={**os.environ, **settings}))
    with pytest.raises(ConfigurationError, match=named) as caught:
        keeper.check_configuration()
    assert "shared tenant" not in str(caught.value)
