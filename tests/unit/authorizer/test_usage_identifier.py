"""The authorizer names each allowed caller's usage key: `usageIdentifierKey` (docs/quotas.md).

"If the API uses a usage plan (the apiKeySource is set to AUTHORIZER), the Lambda authorizer
function must return one of the usage plan's API keys as the usageIdentifierKey property value"
("Output from an API Gateway Lambda authorizer": https://docs.aws.amazon.com/apigateway/latest/
developerguide/api-gateway-lambda-authorizer-output.html): at the top level of the answer, next
to `policyDocument`. The shared keys live in moto's API Gateway, as the stack creates them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.auth.api_keys import KeyStore, generate_api_key
from app.auth.principal import Principal
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper
from app.authorizer.usage import UsageIdentifiers
from app.core.config import READ_RETRY_SECONDS, ConfigurationError, SettingsSource, SettingUnavailable
from app.core.usage import ApiGatewayKeys
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from tests.conftest import TEST_MCP_URL, LogCapture

ISSUER = "https://issuer.example.com"
KEYS_SECRET = "serverless-mcp/test/api-keys-usage"
OWN_KEY = "Own0usage0key0value0for0the0tests0000"  # API Gateway key values are 20+ characters


@dataclass
class UsageWorld:
    """moto's API Gateway with a shared key per tier, and a key store of three API keys."""

    shared: dict[str, str]  # tier -> value of its shared key
    shared_ids: dict[str, str]
    own_key: str  # an API key with its own usage key (OWN_KEY) in tier "premium"
    legacy_key: str  # an API key from before usage plans: no tier, no usage key
    tiered_key: str  # an API key of tier "premium" without its own usage key
    env: dict[str, str]


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(ISSUER)


@pytest.fixture
def world() -> Iterator[UsageWorld]:
    with mock_aws():
        apigateway = boto3.client("apigateway")
        created = {
            tier: apigateway.create_api_key(name=f"{tier}-shared", enabled=True)
            for tier in ("standard", "premium", "partner")
        }
        own, own_record = generate_api_key("own", ("mcp/access",), None, now=0)
        legacy, legacy_record = generate_api_key("legacy", ("mcp/access",), None, now=0)
        tiered, tiered_record = generate_api_key("tiered", ("mcp/access",), None, now=0)
        records = (
            replace(own_record, tier="premium", usage_key_id="ownkey0001", usage_key=OWN_KEY),
            legacy_record,
            replace(tiered_record, tier="premium"),
        )
        boto3.client("secretsmanager").create_secret(
            Name=KEYS_SECRET, SecretString=json.dumps(KeyStore(records).to_json())
        )
        ids = {tier: answer["id"] for tier, answer in created.items()}
        env = {
            **os.environ,
            "OAUTH_ISSUER": ISSUER,
            "API_KEYS_SECRET_ID": KEYS_SECRET,
            "USAGE_KEY_IDS": json.dumps(ids),
            "USAGE_DEFAULT_TIER": "standard",
            "USAGE_JWT_TIER": "standard",
            "USAGE_CLIENT_TIERS": json.dumps({"partner-agent": "partner"}),
        }
        yield UsageWorld(
            shared={tier: answer["value"] for tier, answer in created.items()},
            shared_ids=ids,
            own_key=own,
            legacy_key=legacy,
            tiered_key=tiered,
            env=env,
        )


def use_gatekeeper(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, env: dict[str, str]) -> Gatekeeper:
    keeper = Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    return keeper


def invoke(credential: str) -> dict[str, Any]:
    event = request_authorizer_event("POST", "/mcp", headers={"Authorization": f"Bearer {credential}"})
    return authorizer.handler(event, None)


@pytest.fixture
def usage_on(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, world: UsageWorld) -> UsageWorld:
    use_gatekeeper(monkeypatch, issuer, world.env)
    return world


def test_an_api_key_with_its_own_usage_key_is_metered_alone(usage_on: UsageWorld) -> None:
    response = invoke(usage_on.own_key)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert response["usageIdentifierKey"] == OWN_KEY
    assert response["context"]["tier"] == "premium"
    assert OWN_KEY not in json.dumps(response["context"])


def test_an_api_key_without_one_shares_its_tiers_key(usage_on: UsageWorld) -> None:
    assert invoke(usage_on.tiered_key)["usageIdentifierKey"] == usage_on.shared["premium"]
    legacy = invoke(usage_on.legacy_key)
    assert legacy["usageIdentifierKey"] == usage_on.shared["standard"]  # the default tier
    assert legacy["context"]["tier"] == "standard"


def test_jwt_callers_share_their_tiers_key_by_client_id(usage_on: UsageWorld, issuer: DevIssuer) -> None:
    anyone = invoke(issuer.mint(audience=TEST_MCP_URL, client_id="some-client"))
    partner = invoke(issuer.mint(audience=TEST_MCP_URL, client_id="partner-agent"))
    assert (anyone["usageIdentifierKey"], anyone["context"]["tier"]) == (
        usage_on.shared["standard"],
        "standard",
    )
    assert (partner["usageIdentifierKey"], partner["context"]["tier"]) == (
        usage_on.shared["partner"],
        "partner",
    )


def test_a_deny_names_no_usage_key(usage_on: UsageWorld, issuer: DevIssuer) -> None:
    response = invoke(issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/profile"]))
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "usageIdentifierKey" not in response


def test_a_shared_key_is_read_from_api_gateway_once_per_cache_age(
    usage_on: UsageWorld, issuer: DevIssuer
) -> None:
    """The decision's warm path does not call API Gateway: a second JWT caller uses the cached value."""
    invoke(issuer.mint(audience=TEST_MCP_URL))
    apigateway = boto3.client("apigateway")
    apigateway.update_api_key(
        apiKey=usage_on.shared_ids["standard"],
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )
    assert invoke(issuer.mint(audience=TEST_MCP_URL))["usageIdentifierKey"] == usage_on.shared["standard"]


def test_a_shared_key_api_gateway_refuses_fails_closed_without_its_value_in_the_logs(
    monkeypatch: pytest.MonkeyPatch,
    issuer: DevIssuer,
    world: UsageWorld,
    logs: LogCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    boto3.client("apigateway").update_api_key(
        apiKey=world.shared_ids["standard"],
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )
    use_gatekeeper(monkeypatch, issuer, world.env)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        invoke(issuer.mint(audience=TEST_MCP_URL))
    (audit,) = logs.audits()
    assert (audit["outcome"], audit["reason"]) == ("denied", "internal_error")
    assert "USAGE_KEY_IDS" in caplog.text
    assert world.shared["standard"] not in caplog.text + logs.text()
    # The API key with a usage key of its own needs no shared key: still served.
    assert invoke(world.own_key)["usageIdentifierKey"] == OWN_KEY


def test_without_usage_key_ids_no_caller_is_metered(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, world: UsageWorld
) -> None:
    env = {name: value for name, value in world.env.items() if name != "USAGE_KEY_IDS"}
    use_gatekeeper(monkeypatch, issuer, env)
    for credential in (world.own_key, issuer.mint(audience=TEST_MCP_URL)):
        response = invoke(credential)
        assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        assert "usageIdentifierKey" not in response
        assert "tier" not in response["context"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"USAGE_KEY_IDS": "[1, 2]"}, "USAGE_KEY_IDS"),
        ({"USAGE_KEY_IDS": '{"Standard": "abc"}'}, "USAGE_KEY_IDS"),
        ({"USAGE_DEFAULT_TIER": "gold"}, "USAGE_DEFAULT_TIER"),
        ({"USAGE_JWT_TIER": "gold"}, "USAGE_JWT_TIER"),
        ({"USAGE_CLIENT_TIERS": '{"agent": "gold"}'}, "USAGE_CLIENT_TIERS"),
        ({"USAGE_CLIENT_TIERS": "not json"}, "USAGE_CLIENT_TIERS"),
    ],
)
def test_a_broken_usage_setting_stops_the_cold_start_naming_it(
    world: UsageWorld, issuer: DevIssuer, change: dict[str, str], named: str
) -> None:
    keeper = Gatekeeper(SettingsSource(env={**world.env, **change}), fetch_json=issuer.fetch_json)
    with pytest.raises(ConfigurationError, match=named):
        keeper.check_configuration()


class FlakyKeys(ApiGatewayKeys):
    """API Gateway keys whose reads fail as an outage would (SettingUnavailable), counted."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def value(self, key_id: str) -> str:
        self.reads += 1
        raise SettingUnavailable(
            "USAGE_KEY_IDS: could not read API Gateway API key (timeout)", transient=True
        )


def test_a_failed_shared_key_read_is_not_retried_at_once(issuer: DevIssuer) -> None:
    """As every settings read: a read that failed is tried again only after READ_RETRY_SECONDS,
    so an API Gateway outage does not turn each request into another call to it."""
    clock = [100.0]
    keys = FlakyKeys()
    usage = UsageIdentifiers({"USAGE_KEY_IDS": '{"standard": "k1"}'}, keys, clock=lambda: clock[0])
    caller = Principal(subject="alice", auth_method="jwt", scopes=frozenset({"mcp/access"}))
    for _ in range(3):
        with pytest.raises(SettingUnavailable):
            usage.meter(caller, None)
    assert keys.reads == 1
    clock[0] += READ_RETRY_SECONDS
    with pytest.raises(SettingUnavailable):
        usage.meter(caller, None)
    assert keys.reads == 2


def test_an_outage_refuses_with_settings_unavailable(
    monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, world: UsageWorld, logs: LogCapture
) -> None:
    keeper = use_gatekeeper(monkeypatch, issuer, world.env)
    monkeypatch.setattr(keeper, "_usage", UsageIdentifiers(world.env, FlakyKeys()))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        invoke(issuer.mint(audience=TEST_MCP_URL))
    (audit,) = logs.audits()
    assert (audit["outcome"], audit["reason"]) == ("denied", "settings_unavailable")
