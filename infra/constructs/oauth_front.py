"""The authorization front: its Lambda, its DynamoDB table, its two KMS keys and its settings.

The front (`app/oauth/`) is the OAuth 2.1 authorization server MCP clients sign in with. It signs
its access tokens with a KMS asymmetric key (RS256; the private key never leaves KMS) and seals
what it must keep of the upstream provider (refresh tokens, PKCE verifiers) with a KMS symmetric
key before writing it to DynamoDB. Its role may use exactly these: Sign and GetPublicKey on the
signing key, Encrypt and Decrypt on the sealing key, item reads and writes on its table (no Scan,
no Query: every item is addressed by its key), its two SSM parameters and its upstream secret.

Table encryption: the AWS managed key (`aws/dynamodb`), not a customer managed one. What is secret
in the table is sealed by the application with the sealing key (and codes and tokens are stored
only as hashes), so a CMK on the table would protect nothing more, while it would add a key
policy to maintain, a monthly key and per-request KMS calls on every item read. The AWS managed
key still records its use in CloudTrail.

State (the table and both keys) is retained on `cdk destroy`, like the user pool and the audit
log: registered clients and refresh-token families must outlive a stack replacement, and the
sealing key must outlive every item it sealed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.bundling import BundleSpec, requirements_for
from infra.constructs.functions import (
    ALIAS_NAME,
    acknowledge_snapstart,
    lambda_function,
    lambda_role,
    parameter_arn,
)

OAUTH_HANDLER = "app.oauth.handler.handler"
# pyjwt[crypto] brings cryptography (JWKS, PKCS#1 signatures); no MCP stack in this function.
OAUTH_DEPENDENCIES = ("pyjwt", "aws-lambda-powertools")
OAUTH_FORBIDDEN = ("mcp", "starlette", "mangum", "boto3", "botocore")
# The front waits on the upstream provider (token exchange) and on client metadata documents
# (bounded fetches); API Gateway's integration timeout (29 s) is the outer bound.
OAUTH_MEMORY_MB = 512
OAUTH_TIMEOUT_SECONDS = 15

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires_at"
# RS256 (RFC 7518 §3.3) is RSASSA-PKCS1-v1_5 with SHA-256: the only algorithm the role may sign with.
SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
# TransactWriteItems is not an IAM action: each item of a transaction is authorized by its own
# action (Put/Update/Delete/ConditionCheckItem), so these cover the front's transactions too.
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)


def oauth_bundle(config: StackConfig) -> BundleSpec:
    return BundleSpec(
        name="oauth",
        source_dir=config.app_source_dir,
        requirements=requirements_for(OAUTH_DEPENDENCIES),
        forbidden_packages=OAUTH_FORBIDDEN,
    )


def front_settings_document(
    config: StackConfig,
    *,
    upstream_issuer: str,
    upstream_client_id: str,
    upstream_scopes: Sequence[str],
    scopes: Sequence[str],
    upstream_identity_provider: str | None = None,
) -> dict[str, object]:
    """The JSON object of the OAUTH_FRONT_SETTINGS_PARAMETER parameter (values may be tokens).

    `upstream_identity_provider` (SSO_ONLY): the pool's federated provider, which the front names
    so Cognito sends users straight to the corporate sign-in."""
    front = config.oauth_front
    document: dict[str, object] = {
        "upstream_issuer": upstream_issuer,
        "upstream_client_id": upstream_client_id,
        "upstream_scopes": list(upstream_scopes),
        "scopes": [config.base_scope, *(s for s in scopes if s != config.base_scope)],
        "base_scope": config.base_scope,
        "preregistered_clients": [client.as_dict() for client in front.preregistered_clients],
        "pre_approved_clients": list(front.pre_approved_clients),
        "access_token_ttl_seconds": front.access_token_ttl_seconds,
        "refresh_token_ttl_seconds": front.refresh_token_ttl_days * 86_400,
        "registration_enabled": front.registration,
        "registration_max_clients": front.registration_max_clients,
        "registration_per_ip_per_hour": front.registration_per_ip_per_hour,
    }
    if upstream_identity_provider is not None:
        document["upstream_identity_provider"] = upstream_identity_provider
    return document


class OAuthFront(Construct):
    """Table, signing key, sealing key, settings parameter, role, function and its `live` alias."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        log_group: logs.ILogGroup,
        settings_document: Mapping[str, object],
        upstream_secret_id: str,
        upstream_secret_arn: str,
    ) -> None:
        """`upstream_secret_id` is what the function is told (ARN or name); `upstream_secret_arn`
        is what its role may read (for a secret named by the operator: `<name>-??????`)."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            # DynamoDB deletes expired items within days, not seconds: the front checks
            # `expires_at` itself on every read.
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.signing_key = kms.Key(
            self,
            "SigningKey",
            description=f"{stack.stack_name}: signs the authorization front's access tokens (RS256)",
            key_spec=kms.KeySpec.RSA_2048,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            # KMS cannot rotate asymmetric keys; a new key (and kid) is a stack change.
            enable_key_rotation=False,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.sealing_key = kms.Key(
            self,
            "SealingKey",
            description=f"{stack.stack_name}: seals upstream refresh tokens and PKCE verifiers at rest",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.settings_parameter = ssm.StringParameter(
            self,
            "SettingsParameter",
            parameter_name=config.oauth_front_settings_parameter_name,
            string_value=stack.to_json_string(dict(settings_document)),
            description="Authorization front settings: upstream issuer and client, scopes, clients, TTLs",
        )

        self.role = lambda_role(self, "Role", "serverless-mcp authorization front", log_group)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    parameter_arn(self, config.mcp_url_parameter_name),
                    parameter_arn(self, config.oauth_front_settings_parameter_name),
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[upstream_secret_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Sign"],
                resources=[self.signing_key.key_arn],
                conditions={"StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["kms:GetPublicKey"], resources=[self.signing_key.key_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["kms:Encrypt", "kms:Decrypt"], resources=[self.sealing_key.key_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[self.table.table_arn])
        )

        settings = config.functions
        self.function = lambda_function(
            self,
            "Function",
            config=config,
            description="serverless-mcp authorization front (OAuth 2.1 authorization server)",
            handler=OAUTH_HANDLER,
            bundle=oauth_bundle(config),
            role=self.role,
            log_group=log_group,
            memory_mb=OAUTH_MEMORY_MB,
            timeout_s=OAUTH_TIMEOUT_SECONDS,
            reserved=config.oauth_front_reserved_concurrency,
            environment={
                "MCP_URL_PARAMETER": config.mcp_url_parameter_name,
                "OAUTH_FRONT_SETTINGS_PARAMETER": config.oauth_front_settings_parameter_name,
                "OAUTH_UPSTREAM_SECRET_ID": upstream_secret_id,
                "OAUTH_TABLE_NAME": self.table.table_name,
                "OAUTH_SIGNING_KEY_ID": self.signing_key.key_arn,
                "OAUTH_SEALING_KEY_ID": self.sealing_key.key_arn,
                "CONFIG_CACHE_SECONDS": str(settings.config_cache_seconds),
                "POWERTOOLS_SERVICE_NAME": settings.service_name,
                "POWERTOOLS_LOG_LEVEL": settings.log_level,
                "POWERTOOLS_METRICS_NAMESPACE": settings.metrics_namespace,
            },
        )
        # SnapStart runs the init when the version is published: the settings must exist by then.
        self.function.node.add_dependency(self.settings_parameter)
        acknowledge_snapstart(self.function)
        self.alias = lambda_.Alias(
            self, "Alias", alias_name=ALIAS_NAME, version=self.function.current_version
        )
