"""Who issues the tokens: a Cognito user pool created here (default) or an external OIDC issuer.

Either way the result is the `auth settings` object the authorizer reads from SSM:
issuer, jwks_url, audiences, allowed_client_ids, base_scope, allowed_origins.

Cognito access tokens carry no `aud`; they carry `client_id`, so the two app clients are the
accepted client ids and `audiences` stays empty. Cognito writes resource-server scopes as
`<identifier>/<name>`: with the identifier `mcp` the base scope is `mcp/access` and a tool
scope named `profile` reads `mcp/profile` in the token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import COGNITO_BASE_SCOPE_NAME, COGNITO_RESOURCE_SERVER_ID, StackConfig
from infra.constructs.sso import CorporateSignIn, mapped_attributes_writable
from infra.sso_settings import TENANT_ATTRIBUTE, TENANT_ATTRIBUTE_MAX_LENGTH


@dataclass(frozen=True)
class AuthSettings:
    """The JSON object stored in the AUTH_SETTINGS_PARAMETER parameter (values may be tokens)."""

    issuer: str
    jwks_url: str
    audiences: list[str] = field(default_factory=list)
    allowed_client_ids: list[str] = field(default_factory=list)
    base_scope: str = "mcp/access"
    allowed_origins: list[str] = field(default_factory=list)
    # True: the authorizer also trusts the authorization front's tokens (issuer and JWKS derived
    # from the MCP URL: app/auth/front.py) and the PRM names the front as the authorization server.
    oauth_front: bool = False
    # True: the inspector is served on this API; its origin (the MCP URL's) may call /mcp.
    inspector: bool = False

    def as_dict(self) -> dict[str, object]:
        document: dict[str, object] = {
            "issuer": self.issuer,
            "jwks_url": self.jwks_url,
            "audiences": list(self.audiences),
            "allowed_client_ids": list(self.allowed_client_ids),
            "base_scope": self.base_scope,
            "allowed_origins": list(self.allowed_origins),
            "oauth_front": self.oauth_front,
        }
        if self.inspector:  # written only when on: the functions read it as false when absent
            document["inspector"] = True
        return document


def oidc_auth_settings(config: StackConfig) -> AuthSettings:
    return AuthSettings(
        issuer=config.oauth_issuer,
        jwks_url=config.oauth_jwks_url,  # "" = discover from <issuer>/.well-known/openid-configuration
        audiences=list(config.oauth_audiences),
        allowed_client_ids=list(config.oauth_allowed_client_ids),
        base_scope=config.base_scope,
        allowed_origins=list(config.allowed_origins),
        oauth_front=config.oauth_front.enabled,
        inspector=config.inspector,
    )


class CognitoIdentity(Construct):
    """User pool, resource server (base + tool scopes), hosted domain and two app clients."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, tool_scope_names: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        mfa = {"required": cognito.Mfa.REQUIRED, "optional": cognito.Mfa.OPTIONAL, "off": cognito.Mfa.OFF}
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{stack.stack_name}-users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=mfa[config.cognito_mfa],
            mfa_second_factor=(
                cognito.MfaSecondFactor(otp=True, sms=False) if config.cognito_mfa != "off" else None
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=cdk.Duration.days(3),
            ),
            # Declared whether or not SSO maps it: CloudFormation can add a schema attribute to a pool
            # but never remove one, so a pool that once had it must keep it in every configuration.
            # Mutable, since Cognito rewrites mapped attributes at each federated sign-in; no client
            # may write it unless SSO maps it (custom attributes are not writable by default).
            custom_attributes={
                TENANT_ATTRIBUTE.removeprefix("custom:"): cognito.StringAttribute(
                    min_len=1, max_len=TENANT_ATTRIBUTE_MAX_LENGTH, mutable=True
                )
            },
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        scopes = [
            cognito.ResourceServerScope(
                scope_name=COGNITO_BASE_SCOPE_NAME, scope_description="Reach the MCP server at all"
            ),
            *(
                cognito.ResourceServerScope(scope_name=name, scope_description=f"MCP tools needing {name}")
                for name in tool_scope_names
            ),
        ]
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=COGNITO_RESOURCE_SERVER_ID,
            user_pool_resource_server_name="MCP server",
            scopes=scopes,
        )
        oauth_scopes = [cognito.OAuthScope.resource_server(self.resource_server, s) for s in scopes]
        self.oauth_scopes = oauth_scopes

        prefix = config.cognito_domain_prefix or f"{stack.stack_name.lower()}-{cdk.Aws.ACCOUNT_ID}"
        self.domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
        )
        self.sso: CorporateSignIn | None = None
        if config.sso is not None:
            self.sso = CorporateSignIn(
                self, "Sso", user_pool=self.user_pool, domain=self.domain, settings=config.sso
            )

        # Interactive MCP clients (Claude Code, Cursor, the Inspector): authorization code + PKCE,
        # public client (no secret).
        self.interactive_client = self.user_pool.add_client(
            "InteractiveClient",
            user_pool_client_name="mcp-interactive",
            generate_secret=False,
            # SRP sign-in gives tokens with `aws.cognito.signin.user.admin`, with which a user may
            # rewrite every attribute the client can write; under SSO it can write the mapped ones
            # (the tenant included), so no SRP then: sign-in is through the hosted pages only.
            auth_flows=cognito.AuthFlow(user_srp=self.sso is None),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, *oauth_scopes],
                callback_urls=list(config.cognito_callback_urls),
            ),
            prevent_user_existence_errors=True,
            access_token_validity=cdk.Duration.hours(1),
            id_token_validity=cdk.Duration.hours(1),
            refresh_token_validity=cdk.Duration.days(30),
            supported_identity_providers=self._sign_in_providers(),
            write_attributes=self._writable_attributes(),
        )
        self._depend_on_sso(self.interactive_client)
        # Machine callers (agents, services): client credentials with a client secret.
        self.machine_client = self.user_pool.add_client(
            "MachineClient",
            user_pool_client_name="mcp-machine",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=oauth_scopes,
            ),
            prevent_user_existence_errors=True,
            access_token_validity=cdk.Duration.hours(1),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        )
        # The exact `iss` of Cognito tokens (built explicitly: the pool's ProviderURL attribute
        # is documented loosely and the authorizer compares `iss` byte for byte).
        self.issuer = (
            f"https://cognito-idp.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}/{self.user_pool.user_pool_id}"
        )
        self.token_endpoint = f"{self.domain.base_url()}/oauth2/token"
        self.front_client: cognito.UserPoolClient | None = None
        self.front_client_secret: secretsmanager.Secret | None = None

    def add_front_client(
        self, callback_url: str, refresh_token_days: int, encryption_key: kms.IKey
    ) -> secretsmanager.Secret:
        """The authorization front's own confidential client, and a secret holding its secret.

        Authorization code only (the front sends PKCE and state too), one exact callback URL: the
        front's `/oauth/callback`. Its tokens never leave the front, so its id is NOT among the
        client ids the authorizer accepts. Its refresh tokens live as long as the front's: the
        front refreshes upstream to learn that a user was disabled or deleted.

        The secret's value comes from CloudFormation's `Fn::GetAtt <client>.ClientSecret`: the
        template holds only that reference, never the value (CDK's `user_pool_client_secret`
        would read it with a custom-resource Lambda instead, a second function to secure).
        """
        stack = cdk.Stack.of(self)
        client = self.user_pool.add_client(
            "OAuthFrontClient",
            user_pool_client_name="mcp-oauth-front",
            generate_secret=True,
            # No SRP, password or custom flows: only the hosted login's code, then refresh.
            auth_flows=cognito.AuthFlow(user_srp=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, *self.oauth_scopes],
                callback_urls=[callback_url],
            ),
            prevent_user_existence_errors=True,
            access_token_validity=cdk.Duration.hours(1),
            id_token_validity=cdk.Duration.hours(1),
            refresh_token_validity=cdk.Duration.days(refresh_token_days),
            supported_identity_providers=self._sign_in_providers(),
            write_attributes=self._writable_attributes(),
        )
        self._depend_on_sso(client)
        cfn_client = client.node.default_child
        assert isinstance(cfn_client, cognito.CfnUserPoolClient)
        # The value is spliced into a JSON string by CloudFormation: safe because Cognito secrets
        # are [\w+]+ (API ClientSecretDescriptorType), nothing that needs JSON escaping.
        secret = secretsmanager.Secret(
            self,
            "OAuthFrontClientSecret",
            description=f"{stack.stack_name}: the authorization front's Cognito client secret",
            encryption_key=encryption_key,
            secret_object_value={
                "client_secret": cdk.SecretValue.resource_attribute(cfn_client.attr_client_secret)
            },
        )
        self.front_client = client
        self.front_client_secret = secret
        return secret

    def _sign_in_providers(self) -> list[cognito.UserPoolClientIdentityProvider]:
        """Where a sign-in client's users come from: the pool, the corporate provider, or (SSO_ONLY)
        the provider alone."""
        if self.sso is None:
            return [cognito.UserPoolClientIdentityProvider.COGNITO]
        if self.sso.settings.only:
            return [self.sso.client_provider]
        return [cognito.UserPoolClientIdentityProvider.COGNITO, self.sso.client_provider]

    def _writable_attributes(self) -> cognito.ClientAttributes | None:
        """Under SSO exactly the mapped attributes (Cognito must store them); else Cognito's default."""
        return None if self.sso is None else mapped_attributes_writable(self.sso.settings)

    def _depend_on_sso(self, client: cognito.UserPoolClient) -> None:
        """A client naming the provider must be created after it (CloudFormation refuses an unknown name)."""
        if self.sso is not None:
            client.node.add_dependency(self.sso.provider)

    def sso_identity_provider(self) -> str | None:
        """With SSO_ONLY, the provider the front names in `identity_provider` (straight to its sign-in)."""
        return self.sso.settings.provider_name if self.sso is not None and self.sso.settings.only else None

    def auth_settings(self, config: StackConfig) -> AuthSettings:
        return AuthSettings(
            issuer=self.issuer,
            jwks_url=f"{self.issuer}/.well-known/jwks.json",
            audiences=[],
            allowed_client_ids=[
                self.interactive_client.user_pool_client_id,
                self.machine_client.user_pool_client_id,
            ],
            base_scope=config.base_scope,
            allowed_origins=list(config.allowed_origins),
            oauth_front=config.oauth_front.enabled,
            inspector=config.inspector,
        )
