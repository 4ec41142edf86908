"""Settings read from SSM Parameter Store and Secrets Manager (moto), cached and refreshed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.core.config import ConfigurationError, SettingsSource

MCP_URL = "https://abc.execute-api.us-east-1.amazonaws.com/prod/mcp"
AUTH_SETTINGS = {
    "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
    "audiences": [],
    "allowed_client_ids": ["client-a", "client-b"],
    "base_scope": "mcp/access",
    "allowed_origins": ["https://app.example.com"],
}
ENV = {
    "MCP_URL_PARAMETER": "/serverless-mcp/test/mcp-url",
    "AUTH_SETTINGS_PARAMETER": "/serverless-mcp/test/auth-settings",
    "API_KEYS_SECRET_ID": "serverless-mcp/test/api-keys",
    "UPSTREAM_SECRET_ID": "serverless-mcp/test/upstream",
    "CONFIG_CACHE_SECONDS": "300",
    "API_KEYS_CACHE_SECONDS": "300",
}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        ssm.put_parameter(Name=ENV["MCP_URL_PARAMETER"], Value=MCP_URL, Type="String")
        ssm.put_parameter(Name=ENV["AUTH_SETTINGS_PARAMETER"], Value=json.dumps(AUTH_SETTINGS), Type="String")
        secrets.create_secret(
            Name=ENV["API_KEYS_SECRET_ID"], SecretString=json.dumps({"version": 1, "keys": []})
        )
        secrets.create_secret(
            Name=ENV["UPSTREAM_SECRET_ID"], SecretString="upstream-v1-not-a-real-credential"
        )
        yield {"ssm": ssm, "secrets": secrets}


def test_values_are_read_from_ssm_and_secrets_manager(aws: dict[str, Any]) -> None:
    source = SettingsSource(env=ENV)
    settings = source.auth()
    assert settings.mcp_url == MCP_URL
    assert settings.issuer == AUTH_SETTINGS["issuer"]
    assert settings.allowed_client_ids == ("client-a", "client-b")
    assert settings.allowed_origins == frozenset({"https://app.example.com"})
    assert settings.resource_metadata_url.endswith("/prod/.well-known/oauth-protected-resource/mcp")
    assert source.api_key_store() == {"version": 1, "keys": []}
    assert source.upstream_credential() == "upstream-v1-not-a-real-credential"


def test_values_are_cached_until_max_age_then_refreshed(aws: dict[str, Any]) -> None:
    source = SettingsSource(env={**ENV, "CONFIG_CACHE_SECONDS": "1"})
    first = source.auth()
    assert source.auth() is first  # unchanged raw values: the parsed settings are reused
    aws["ssm"].put_parameter(
        Name=ENV["AUTH_SETTINGS_PARAMETER"],
        Value=json.dumps({**AUTH_SETTINGS, "base_scope": "mcp/other"}),
        Type="String",
        Overwrite=True,
    )
    assert source.auth().base_scope == "mcp/access"  # still cached
    time.sleep(1.1)  # past the 1 s max age (a wait, not a timing assertion)
    assert source.auth().base_scope == "mcp/other"


def test_a_rotated_secret_is_picked_up_after_the_cache_age(aws: dict[str, Any]) -> None:
    source = SettingsSource(env={**ENV, "CONFIG_CACHE_SECONDS": "1"})
    assert source.upstream_credential() == "upstream-v1-not-a-real-credential"
    aws["secrets"].put_secret_value(SecretId=ENV["UPSTREAM_SECRET_ID"], SecretString="upstream-v2-rotated")
    assert source.upstream_credential() == "upstream-v1-not-a-real-credential"
    time.sleep(1.1)
    assert source.upstream_credential() == "upstream-v2-rotated"


def test_clear_forces_a_refetch(aws: dict[str, Any]) -> None:
    source = SettingsSource(env=ENV)
    assert source.upstream_credential() == "upstream-v1-not-a-real-credential"
    aws["secrets"].put_secret_value(SecretId=ENV["UPSTREAM_SECRET_ID"], SecretString="upstream-v2-rotated")
    source.clear()
    assert source.upstream_credential() == "upstream-v2-rotated"


def test_missing_parameter_names_the_setting_and_the_fix(aws: dict[str, Any]) -> None:
    source = SettingsSource(env={**ENV, "MCP_URL_PARAMETER": "/serverless-mcp/test/does-not-exist"})
    with pytest.raises(ConfigurationError) as info:
        source.auth()
    message = str(info.value)
    assert "MCP_URL_PARAMETER" in message
    assert "/serverless-mcp/test/does-not-exist" in message
    assert "check that it exists" in message


def test_malformed_auth_settings_json_is_a_clear_error(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(
        Name=ENV["AUTH_SETTINGS_PARAMETER"], Value="{not json", Type="String", Overwrite=True
    )
    with pytest.raises(ConfigurationError, match=r"AUTH_SETTINGS_PARAMETER.*must hold a JSON object"):
        SettingsSource(env=ENV).auth()


def test_missing_secret_error_never_contains_a_secret_value(aws: dict[str, Any]) -> None:
    aws["secrets"].put_secret_value(SecretId=ENV["API_KEYS_SECRET_ID"], SecretString="[1, 2, 3] hunter2")
    with pytest.raises(ConfigurationError) as info:
        SettingsSource(env=ENV).api_key_store()
    assert "API_KEYS_SECRET_ID" in str(info.value)
    assert "hunter2" not in str(info.value)
