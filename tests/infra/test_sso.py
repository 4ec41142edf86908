"""SSO in the template: the user pool federated with an OIDC provider (Entra ID, SSO_ONLY, the tenant
mapped) and with a SAML provider (metadata file, the pool's own users kept), and nothing of it in
the default stack.

What CloudFormation and Cognito require, and where it is pinned here:
- the OIDC client secret never in the template: a `{{resolve:secretsmanager:…}}` dynamic reference,
  which CloudFormation accepts "in all resource properties"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html);
- AWS::Cognito::UserPoolIdentityProvider keys (`oidc_issuer`, `authorize_scopes`,
  `attributes_request_method`, `client_id`, `client_secret`; `MetadataFile`/`MetadataURL`)
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpoolidentityprovider.html);
- a mapped attribute must be mutable and writable by every app client that lists the provider,
  or Cognito refuses the sign-in (SchemaAttributeType.Mutable, UserPoolClientType.WriteAttributes);
- CloudFormation can add a schema attribute to a pool but not remove one, so `custom:tenant` is
  declared in every configuration.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth, lint, render, statements, synthesize

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

ISSUER = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
SECRET_NAME = "mcp/sso-client"  # the NAME of a secret, which is what the stack takes
OIDC = {
    "STACK_NAME": "McpSsoOidc",
    "SSO_PROVIDER": "oidc:Entra",
    "SSO_METADATA": ISSUER,
    "SSO_CLIENT": SECRET_NAME,
    "SSO_ATTRIBUTES": "custom:tenant=tid,name=name",
    "SSO_ONLY": "true",
}
SAML_METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://accounts.google.com/o/saml2?idpid=C0test">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
      Location="https://accounts.google.com/o/saml2/idp?idpid=C0test"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-sso-oidc"), OIDC)


@pytest.fixture(scope="module")
def saml(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, str]:
    folder = tmp_path_factory.mktemp("cdk-sso-saml")
    metadata = folder / "google-idp-metadata.xml"
    metadata.write_text(SAML_METADATA)
    context = {
        "STACK_NAME": "McpSsoSaml",
        "SSO_PROVIDER": "saml:GoogleWorkspace",
        "SSO_METADATA": str(metadata),
        "SSO_ATTRIBUTES": "custom:tenant=tenant",
    }
    return synthesize(folder / "out", context), SAML_METADATA


def clients(synth: Synth) -> dict[str, dict[str, Any]]:
    """ClientName -> resource (properties and DependsOn)."""
    return {
        resource["Properties"]["ClientName"]: resource
        for resource in synth.of_type("AWS::Cognito::UserPoolClient").values()
    }


def tenant_schema(synth: Synth) -> dict[str, Any]:
    _, pool = synth.one("AWS::Cognito::UserPool")
    (attribute,) = [a for a in pool["Properties"]["Schema"] if a["Name"] == "tenant"]
    return dict(attribute)


def front_settings(synth: Synth) -> str:
    key = synth.id_of("AWS::SSM::Parameter", "OAuthFrontSettings")
    return render(synth.resources[key]["Properties"]["Value"])


def test_an_oidc_provider_with_the_client_from_secrets_manager(oidc: Synth) -> None:
    _, idp = oidc.one("AWS::Cognito::UserPoolIdentityProvider")
    props = idp["Properties"]
    assert (props["ProviderType"], props["ProviderName"]) == ("OIDC", "Entra")
    assert props["ProviderDetails"] == {
        "client_id": f"{{{{resolve:secretsmanager:{SECRET_NAME}:SecretString:client_id::}}}}",
        "client_secret": f"{{{{resolve:secretsmanager:{SECRET_NAME}:SecretString:client_secret::}}}}",
        "authorize_scopes": "openid email profile",
        "attributes_request_method": "GET",
        "oidc_issuer": ISSUER,
    }
    assert props["AttributeMapping"] == {"email": "email", "custom:tenant": "tid", "name": "name"}
    assert render(props["UserPoolId"]) == "${" + oidc.id_of("AWS::Cognito::UserPool", "UserPool") + "}"
    # The secret's name appears nowhere but in the two dynamic references: no value, no IAM grant
    # (CloudFormation resolves it with the deployer's permissions; no function reads it).
    template = oidc.template_path.read_text()
    assert template.count(SECRET_NAME) == 2
    assert not any(SECRET_NAME in json.dumps(statement) for _, statement in statements(oidc))


def test_sso_only_clients_list_the_provider_alone_and_may_write_just_the_mapped_attributes(
    oidc: Synth,
) -> None:
    idp_key, _ = oidc.one("AWS::Cognito::UserPoolIdentityProvider")
    by_name = clients(oidc)
    for name in ("mcp-interactive", "mcp-oauth-front"):
        client = by_name[name]
        props = client["Properties"]
        assert props["SupportedIdentityProviders"] == ["Entra"], name
        assert sorted(props["WriteAttributes"]) == ["custom:tenant", "email", "name"], name
        # CloudFormation refuses a client naming a provider that does not exist yet.
        assert idp_key in client["DependsOn"], name
        # No SRP: its tokens (aws.cognito.signin.user.admin) could rewrite the mapped tenant.
        assert props["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"], name
    machine = by_name["mcp-machine"]["Properties"]
    assert machine["SupportedIdentityProviders"] == ["COGNITO"]
    assert "WriteAttributes" not in machine


def test_the_tenant_is_a_mutable_custom_attribute(oidc: Synth) -> None:
    assert tenant_schema(oidc) == {
        "AttributeDataType": "String",
        "Mutable": True,
        "Name": "tenant",
        "StringAttributeConstraints": {"MaxLength": "256", "MinLength": "1"},
    }


def test_sso_only_sends_the_front_straight_to_the_provider(oidc: Synth) -> None:
    assert '"upstream_identity_provider":"Entra"' in front_settings(oidc)


def test_the_oidc_outputs_name_the_redirect_uri_to_register(oidc: Synth) -> None:
    domain = oidc.id_of("AWS::Cognito::UserPoolDomain", "Domain")
    assert render(oidc.outputs["SsoRedirectUri"]["Value"]) == (
        "https://${" + domain + "}.auth.${AWS::Region}.amazoncognito.com/oauth2/idpresponse"
    )
    assert oidc.outputs["SsoProviderName"]["Value"] == "Entra"
    assert "SsoSamlEntityId" not in oidc.outputs


def test_a_saml_provider_from_a_metadata_file_beside_the_pools_own_users(saml: tuple[Synth, str]) -> None:
    synth, metadata = saml
    _, idp = synth.one("AWS::Cognito::UserPoolIdentityProvider")
    props = idp["Properties"]
    assert (props["ProviderType"], props["ProviderName"]) == ("SAML", "GoogleWorkspace")
    assert props["ProviderDetails"] == {"IDPSignout": False, "MetadataFile": metadata}
    assert props["AttributeMapping"] == {
        "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "custom:tenant": "tenant",
    }
    by_name = clients(synth)
    for name in ("mcp-interactive", "mcp-oauth-front"):
        assert by_name[name]["Properties"]["SupportedIdentityProviders"] == ["COGNITO", "GoogleWorkspace"]
        assert sorted(by_name[name]["Properties"]["WriteAttributes"]) == ["custom:tenant", "email"]
    # Users may also sign in with the pool's own accounts: the front shows Cognito's page.
    assert "upstream_identity_provider" not in front_settings(synth)
    pool = synth.id_of("AWS::Cognito::UserPool", "UserPool")
    domain = synth.id_of("AWS::Cognito::UserPoolDomain", "Domain")
    assert render(synth.outputs["SsoSamlEntityId"]["Value"]) == "urn:amazon:cognito:sp:${" + pool + "}"
    assert render(synth.outputs["SsoSamlAcsUrl"]["Value"]) == (
        "https://${" + domain + "}.auth.${AWS::Region}.amazoncognito.com/saml2/idpresponse"
    )


def test_both_templates_pass_cfn_lint(oidc: Synth, saml: tuple[Synth, str]) -> None:
    """cdk-nag ran at synth (it raises on a finding); cfn-lint knows the resource's schema."""
    assert lint(oidc.template_path) == []
    assert lint(saml[0].template_path) == []


def test_the_default_stack_federates_nothing_but_declares_the_tenant(default_synth: Synth) -> None:
    assert default_synth.of_type("AWS::Cognito::UserPoolIdentityProvider") == {}
    by_name = clients(default_synth)
    for name in ("mcp-interactive", "mcp-oauth-front", "mcp-machine"):
        props = by_name[name]["Properties"]
        assert props["SupportedIdentityProviders"] == ["COGNITO"], name
        # No client may write the tenant (custom attributes are not writable unless listed).
        assert "WriteAttributes" not in props, name
    assert "ALLOW_USER_SRP_AUTH" in by_name["mcp-interactive"]["Properties"]["ExplicitAuthFlows"]
    assert tenant_schema(default_synth)["Mutable"] is True
    assert not [key for key in default_synth.outputs if key.startswith("Sso")]
    assert "upstream_identity_provider" not in front_settings(default_synth)
