"""SSO: the Cognito user pool federated with a company's OIDC or SAML identity provider.

One `AWS::Cognito::UserPoolIdentityProvider` with the attribute mapping of `SSO_ATTRIBUTES` (email,
and the tenant into `custom:tenant` when mapped), plus the outputs the provider's administrator
needs to register the pool: the redirect URI (OIDC) or the ACS URL and entity ID (SAML).

No secret reaches the template. The OIDC client id and secret are CloudFormation dynamic
references to the Secrets Manager secret `SSO_CLIENT` names
(`{{resolve:secretsmanager:<name>:SecretString:client_secret::}}`): CloudFormation resolves them
when it creates or updates the provider and keeps no copy ("The secretsmanager dynamic reference
can be used in all resource properties", https://docs.aws.amazon.com/AWSCloudFormation/latest/
UserGuide/dynamic-references-secretsmanager.html). Two consequences written in docs/sso.md: the
secret must exist before the deploy, and a rotated value reaches Cognito only with a stack update
that changes this resource (CloudFormation does not watch the secret). No function's role is
granted the secret: CloudFormation reads it with the deployer's permissions.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.sso_settings import STANDARD_ATTRIBUTES, TENANT_ATTRIBUTE, SsoSettings

# OIDC claim name -> the keyword of `cognito.StandardAttributesMask` (CDK names some differently).
_MASK_KEYWORDS: Final = {
    **{name: name for name in STANDARD_ATTRIBUTES},
    "name": "fullname",
    "picture": "profile_picture",
    "profile": "profile_page",
    "updated_at": "last_update_time",
    "zoneinfo": "timezone",
}


def mapped_attributes_writable(settings: SsoSettings) -> cognito.ClientAttributes:
    """What an app client that lists the provider must be able to write: exactly the mapped attributes.

    Cognito writes mapped attributes at every federated sign-in through the client, and refuses the
    sign-in when the client may not write one (UserPoolClientType.WriteAttributes,
    https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_UserPoolClientType.html).
    Nothing more: the tenant in particular is writable only because the provider sets it.
    """
    standard = {_MASK_KEYWORDS[name]: True for name in settings.attributes if name in STANDARD_ATTRIBUTES}
    attributes = cognito.ClientAttributes().with_standard_attributes(**standard)
    if settings.maps_tenant:
        attributes = attributes.with_custom_attributes(TENANT_ATTRIBUTE.removeprefix("custom:"))
    return attributes


class CorporateSignIn(Construct):
    """The identity provider resource and the values to register at the provider."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.IUserPool,
        domain: cognito.UserPoolDomain,
        settings: SsoSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.settings = settings
        self.provider: cognito.UserPoolIdentityProviderOidc | cognito.UserPoolIdentityProviderSaml
        if settings.provider_type == "oidc":
            self.provider = cognito.UserPoolIdentityProviderOidc(
                self,
                "Provider",
                user_pool=user_pool,
                name=settings.provider_name,
                issuer_url=settings.metadata_url,
                client_id=self._client_reference("client_id"),
                client_secret=self._client_reference("client_secret"),
                scopes=list(settings.scopes),
                attribute_request_method=cognito.OidcAttributeRequestMethod.GET,
            )
            outputs = {
                "SsoRedirectUri": (
                    f"{domain.base_url()}/oauth2/idpresponse",
                    "Redirect URI to register for the pool's client at your identity provider",
                )
            }
        else:
            if settings.metadata_file is not None:
                metadata = cognito.UserPoolIdentityProviderSamlMetadata.file(
                    settings.metadata_file.read_text(encoding="utf-8")
                )
            else:
                metadata = cognito.UserPoolIdentityProviderSamlMetadata.url(settings.metadata_url)
            self.provider = cognito.UserPoolIdentityProviderSaml(
                self, "Provider", user_pool=user_pool, name=settings.provider_name, metadata=metadata
            )
            outputs = {
                "SsoSamlAcsUrl": (
                    f"{domain.base_url()}/saml2/idpresponse",
                    "Assertion consumer service (reply) URL to register at your SAML identity provider",
                ),
                "SsoSamlEntityId": (
                    f"urn:amazon:cognito:sp:{user_pool.user_pool_id}",
                    "Service provider entity ID (audience) to register at your SAML identity provider",
                ),
            }
        cfn = self.provider.node.default_child
        assert isinstance(cfn, cognito.CfnUserPoolIdentityProvider)
        # The mapping by pool attribute names (`email`, `custom:tenant`) as Cognito's API takes it,
        # rather than CDK's renamed fields, so the template reads like SSO_ATTRIBUTES.
        cfn.attribute_mapping = dict(settings.attributes)
        self.client_provider = cognito.UserPoolClientIdentityProvider.custom(settings.provider_name)
        outputs["SsoProviderName"] = (settings.provider_name, "The identity provider's name in the user pool")
        for key, (value, description) in outputs.items():
            cdk.CfnOutput(stack, key, value=value, description=description)

    def _client_reference(self, field: str) -> str:
        """`{{resolve:secretsmanager:<SSO_CLIENT>:SecretString:<field>::}}`: resolved by CloudFormation."""
        return cdk.SecretValue.secrets_manager(
            self.settings.client_secret_name, json_field=field
        ).unsafe_unwrap()
