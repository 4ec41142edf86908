"""checkov (CloudFormation) findings this stack does not fix, each skipped on its resource with its reason.

checkov reads a skip from the resource's own CloudFormation metadata
(`Metadata: {checkov: {skip: [{id, comment}]}}`), so every skip below is on the one resource it
concerns, carries its reason into the template, and is added only in the configurations where the
finding exists (a setting that fixes it removes the skip). tests/infra/test_checkov.py runs checkov
over every configuration the infra tests synthesize: an unskipped failure, a skip without a
reason, or a skip that suppresses nothing fails it. Keep every reason specific: it is the audit
trail, as for cdk-nag in nag.py.

Fixed rather than skipped (so absent here): customer managed KMS key for the secrets (CKV_AWS_149)
and the log groups (CKV_AWS_158), see encryption.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

from infra.constructs.nag import FRONT_ROUTE_REASON, public_route_reason

if TYPE_CHECKING:
    from infra.constructs.inspector import InspectorSite
    from infra.stack import ServerlessMcpStack


def skip(construct: IConstruct, check_id: str, reason: str) -> None:
    """Skip checkov's `check_id` on the CloudFormation resource behind `construct`, with `reason`."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource), f"{construct.node.path} has no CloudFormation resource"
    existing: dict[str, Any] = resource.get_metadata("checkov") or {}
    skips = [entry for entry in existing.get("skip", []) if entry["id"] != check_id]
    resource.add_metadata("checkov", {**existing, "skip": [*skips, {"id": check_id, "comment": reason}]})


SYNCHRONOUS_ONLY_REASON = (
    "Invoked synchronously only, by API Gateway through the `live` alias (its only invoke permission; "
    "no event source mapping, no asynchronous invoke config). A dead-letter queue or on-failure "
    "destination applies to asynchronous invocations only: a failed call is already an HTTP answer "
    "to the client and a line in the audit log."
)
NO_VPC_REASON = (
    "No private resource to reach: the function calls only AWS APIs (SSM, Secrets Manager, KMS, "
    "DynamoDB) over TLS with IAM, and public HTTPS (JWKS, upstream provider). A VPC would need a "
    "NAT gateway or five interface endpoints (hourly cost) and add cold-start latency, with no "
    "network path to protect."
)
ENVIRONMENT_REASON = (
    "The environment holds parameter names, secret and key ARNs, cache ages and log settings only, "
    "never a secret (tests/infra assert the exact variables); values come from SSM and Secrets "
    "Manager at run time. Lambda encrypts it at rest with its service key; a customer managed key "
    "here would protect nothing secret."
)
UNRESERVED_REASON = (
    "Reserved concurrency is a setting ({setting}), unset by default: Lambda keeps 100 of the "
    "account's concurrency unreserved (PutFunctionConcurrency), so any default reservation would "
    "fail to deploy on a new account with a low quota. Stage throttling (THROTTLE_RATE_LIMIT, "
    "THROTTLE_BURST_LIMIT) bounds the concurrency API Gateway can cause."
)


def acknowledge_checkov_findings(stack: ServerlessMcpStack) -> None:
    config = stack.config
    functions = stack.functions
    front = stack.oauth_front
    reserved: list[tuple[lambda_.Function, str, int | None]] = [
        (functions.authorizer, "AUTHORIZER_RESERVED_CONCURRENCY", config.authorizer_reserved_concurrency),
        *(
            (server.function, "MCP_RESERVED_CONCURRENCY", config.mcp_reserved_concurrency)
            for server in functions.servers
        ),
    ]
    if front is not None:
        front_reserved = config.oauth_front_reserved_concurrency
        reserved.append((front.function, "OAUTH_FRONT_RESERVED_CONCURRENCY", front_reserved))
    for function, setting, value in reserved:
        skip(function, "CKV_AWS_116", SYNCHRONOUS_ONLY_REASON)
        skip(function, "CKV_AWS_117", NO_VPC_REASON)
        skip(function, "CKV_AWS_173", ENVIRONMENT_REASON)
        if value is None:
            skip(function, "CKV_AWS_115", UNRESERVED_REASON.format(setting=setting))

    api = stack.api
    skip(
        api.stage,
        "CKV_AWS_120",
        "No API Gateway cache: every cacheable answer is per caller or static. /mcp is an authorized "
        "POST whose result depends on the caller's identity and scopes (a shared cache would serve "
        "one caller's tool results to another); the metadata and health answers are MOCK "
        "integrations with Cache-Control. A cache cluster is also billed by the hour.",
    )
    if not config.enable_xray:
        skip(
            api.stage,
            "CKV_AWS_73",
            "X-Ray is an option (ENABLE_XRAY=true traces the stage and every function), off by default "
            "for cost and trace volume: the JSON access log and the audit events already record each "
            "request with its status, principal and latency.",
        )
    for method in api.public_methods:
        reason = public_route_reason(method)
        skip(method, "CKV_AWS_59", f"{reason} API Gateway answers it itself (MOCK integration): no back end.")
    for method in api.front_methods:
        skip(method, "CKV_AWS_59", FRONT_ROUTE_REASON)

    # SNS Developer Guide, "Enable compatibility between event sources from AWS services and encrypted
    # topics" (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): CloudWatch needs a
    # customer managed key whose policy lets cloudwatch.amazonaws.com use it.
    skip(
        stack.monitoring.topic,
        "CKV_AWS_26",
        "The topic carries CloudWatch alarm notifications only (alarm name, metric, threshold, "
        "state), no request data. CloudWatch can't publish to a topic under the AWS managed SNS key, "
        "so encrypting would need a key policy for cloudwatch.amazonaws.com whose mistake silences "
        "every alarm, for no secret to protect.",
    )
    if front is not None:
        skip(
            front.table,
            "CKV_AWS_119",
            "AWS managed key on purpose (oauth_front.py): what is secret in the table (upstream "
            "refresh tokens, PKCE verifiers) is sealed by the front with its own customer managed "
            "key before it is written, and codes and tokens are stored as hashes only; a table CMK "
            "would add KMS calls on every item read and protect nothing more.",
        )
    if stack.tenant_data is not None:
        skip(
            stack.tenant_data.table,
            "CKV_AWS_119",
            "AWS managed key for the example tenant table (notes): isolation between tenants is IAM's "
            "dynamodb:LeadingKeys condition on the tenant-data role, which a key would not add to (the "
            "same role would need to use it). Put real tenant data under a customer managed key and "
            "grant the tenant-data role kms:Decrypt/GenerateDataKey with kms:ViaService dynamodb.",
        )
    if stack.inspector is not None:
        _acknowledge_inspector(stack.inspector, enable_xray=config.enable_xray)


def _acknowledge_inspector(inspector: InspectorSite, *, enable_xray: bool) -> None:
    """INSPECTOR=true: its public routes, its bucket, the sandbox API and CDK's copy handler."""
    from infra.constructs.inspector import PUBLIC_PAGE_REASON

    for method in (*inspector.methods, *inspector.sandbox_methods):
        skip(
            method,
            "CKV_AWS_59",
            f"{PUBLIC_PAGE_REASON} No function behind it: S3 read by API Gateway, or MOCK.",
        )
    stage = inspector.sandbox_api.deployment_stage
    skip(
        stage,
        "CKV_AWS_120",
        "The widget sandbox API answers one static page of a few kilobytes from a MOCK integration: "
        "there is no back end for a cache to spare, and a cache cluster is billed by the hour.",
    )
    if not enable_xray:
        skip(
            stage,
            "CKV_AWS_73",
            "X-Ray is an option (ENABLE_XRAY=true traces this stage too), off by default: the widget "
            "sandbox is one static MOCK page, and its requests are in the JSON access log already.",
        )
    # CloudFormation User Guide, "DeletionPolicy attribute"
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html):
    # "For Amazon S3 buckets, you must delete all objects in the bucket for deletion to succeed";
    # S3 refuses DeleteBucket while any version is left.
    skip(
        inspector.bucket,
        "CKV_AWS_21",
        "Not versioned on purpose: the bucket holds the inspector's static files, rebuilt from the "
        "pinned package on every deploy (nothing to recover), and on stack deletion CDK's copy handler "
        "deletes the current objects only, so noncurrent versions would keep the bucket non-empty and "
        "make CloudFormation fail to delete it.",
    )
    skip(
        inspector.bucket,
        "CKV_AWS_18",
        "No S3 server access log: the only reader is API Gateway through its read-only role, and every "
        "read is a GET /inspector request already in the API's JSON access log (caller IP, time, "
        "status); a log bucket would itself be a bucket without access logging.",
    )
    (handler,) = inspector.deployment_handlers()
    deploy_only = (
        "aws-cdk-lib's BucketDeployment handler (a CloudFormation custom resource) copies the "
        "inspector's static files from the CDK asset bucket into the inspector bucket during a deploy "
        "and runs at no other time"
    )
    skip(
        handler,
        "CKV_AWS_116",
        f"{deploy_only}: a failed copy fails the deployment, which CloudFormation reports and rolls "
        "back; a dead-letter queue would hold an event nobody replays.",
    )
    skip(
        handler,
        "CKV_AWS_117",
        f"{deploy_only}: it calls S3 only, over TLS with IAM; a VPC would need an S3 endpoint and a "
        "NAT gateway for no private resource to reach.",
    )
    skip(
        handler,
        "CKV_AWS_115",
        f"{deploy_only}: CloudFormation invokes it once per content type per deploy, so there is no "
        "request traffic to bound, and a reservation would take account concurrency from the others.",
    )
    skip(
        handler,
        "CKV_AWS_173",
        f"{deploy_only}: its environment is CDK's CA bundle path (AWS_CA_BUNDLE), nothing secret; "
        "Lambda encrypts it at rest with its service key.",
    )
