"""cdk-nag (AwsSolutions) acknowledgements, each on the construct it concerns, each with its reason.

cdk-nag 3.x runs as a CDK validation plugin (see infra/app.py); a finding that is not
acknowledged here fails `cdk synth`. Keep every reason specific: it is the audit trail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import ServerlessMcpStack


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge AwsSolutions-<rule> on `scope` (and what it contains)."""
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason)
    )


LAMBDA_RUNTIME_REASON = (
    "Python 3.13 is pinned on purpose: the asset is built for cp313 wheels and 3.13 bytecode "
    "(infra/constructs/bundling.py) and the app is tested on it; move runtime and bundle together."
)
AUTHORIZER_NOT_COGNITO_REASON = (
    "The REQUEST Lambda authorizer verifies Cognito or external OIDC JWTs (signature, issuer, "
    "client id/audience, expiry, base scope) and API keys; a Cognito user pool authorizer "
    "could accept neither API keys nor another issuer."
)
PUBLIC_ROUTE_REASONS = {
    "oauth-protected-resource": (
        "RFC 9728 protected-resource metadata is public by specification: MCP clients read it "
        "before they hold a token to find the authorization server. It holds no secret."
    ),
    "health": "Health check for uptime probes: returns a fixed status, no data and no tool access.",
}


def public_route_reason(method: apigw.Method) -> str:
    """Why this public (unauthenticated) metadata or health route is public."""
    path = method.resource.path
    return PUBLIC_ROUTE_REASONS["health" if path.endswith("/health") else "oauth-protected-resource"]


FRONT_ROUTE_REASON = (
    "OAuth 2.1 authorization-server endpoints (RFC 8414 metadata, JWKS, RFC 7591 registration, authorize, "
    "callback, token, revoke) are public by specification: a client comes here because it has no token "
    "yet. The front authenticates clients (PKCE, redirect URIs, client metadata) and users (upstream "
    "login) itself, rate-limits registration, and audits every refusal."
)


def acknowledge_findings(stack: ServerlessMcpStack) -> None:
    config = stack.config
    functions = stack.functions
    front = stack.oauth_front
    mcp_functions = [server.function for server in functions.servers]
    mcp_roles = [server.role for server in functions.servers]
    for function in (functions.authorizer, *mcp_functions, *((front.function,) if front else ())):
        acknowledge(function, "L1", LAMBDA_RUNTIME_REASON)

    if config.enable_xray:
        for role in (functions.authorizer_role, *mcp_roles, *((front.role,) if front else ())):
            acknowledge(
                role,
                "IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions, "
                "so their resource is '*'; granted only with ENABLE_XRAY=true. Nothing else in these roles "
                "uses '*'.",
            )

    api = stack.api
    acknowledge(
        api.api,
        "APIG2",
        "The only body-carrying route is POST /mcp, whose JSON-RPC body the MCP SDK validates in the "
        "function and answers with JSON-RPC errors clients understand; a gateway model would duplicate "
        "the protocol schema and answer non-JSON-RPC 400s. The authorizer runs first on every /mcp call.",
    )
    if not config.enable_execution_logs:
        acknowledge(
            api.stage,
            "APIG6",
            "Execution logs are off by default (ENABLE_EXECUTION_LOGS=true turns on ERROR level): every "
            "request is already in the JSON access log with status, principal, authorizer status and "
            "error type, without execution logs' volume and cost.",
        )
    if config.api_gateway_cloudwatch_role:
        acknowledge(
            api.api,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-wide logging role (needed for the access logs) uses the AWS managed "
            "policy made for exactly this purpose; it is assumed only by apigateway.amazonaws.com.",
        )
    if not config.enable_waf:
        acknowledge(
            api.stage,
            "APIG3",
            "AWS WAF is an option (ENABLE_WAF=true), off by default for cost; stage throttling and the "
            "authorizer (fail closed, cached) protect the API without it.",
        )
    for method in api.mcp_methods:
        acknowledge(method, "COG4", AUTHORIZER_NOT_COGNITO_REASON)
    for method in api.public_methods:
        reason = public_route_reason(method)
        acknowledge(method, "APIG4", reason)
        acknowledge(method, "COG4", reason)
    for method in api.front_methods:
        acknowledge(method, "APIG4", FRONT_ROUTE_REASON)
        acknowledge(method, "COG4", FRONT_ROUTE_REASON)
    if stack.inspector is not None:
        stack.inspector.acknowledge_findings()

    acknowledge(
        stack.api_keys_secret,
        "SMG4",
        "The secret is a store of API key hashes; keys are rotated one by one with `mcp-lambda keys "
        "create/revoke` (old and new key overlap). A rotation Lambda replacing the whole store would "
        "invalidate every client's key at once.",
    )
    acknowledge(
        stack.upstream_secret,
        "SMG4",
        "Example credential for a third-party upstream API, issued outside AWS: it is rotated at the "
        "provider and written here by the operator (README); Secrets Manager cannot rotate it.",
    )

    if stack.cognito is not None and stack.cognito.front_client_secret is not None:
        acknowledge(
            stack.cognito.front_client_secret,
            "SMG4",
            "A copy of the front's Cognito app client secret, written by CloudFormation from the client "
            "(Fn::GetAtt ClientSecret). Cognito generates it; a Secrets Manager rotation could not change "
            "the client's secret, so rotating means replacing the client (a new logical id) in a deploy.",
        )

    if stack.cognito is not None:
        acknowledge(
            stack.cognito.user_pool,
            "COG8",
            "The Plus feature plan (threat protection) is a paid tier; self sign-up is off and MFA (TOTP) "
            "is required by default. Raise the plan in identity.py if your users need it.",
        )
        if config.cognito_mfa != "required":
            acknowledge(
                stack.cognito.user_pool,
                "COG2",
                f"COGNITO_MFA={config.cognito_mfa} was set explicitly by the operator for this deployment.",
            )
