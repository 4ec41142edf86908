"""Tenant data on moto: STS AssumeRole with the tenant session tag, the table, the session cache.

moto accepts AssumeRole with session tags and signs DynamoDB requests with the session's
credentials, but does not evaluate `dynamodb:LeadingKeys` (FIELD-NOTES): what IAM would refuse is
evaluated offline in tests/infra/test_tenants.py and tests/e2e/test_tenants.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from app.core.config import ConfigurationError
from app.core.tenant_data import (
    MAX_TENANTS,
    SESSION_SECONDS,
    TenantAccessDenied,
    TenantData,
    TenantDataError,
    TenantDataSettings,
    TenantTable,
    _boto3_client,
)
from infra.tenant_policies import (
    PARTITION_KEY,
    SORT_KEY,
    create_table_request,
    document,
    tenant_items_statement,
    trust_statement,
)

MCP_ROLE = "arn:aws:iam::123456789012:role/mcp"


class Clock:
    """Starts at the real time (STS's `Expiration` is real: the cache trusts the earlier of the
    two), then moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings() -> Iterator[TenantDataSettings]:
    with mock_aws():
        table = boto3.client("dynamodb").create_table(**create_table_request("tenant-data"))[
            "TableDescription"
        ]["TableArn"]
        iam = boto3.client("iam")
        role = iam.create_role(
            RoleName="tenant-data", AssumeRolePolicyDocument=json.dumps(document(trust_statement(MCP_ROLE)))
        )["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="tenant-data",
            PolicyName="own",
            PolicyDocument=json.dumps(document(tenant_items_statement(table))),
        )
        yield TenantDataSettings(table_name="tenant-data", role_arn=role)


class Recording:
    """The real boto3 clients, with every AssumeRole request recorded."""

    def __init__(self) -> None:
        self.assume_requests: list[dict[str, Any]] = []

    def __call__(self, service: str, **kwargs: Any) -> Any:
        client = _boto3_client(service, **kwargs)
        if service == "sts":
            real = client.assume_role

            def assume_role(**request: Any) -> Any:
                self.assume_requests.append(request)
                return real(**request)

            client.assume_role = assume_role
        return client


def test_a_tenant_session_is_an_assumed_role_with_the_tenant_tag(settings: TenantDataSettings) -> None:
    recording = Recording()
    table = TenantData(settings, client_factory=recording).table_for("acme")
    (request,) = recording.assume_requests
    assert request["RoleArn"] == settings.role_arn
    assert request["Tags"] == [{"Key": "tenant", "Value": "acme"}]
    assert request["DurationSeconds"] == SESSION_SECONDS
    # The table client really signs with the session's credentials, not the function's.
    credentials = table.client._request_signer._credentials
    identity = boto3.client(
        "sts",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    ).get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/tenant-data/tenant-acme")


def test_items_are_written_and_read_in_the_tenants_partition(settings: TenantDataSettings) -> None:
    data = TenantData(settings)
    acme, globex = data.table_for("acme"), data.table_for("globex")
    acme.put("note#2", {"text": "second", "n": 2})
    acme.put("note#1", {"text": "first"})
    globex.put("note#1", {"text": "globex"})
    assert acme.get("note#1") == {"text": "first"}
    assert [item["text"] for item in acme.query("note#", limit=10)] == ["second", "first"]
    assert [item["text"] for item in globex.query("note#", limit=10)] == ["globex"]
    assert acme.query("other#", limit=10) == []
    with pytest.raises(ValueError, match="exists already"):
        acme.put("note#1", {"text": "again"})
    raw = boto3.client("dynamodb").scan(TableName=settings.table_name)["Items"]
    assert sorted((i[PARTITION_KEY]["S"], i[SORT_KEY]["S"]) for i in raw) == [
        ("acme", "note#1"),
        ("acme", "note#2"),
        ("globex", "note#1"),
    ]


def test_sessions_are_cached_per_tenant_and_renewed_before_they_expire(settings: TenantDataSettings) -> None:
    clock = Clock()
    data = TenantData(settings, clock=clock)
    first = data.table_for("acme")
    assert data.table_for("acme") is first
    data.table_for("globex")
    assert data.assumed == 2
    clock.now += SESSION_SECONDS - 300 - 1  # within the reuse window
    assert data.table_for("acme") is first
    clock.now += 2  # five minutes before the session ends: a new one
    assert data.table_for("acme") is not first
    assert data.assumed == 3
    data.clear()
    data.table_for("acme")
    assert data.assumed == 1


def test_the_cache_is_bounded(settings: TenantDataSettings) -> None:
    data = TenantData(settings)
    for index in range(MAX_TENANTS + 5):
        data.table_for(f"t{index}")
    assert len(data._tables) == MAX_TENANTS
    assert "t0" not in data._tables


@pytest.mark.parametrize("tenant", ["acme corp", "", "../globex", "acme:eu"])
def test_an_invalid_tenant_never_reaches_sts(settings: TenantDataSettings, tenant: str) -> None:
    recording = Recording()
    with pytest.raises(ValueError, match="tenant must be"):
        TenantData(settings, client_factory=recording).table_for(tenant)
    assert recording.assume_requests == []


class Refusing:
    """A DynamoDB client whose every call IAM refuses, as AWS would for another tenant's key."""

    class exceptions:  # botocore's attribute name
        ConditionalCheckFailedException = type("ConditionalCheckFailedException", (ClientError,), {})

    def get_item(self, **_: Any) -> Any:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "User ... is not authorized"}}
        raise ClientError(error, "GetItem")  # type: ignore[arg-type]


def test_an_iam_refusal_is_a_tenant_access_denied_that_names_no_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = TenantTable(Refusing(), "tenant-data", "acme")
    with pytest.raises(TenantAccessDenied, match="the tenant data policy refused this request") as caught:
        table.get("note#1")
    assert caught.value.code == "AccessDeniedException"
    assert isinstance(caught.value, TenantDataError)
    assert "tenant acme" in caplog.text  # the operator learns which tenant's code misbehaved


def test_a_role_that_cannot_be_assumed_is_a_clear_error(settings: TenantDataSettings) -> None:
    def failing(service: str, **kwargs: Any) -> Any:
        client = _boto3_client(service, **kwargs)
        if service == "sts":

            def refuse(**_: Any) -> Any:
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")

            client.assume_role = refuse
        return client

    with pytest.raises(TenantDataError, match="could not be assumed"):
        TenantData(settings, client_factory=failing).table_for("acme")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TENANT_TABLE_NAME": "t"}, "go together"),
        ({"TENANT_DATA_ROLE_ARN": "arn:aws:iam::123456789012:role/r"}, "go together"),
        ({"TENANT_TABLE_NAME": "t", "TENANT_DATA_ROLE_ARN": "tenant-data"}, "must be an IAM role ARN"),
    ],
)
def test_settings_name_what_to_fix(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        TenantDataSettings.from_env(env)
    assert TenantDataSettings.from_env({}) is None
