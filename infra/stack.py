"""The serverless-mcp stack: one `cdk deploy` for the whole production deployment."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from devtools.inspector_site import inspector_client
from infra.config import ConfigError, StackConfig, check_snapstart_region
from infra.constructs.api import McpApi
from infra.constructs.checkov import acknowledge_checkov_findings
from infra.constructs.encryption import DataKey
from infra.constructs.functions import McpFunctions
from infra.constructs.identity import AuthSettings, CognitoIdentity, oidc_auth_settings
from infra.constructs.inspector import InspectorSite
from infra.constructs.nag import acknowledge_findings
from infra.constructs.oauth_front import OAuthFront, front_settings_document
from infra.constructs.observability import LogGroups, Monitoring
from infra.constructs.tenant_data import TenantData
from infra.constructs.usage_plans import UsagePlans
from infra.constructs.waf import McpWaf
from infra.registry import declared_scopes

# The API key store's initial value, as a FROZEN literal: the exact bytes the template carries.
# CloudFormation applies a changed `SecretString` of an `AWS::SecretsManager::Secret` in place
# ("Update requires: No interruption",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-secret.html):
# it calls UpdateSecret, which writes a new version and moves AWSCURRENT to it
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html). Any change
# here would therefore replace the live store, with every key `mcp-lambda keys` added, by this
# document. So the value depends on no setting and no serializer (it is not `json.dumps` of a
# dict, whose output could change) and tests/infra/test_key_store_retained.py pins these bytes
# under every configuration. Never edit it: a new store format must be migrated by the CLI.
EMPTY_KEY_STORE_JSON = '{"version": 1, "keys": []}'
EMPTY_KEY_STORE = json.loads(EMPTY_KEY_STORE_JSON)


class ServerlessMcpStack(cdk.Stack):
    """API Gateway REST + REQUEST authorizer + MCP Lambda, identity, secrets, observability."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="serverless-mcp: MCP server on AWS Lambda behind API Gateway and a Lambda authorizer",
            **kwargs,
        )
        self.config = config
        # The region is a token when the stack is environment-agnostic: then nothing to check here.
        check_snapstart_region(config, None if cdk.Token.is_unresolved(self.region) else self.region)
        # The scopes the tools declare: the pool issues them, the authorizer checks them per tool,
        # the gateway's 403 challenge names them.
        self.declared = declared_scopes(config.app_source_dir)
        # One customer managed key for the secrets and both log groups (encryption.py says why).
        self.data_key = DataKey(self, "DataKey")
        self.log_groups = LogGroups(self, "Logs", config=config, encryption_key=self.data_key.key)

        # Secrets: the API key store (hashes only, starts with no keys; `mcp-lambda keys` edits it)
        # and the example upstream credential (a generated placeholder to replace).
        self.api_keys_secret = secretsmanager.Secret(
            self,
            "ApiKeysSecret",
            description=f"{self.stack_name}: API key store (key hashes only), managed with `mcp-lambda keys`",
            # Not secret material: the empty store document, frozen (see EMPTY_KEY_STORE_JSON), so
            # CloudFormation never rewrites the live store on update.
            secret_string_value=cdk.SecretValue.unsafe_plain_text(EMPTY_KEY_STORE_JSON),
            encryption_key=self.data_key.key,
            # The store holds every issued key's hash: `cdk destroy`, or a change that makes
            # CloudFormation replace the resource, must not delete it (DeletionPolicy and
            # UpdateReplacePolicy Retain). A retained store is reattached by hand (README-deploy).
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.upstream_secret = secretsmanager.Secret(
            self,
            "UpstreamSecret",
            description=f"{self.stack_name}: example upstream credential (replace the generated placeholder)",
            encryption_key=self.data_key.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"description": "example upstream credential; replace"}),
                generate_string_key="api_key",
                exclude_punctuation=True,
                password_length=48,
            ),
        )

        # Identity provider.
        self.cognito: CognitoIdentity | None = None
        auth_settings: AuthSettings
        if config.identity_provider == "cognito":
            self.cognito = CognitoIdentity(
                self, "Identity", config=config, tool_scope_names=self.declared.cognito_scope_names()
            )
            auth_settings = self.cognito.auth_settings(config)
        else:
            auth_settings = oidc_auth_settings(config)
        self.auth_settings = auth_settings

        self.functions = McpFunctions(
            self,
            "Functions",
            config=config,
            log_group=self.log_groups.audit,
            api_keys_secret=self.api_keys_secret,
            upstream_secret=self.upstream_secret,
            tool_scopes_document=self.declared.text,
            servers=self.declared.servers,
        )
        self.api = McpApi(
            self,
            "Api",
            config=config,
            mcp_handler=self.functions.mcp_alias,
            authorizer_handler=self.functions.authorizer_alias,
            access_log_group=self.log_groups.access,
            issuer=auth_settings.issuer,
            step_up_scopes=self.declared.scopes,
            primary_scopes=self.declared.primary.scopes,
            other_servers=[
                (server, function.alias)
                for server, function in zip(
                    self.declared.servers[1:], self.functions.servers[1:], strict=True
                )
            ],
        )

        # SSM: the canonical MCP URL (from the deployed API or the custom domain) and the auth
        # settings. The functions get the literal NAMES; they depend on the parameters so that
        # SnapStart's init at version publish can already read them.
        self.mcp_url_parameter = ssm.StringParameter(
            self,
            "McpUrlParameter",
            parameter_name=config.mcp_url_parameter_name,
            string_value=self.api.mcp_url,
            description="Canonical MCP URL: token audience (RFC 8707) and PRM `resource`",
        )
        self.auth_settings_parameter = ssm.StringParameter(
            self,
            "AuthSettingsParameter",
            parameter_name=config.auth_settings_parameter_name,
            string_value=self.to_json_string(auth_settings.as_dict()),
            description="Auth settings: issuer, jwks_url, audiences, allowed_client_ids, base_scope, origins",
        )
        for function in (self.functions.authorizer, *(server.function for server in self.functions.servers)):
            function.node.add_dependency(self.mcp_url_parameter, self.auth_settings_parameter)

        # The inspector (INSPECTOR=true): its files in S3, read by API Gateway, its widget sandbox.
        self.inspector: InspectorSite | None = None
        if config.inspector:
            self.inspector = InspectorSite(
                self,
                "Inspector",
                config=config,
                api=self.api.api,
                origin=self.api.origin,
                base_path=self.api.base_path,
                access_log_group=self.log_groups.access,
                encryption_key=self.data_key.key,
            )

        # Multi-tenancy (off by default): the authorizer settles a tenant for every caller, and the
        # MCP function reaches tenant data only through the tenant-data role (docs/tenants.md).
        self.tenant_data: TenantData | None = None
        if config.tenancy.multi_tenant:
            self.tenant_data = TenantData(self, "TenantData", mcp_role=self.functions.mcp_role)
            add_environment(self.functions.authorizer, config.tenancy.function_environment())
            for server in self.functions.servers:
                if server.role is not self.functions.mcp_role:
                    self.tenant_data.allow(server.role)
                add_environment(server.function, self.tenant_data.mcp_environment())

        self.oauth_front: OAuthFront | None = None
        if config.oauth_front.enabled:
            self.oauth_front = self._oauth_front()
            self.api.add_front_routes(self.oauth_front.alias)

        self.usage_plans: UsagePlans | None = None
        if config.usage.enabled:
            self.usage_plans = UsagePlans(
                self,
                "UsagePlans",
                settings=config.usage,
                api=self.api.api,
                stage=self.api.stage,
                authorizer=self.functions.authorizer,
                allowed_origins=config.allowed_origins,
            )

        self.waf: McpWaf | None = None
        if config.enable_waf:
            self.waf = McpWaf(self, "Waf", stage=self.api.stage, rate_limit=config.waf_rate_limit)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            log_groups=self.log_groups,
            api=self.api.api,
            mcp_function=self.functions.mcp_alias,
            authorizer_function=self.functions.authorizer_alias,
            other_servers={server.name: server.alias for server in self.functions.servers[1:]},
            mcp_paths=tuple(server.path for server in self.functions.servers),
            front_function=self.oauth_front.alias if self.oauth_front is not None else None,
        )
        self._outputs()
        acknowledge_findings(self)
        acknowledge_checkov_findings(self)

    def _oauth_front(self) -> OAuthFront:
        """The authorization front, signing users in at Cognito or at the configured OIDC issuer."""
        config = self.config
        callback_url = f"{self.api.front_issuer}/callback"
        if self.cognito is not None:
            secret = self.cognito.add_front_client(
                callback_url, config.oauth_front.refresh_token_ttl_days, self.data_key.key
            )
            assert self.cognito.front_client is not None
            upstream_issuer = self.cognito.issuer
            upstream_client_id = self.cognito.front_client.user_pool_client_id
            # The pool may narrow these per user (a pre-token-generation trigger); the front grants
            # no more than the upstream granted.
            upstream_scopes: tuple[str, ...] = ("openid", "email", config.base_scope, *self.declared.scopes)
            secret_id = secret_arn = secret.secret_arn
            identity_provider = self.cognito.sso_identity_provider()
        else:
            upstream_issuer = config.oauth_issuer
            upstream_client_id = config.oauth_front.upstream_client_id
            upstream_scopes = config.oauth_front.upstream_scopes
            identity_provider = None
            secret_id = config.oauth_front.upstream_client_secret_name
            # A secret's ARN ends in a random six-character suffix: match it, nothing wider.
            secret_arn = self.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{secret_id}-??????",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
        settings = front_settings_document(
            config,
            upstream_issuer=upstream_issuer,
            upstream_client_id=upstream_client_id,
            upstream_scopes=upstream_scopes,
            scopes=self.declared.scopes,
            upstream_identity_provider=identity_provider,
        )
        if self.inspector is not None:
            # The inspector signs in as this client: its id is its metadata document's URL.
            preregistered = settings["preregistered_clients"]
            assert isinstance(preregistered, list)
            preregistered.append(inspector_client(f"{self.api.origin}{self.api.base_path}"))
        front = OAuthFront(
            self,
            "OAuthFront",
            config=config,
            log_group=self.log_groups.audit,
            settings_document=settings,
            upstream_secret_id=secret_id,
            upstream_secret_arn=secret_arn,
        )
        front.function.node.add_dependency(self.mcp_url_parameter)
        if len(self.functions.servers) > 1:
            # Which resources the front issues tokens for (RFC 8707 `resource`, token `aud`); absent
            # means /mcp alone, so a one-server stack's front is unchanged.
            paths = ",".join(server.path for server in self.functions.servers)
            front.function.add_environment("MCP_SERVER_PATHS", paths)
        # The front carries the upstream's tenant into its tokens (app/oauth/authorization.py).
        add_environment(front.function, config.tenancy.function_environment())
        if self.cognito is not None and self.cognito.front_client_secret is not None:
            front.function.node.add_dependency(self.cognito.front_client_secret)
            # The front reads that secret by ARN (oauth_front.py); it is under the data key, which
            # it may use through Secrets Manager only, as `Secret.grant_read` lets the other roles.
            via_secrets_manager = f"secretsmanager.{self.region}.amazonaws.com"  # as grant_read writes it
            self.data_key.key.grant_decrypt(kms.ViaServicePrincipal(via_secrets_manager, front.role))
        return front

    def _outputs(self) -> None:
        config = self.config
        outputs: dict[str, tuple[str, str]] = {
            "McpUrl": (self.api.mcp_url, "The MCP endpoint: add it to your MCP client"),
            "ProtectedResourceMetadataUrl": (self.api.prm_url, "RFC 9728 protected-resource metadata"),
            "ApiKeysSecretArn": (self.api_keys_secret.secret_arn, "API key store (Secrets Manager)"),
            "UpstreamSecretArn": (
                self.upstream_secret.secret_arn,
                "Example upstream credential: replace its value",
            ),
            "McpUrlParameterName": (config.mcp_url_parameter_name, "SSM parameter holding the MCP URL"),
            "AuthSettingsParameterName": (
                config.auth_settings_parameter_name,
                "SSM parameter: auth settings",
            ),
            "AuditLogGroupName": (self.log_groups.audit.log_group_name, "Audit events and function logs"),
            "AccessLogGroupName": (self.log_groups.access.log_group_name, "API Gateway access logs (JSON)"),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "SNS topic the alarms notify"),
            "DashboardName": (self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard"),
            "BaseScope": (config.base_scope, "Scope every caller needs"),
            "CreateApiKeyCommand": (
                f"mcp-lambda keys create --stack {self.stack_name} --owner <you> "
                f"--scopes {','.join((config.base_scope, *self.declared.scopes))}"
                + (" --tenant <tenant>" if config.tenancy.multi_tenant else ""),
                "Create a first API key (prints it once)",
            ),
        }
        for name, (url, prm_url) in self.api.server_urls.items():
            # "McpUrlResearch" for the server "research" (names are [a-z][a-z0-9-]*).
            suffix = "".join(part.capitalize() for part in name.split("-"))
            if f"McpUrl{suffix}" in outputs:
                raise ConfigError(
                    f"the servers {name!r} and another one differ only in their dashes, so their stack "
                    f"outputs would share the name McpUrl{suffix}; rename one in app/servers/__init__.py"
                )
            outputs[f"McpUrl{suffix}"] = (url, f"The MCP endpoint of the server {name!r}")
            outputs[f"ProtectedResourceMetadataUrl{suffix}"] = (
                prm_url,
                f"RFC 9728 metadata of the server {name!r}",
            )
        if self.cognito is not None:
            outputs.update(
                {
                    "UserPoolId": (self.cognito.user_pool.user_pool_id, "Cognito user pool"),
                    "UserPoolDomain": (self.cognito.domain.base_url(), "Cognito hosted sign-in domain"),
                    "OAuthIssuer": (self.cognito.issuer, "Token issuer (iss)"),
                    "TokenEndpoint": (self.cognito.token_endpoint, "OAuth token endpoint"),
                    "InteractiveClientId": (
                        self.cognito.interactive_client.user_pool_client_id,
                        "App client for interactive MCP clients (authorization code + PKCE, no secret)",
                    ),
                    "MachineClientId": (
                        self.cognito.machine_client.user_pool_client_id,
                        "App client for machine callers (client credentials; secret in the Cognito console)",
                    ),
                    "Scopes": (
                        " ".join((config.base_scope, *self.declared.scopes)),
                        "Scopes the pool issues",
                    ),
                }
            )
        if self.oauth_front is not None:
            front = self.oauth_front
            outputs.update(
                {
                    "OAuthFrontIssuer": (
                        self.api.front_issuer,
                        "Authorization server MCP clients sign in with (the PRM names it)",
                    ),
                    "OAuthFrontCallbackUrl": (
                        f"{self.api.front_issuer}/callback",
                        "Redirect URI of the front's client at the upstream provider",
                    ),
                    "OAuthFrontSettingsParameterName": (
                        config.oauth_front_settings_parameter_name,
                        "SSM parameter: the front's settings",
                    ),
                    "OAuthTableName": (front.table.table_name, "The front's DynamoDB table"),
                    "OAuthSigningKeyArn": (front.signing_key.key_arn, "KMS key signing the front's tokens"),
                }
            )
        if self.inspector is not None:
            outputs["InspectorUrl"] = (
                self.inspector.url,
                "The inspector: open it in a browser (public page)",
            )
            outputs["InspectorSandboxOrigin"] = (
                self.inspector.sandbox_origin,
                "Where the inspector renders MCP Apps widgets (another origin, no access to the page)",
            )
        if self.tenant_data is not None:
            table = self.tenant_data.table.table_name
            outputs["TenantTableName"] = (table, "Per-tenant data (partition key tenant)")
            outputs["TenantDataRoleArn"] = (
                self.tenant_data.role.role_arn,
                "Role the MCP function assumes per tenant (session tag tenant)",
            )
        if self.usage_plans is not None:
            outputs["UsagePlanIds"] = (
                self.to_json_string(self.usage_plans.plan_ids()),
                "Usage plan id of each tier (JSON): `mcp-lambda keys create --tier` adds each key's own",
            )
            outputs["UsageDefaultTier"] = (
                config.usage.default_tier,
                "Tier of `mcp-lambda keys create` without --tier",
            )
        if self.api.domain is not None:
            outputs["CustomDomainTarget"] = (
                self.api.domain.domain_name_alias_domain_name,
                "Point the custom domain's DNS (CNAME or alias) here",
            )
        for key, (value, description) in outputs.items():
            cdk.CfnOutput(self, key, value=value, description=description)


def add_environment(function: lambda_.Function, values: dict[str, str]) -> None:
    for name, value in values.items():
        function.add_environment(name, value)
