"""The two Lambda functions: the REQUEST authorizer and the MCP server.

Each has its own role holding only what it reads (its parameters and secrets by exact ARN,
writes to its log group), SnapStart on published versions, and a `live` alias that API Gateway
invokes. Environment values are parameter NAMES and secret ARNs, never secret values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.bundling import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    BundleSpec,
    lambda_code,
    project_dependencies,
    requirements_for,
)
from infra.registry import PRIMARY_NAME_V1, PRIMARY_PATH, TOOL_SCOPES_FILE_NAME, ServerScopes

AUTHORIZER_HANDLER = "app.authorizer.handler.handler"
MCP_HANDLER = "app.mcp.handler.handler"
ALIAS_NAME = "live"
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the asset

# What each function ships besides app/ (names from pyproject.toml; ranges come from there).
AUTHORIZER_DEPENDENCIES = ("pyjwt", "aws-lambda-powertools")
RUNTIME_PROVIDED = ("boto3", "botocore")  # in the Lambda Python runtime: never bundled
AUTHORIZER_FORBIDDEN = ("mcp", "starlette", "mangum", "boto3", "botocore")
MCP_FORBIDDEN = ("boto3", "botocore")
# What a stack told of no servers builds: the primary alone.
ONE_SERVER = ServerScopes(PRIMARY_NAME_V1, PRIMARY_PATH, {})


def authorizer_bundle(config: StackConfig, tool_scopes_document: str = "") -> BundleSpec:
    """The authorizer's asset; with per-tool decisions on, the tools' scopes at its root."""
    extra = ((TOOL_SCOPES_FILE_NAME, tool_scopes_document),) if tool_scopes_document else ()
    return BundleSpec(
        name="authorizer",
        source_dir=config.app_source_dir,
        requirements=requirements_for(AUTHORIZER_DEPENDENCIES),
        forbidden_packages=AUTHORIZER_FORBIDDEN,
        extra_files=extra,
    )


def mcp_bundle(config: StackConfig) -> BundleSpec:
    names = [name for name in project_dependencies() if name not in RUNTIME_PROVIDED]
    return BundleSpec(
        name="mcp",
        source_dir=config.app_source_dir,
        requirements=requirements_for(names),
        forbidden_packages=MCP_FORBIDDEN,
    )


def parameter_arn(scope: Construct, name: str) -> str:
    """The ARN of an SSM parameter from its literal name (no reference to the resource, so the
    function's policy does not depend on the parameter whose value depends on the API URL)."""
    return cdk.Stack.of(scope).format_arn(
        service="ssm",
        resource="parameter",
        resource_name=name.lstrip("/"),
        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
    )


@dataclass(frozen=True)
class ServerFunction:
    """One MCP server's function (the registry's `MCP_SERVER=<name>`), its role and `live` alias."""

    name: str
    path: str
    role: iam.Role
    function: lambda_.Function
    alias: lambda_.Alias


@dataclass(frozen=True)
class FunctionPair:
    authorizer: lambda_.Function
    authorizer_alias: lambda_.Alias
    mcp: lambda_.Function
    mcp_alias: lambda_.Alias


class McpFunctions(Construct):
    """Both functions, their roles and aliases."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        log_group: logs.ILogGroup,
        api_keys_secret: secretsmanager.ISecret,
        upstream_secret: secretsmanager.ISecret,
        tool_scopes_document: str,
        servers: Sequence[ServerScopes] = (),
    ) -> None:
        """`servers`: the registry's servers, the primary first (none: one primary server)."""
        super().__init__(scope, construct_id)
        settings = config.functions
        # Per-tool decisions need an authorizer that runs on every request (app/authorizer/gatekeeper.py).
        per_tool = config.authorizer_cache_ttl_seconds == 0
        # With several servers the authorizer needs the document even when its results are cached:
        # it is the list of servers whose resources an Allow policy names (app/authorizer/gatekeeper.py
        # refuses a one-server document with a cache TTL, so one server stays as it was).
        carries_document = per_tool or len(servers) > 1
        authorizer_env = {"AUTHORIZER_CACHE_TTL_SECONDS": str(config.authorizer_cache_ttl_seconds)}
        if carries_document:
            authorizer_env["TOOL_SCOPES_FILE"] = f"{LAMBDA_TASK_ROOT}/{TOOL_SCOPES_FILE_NAME}"
        common = {
            "MCP_URL_PARAMETER": config.mcp_url_parameter_name,
            "AUTH_SETTINGS_PARAMETER": config.auth_settings_parameter_name,
            "CONFIG_CACHE_SECONDS": str(settings.config_cache_seconds),
            "API_KEYS_CACHE_SECONDS": str(settings.api_keys_cache_seconds),
            "POWERTOOLS_SERVICE_NAME": settings.service_name,
            "POWERTOOLS_LOG_LEVEL": settings.log_level,
            "POWERTOOLS_METRICS_NAMESPACE": settings.metrics_namespace,
        }
        parameter_arns = [
            parameter_arn(self, config.mcp_url_parameter_name),
            parameter_arn(self, config.auth_settings_parameter_name),
        ]

        self.authorizer_role = lambda_role(
            self, "AuthorizerRole", "serverless-mcp REQUEST authorizer", log_group
        )
        self.authorizer_role.add_to_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter"], resources=parameter_arns)
        )
        api_keys_secret.grant_read(self.authorizer_role)
        self.authorizer = lambda_function(
            self,
            "AuthorizerFunction",
            config=config,
            description="serverless-mcp REQUEST authorizer (JWT and API key verification)",
            handler=AUTHORIZER_HANDLER,
            bundle=authorizer_bundle(config, tool_scopes_document if carries_document else ""),
            role=self.authorizer_role,
            log_group=log_group,
            memory_mb=config.authorizer_memory_mb,
            timeout_s=config.authorizer_timeout_seconds,
            reserved=config.authorizer_reserved_concurrency,
            environment={
                **common,
                "API_KEYS_SECRET_ID": api_keys_secret.secret_arn,
                **authorizer_env,
                **settings.authorizer_extra,
            },
        )
        acknowledge_snapstart(self.authorizer)
        self.authorizer_alias = lambda_.Alias(
            self, "AuthorizerAlias", alias_name=ALIAS_NAME, version=self.authorizer.current_version
        )

        # One MCP function per server, each with its own role holding what today's MCP role holds.
        # The primary's construct ids are the ones a one-server stack has always had, so adding a
        # server never replaces the deployed function, its role or its alias. With one server no
        # MCP_SERVER is set (absent means the first, app/servers/__init__.py), so its template is
        # today's; with several every function names its server.
        several = len(servers) > 1
        self.servers: list[ServerFunction] = []
        for index, server in enumerate(servers or (ONE_SERVER,)):
            owner: Construct = self if index == 0 else Construct(self, f"Server-{server.name}")
            ids = ("McpRole", "McpFunction", "McpAlias") if index == 0 else ("Role", "Function", "Alias")
            label = "" if index == 0 else f" ({server.name} at {server.path})"
            role = lambda_role(owner, ids[0], f"serverless-mcp MCP server{label}", log_group)
            role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=parameter_arns))
            upstream_secret.grant_read(role)
            environment = {**common, "UPSTREAM_SECRET_ID": upstream_secret.secret_arn}
            if several:
                environment["MCP_SERVER"] = server.name
            function = lambda_function(
                owner,
                ids[1],
                config=config,
                description=f"serverless-mcp MCP server{label} (streamable HTTP, stateless)",
                handler=MCP_HANDLER,
                bundle=mcp_bundle(config),
                role=role,
                log_group=log_group,
                memory_mb=config.mcp_memory_mb,
                timeout_s=config.mcp_timeout_seconds,
                reserved=config.mcp_reserved_concurrency,
                environment={**environment, **settings.mcp_extra},
            )
            acknowledge_snapstart(function)
            alias = lambda_.Alias(owner, ids[2], alias_name=ALIAS_NAME, version=function.current_version)
            self.servers.append(ServerFunction(server.name, server.path, role, function, alias))
        # The primary server, under the names the rest of the stack has always used.
        primary = self.servers[0]
        self.mcp_role, self.mcp, self.mcp_alias = primary.role, primary.function, primary.alias


def acknowledge_snapstart(function: lambda_.Function) -> None:
    cdk.Annotations.of(function).acknowledge_warning(
        "@aws-cdk/aws-lambda:snapStartRequirePublish",
        "SnapStart applies to the published version behind the `live` alias, which API Gateway invokes",
    )


def lambda_role(scope: Construct, construct_id: str, what: str, log_group: logs.ILogGroup) -> iam.Role:
    """A function's own role: it may write its logs; callers add exactly what it reads."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{what}: writes its logs, reads its own parameters and secrets",
    )
    log_group.grant_write(role)
    return role


def lambda_function(
    scope: Construct,
    construct_id: str,
    *,
    config: StackConfig,
    description: str,
    handler: str,
    bundle: BundleSpec,
    role: iam.IRole,
    log_group: logs.ILogGroup,
    memory_mb: int,
    timeout_s: int,
    reserved: int | None,
    environment: dict[str, str],
) -> lambda_.Function:
    """Every function of the stack alike: arm64, the pinned runtime, the local bundle, one log
    group, X-Ray and SnapStart as configured."""
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=LAMBDA_RUNTIME,
        architecture=LAMBDA_ARCHITECTURE,
        handler=handler,
        code=lambda_code(bundle),
        role=role,
        memory_size=memory_mb,
        timeout=cdk.Duration.seconds(timeout_s),
        reserved_concurrent_executions=reserved,
        environment=environment,
        log_group=log_group,
        tracing=lambda_.Tracing.ACTIVE if config.enable_xray else lambda_.Tracing.DISABLED,
        snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.enable_snapstart else None,
    )
