"""Deploy traps from issue 13: the API key store survives `cdk destroy` and template changes;
SnapStart is refused at synth in a region that does not offer it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.app import build_app, main
from infra.config import ConfigError, StackConfig, check_snapstart_region, snapstart_offered_in
from infra.stack import EMPTY_KEY_STORE_JSON, ServerlessMcpStack
from tests.infra.conftest import NO_BUNDLING, Synth, synthesize

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
    assert _snapstart(stack) == [None, None, None]  # authorizer, MCP, authorization front


def test_snapstart_stays_on_in_an_offered_region() -> None:
    stack = _build("eu-west-1")
    assert _snapstart(stack) == [{"ApplyOn": "PublishedVersions"}] * 3


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
