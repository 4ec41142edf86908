"""Deploy traps from issue 13: the API key store survives `cdk destroy` and template changes;
SnapStart is refused at synth in a region that does not offer it; the auth-failure alarm counts
the authorizer's refusals only, not scanners' 403s or WAF blocks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.app import build_app, main
from infra.config import ConfigError, StackConfig, check_snapstart_region, snapstart_offered_in
from infra.constructs.api import access_log_format
from infra.constructs.observability import authorizer_refusals
from infra.stack import EMPTY_KEY_STORE_JSON, ServerlessMcpStack
from tests.infra.conftest import NO_BUNDLING, Synth, cdk_json_context, server_paths, synthesize

# Shares the default synthesis (session fixture `default_synth`) with test_stack_default.py.
pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

# A configuration far from the default: another stack name, provider, stage and options. The
# key store's template value must not follow any of them.
OTHER: dict[str, object] = {
    "STACK_NAME": "McpTraps",
    "STAGE_NAME": "v2",
    "IDENTITY_PROVIDER": "oidc",
    "OAUTH_ISSUER": "https://issuer.example.com/",
    "OAUTH_FRONT": "false",
    "ENABLE_SNAPSTART": "false",
    "API_KEYS_CACHE_SECONDS": "5",
}


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-traps"), OTHER)


def _key_store(synth: Synth) -> dict[str, Any]:
    return synth.resources[synth.id_of("AWS::SecretsManager::Secret", "ApiKeysSecret")]


@pytest.mark.parametrize("variant", ["default", "other"])
def test_key_store_survives_destroy_and_replacement(variant: str, default_synth: Synth, other: Synth) -> None:
    """`cdk destroy` (DeletionPolicy) and a replacing update (UpdateReplacePolicy) keep the store:
    it holds every issued key's hash. https://docs.aws.amazon.com/AWSCloudFormation/latest/
    TemplateReference/aws-attribute-deletionpolicy.html and aws-attribute-updatereplacepolicy.html."""
    store = _key_store(default_synth if variant == "default" else other)
    assert store["DeletionPolicy"] == "Retain"
    assert store["UpdateReplacePolicy"] == "Retain"


def test_key_store_initial_value_is_frozen_bytes_under_every_configuration(
    default_synth: Synth, other: Synth
) -> None:
    """CloudFormation applies a changed SecretString in place (UpdateSecret: a new AWSCURRENT
    version, https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html),
    so a different template value would wipe the live store. The bytes are pinned here literally:
    a change to infra/stack.py's constant, or a value that follows a setting, fails this test."""
    frozen = '{"version": 1, "keys": []}'
    assert frozen == EMPTY_KEY_STORE_JSON
    values = {_key_store(s)["Properties"]["SecretString"] for s in (default_synth, other)}
    assert values == {frozen}
    assert json.loads(frozen) == {"version": 1, "keys": []}
    # Only the value itself: no generated string that a changed generator spec would regenerate.
    assert "GenerateSecretString" not in _key_store(default_synth)["Properties"]


def test_other_secrets_keep_their_policies(default_synth: Synth) -> None:
    """The example upstream credential is a placeholder the operator replaces: it goes with the stack."""
    upstream = default_synth.resources[default_synth.id_of("AWS::SecretsManager::Secret", "UpstreamSecret")]
    assert upstream.get("DeletionPolicy") == "Delete"


# --- SnapStart regions -----------------------------------------------------------------------------


def _build(region: str, **context: object) -> ServerlessMcpStack:
    """Construct (not synthesize) the stack for an explicit region, as `CDK_DEFAULT_REGION` gives it."""
    _app, stack = build_app({**NO_BUNDLING, **context}, env={"CDK_DEFAULT_REGION": region}, nag=False)
    return stack


def _snapstart(stack: ServerlessMcpStack) -> list[object]:
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    return [f["Properties"].get("SnapStart") for f in functions.values()]


@pytest.mark.parametrize("region", ["ap-east-2", "ap-southeast-6", "cn-north-1", "us-gov-west-1"])
def test_synth_refuses_snapstart_where_aws_does_not_offer_it(region: str) -> None:
    """AWS: SnapStart "is available in all commercial Regions except Asia Pacific (New Zealand)
    and Asia Pacific (Taipei)" (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html,
    Supported Regions). Synth stops with the setting to change instead of a failed deploy."""
    with pytest.raises(ConfigError, match=f"not offered in {region}.*ENABLE_SNAPSTART=false"):
        _build(region)


def test_the_cli_prints_the_snapstart_message_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_DEFAULT_REGION", "ap-east-2")
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps(NO_BUNDLING))
    monkeypatch.delenv("ENABLE_SNAPSTART", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    with pytest.raises(SystemExit) as stopped:
        main()
    assert str(stopped.value).startswith("infra.app: Lambda SnapStart is not offered in ap-east-2")


def test_snapstart_off_deploys_to_such_a_region() -> None:
    stack = _build("ap-east-2", ENABLE_SNAPSTART="false")
    # The authorizer, one MCP function per server, the authorization front.
    assert _snapstart(stack) == [None] * (2 + len(stack.functions.servers))


def test_snapstart_stays_on_in_an_offered_region() -> None:
    stack = _build("eu-west-1")
    assert len(stack.functions.servers) >= 1
    assert _snapstart(stack) == [{"ApplyOn": "PublishedVersions"}] * (2 + len(stack.functions.servers))


@pytest.mark.parametrize(
    ("region", "offered"),
    [("us-east-1", True), ("eu-central-2", True), ("mx-central-1", True), ("ap-east-1", True),
     ("ap-east-2", False), ("ap-southeast-6", False), ("cn-northwest-1", False),
     ("us-gov-east-1", False), ("us-iso-east-1", False), ("us-isob-east-1", False),
     ("eusc-de-east-1", False)],
)  # fmt: skip
def test_snapstart_region_list(region: str, offered: bool) -> None:
    assert snapstart_offered_in(region) is offered
    config = StackConfig()
    if offered:
        check_snapstart_region(config, region)
    else:
        with pytest.raises(ConfigError, match="ENABLE_SNAPSTART=false"):
            check_snapstart_region(config, region)
    check_snapstart_region(StackConfig(enable_snapstart=False), region)


def test_environment_agnostic_stack_is_not_checked(default_synth: Synth) -> None:
    """No region at synth (the tests synthesize env-agnostic): SnapStart stays on; a deploy to a
    region without it fails at the first function (infra/README-deploy.md names the setting)."""
    check_snapstart_region(StackConfig(), None)
    functions = default_synth.of_type("AWS::Lambda::Function").values()
    assert {json.dumps(f["Properties"].get("SnapStart")) for f in functions} == {
        json.dumps({"ApplyOn": "PublishedVersions"})
    }


# --- the auth-failure alarm ------------------------------------------------------------------------

_COMPARISON = re.compile(r'\$\.(\w+) = ("[^"]*"|\d+)')


def _matches(pattern: str, line: dict[str, Any]) -> bool:
    """Evaluate a CloudWatch Logs JSON filter pattern made of `$.key = value` comparisons, `&&`,
    `||` and parentheses (what `logs.FilterPattern` writes) against one parsed log line.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html"""
    body = pattern.strip()
    assert body[0] + body[-1] == "{}", pattern
    tokens = re.findall(r'\(|\)|&&|\|\||\$\.\w+ = (?:"[^"]*"|\d+)', body[1:-1])
    # Every character is a known token: anything else (NOT, ranges, wildcards) is not evaluated here.
    assert "".join(tokens).replace(" ", "") == body[1:-1].replace(" ", ""), pattern
    position = 0

    def chain(operator: str, operand: Callable[[], bool], combine: Callable[[bool, bool], bool]) -> bool:
        """operand (operator operand)*: every operand is evaluated, so every token is consumed."""
        nonlocal position
        value = operand()
        while position < len(tokens) and tokens[position] == operator:
            position += 1
            value = combine(value, operand())
        return value

    def expression() -> bool:
        return chain("||", lambda: chain("&&", factor, lambda a, b: a and b), lambda a, b: a or b)

    def factor() -> bool:
        nonlocal position
        token = tokens[position]
        position += 1
        if token == "(":
            value = expression()
            assert tokens[position] == ")", pattern
            position += 1
            return value
        found = _COMPARISON.fullmatch(token)
        assert found, token
        key, raw = found.groups()
        return bool(line.get(key) == json.loads(raw))

    result = expression()
    assert position == len(tokens), pattern
    return result


def _access_line(**context: object) -> dict[str, Any]:
    """The access log line API Gateway would write (the stack's real format), with these
    `$context` values (dots as underscores) and "-" for the rest, as API Gateway logs a missing value."""
    values = {key.replace("_", "."): value for key, value in context.items()}

    def fill(found: re.Match[str]) -> str:
        name = found.group(0)[len("$context.") :]
        value = values.get(name, "-")
        if name == "error.messageString":  # logged with its quotes
            return json.dumps(value)
        return str(value)

    line: dict[str, Any] = json.loads(re.sub(r"\$context\.[A-Za-z.]+", fill, access_log_format()))
    return line


def _pattern(synth: Synth) -> str:
    filters = synth.of_type("AWS::Logs::MetricFilter").values()
    (found,) = [
        f["Properties"]["FilterPattern"]
        for f in filters
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == "AuthorizationFailures"
    ]
    return str(found)


REQUESTS = {
    # (status, error.responseType, resourcePath): counted?
    "no or bad token on /mcp": (401, "UNAUTHORIZED", "/mcp", True),
    "authorizer Deny on /mcp (scope, revoked key)": (403, "ACCESS_DENIED", "/mcp", True),
    "scanner: unknown path": (403, "MISSING_AUTHENTICATION_TOKEN", "-", False),
    "scanner: unknown method on a real path": (403, "MISSING_AUTHENTICATION_TOKEN", "/health", False),
    "WAF block on /mcp": (403, "WAF_FILTERED", "/mcp", False),
    "authorizer crashed (alarmed by AuthorizerErrors)": (500, "AUTHORIZER_FAILURE", "/mcp", False),
    "front: invalid_client at /oauth/token": (401, "-", "/oauth/{proxy+}", False),
    "allowed call": (200, "-", "/mcp", False),
    "throttled": (429, "THROTTLED", "/mcp", False),
}


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_auth_failure_alarm_counts_only_authorizer_refusals(case: str, default_synth: Synth) -> None:
    """The synthesized metric filter, run on the lines the stack's access log format produces.
    Response types: https://docs.aws.amazon.com/apigateway/latest/developerguide/
    supported-gateway-response-types.html (WAF_FILTERED, MISSING_AUTHENTICATION_TOKEN, ...)."""
    status, kind, resource, counted = REQUESTS[case]
    line = _access_line(
        status=status,
        error_responseType=kind,
        resourcePath=resource,
        error_messageString="Forbidden",
        identity_sourceIp="203.0.113.9",
    )
    assert line["status"] == status
    assert line["errorType"] == kind
    assert _matches(_pattern(default_synth), line) is counted


def test_auth_failure_filter_is_the_shared_pattern_and_keeps_its_alarm(default_synth: Synth) -> None:
    paths = server_paths(default_synth)
    assert _pattern(default_synth) == authorizer_refusals(paths).log_pattern_string
    # With several MCP servers, any of their paths (test_servers.py).
    resource = " || ".join(f'($.resourcePath = "{path}")' for path in paths)
    assert _pattern(default_synth) == (
        (f"{{ {resource} && " if len(paths) == 1 else f"{{ ({resource}) && ")
        + '((($.status = 401) && ($.errorType = "UNAUTHORIZED")) || '
        '(($.status = 403) && ($.errorType = "ACCESS_DENIED"))) }'
    )
    alarms = default_synth.of_type("AWS::CloudWatch::Alarm")
    (alarm,) = [a for key, a in alarms.items() if "AuthFailureSpike" in key]
    assert alarm["Properties"]["MetricName"] == "AuthorizationFailures"
    assert alarm["Properties"]["Threshold"] == 50


# --- region: agnostic when synthesized without one, pinned when the CLI gives one ---------------------

REGION_LITERAL = re.compile(r"\b(?:us-gov|us|eu|ap|ca|sa|me|af|il|mx|cn)-[a-z]+-\d\b")


def test_a_synth_without_a_region_is_environment_agnostic(other: Synth) -> None:
    """`npx cdk synth` with no credentials: every region in the template is `AWS::Region`, so the
    same template deploys anywhere (CDK "Environments": an environment-agnostic stack)."""
    assert REGION_LITERAL.findall(other.template_path.read_text()) == []


def test_a_synth_for_a_region_names_that_region_and_no_other(tmp_path: Path) -> None:
    """`npx cdk deploy` with a profile: the CDK CLI sets CDK_DEFAULT_REGION/ACCOUNT, the stack is for
    that environment (which the SnapStart check needs), and the template names that region only."""
    app, stack = build_app(
        {**cdk_json_context(), **NO_BUNDLING},
        env={"CDK_DEFAULT_REGION": "eu-central-1", "CDK_DEFAULT_ACCOUNT": "123456789012"},
        outdir=str(tmp_path),
    )
    template = json.dumps(app.synth().get_stack_by_name(stack.stack_name).template)
    assert set(REGION_LITERAL.findall(template)) == {"eu-central-1"}
