"""Stack configuration: defaults, context over environment, errors that say how to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import REPO_ROOT, ConfigError, OAuthFrontSettings, PreregisteredClient, StackConfig
from infra.registry import DeclaredScopes, declared_scopes

# One synthesis per module: with `pytest -n --dist loadgroup` the module stays on one worker.
pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-config")]


def test_defaults_are_the_documented_production_shape() -> None:
    config = StackConfig.from_sources({}, {})
    assert config == StackConfig()
    assert config.stack_name == "ServerlessMcp"
    assert config.stage_name == "prod"
    assert config.identity_provider == "cognito"
    assert config.base_scope == "mcp/access"
    assert config.authorizer_cache_ttl_seconds == 0
    assert config.audit_log_retention_days == 365
    assert (config.enable_waf, config.custom_domain_name, config.enable_xray) == (False, "", False)
    assert config.enable_snapstart is True
    assert config.app_source_dir == REPO_ROOT / "app"
    assert config.mcp_url_parameter_name == "/ServerlessMcp/mcp-url"
    assert config.auth_settings_parameter_name == "/ServerlessMcp/auth-settings"
    assert config.functions.authorizer_extra == {}
    assert config.functions.mcp_extra == {}


def test_context_wins_over_environment() -> None:
    config = StackConfig.from_sources(
        {"AUTHORIZER_CACHE_TTL_SECONDS": 60, "ENABLE_WAF": True},
        {"AUTHORIZER_CACHE_TTL_SECONDS": "120", "STAGE_NAME": "dev", "ENABLE_WAF": "false"},
    )
    assert config.authorizer_cache_ttl_seconds == 60
    assert config.enable_waf is True
    assert config.stage_name == "dev"


def test_context_lookup_function_is_accepted() -> None:
    values = {"STACK_NAME": "Other"}
    config = StackConfig.from_sources(values.get, {})
    assert config.mcp_url_parameter_name == "/Other/mcp-url"


def test_oidc_mode_uses_the_configured_issuer_and_scope() -> None:
    config = StackConfig.from_sources(
        {},
        {
            "IDENTITY_PROVIDER": "oidc",
            "OAUTH_ISSUER": "https://example.eu.auth0.com/",
            "OAUTH_AUDIENCES": "https://api.example.com, urn:mcp",
            "OAUTH_ALLOWED_CLIENT_IDS": "abc",
            "OAUTH_UPSTREAM_CLIENT_ID": "front-client",
            "OAUTH_UPSTREAM_CLIENT_SECRET_NAME": "mcp/front-client",
        },
    )
    assert config.identity_provider == "oidc"
    assert config.base_scope == "mcp/access"
    assert config.oauth_audiences == ("https://api.example.com", "urn:mcp")
    assert config.oauth_front.upstream_client_id == "front-client"
    assert config.oauth_front.upstream_client_secret_name == "mcp/front-client"


def test_function_switches_pass_through_only_when_set() -> None:
    config = StackConfig.from_sources(
        {}, {"JWT_LEEWAY_SECONDS": "10", "AUDIT_LOG_ARGUMENTS": "yes", "POWERTOOLS_LOG_LEVEL": "debug"}
    )
    assert config.functions.authorizer_extra == {"JWT_LEEWAY_SECONDS": "10"}
    assert config.functions.mcp_extra == {"AUDIT_LOG_ARGUMENTS": "true"}
    assert config.functions.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"IDENTITY_PROVIDER": "oidc"}, "OAUTH_ISSUER"),
        ({"IDENTITY_PROVIDER": "okta"}, "IDENTITY_PROVIDER must be one of"),
        ({"AUTHORIZER_CACHE_TTL_SECONDS": "4000"}, "AUTHORIZER_CACHE_TTL_SECONDS must be between 0 and 3600"),
        ({"AUTHORIZER_CACHE_TTL_SECONDS": "five"}, "whole number"),
        ({"AUDIT_LOG_RETENTION_DAYS": "100"}, "retention values"),
        ({"ENABLE_WAF": "maybe"}, "ENABLE_WAF must be true or false"),
        ({"CUSTOM_DOMAIN_NAME": "mcp.example.com"}, "CERTIFICATE_ARN"),
        ({"CUSTOM_DOMAIN_NAME": "mcp.example.com", "HOSTED_ZONE_ID": "Z123"}, "go together"),
        (
            {
                "CUSTOM_DOMAIN_NAME": "mcp.other.com",
                "HOSTED_ZONE_ID": "Z123",
                "HOSTED_ZONE_NAME": "example.com",
            },
            "inside HOSTED_ZONE_NAME",
        ),
        ({"COGNITO_CALLBACK_URLS": "http://evil.example.com/cb"}, "https"),
        ({"COGNITO_TOOL_SCOPES": "profile"}, "derived from the scopes the tools declare"),
        ({"COGNITO_DOMAIN_PREFIX": "my-cognito-app"}, "must not contain"),
        ({"STAGE_NAME": "prod/v1"}, "STAGE_NAME"),
        ({"POWERTOOLS_LOG_LEVEL": "LOUD"}, "POWERTOOLS_LOG_LEVEL"),
        ({"ALARM_EMAIL": "ops"}, "ALARM_EMAIL"),
        ({"ALLOWED_ORIGINS": "https://app.example.com/path"}, "ALLOWED_ORIGINS"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        StackConfig.from_sources({}, env)


# --- the authorization front ---------------------------------------------------------------------

OIDC = {"IDENTITY_PROVIDER": "oidc", "OAUTH_ISSUER": "https://example.eu.auth0.com/"}


def _client(**fields: object) -> str:
    entry: dict[str, object] = {"client_id": "agent", "redirect_uris": ["https://agent.example.com/cb"]}
    entry.update(fields)
    return json.dumps([entry])


def test_the_front_is_on_by_default_with_the_documented_limits() -> None:
    front = StackConfig.from_sources({}, {}).oauth_front
    assert front == OAuthFrontSettings()
    assert front.enabled is True
    assert (front.access_token_ttl_seconds, front.refresh_token_ttl_days) == (600, 30)
    assert (front.registration, front.registration_max_clients, front.registration_per_ip_per_hour) == (
        True,
        1000,
        10,
    )
    assert front.pre_approved_clients == ()
    assert front.preregistered_clients == ()
    assert StackConfig().oauth_front_settings_parameter_name == "/ServerlessMcp/oauth-front-settings"


def test_front_settings_are_read() -> None:
    front = StackConfig.from_sources(
        {"OAUTH_ACCESS_TOKEN_TTL_SECONDS": 300},
        {
            "OAUTH_PRE_APPROVED_CLIENTS": "agent, https://claude.ai/oauth/mcp-oauth-client-metadata",
            "OAUTH_PREREGISTERED_CLIENTS": _client(
                client_name="Agent", redirect_uris=["https://agent.example.com/cb", "http://127.0.0.1/cb"]
            ),
            "OAUTH_REFRESH_TOKEN_TTL_DAYS": "7",
            "OAUTH_REGISTRATION": "false",
            "OAUTH_REGISTRATION_MAX_CLIENTS": "50",
            "OAUTH_REGISTRATION_PER_IP_PER_HOUR": "3",
        },
    ).oauth_front
    assert front.access_token_ttl_seconds == 300
    assert front.pre_approved_clients == ("agent", "https://claude.ai/oauth/mcp-oauth-client-metadata")
    assert front.preregistered_clients == (
        PreregisteredClient("agent", ("https://agent.example.com/cb", "http://127.0.0.1/cb"), "Agent"),
    )
    assert front.preregistered_clients[0].as_dict() == {
        "client_id": "agent",
        "client_name": "Agent",
        "redirect_uris": ["https://agent.example.com/cb", "http://127.0.0.1/cb"],
    }
    assert (front.refresh_token_ttl_days, front.registration) == (7, False)
    assert (front.registration_max_clients, front.registration_per_ip_per_hour) == (50, 3)


def test_preregistered_clients_as_a_list_in_cdk_json_context() -> None:
    entry = {"client_id": "agent", "redirect_uris": ["https://agent.example.com/cb"]}
    front = StackConfig.from_sources({"OAUTH_PREREGISTERED_CLIENTS": [entry]}, {}).oauth_front
    assert [client.client_id for client in front.preregistered_clients] == ["agent"]


@pytest.mark.parametrize("missing", ["OAUTH_UPSTREAM_CLIENT_ID", "OAUTH_UPSTREAM_CLIENT_SECRET_NAME", "both"])
def test_oidc_with_the_front_names_both_upstream_settings(missing: str) -> None:
    env = {**OIDC, "OAUTH_UPSTREAM_CLIENT_ID": "c", "OAUTH_UPSTREAM_CLIENT_SECRET_NAME": "s"}
    for name in ("OAUTH_UPSTREAM_CLIENT_ID", "OAUTH_UPSTREAM_CLIENT_SECRET_NAME"):
        if missing in (name, "both"):
            del env[name]
    with pytest.raises(ConfigError) as raised:
        StackConfig.from_sources({}, env)
    message = str(raised.value)
    assert "OAUTH_UPSTREAM_CLIENT_ID" in message
    assert "OAUTH_UPSTREAM_CLIENT_SECRET_NAME" in message


def test_oidc_without_the_front_needs_no_upstream_client() -> None:
    config = StackConfig.from_sources({}, {**OIDC, "OAUTH_FRONT": "false"})
    assert config.oauth_front.enabled is False


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"OAUTH_FRONT": "sometimes"}, "OAUTH_FRONT must be true or false"),
        (
            {"OAUTH_ACCESS_TOKEN_TTL_SECONDS": "30"},
            "OAUTH_ACCESS_TOKEN_TTL_SECONDS must be between 60 and 3600",
        ),
        (
            {"OAUTH_ACCESS_TOKEN_TTL_SECONDS": "7200"},
            "OAUTH_ACCESS_TOKEN_TTL_SECONDS must be between 60 and 3600",
        ),
        ({"OAUTH_REFRESH_TOKEN_TTL_DAYS": "0"}, "OAUTH_REFRESH_TOKEN_TTL_DAYS must be between 1 and 90"),
        ({"OAUTH_REGISTRATION": "perhaps"}, "OAUTH_REGISTRATION must be true or false"),
        ({"OAUTH_REGISTRATION_MAX_CLIENTS": "-1"}, "OAUTH_REGISTRATION_MAX_CLIENTS"),
        ({"OAUTH_REGISTRATION_PER_IP_PER_HOUR": "many"}, "OAUTH_REGISTRATION_PER_IP_PER_HOUR"),
        ({"OAUTH_PRE_APPROVED_CLIENTS": 'a,"b"'}, "OAUTH_PRE_APPROVED_CLIENTS"),
        ({"OAUTH_PREREGISTERED_CLIENTS": "agent"}, "OAUTH_PREREGISTERED_CLIENTS must be a JSON list"),
        ({"OAUTH_PREREGISTERED_CLIENTS": '{"client_id": "a"}'}, "JSON list of client objects"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(client_id="")}, "needs a client_id"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(redirect_uris=[])}, "needs redirect_uris"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(secret="x")}, "unknown key"),
        # Plain http only on a loopback host; no look-alike host, userinfo or fragment.
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(redirect_uris=["http://agent.example.com/cb"])}, "https"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(redirect_uris=["http://localhost.evil.com/cb"])}, "https"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(redirect_uris=["https://a.com@evil.com/cb"])}, "https"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(redirect_uris=["https://a.com/cb#x"])}, "fragment"),
        ({"OAUTH_PREREGISTERED_CLIENTS": _client(redirect_uris=["/cb"])}, "https"),
        (
            {"OAUTH_PREREGISTERED_CLIENTS": json.dumps([json.loads(_client())[0]] * 2)},
            "same client_id twice",
        ),
        (
            {
                **OIDC,
                "OAUTH_UPSTREAM_CLIENT_ID": "c",
                "OAUTH_UPSTREAM_CLIENT_SECRET_NAME": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
            },
            "secret NAME",
        ),
        (
            {
                **OIDC,
                "OAUTH_UPSTREAM_CLIENT_ID": "c",
                "OAUTH_UPSTREAM_CLIENT_SECRET_NAME": "s",
                "OAUTH_UPSTREAM_SCOPES": "email,offline_access",
            },
            "include openid",
        ),
    ],
)
def test_bad_front_values_name_the_setting(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        StackConfig.from_sources({}, env)


def test_the_declared_scopes_come_from_the_tool_registry() -> None:
    from app.mcp.server import build_server
    from app.servers import REGISTRY

    declared = declared_scopes(REPO_ROOT / "app")
    # Every server's scopes (the Cognito resource server issues them all).
    every_scope = {
        scope for spec in REGISTRY.servers for scope in build_server(spec).requirements.all_scopes()
    }
    assert declared.scopes == tuple(sorted(every_scope))
    assert declared.cognito_scope_names() == tuple(s.removeprefix("mcp/") for s in declared.scopes)


@pytest.mark.parametrize("scope", ["admin", "other/admin", "mcp/a b", 'mcp/"x"'])
def test_a_tool_scope_cognito_cannot_issue_stops_synth_naming_the_tool(scope: str) -> None:
    declared = DeclaredScopes({"version": 1, "tools": {"deploy": [scope], "add": []}})
    with pytest.raises(ConfigError, match=r"tools/deploy requires the scope"):
        declared.cognito_scope_names()


def test_a_registry_that_does_not_load_stops_synth_with_its_error(tmp_path: Path) -> None:
    broken = tmp_path / "app"
    broken.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "mcp").mkdir()
    (broken / "mcp" / "__init__.py").write_text("")
    (broken / "mcp" / "tool_scopes_export.py").write_text("raise RuntimeError('tools/notes.py: bad scope')\n")
    with pytest.raises(ConfigError, match="bad scope"):
        declared_scopes(broken)
