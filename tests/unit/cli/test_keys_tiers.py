"""`keys create --tier`, `keys list`, `keys revoke` with usage plans (docs/quotas.md).

Against a moto server set up as the local stack sets it up (a usage plan per tier in API
Gateway, the key store in Secrets Manager, the state file `make dev` writes), through `main()`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.core.key_store import SecretsManagerKeyStore
from tests.unit.cli.conftest import assert_one_line_error, call


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _client(service: Literal["apigateway", "secretsmanager"], endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


@dataclass
class LocalState:
    state_dir: Path
    secret_id: str
    store: SecretsManagerKeyStore
    plans: dict[str, str]
    apigateway: Any

    def args(self, *extra: str) -> list[str]:
        return ["--local", "--state-dir", str(self.state_dir), *extra]

    def plan_members(self, tier: str) -> set[str]:
        return {
            key["id"] for key in self.apigateway.get_usage_plan_keys(usagePlanId=self.plans[tier])["items"]
        }

    def key_ids(self) -> set[str]:
        return {key["id"] for key in self.apigateway.get_api_keys()["items"]}


def _state(tmp_path: Path, endpoint: str, *, usage: bool = True) -> LocalState:
    apigateway = _client("apigateway", endpoint)
    suffix = secrets.token_hex(4)
    plans = {
        tier: apigateway.create_usage_plan(
            name=f"{tier}-{suffix}", throttle={"rateLimit": 1.0, "burstLimit": 2}
        )["id"]
        for tier in ("standard", "tiny")
    }
    secret = f"serverless-mcp/test/{suffix}"
    _client("secretsmanager", endpoint).create_secret(Name=secret, SecretString="{}")
    state: dict[str, Any] = {
        "aws_endpoint": endpoint,
        "api_keys_secret_id": secret,
        "issuer": "http://127.0.0.1:9/issuer",
    }
    if usage:
        state.update({"usage_plans": plans, "usage_default_tier": "standard"})
    (tmp_path / "credentials.json").write_text(json.dumps(state))
    store = SecretsManagerKeyStore(secret, _client("secretsmanager", endpoint))
    return LocalState(tmp_path, secret, store, plans, apigateway)


@pytest.fixture
def local(tmp_path: Path, moto_endpoint: str) -> LocalState:
    return _state(tmp_path, moto_endpoint)


def create(capsys: pytest.CaptureFixture[str], local: LocalState, *extra: str) -> tuple[int, str, str]:
    return call(capsys, "keys", "create", *local.args("--owner", "agent", "--scopes", "mcp/access", *extra))


def test_create_with_a_tier_gives_the_key_its_own_usage_key_in_that_tiers_plan(
    capsys: pytest.CaptureFixture[str], local: LocalState
) -> None:
    code, out, err = create(capsys, local, "--tier", "tiny")
    assert code == 0, err
    (record,) = local.store.list_keys()
    assert record.tier == "tiny"
    assert local.plan_members("tiny") == {record.usage_key_id}
    assert local.plan_members("standard") == set()
    value = local.apigateway.get_api_key(apiKey=record.usage_key_id, includeValue=True)["value"]
    assert record.usage_key == value
    assert value not in out + err  # the key is printed, its usage key never
    assert out.strip().startswith("mcpk_")


def test_create_without_a_tier_uses_the_default_tier(
    capsys: pytest.CaptureFixture[str], local: LocalState
) -> None:
    assert create(capsys, local)[0] == 0
    (record,) = local.store.list_keys()
    assert record.tier == "standard"
    assert local.plan_members("standard") == {record.usage_key_id}


def test_an_unknown_tier_is_a_one_line_error_that_changes_nothing(
    capsys: pytest.CaptureFixture[str], local: LocalState
) -> None:
    before = local.key_ids()
    code, out, err = create(capsys, local, "--tier", "gold")
    assert code == 2
    assert out == ""
    assert_one_line_error(err, "--tier gold", "standard", "tiny")
    assert local.store.list_keys() == ()
    assert local.key_ids() == before


def test_a_tier_without_the_usage_plans_at_hand_is_refused(
    capsys: pytest.CaptureFixture[str], local: LocalState
) -> None:
    code, _, err = call(
        capsys,
        "keys",
        "create",
        "--secret-id",
        local.secret_id,
        "--owner",
        "a",
        "--scopes",
        "mcp/access",
        "--tier",
        "tiny",
    )
    assert code == 2
    assert_one_line_error(err, "--tier needs the usage plans", "--stack", "--local")


def test_list_shows_each_keys_tier_and_usage_key_id_never_its_value(
    capsys: pytest.CaptureFixture[str], local: LocalState
) -> None:
    create(capsys, local, "--tier", "tiny")
    (record,) = local.store.list_keys()
    code, out, _ = call(capsys, "keys", "list", *local.args())
    assert code == 0
    assert out.strip().endswith(f"tier=tiny (usage key {record.usage_key_id})")
    assert str(record.usage_key) not in out


def test_revoke_deletes_the_usage_key_unless_a_rotated_successor_shares_it(
    capsys: pytest.CaptureFixture[str], local: LocalState
) -> None:
    create(capsys, local, "--tier", "tiny")
    (first,) = local.store.list_keys()
    code, _, err = call(capsys, "keys", "rotate", *local.args("--key-id", first.key_id))
    assert code == 0, err
    assert call(capsys, "keys", "revoke", *local.args("--key-id", first.key_id))[0] == 0
    assert first.usage_key_id in local.key_ids()  # the successor is metered under it
    successor = next(record for record in local.store.list_keys() if record.key_id != first.key_id)
    assert successor.usage_key_id == first.usage_key_id
    assert call(capsys, "keys", "revoke", *local.args("--key-id", successor.key_id))[0] == 0
    assert first.usage_key_id not in local.key_ids()
    assert local.plan_members("tiny") == set()


def test_with_usage_plans_off_keys_get_no_tier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, moto_endpoint: str
) -> None:
    local = _state(tmp_path, moto_endpoint, usage=False)
    assert create(capsys, local)[0] == 0
    (record,) = local.store.list_keys()
    assert (record.tier, record.usage_key_id) == (None, None)
    out = call(capsys, "keys", "list", *local.args())[1]
    assert out.strip().endswith("tier=default")
    code, _, err = create(capsys, local, "--tier", "tiny")
    assert code == 2
    assert_one_line_error(err, "--tier needs the usage plans")


def test_with_stack_the_plans_come_from_its_outputs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    """`--stack NAME` reads ApiKeysSecretArn, UsagePlanIds and UsageDefaultTier (the stack's
    outputs, infra/stack.py), as deployed."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    apigateway = _client("apigateway", moto_endpoint)
    suffix = secrets.token_hex(4)
    plans = {
        tier: apigateway.create_usage_plan(name=f"{tier}-{suffix}")["id"] for tier in ("standard", "premium")
    }
    arn = _client("secretsmanager", moto_endpoint).create_secret(Name=f"store-{suffix}", SecretString="{}")[
        "ARN"
    ]
    outputs = {
        "ApiKeysSecretArn": {"Value": arn},
        "UsagePlanIds": {"Value": json.dumps(plans, separators=(",", ":"))},
        "UsageDefaultTier": {"Value": "standard"},
    }
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name="us-east-1").create_stack(
        StackName=f"Mcp{suffix}", TemplateBody=json.dumps(template)
    )
    code, _, err = call(
        capsys,
        "keys",
        "create",
        "--stack",
        f"Mcp{suffix}",
        "--owner",
        "ci",
        "--scopes",
        "mcp/access",
        "--tier",
        "premium",
    )
    assert code == 0, err
    (record,) = SecretsManagerKeyStore(arn, _client("secretsmanager", moto_endpoint)).list_keys()
    assert record.tier == "premium"
    members = {key["id"] for key in apigateway.get_usage_plan_keys(usagePlanId=plans["premium"])["items"]}
    assert members == {record.usage_key_id}
