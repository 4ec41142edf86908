"""The front's settings: every key's bounds, errors that name the setting (never its value), the
environment names, missing or malformed SSM parameters and secrets, and preregistered clients
checked by the same rules as a registration (RFC 7591 §2).

A deployment reads these errors in CloudWatch: each must say which setting is wrong and how, and
none may carry a value (the upstream client secret is read beside them).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app.core.config import ConfigurationError, SettingsSource
from app.oauth.settings import (
    SEALING_KEY,
    SETTINGS_PARAMETER,
    SIGNING_KEY,
    TABLE_NAME,
    UPSTREAM_SECRET,
    FrontSettingsSource,
    parse_front_settings,
)
from tests.unit.oauth.front_harness import MCP_URL, REDIRECT, REGION, UPSTREAM, create_aws, settings_document

SOURCE = "SSM parameter /mcp/front"
SECRET = "upstream-secret-" + "x" * 8  # a recognisable value: it must appear in no error


def parse(document: dict[str, Any], mcp_url: str = MCP_URL) -> Any:
    return parse_front_settings(
        document,
        mcp_url=mcp_url,
        client_secret=SECRET,
        table_name="t",
        signing_key_id="sign",
        sealing_key_id="seal",
        source=SOURCE,
    )


def refused(document: dict[str, Any], *names: str) -> str:
    """The error message for `document`; it names the source and every one of `names`."""
    with pytest.raises(ConfigurationError) as info:
        parse(document)
    message = str(info.value)
    assert SOURCE in message
    for name in names:
        assert name in message
    assert SECRET not in message
    return message


def test_the_defaults_of_a_minimal_document() -> None:
    settings = parse({"upstream_issuer": UPSTREAM, "upstream_client_id": "front"})
    assert settings.issuer == "https://api.example.test/prod/oauth"
    assert settings.upstream.redirect_uri == "https://api.example.test/prod/oauth/callback"
    assert settings.upstream.scopes == ("openid", "email")
    assert settings.scopes == ("mcp/access",)
    assert settings.base_scope == "mcp/access"
    assert (settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds) == (600, 2_592_000)
    assert (settings.code_ttl_seconds, settings.login_ttl_seconds) == (60, 600)
    assert settings.registration_enabled is True
    assert (settings.registration_max_clients, settings.registration_per_ip_per_hour) == (1000, 10)
    assert settings.preregistered_clients == {}
    assert settings.pre_approved_clients == frozenset()


def test_the_secret_is_in_no_repr() -> None:
    settings = parse(settings_document())
    assert SECRET not in repr(settings)
    assert settings.upstream.client_secret == SECRET


@pytest.mark.parametrize("key", ["upstream_issuer", "upstream_client_id"])
@pytest.mark.parametrize("value", [None, ""])
def test_the_two_upstream_keys_are_required(key: str, value: str | None) -> None:
    document = settings_document()
    if value is None:
        del document[key]
    else:
        document[key] = value
    assert "is required" in refused(document, f"'{key}'")


@pytest.mark.parametrize(
    ("key", "default", "low", "high"),
    [
        ("access_token_ttl_seconds", 600, 60, 3600),
        ("refresh_token_ttl_seconds", 2_592_000, 3600, 90 * 86400),
        ("code_ttl_seconds", 60, 10, 600),
        ("login_ttl_seconds", 600, 60, 3600),
        ("registration_max_clients", 1000, 0, 1_000_000),
        ("registration_per_ip_per_hour", 10, 0, 10_000),
        ("cimd_fetches_per_ip_per_hour", 60, 1, 100_000),
    ],
)
def test_every_number_has_bounds_and_its_error_names_it(key: str, default: int, low: int, high: int) -> None:
    assert getattr(parse(settings_document()), key) in (default, settings_document().get(key))
    assert getattr(parse(settings_document(**{key: low})), key) == low
    assert getattr(parse(settings_document(**{key: high})), key) == high
    for bad in (low - 1, high + 1, str(default), True, 1.5, None, [default]):
        message = refused(settings_document(**{key: bad}), f"'{key}'", f"from {low} to {high}")
        assert repr(bad) not in message.split(":", 1)[1].replace(f"from {low} to {high}", "")


@pytest.mark.parametrize("value", ["yes", 1, None, "true"])
def test_registration_enabled_is_a_boolean(value: object) -> None:
    refused(settings_document(registration_enabled=value), "'registration_enabled'", "true or false")
    assert parse(settings_document(registration_enabled=False)).registration_enabled is False


@pytest.mark.parametrize("key", ["scopes", "upstream_scopes", "pre_approved_clients"])
@pytest.mark.parametrize("value", ["mcp/access", [""], [1], {"a": 1}])
def test_lists_must_be_lists_of_non_empty_strings(key: str, value: object) -> None:
    refused(settings_document(**{key: value}), f"'{key}'")


def test_scopes_are_scope_tokens_and_always_hold_the_base_scope() -> None:
    refused(settings_document(scopes=['mcp/"admin']), "'scopes'", "scope tokens")
    refused(settings_document(scopes=["mcp admin"]), "'scopes'")
    settings = parse(settings_document(scopes=["mcp/admin"], base_scope="mcp/base"))
    assert settings.scopes == ("mcp/base", "mcp/admin")


def test_a_bad_base_scope_names_the_key_of_this_document() -> None:
    message = refused(settings_document(base_scope="two words"), "'base_scope'")
    assert "OAUTH_BASE_SCOPE" not in message  # the authorizer's env variable is not what is wrong here
    assert "two words" not in message


def test_the_upstream_issuer_must_be_https_and_the_scopes_ask_for_openid() -> None:
    refused(settings_document(upstream_issuer="http://idp.example.test"), "upstream_issuer", "https")
    refused(settings_document(upstream_scopes=["email"]), "upstream_scopes", "openid")
    local = parse(settings_document(upstream_issuer="http://127.0.0.1:9000"), "http://127.0.0.1:8787/mcp")
    assert local.upstream.redirect_uri == "http://127.0.0.1:8787/oauth/callback"


def test_the_federated_provider_to_name_upstream_is_passed_on_and_checked() -> None:
    assert parse(settings_document()).upstream.identity_provider is None
    assert parse(settings_document(upstream_identity_provider="Entra")).upstream.identity_provider == "Entra"
    refused(settings_document(upstream_identity_provider="x" * 33), "upstream_identity_provider", "1-32")
    refused(
        settings_document(upstream_identity_provider=7), "'upstream_identity_provider'", "must be a string"
    )


def test_a_string_where_a_string_is_expected() -> None:
    refused(settings_document(upstream_client_id=42), "'upstream_client_id'", "must be a string")


def test_an_unknown_key_is_named_not_ignored() -> None:
    """A typo such as `acess_token_ttl_seconds` would otherwise leave the default in force silently."""
    message = refused(settings_document(acess_token_ttl_seconds=60), "'acess_token_ttl_seconds'", "known:")
    assert "access_token_ttl_seconds" in message


def test_the_mcp_url_must_end_in_mcp() -> None:
    with pytest.raises(ConfigurationError, match="MCP_URL must end in /mcp"):
        parse(settings_document(), "https://api.example.test/prod/other")


# --- preregistered clients ----------------------------------------------------------------


def client(**overrides: Any) -> dict[str, Any]:
    return {"client_id": "cli", "client_name": "CLI", "redirect_uris": [REDIRECT], **overrides}


def test_preregistered_clients_are_parsed_and_refresh_by_default() -> None:
    settings = parse(settings_document(preregistered_clients=[client(), client(client_id="other")]))
    assert set(settings.preregistered_clients) == {"cli", "other"}
    metadata = settings.preregistered_clients["cli"]
    assert metadata.redirect_uris == (REDIRECT,)
    assert metadata.grant_types == ("authorization_code", "refresh_token")
    assert metadata.token_endpoint_auth_method == "none"
    narrow = parse(settings_document(preregistered_clients=[client(grant_types=["authorization_code"])]))
    assert narrow.preregistered_clients["cli"].grant_types == ("authorization_code",)


@pytest.mark.parametrize(
    ("clients", "says"),
    [
        ({"client_id": "cli"}, "must be a list of objects"),
        (["cli"], "needs a 'client_id'"),
        ([client(client_id="")], "needs a 'client_id'"),
        ([client(client_id=7)], "needs a 'client_id'"),
        ([client(redirect_uris=["http://evil.example.test/cb"])], "redirect_uris[1]"),
        ([client(redirect_uris=[])], "redirect_uris must be a non-empty array"),
        ([client(redirect_uris=["https://app.example.test/cb#frag"])], "fragment"),
        ([client(grant_types=["client_credentials"])], "grant_types"),
        ([client(client_name="Evil\u202eppA")], "client_name contains control"),
        ([client(), client()], "listed twice"),
        ([client(token_endpoint_auth_method="client_secret_basic")], "must be none"),
    ],
)
def test_preregistered_clients_are_validated(clients: object, says: str) -> None:
    message = refused(settings_document(preregistered_clients=clients), says)
    assert "evil.example.test" not in message  # a redirect URI is never repeated


def test_pre_approved_clients_must_be_known_by_name() -> None:
    """Registered ids are random: pre-approving another name is a typo, or approves nothing."""
    refused(settings_document(pre_approved_clients=["inspectr"]), "'pre_approved_clients'")
    cimd = "https://app.example.test/client.json"
    settings = parse(settings_document(pre_approved_clients=["inspector", cimd]))
    assert settings.pre_approved_clients == frozenset({"inspector", cimd})
    refused(settings_document(pre_approved_clients=["https://app.example.test/"]), "'pre_approved_clients'")


# --- where the settings live: environment names, SSM, Secrets Manager ------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield create_aws(settings_document()).env


def source_for(env: dict[str, str]) -> FrontSettingsSource:
    return FrontSettingsSource(SettingsSource(env=dict(env)))


def test_the_settings_are_read_from_ssm_and_secrets_manager(aws: dict[str, str]) -> None:
    settings = source_for(aws).settings()
    assert settings.mcp_url == MCP_URL
    assert settings.table_name == aws[TABLE_NAME]
    assert settings.signing_key_id == aws[SIGNING_KEY]
    assert settings.sealing_key_id == aws[SEALING_KEY]
    assert set(settings.preregistered_clients) == {"inspector"}


@pytest.mark.parametrize("name", [SETTINGS_PARAMETER, UPSTREAM_SECRET, TABLE_NAME, SIGNING_KEY, SEALING_KEY])
@pytest.mark.parametrize("value", [None, "  "])
def test_every_environment_name_is_required(name: str, value: str | None) -> None:
    """Checked before anything is read (the MCP URL comes from the direct variable here: no AWS)."""
    names = (SETTINGS_PARAMETER, UPSTREAM_SECRET, TABLE_NAME, SIGNING_KEY, SEALING_KEY)
    env = {"MCP_URL": MCP_URL, **{setting: "configured" for setting in names}}
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(ConfigurationError, match=f"^{name} is not set"):
        source_for(env).settings()


@pytest.mark.parametrize(
    ("name", "what"), [(SETTINGS_PARAMETER, "SSM parameter"), (UPSTREAM_SECRET, "secret")]
)
def test_a_missing_parameter_or_secret_names_the_setting_and_the_fix(
    aws: dict[str, str], name: str, what: str
) -> None:
    env = {**aws, name: "/mcp/absent"}
    with pytest.raises(ConfigurationError) as info:
        source_for(env).settings()
    message = str(info.value)
    assert message.startswith(f"{name}: could not read {what} /mcp/absent")
    assert "role may read it" in message


def test_settings_that_are_not_a_json_object_are_refused_without_echoing_them(aws: dict[str, str]) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    for raw in ("{not json: sk-live-123", '["a list"]'):
        ssm.put_parameter(Name="/mcp/front", Value=raw, Type="String", Overwrite=True)
        with pytest.raises(ConfigurationError) as info:
            source_for(aws).settings()
        message = str(info.value)
        assert message.startswith(f"{SETTINGS_PARAMETER}: SSM parameter /mcp/front must hold a JSON object")
        assert "sk-live-123" not in message
        assert "a list" not in message


@pytest.mark.parametrize(
    "raw",
    ["plain-secret-value-123", json.dumps({"secret": "plain-secret-value-123"}), '{"client_secret": ""}'],
)
def test_an_upstream_secret_of_the_wrong_shape_is_refused_without_echoing_it(
    aws: dict[str, str], raw: str
) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId="front-upstream", SecretString=raw
    )
    with pytest.raises(ConfigurationError) as info:
        source_for(aws).settings()
    message = str(info.value)
    assert message.startswith(f"{UPSTREAM_SECRET}: secret front-upstream must hold a JSON object")
    assert "plain-secret-value-123" not in message


def test_a_document_error_names_the_parameter_it_came_from(aws: dict[str, str]) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/mcp/front",
        Value=json.dumps(settings_document(code_ttl_seconds=5)),
        Type="String",
        Overwrite=True,
    )
    with pytest.raises(ConfigurationError, match=r"^SSM parameter /mcp/front: 'code_ttl_seconds' must"):
        source_for(aws).settings()


def test_a_changed_value_is_picked_up_and_an_unchanged_one_reuses_the_parsed_settings(
    aws: dict[str, str],
) -> None:
    """With CONFIG_CACHE_SECONDS=0 every call reads again; parsing happens only on a change."""
    source = source_for(aws)
    first = source.settings()
    assert source.settings() is first
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/mcp/front",
        Value=json.dumps(settings_document(code_ttl_seconds=30)),
        Type="String",
        Overwrite=True,
    )
    second = source.settings()
    assert second is not first
    assert second.code_ttl_seconds == 30
    new_secret = secrets.token_urlsafe(24)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId="front-upstream", SecretString=json.dumps({"client_secret": new_secret})
    )
    assert source.settings().upstream.client_secret == new_secret
