"""The SSO resources of the template, replayed against the Cognito API (moto) as CloudFormation would.

What this adds to the template assertions in tests/infra/test_sso.py: the dynamic references in
the identity provider resolve against a secret of the shape docs/sso.md tells the operator to create
(`{"client_id": ..., "client_secret": ...}`), and the resources' properties go through the Cognito
API's request shapes (botocore validates types, required members and minimum lengths) when the
calls CloudFormation makes are made: CreateUserPool with the schema, CreateIdentityProvider,
CreateUserPoolClient naming the provider. Read back with DescribeIdentityProvider and
DescribeUserPoolClient.

What moto (5.2.5) does not do, so this cannot show: it validates no mapping against the schema,
no provider name pattern, no metadata and no issuer, and it runs no federated sign-in (the local
stack's stand-in does that: tests/e2e/test_sso.py). CloudFormation's dynamic-reference resolution is
done here by the test, by the documented syntax
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_cognito as cognito
from moto import mock_aws

from infra.constructs.sso import CorporateSignIn, mapped_attributes_writable
from infra.sso_settings import TENANT_ATTRIBUTE_MAX_LENGTH, SsoSettings

REGION = "eu-west-1"
SECRET_NAME = "mcp/sso-client"  # the NAME the operator gives SSO_CLIENT
# {{resolve:secretsmanager:secret-id:SecretString:json-key:version-stage:version-id}}
_REFERENCE = re.compile(r"^\{\{resolve:secretsmanager:([^:]+):SecretString:([^:]*):([^:]*):([^:]*)\}\}$")
SETTINGS = SsoSettings(
    provider_type="oidc",
    provider_name="Entra",
    metadata_url="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    client_secret_name=SECRET_NAME,
    attributes={"email": "email", "custom:tenant": "tid"},
    only=True,
)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _template() -> dict[str, Any]:
    """A pool, its domain, the SSO construct and one client listing the provider (no full stack)."""
    app = cdk.App()
    stack = cdk.Stack(app, "Sso")
    pool = cognito.UserPool(
        stack,
        "Pool",
        custom_attributes={
            "tenant": cognito.StringAttribute(min_len=1, max_len=TENANT_ATTRIBUTE_MAX_LENGTH, mutable=True)
        },
    )
    domain = pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix="sso-test"))
    sso = CorporateSignIn(stack, "Sso", user_pool=pool, domain=domain, settings=SETTINGS)
    client = pool.add_client(
        "Client",
        supported_identity_providers=[sso.client_provider],
        write_attributes=mapped_attributes_writable(SETTINGS),
        o_auth=cognito.OAuthSettings(callback_urls=["https://mcp.example.com/oauth/callback"]),
    )
    client.node.add_dependency(sso.provider)
    template: dict[str, Any] = app.synth().get_stack_by_name("Sso").template
    return template


def _resolve(value: object, secrets_client: Any) -> str:
    """What CloudFormation puts in place of a secretsmanager dynamic reference; other values as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    assert isinstance(value, str)
    match = _REFERENCE.match(value)
    if match is None:
        return value
    secret_id, key, _, _ = match.groups()
    document = json.loads(secrets_client.get_secret_value(SecretId=secret_id)["SecretString"])
    return str(document[key])


def _one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (props,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]
    return dict(props)


def test_the_template_replays_through_the_cognito_api_with_the_documented_secret(aws: None) -> None:
    template = _template()
    secrets_client = boto3.client("secretsmanager", region_name=REGION)
    idp_client = boto3.client("cognito-idp", region_name=REGION)
    # As docs/sso.md says: one secret, both values; made here, never written anywhere.
    client_id, client_secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    secrets_client.create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"client_id": client_id, "client_secret": client_secret})
    )

    pool_props = _one(template, "AWS::Cognito::UserPool")
    schema = [
        {
            "Name": a["Name"],
            "AttributeDataType": a["AttributeDataType"],
            "Mutable": a["Mutable"],
            "StringAttributeConstraints": a["StringAttributeConstraints"],
        }
        for a in pool_props["Schema"]
    ]
    pool_id = idp_client.create_user_pool(PoolName="sso", Schema=schema)["UserPool"]["Id"]

    idp = _one(template, "AWS::Cognito::UserPoolIdentityProvider")
    details = {key: _resolve(value, secrets_client) for key, value in idp["ProviderDetails"].items()}
    idp_client.create_identity_provider(
        UserPoolId=pool_id,
        ProviderName=idp["ProviderName"],
        ProviderType=idp["ProviderType"],
        ProviderDetails=details,
        AttributeMapping=idp["AttributeMapping"],
    )
    client_props = _one(template, "AWS::Cognito::UserPoolClient")
    app_client = idp_client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="mcp-oauth-front",
        SupportedIdentityProviders=client_props["SupportedIdentityProviders"],
        WriteAttributes=client_props["WriteAttributes"],
        CallbackURLs=client_props["CallbackURLs"],
    )["UserPoolClient"]

    described = idp_client.describe_identity_provider(UserPoolId=pool_id, ProviderName="Entra")[
        "IdentityProvider"
    ]
    assert described["ProviderType"] == "OIDC"
    assert described["ProviderDetails"]["client_id"] == client_id
    assert described["ProviderDetails"]["oidc_issuer"] == SETTINGS.metadata_url
    assert described["AttributeMapping"] == {"email": "email", "custom:tenant": "tid"}
    assert set(described["ProviderDetails"]) == {
        "client_id",
        "client_secret",
        "authorize_scopes",
        "attributes_request_method",
        "oidc_issuer",
    }
    assert app_client["SupportedIdentityProviders"] == ["Entra"]
    assert sorted(app_client["WriteAttributes"]) == ["custom:tenant", "email"]
    pool = idp_client.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    (tenant,) = [a for a in pool["SchemaAttributes"] if a["Name"] == "custom:tenant"]
    assert tenant["Mutable"] is True
