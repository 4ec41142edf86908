"""Per-client quotas in the template: usage plans per tier, API key source AUTHORIZER, /mcp
requiring an API key, the 429/403 gateway responses, the authorizer's exact access.

What API Gateway needs for usage plans to apply, each pinned below: the API's key source
AUTHORIZER so the authorizer's `usageIdentifierKey` is the key ("Choose an API key source in API
Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html);
methods that require an API key ("When you associate a usage plan with an API and enable API keys
on API methods, every incoming request to the API must contain an API key", same page); a usage
plan on this API's stage holding the keys. Three syntheses: the default (shared with
test_stack_default.py), custom tiers, and USAGE_PLANS=false.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.usage_plans import INVALID_API_KEY_MESSAGE, QUOTA_EXCEEDED_MESSAGE, THROTTLED_MESSAGE
from infra.config import DEFAULT_USAGE_TIERS, ConfigError, StackConfig
from infra.constructs.usage_plans import INVALID_API_KEY_BODY, QUOTA_EXCEEDED_BODY, THROTTLED_BODY
from tests.infra.conftest import (
    Synth,
    api_routes,
    as_list,
    lint,
    mcp_routes,
    render,
    statements_about,
    synthesize,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

CUSTOM: dict[str, object] = {
    "STACK_NAME": "McpTiers",
    "USAGE_TIERS": json.dumps(
        {
            "tiny": {"rate": 1, "burst": 2},
            "weekly": {"rate": 5.5, "burst": 10, "quota": 100, "period": "WEEK"},
            "gold": {"rate": 50, "burst": 100, "quota": 1_000_000, "period": "MONTH"},
        }
    ),
    "USAGE_DEFAULT_TIER": "tiny",
    "USAGE_JWT_TIER": "weekly",
    "USAGE_CLIENT_TIERS": json.dumps({"partner-agent": "gold"}),
}
OFF: dict[str, object] = {"STACK_NAME": "McpNoUsage", "USAGE_PLANS": "false"}


@pytest.fixture(scope="module")
def synth(default_synth: Synth) -> Synth:
    return default_synth


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-usage-tiers"), CUSTOM)


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("cdk-usage-off"), {"STACK_NAME": "McpNoUsage", "USAGE_PLANS": "false"}
    )


def _authorizer(synth: Synth) -> tuple[str, dict[str, Any]]:
    key = synth.id_of("AWS::Lambda::Function", "AuthorizerFunction")
    return key, synth.resources[key]


def _env(synth: Synth, fragment: str) -> dict[str, Any]:
    function = synth.resources[synth.id_of("AWS::Lambda::Function", fragment)]
    env: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return env


def _plans(synth: Synth) -> dict[str, dict[str, Any]]:
    """{tier name: usage plan properties}, the tier read from the plan's name `<stack>-<tier>`."""
    stack = synth.stack.stack_name
    return {
        props["UsagePlanName"].removeprefix(f"{stack}-"): props
        for props in (
            resource["Properties"] for resource in synth.of_type("AWS::ApiGateway::UsagePlan").values()
        )
    }


def _keys_by_plan(synth: Synth) -> dict[str, set[str]]:
    """{usage plan logical id: API key logical ids in it}."""
    found: dict[str, set[str]] = {}
    for resource in synth.of_type("AWS::ApiGateway::UsagePlanKey").values():
        props = resource["Properties"]
        assert props["KeyType"] == "API_KEY"
        found.setdefault(props["UsagePlanId"]["Ref"], set()).add(props["KeyId"]["Ref"])
    return found


# --- the default stack -----------------------------------------------------------------------------


def test_the_api_takes_its_usage_key_from_the_authorizer(synth: Synth) -> None:
    _, api = synth.one("AWS::ApiGateway::RestApi")
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"


def test_every_mcp_method_requires_an_api_key_and_no_public_route_does(synth: Synth) -> None:
    """Usage plans apply only to methods that require a key; a public route (metadata, health,
    the front, CORS preflights) must not, or a caller without a credential would get 403."""
    for (verb, path), props in api_routes(synth).items():
        # Every MCP server's methods (test_servers.py), nothing else.
        assert props.get("ApiKeyRequired", False) is ((verb, path) in mcp_routes(synth)), (verb, path)


def test_one_usage_plan_per_default_tier_on_this_stage(synth: Synth) -> None:
    plans = _plans(synth)
    assert set(plans) == {tier.name for tier in DEFAULT_USAGE_TIERS}
    api_id, _ = synth.one("AWS::ApiGateway::RestApi")
    stage_id, _ = synth.one("AWS::ApiGateway::Stage")
    for tier in DEFAULT_USAGE_TIERS:
        props = plans[tier.name]
        assert props["Throttle"] == {"RateLimit": tier.rate, "BurstLimit": tier.burst}
        assert props["Quota"] == {"Limit": tier.quota, "Period": tier.period}
        assert [(s["ApiId"], s["Stage"]) for s in props["ApiStages"]] == [
            ({"Ref": api_id}, {"Ref": stage_id})
        ]


def test_each_plan_holds_one_shared_key_whose_value_the_template_does_not_hold(synth: Synth) -> None:
    keys = synth.of_type("AWS::ApiGateway::ApiKey")
    assert len(keys) == len(DEFAULT_USAGE_TIERS)
    for key in keys.values():
        assert "Value" not in key["Properties"]  # CloudFormation generates it
        assert key["Properties"]["Enabled"] is True
    by_plan = _keys_by_plan(synth)
    assert set(by_plan) == set(synth.of_type("AWS::ApiGateway::UsagePlan"))
    assert sorted(len(members) for members in by_plan.values()) == [1] * len(DEFAULT_USAGE_TIERS)
    assert set().union(*by_plan.values()) == set(keys)


def test_the_429_and_403_gateway_responses_are_api_gateways_defaults_and_the_emulators(synth: Synth) -> None:
    """ "Gateway response types for API Gateway" (https://docs.aws.amazon.com/apigateway/latest/
    developerguide/supported-gateway-response-types.html): THROTTLED 429, QUOTA_EXCEEDED 429,
    INVALID_API_KEY 403; devtools/gateway.py answers with the same bodies."""
    responses = {
        props["ResponseType"]: props
        for props in (r["Properties"] for r in synth.of_type("AWS::ApiGateway::GatewayResponse").values())
    }
    expected = {
        "THROTTLED": ("429", THROTTLED_BODY, THROTTLED_MESSAGE),
        "QUOTA_EXCEEDED": ("429", QUOTA_EXCEEDED_BODY, QUOTA_EXCEEDED_MESSAGE),
        "INVALID_API_KEY": ("403", INVALID_API_KEY_BODY, INVALID_API_KEY_MESSAGE),
    }
    for kind, (status, body, message) in expected.items():
        assert responses[kind]["StatusCode"] == status
        assert responses[kind]["ResponseTemplates"] == {"application/json": body}
        assert body == json.dumps({"message": message})


def test_the_authorizer_gets_the_shared_key_ids_and_the_tiers(synth: Synth) -> None:
    env = _env(synth, "AuthorizerFunction")
    ids = render(env["USAGE_KEY_IDS"])
    for key in synth.of_type("AWS::ApiGateway::ApiKey"):
        assert "${" + key + "}" in ids  # the key's id (Ref), never its value
    assert (env["USAGE_DEFAULT_TIER"], env["USAGE_JWT_TIER"]) == ("standard", "standard")
    assert "USAGE_CLIENT_TIERS" not in env
    assert not any(name.startswith("USAGE_") for name in _env(synth, "McpFunction"))


def test_only_the_authorizer_may_read_api_keys_and_only_the_shared_ones(synth: Synth) -> None:
    authorizer_role = synth.id_of("AWS::IAM::Role", "AuthorizerRole")
    found = list(statements_about(synth, "apigateway:"))
    assert len(found) == 1
    owner, statement, actions = found[0]
    assert synth.resources[owner]["Properties"]["Roles"] == [{"Ref": authorizer_role}]
    assert actions == ["apigateway:GET"]
    resources = sorted(render(resource) for resource in as_list(statement["Resource"]))
    keys = sorted(synth.of_type("AWS::ApiGateway::ApiKey"))
    assert resources == sorted(
        f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/apikeys/${{{key}}}" for key in keys
    )


def test_the_plan_ids_and_default_tier_are_outputs_for_the_cli(synth: Synth) -> None:
    plan_ids = render(synth.outputs["UsagePlanIds"]["Value"])
    for plan in synth.of_type("AWS::ApiGateway::UsagePlan"):
        assert "${" + plan + "}" in plan_ids
    assert synth.outputs["UsageDefaultTier"]["Value"] == "standard"


# --- custom tiers ------------------------------------------------------------------------------------


def test_custom_tiers_become_plans_with_their_limits(custom: Synth) -> None:
    plans = _plans(custom)
    assert plans["tiny"]["Throttle"] == {"RateLimit": 1, "BurstLimit": 2}
    assert "Quota" not in plans["tiny"]
    assert plans["weekly"]["Throttle"] == {"RateLimit": 5.5, "BurstLimit": 10}
    assert plans["weekly"]["Quota"] == {"Limit": 100, "Period": "WEEK"}
    assert plans["gold"]["Quota"] == {"Limit": 1_000_000, "Period": "MONTH"}
    env = _env(custom, "AuthorizerFunction")
    assert (env["USAGE_DEFAULT_TIER"], env["USAGE_JWT_TIER"]) == ("tiny", "weekly")
    assert json.loads(env["USAGE_CLIENT_TIERS"]) == {"partner-agent": "gold"}
    assert custom.outputs["UsageDefaultTier"]["Value"] == "tiny"


def test_cfn_lint_passes_with_custom_tiers(custom: Synth) -> None:
    assert lint(custom.template_path) == []


# --- switched off ------------------------------------------------------------------------------------


def test_usage_plans_off_leaves_no_trace(off: Synth) -> None:
    for kind in ("AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlanKey"):
        assert off.of_type(kind) == {}
    _, api = off.one("AWS::ApiGateway::RestApi")
    assert "ApiKeySourceType" not in api["Properties"]
    assert not any(props.get("ApiKeyRequired", False) for props in api_routes(off).values())
    kinds = {
        r["Properties"]["ResponseType"] for r in off.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    assert kinds.isdisjoint({"THROTTLED", "QUOTA_EXCEEDED", "INVALID_API_KEY"})
    assert not any(name.startswith("USAGE_") for name in _env(off, "AuthorizerFunction"))
    assert list(statements_about(off, "apigateway:")) == []
    assert "UsagePlanIds" not in off.outputs


# --- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"USAGE_PLANS": "maybe"}, "USAGE_PLANS"),
        ({"USAGE_TIERS": "standard:10/20"}, "USAGE_TIERS must be JSON"),
        ({"USAGE_TIERS": "{}"}, "USAGE_TIERS must be a JSON object of tiers"),
        ({"USAGE_TIERS": '{"Gold": {"rate": 1, "burst": 1}}'}, "tier names"),
        ({"USAGE_TIERS": '{"gold": {"rate": 1}}'}, "rate and burst"),
        ({"USAGE_TIERS": '{"gold": {"rate": 1, "burst": 1, "limit": 5}}'}, "rate and burst"),
        ({"USAGE_TIERS": '{"gold": {"rate": 0, "burst": 1}}'}, "'rate' must be a number above 0"),
        ({"USAGE_TIERS": '{"gold": {"rate": 1, "burst": 1.5}}'}, "'burst' must be a whole number"),
        ({"USAGE_TIERS": '{"gold": {"rate": 1, "burst": 9000}}'}, "at most 5000"),
        ({"USAGE_TIERS": '{"gold": {"rate": 1, "burst": 1, "quota": -3}}'}, "'quota'"),
        (
            {"USAGE_TIERS": '{"gold": {"rate": 1, "burst": 1, "quota": 5, "period": "YEAR"}}'},
            "DAY, WEEK or MONTH",
        ),
        ({"USAGE_TIERS": '{"gold": {"rate": 1, "burst": 1, "period": "DAY"}}'}, "only with a quota"),
        ({"USAGE_DEFAULT_TIER": "gold"}, "USAGE_DEFAULT_TIER names gold"),
        ({"USAGE_JWT_TIER": "gold"}, "USAGE_JWT_TIER names gold"),
        ({"USAGE_CLIENT_TIERS": '{"agent": "gold"}'}, "USAGE_CLIENT_TIERS names gold"),
        ({"USAGE_CLIENT_TIERS": '["agent"]'}, "USAGE_CLIENT_TIERS must be a JSON object"),
    ],
)
def test_a_bad_usage_setting_stops_synth_naming_it(settings: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        StackConfig.from_sources({}, settings)


def test_tiers_from_cdk_json_context_may_be_objects() -> None:
    config = StackConfig.from_sources({"USAGE_TIERS": {"solo": {"rate": 2, "burst": 4}}}, {})
    assert [(tier.name, tier.rate, tier.burst, tier.quota) for tier in config.usage.tiers] == [
        ("solo", 2, 4, None)
    ]
    assert config.usage.default_tier == config.usage.jwt_tier == "solo"  # the only tier
