"""SSO_* settings: what a company sets, the defaults, and a clear message for every mistake.

The stack reads them at synth (`StackConfig.from_sources`, errors are `ConfigError`), `make dev`
reads the same names (`mcp-lambda dev`, errors are one line and exit code 2).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

import pytest

from devtools.cli import UsageError, _sso_from_env
from devtools.env_file import parse_env_file
from infra.config import REPO_ROOT, ConfigError, StackConfig
from infra.sso_settings import DEFAULT_EMAIL_SOURCE, SETTING_NAMES, SsoSettings

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-sso-settings")]

ENTRA_ISSUER = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
OIDC = {"SSO_PROVIDER": "oidc:Entra", "SSO_METADATA": ENTRA_ISSUER, "SSO_CLIENT": "mcp/sso-client"}
SAML_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/exk1">
</md:EntityDescriptor>
"""


def sso_of(settings: Mapping[str, object]) -> SsoSettings | None:
    return StackConfig.from_sources(settings, {}).sso


def test_off_by_default() -> None:
    assert StackConfig().sso is None
    assert sso_of({}) is None


def test_the_values_of_env_example_leave_sso_off() -> None:
    """Users copy .env.example to .env: its SSO lines must not stop synth or `make dev`."""
    example = parse_env_file((REPO_ROOT / ".env.example").read_text(), ".env.example")
    sso_lines = {name: value for name, value in example.items() if name.startswith("SSO_")}
    assert set(sso_lines) == set(SETTING_NAMES)  # every SSO setting is documented there
    assert StackConfig.from_sources({}, sso_lines).sso is None
    assert _sso_from_env(sso_lines) is None


def test_the_three_settings_of_an_oidc_provider() -> None:
    sso = sso_of(OIDC)
    assert sso is not None
    assert (sso.provider_type, sso.provider_name) == ("oidc", "Entra")
    assert sso.metadata_url == ENTRA_ISSUER
    assert sso.client_secret_name == "mcp/sso-client"
    assert sso.attributes == {"email": "email"}
    assert sso.scopes == ("openid", "email", "profile")
    assert (sso.only, sso.maps_tenant) == (False, False)


def test_the_environment_works_as_well_as_context() -> None:
    assert StackConfig.from_sources({}, {**OIDC, "SSO_ONLY": "true"}).sso == sso_of(
        {**OIDC, "SSO_ONLY": "yes"}
    )


def test_attribute_mapping_merges_over_the_email_default_and_maps_the_tenant() -> None:
    sso = sso_of({**OIDC, "SSO_ATTRIBUTES": "custom:tenant=tid, name=name,email_verified=email_verified"})
    assert sso is not None
    assert sso.attributes == {
        "email": "email",
        "custom:tenant": "tid",
        "name": "name",
        "email_verified": "email_verified",
    }
    assert sso.maps_tenant
    # The email may come from another claim (Entra's `upn`, …), but it always comes from somewhere.
    other = sso_of({**OIDC, "SSO_ATTRIBUTES": "email=upn"})
    assert other is not None
    assert other.attributes == {"email": "upn"}


def test_saml_by_metadata_url_with_claim_uris() -> None:
    url = "https://login.microsoftonline.com/tid/federationmetadata/2007-06/federationmetadata.xml?appid=abc"
    sso = sso_of(
        {
            "SSO_PROVIDER": "saml:EntraSaml",
            "SSO_METADATA": url,
            "SSO_ATTRIBUTES": "custom:tenant=http://schemas.microsoft.com/identity/claims/tenantid",
        }
    )
    assert sso is not None
    assert (sso.provider_type, sso.metadata_url, sso.metadata_file) == ("saml", url, None)
    assert sso.attributes == {
        "email": DEFAULT_EMAIL_SOURCE["saml"],
        "custom:tenant": "http://schemas.microsoft.com/identity/claims/tenantid",
    }
    assert (sso.scopes, sso.client_secret_name) == ((), "")


def test_saml_by_metadata_file(tmp_path: Path) -> None:
    metadata = tmp_path / "google-idp-metadata.xml"
    metadata.write_text(SAML_METADATA)
    sso = sso_of({"SSO_PROVIDER": "saml:GoogleWorkspace", "SSO_METADATA": str(metadata)})
    assert sso is not None
    assert (sso.metadata_url, sso.metadata_file) == ("", metadata)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SSO_PROVIDER": "Entra"}, "SSO_PROVIDER must be oidc:<Name> or saml:<Name>"),
        ({"SSO_PROVIDER": "ldap:Corp"}, "SSO_PROVIDER must be oidc:<Name> or saml:<Name>"),
        ({**OIDC, "SSO_PROVIDER": "oidc:My_IdP"}, "no '_'"),
        ({**OIDC, "SSO_PROVIDER": "oidc:ab"}, "3-32"),
        ({**OIDC, "SSO_PROVIDER": "oidc:Google"}, "reserves"),
        ({**OIDC, "SSO_PROVIDER": "oidc:COGNITO"}, "reserves"),
        ({**OIDC, "SSO_METADATA": ""}, "needs SSO_METADATA, the provider's issuer URL"),
        ({**OIDC, "SSO_METADATA": "http://login.example.com"}, "issuer URL"),
        ({**OIDC, "SSO_METADATA": "https://idp.example.com/?tenant=x"}, "issuer URL"),
        ({**OIDC, "SSO_CLIENT": ""}, "needs SSO_CLIENT, the NAME of an existing Secrets Manager secret"),
        (
            {**OIDC, "SSO_CLIENT": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"},
            "not an ARN",
        ),
        ({**OIDC, "SSO_CLIENT": '{"client_secret": "<pasted here>"}'}, "never the secret itself"),
        ({**OIDC, "SSO_ATTRIBUTES": "tenant=tid"}, "'tenant' is not a user pool attribute"),
        ({**OIDC, "SSO_ATTRIBUTES": "custom:department=dept"}, "custom:tenant"),
        ({**OIDC, "SSO_ATTRIBUTES": "email"}, "<pool attribute>=<provider attribute> pairs"),
        ({**OIDC, "SSO_ATTRIBUTES": "email="}, "<pool attribute>=<provider attribute> pairs"),
        ({**OIDC, "SSO_ATTRIBUTES": "name=a,name=b"}, "maps name twice"),
        ({**OIDC, "SSO_ATTRIBUTES": 'name=given name"'}, "no spaces, quotes"),
        ({**OIDC, "SSO_SCOPES": "email,profile"}, "include openid"),
        ({**OIDC, "SSO_ONLY": "maybe"}, "SSO_ONLY must be true or false"),
        ({"SSO_PROVIDER": "saml:Okta"}, "needs SSO_METADATA: the https URL"),
        (
            {"SSO_PROVIDER": "saml:Okta", "SSO_METADATA": "ftp://okta.example/metadata"},
            "https URL or the path",
        ),
        ({"SSO_PROVIDER": "saml:Okta", "SSO_METADATA": "/nonexistent/metadata.xml"}, "cannot read"),
        (
            {"SSO_PROVIDER": "saml:Okta", "SSO_METADATA": "https://o.example/m", "SSO_CLIENT": "x"},
            "SSO_CLIENT is for OIDC providers only",
        ),
        (
            {"SSO_PROVIDER": "saml:Okta", "SSO_METADATA": "https://o.example/m", "SSO_SCOPES": "openid"},
            "SSO_SCOPES is for OIDC providers only",
        ),
        ({"SSO_METADATA": ENTRA_ISSUER}, "SSO_METADATA is set but SSO_PROVIDER is empty"),
        ({"SSO_ONLY": "true"}, "SSO_ONLY is set but SSO_PROVIDER is empty"),
        (
            {
                **OIDC,
                "IDENTITY_PROVIDER": "oidc",
                "OAUTH_ISSUER": "https://idp.example.com/",
                "OAUTH_FRONT": "false",
            },
            "federates the Cognito user pool the stack creates",
        ),
    ],
)
def test_a_mistake_stops_synth_naming_the_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        StackConfig.from_sources(settings, {})
    assert message in str(error.value)


def test_a_file_that_is_not_saml_metadata_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "metadata.xml"
    wrong.write_text("<html>sign in</html>")
    with pytest.raises(ConfigError, match="is not SAML metadata"):
        StackConfig.from_sources({"SSO_PROVIDER": "saml:Okta", "SSO_METADATA": str(wrong)}, {})


def test_no_value_of_a_refused_client_setting_is_echoed() -> None:
    secret = secrets.token_urlsafe(24)  # pasted by mistake, with a space: not a secret name
    with pytest.raises(ConfigError) as error:
        StackConfig.from_sources({**OIDC, "SSO_CLIENT": f"{secret} {secret}"}, {})
    assert secret not in str(error.value)


def test_make_dev_reads_the_same_names_without_the_real_providers_metadata_and_client() -> None:
    sso = _sso_from_env({"SSO_PROVIDER": "saml:Okta", "SSO_ATTRIBUTES": "custom:tenant=org", "SSO_ONLY": "1"})
    assert sso is not None
    assert (sso.provider_type, sso.provider_name, sso.only) == ("saml", "Okta", True)
    assert sso.attributes["custom:tenant"] == "org"
    assert (sso.metadata_url, sso.client_secret_name) == ("", "")
    assert _sso_from_env({}) is None
    with pytest.raises(UsageError, match="SSO_ATTRIBUTES"):
        _sso_from_env({"SSO_PROVIDER": "oidc:Corp", "SSO_ATTRIBUTES": "tenant=tid"})
