"""Deploy traps from issue 13: the API key store survives `cdk destroy` and template changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.stack import EMPTY_KEY_STORE_JSON
from tests.infra.conftest import Synth, synthesize

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
