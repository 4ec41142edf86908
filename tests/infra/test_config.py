"""Stack configuration: defaults, context over environment, errors that say how to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import REPO_ROOT, ConfigError, StackConfig
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
        },
    )
    assert config.identity_provider == "oidc"
    assert config.base_scope == "mcp/access"
    assert config.oauth_audiences == ("https://api.example.com", "urn:mcp")


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


def test_the_declared_scopes_come_from_the_tool_registry() -> None:
    from app.mcp.server import build_server

    declared = declared_scopes(REPO_ROOT / "app")
    assert declared.scopes == tuple(sorted(build_server().requirements.all_scopes()))
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
