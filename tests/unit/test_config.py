"""Settings: safe defaults, derived URLs, and errors that name the setting without its value."""

from __future__ import annotations

import pytest

from app.core.config import (
    DEFAULT_MAX_BODY_BYTES,
    AuthSettings,
    ConfigurationError,
    HttpSettings,
    ParameterReader,
    SettingsSource,
)


def test_defaults_are_one_mebibyte_no_origin_and_base_scope() -> None:
    assert HttpSettings.from_env({}).max_body_bytes == DEFAULT_MAX_BODY_BYTES == 1024 * 1024
    settings = AuthSettings.from_env("https://h.example/mcp", {})
    assert settings.allowed_origins == frozenset()
    assert settings.base_scope == "mcp/access"
    assert settings.issuer is None


@pytest.mark.parametrize(
    ("mcp_url", "metadata_url"),
    [
        (
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/mcp",
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/.well-known/oauth-protected-resource/mcp",
        ),
        ("https://mcp.example.com/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
        ("http://127.0.0.1:8787/mcp", "http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp"),
    ],
)
def test_resource_metadata_url_is_path_inserted_inside_the_stage(mcp_url: str, metadata_url: str) -> None:
    assert AuthSettings(mcp_url=mcp_url).resource_metadata_url == metadata_url


def test_canonical_url_is_always_an_accepted_audience() -> None:
    settings = AuthSettings.from_env(
        "https://h.example/mcp", {"OAUTH_AUDIENCES": "api://mcp, https://h.example/mcp"}
    )
    assert settings.accepted_audiences == ("https://h.example/mcp", "api://mcp")


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES"),
        ({"MAX_BODY_BYTES": "7"}, "MAX_BODY_BYTES"),
    ],
)
def test_malformed_http_setting_names_itself(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name) as info:
        HttpSettings.from_env(env)
    for value in env.values():
        assert value not in str(info.value)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ALLOWED_ORIGINS": "https://ok.example,app.example.com/path"}, "ALLOWED_ORIGINS"),
        ({"JWT_LEEWAY_SECONDS": "soon"}, "JWT_LEEWAY_SECONDS"),
        ({"JWKS_FETCH_TIMEOUT_SECONDS": "0"}, "JWKS_FETCH_TIMEOUT_SECONDS"),
        ({"OAUTH_BASE_SCOPE": "two scopes"}, "OAUTH_BASE_SCOPE"),
    ],
)
def test_malformed_auth_setting_names_itself(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        AuthSettings.from_env("https://h.example/mcp", env)


@pytest.mark.parametrize("url", ["", "h.example/mcp", "https://h.example/api", "https://h.example/mcp?x=1"])
def test_mcp_url_must_be_the_full_endpoint_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="MCP_URL"):
        SettingsSource(env={"MCP_URL": url}).auth()


class CountingReader(ParameterReader):
    """An SSM stand-in that counts reads and serves values from a dict."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__()
        self.values = values
        self.reads = 0

    def parameter(self, name: str, max_age: int) -> str:
        self.reads += 1
        return self.values[name]


def _ssm_source(values: dict[str, str], cache_seconds: str) -> tuple[SettingsSource, CountingReader]:
    reader = CountingReader(values)
    env = {
        "MCP_URL_PARAMETER": "/mcp/url",
        "AUTH_SETTINGS_PARAMETER": "/mcp/auth",
        "CONFIG_CACHE_SECONDS": cache_seconds,
    }
    return SettingsSource(env=env, reader=reader), reader


def test_parsed_settings_are_served_without_reading_until_the_cache_age() -> None:
    values = {"/mcp/url": "https://api.example.com/prod/mcp", "/mcp/auth": '{"base_scope": "mcp/a"}'}
    source, reader = _ssm_source(values, "300")
    first = source.auth()
    reads_after_first = reader.reads
    values["/mcp/auth"] = '{"base_scope": "mcp/b"}'
    assert source.auth() is first
    assert reader.reads == reads_after_first
    source.clear()  # what a SnapStart restore does: the next call reads again
    assert source.auth().base_scope == "mcp/b"
    assert reader.reads == 2 * reads_after_first


def test_a_zero_cache_age_reads_every_time_and_rebuilds_only_on_change() -> None:
    values = {"/mcp/url": "https://api.example.com/prod/mcp", "/mcp/auth": '{"base_scope": "mcp/a"}'}
    source, reader = _ssm_source(values, "0")
    first = source.auth()
    assert source.auth() is first  # same raw values: same parsed object
    assert reader.reads == 4
    values["/mcp/auth"] = '{"base_scope": "mcp/b"}'
    assert source.auth().base_scope == "mcp/b"


FRONT_MCP_URL = "https://abc.execute-api.us-east-1.amazonaws.com/prod/mcp"


def test_the_front_is_off_unless_switched_on() -> None:
    settings = AuthSettings.from_mapping(FRONT_MCP_URL, {"issuer": "https://idp.example.com"}, "test")
    assert settings.oauth_front is False
    assert settings.authorization_servers == ("https://idp.example.com",)


@pytest.mark.parametrize("issuer", ["https://idp.example.com", None])
def test_with_the_front_on_the_metadata_names_the_front_first(issuer: str | None) -> None:
    """The SDK's interactive client takes `authorization_servers[0]`: the front must be it; the
    upstream follows for machine clients, whose SDK provider looks for their issuer in the list."""
    settings = AuthSettings.from_mapping(FRONT_MCP_URL, {"issuer": issuer, "oauth_front": True}, "test")
    front = "https://abc.execute-api.us-east-1.amazonaws.com/prod/oauth"
    assert settings.authorization_servers == ((front, issuer) if issuer else (front,))
    assert settings.issuer == issuer  # still trusted directly by the authorizer


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, [True]])
def test_oauth_front_must_be_a_json_boolean(value: object) -> None:
    """`"false"` read as truthy would switch the front on: anything but true/false stops the start."""
    with pytest.raises(ConfigurationError, match="'oauth_front' must be true or false"):
        AuthSettings.from_mapping(FRONT_MCP_URL, {"oauth_front": value}, "SSM parameter /x")


@pytest.mark.parametrize(("raw", "on"), [("true", True), ("0", False), ("", False)])
def test_oauth_front_from_the_environment(raw: str, on: bool) -> None:
    assert AuthSettings.from_env(FRONT_MCP_URL, {"OAUTH_FRONT": raw}).oauth_front is on


def test_a_malformed_oauth_front_variable_names_itself() -> None:
    with pytest.raises(ConfigurationError, match="OAUTH_FRONT"):
        AuthSettings.from_env(FRONT_MCP_URL, {"OAUTH_FRONT": "maybe"})
