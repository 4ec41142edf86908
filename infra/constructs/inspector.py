"""The inspector at /inspector (INSPECTOR=true; without it, none of this exists).

Where the page comes from, and why there:

- its files (the prebuilt `@mcp-use/inspector` app, 3.4 MB unzipped, our index page and scripts:
  devtools/inspector_site.py) sit in a private S3 bucket, and API Gateway reads them itself with
  an AWS service integration (S3 GetObject, a role that may read `inspector/*` and nothing else).
  No function runs for the page: a MOCK template cannot hold 3.4 MB, and serving it from the MCP
  Lambda would add the bundle to every MCP cold start and route unauthenticated traffic into the
  function that refuses everything without authorizer context. No binary media types are set on
  the API: the files are stored as text (the bundle unzipped), so /mcp's handling is untouched;
- the routes are public: `GET /inspector` and `GET /inspector/{proxy+}`. The page is static code
  and names nothing of the server (tests/e2e/test_inspector.py checks); everything it shows it
  fetches from /mcp in the browser with the person's own credential, through the authorizer;
- MCP Apps widgets render in a sandbox page on another origin (SEP-1865), a second small REST
  API whose MOCK integration answers GET on every path with that page (`sandbox_page()`, a few
  kilobytes). Its stage is named so that the inspector's sandbox URL, `<base path>/inspector/
  sandbox` on that origin, lands in it: the MCP stage on the execute-api URL, `inspector` when a
  custom domain serves the inspector at the root;
- the front knows the inspector as a preregistered client whose id is the URL of the client ID
  metadata document served here (infra/stack.py adds it), so signing in never makes the front
  fetch its own API.

The emulator (devtools/gateway.py, integration "site") serves the same keys with the same headers;
tests/infra/test_inspector.py compares.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct, IConstruct

from devtools.inspector_site import (
    CALLBACK_KEY,
    CLIENT_METADATA_KEY,
    HTML_TYPE,
    INDEX_KEY,
    INSPECTOR_PATH,
    JSON_TYPE,
    KEY_PREFIX,
    NOT_FOUND_BODY,
    InspectorUnavailable,
    client_metadata,
    index_html,
    sandbox_headers,
    sandbox_page,
    site_headers,
    static_objects,
)
from infra.config import ConfigError, StackConfig
from infra.constructs.api import access_log_format, literal, static_get

# The sandbox API's stage when a custom domain serves the inspector at the root (see above).
SANDBOX_ROOT_STAGE: Final = "inspector"
SANDBOX_THROTTLE_RATE: Final = 20
SANDBOX_THROTTLE_BURST: Final = 40
INTERNAL_ERROR_BODY: Final = '{"message":"Internal server error"}'
# Characters a Velocity mapping template would read as a reference or a directive.
_TEMPLATE_SYNTAX: Final = ("$", "#")


PUBLIC_PAGE_REASON: Final = (
    "The inspector's page is static code, public on purpose: it holds nothing about the server, and "
    "everything it shows it fetches from /mcp with the person's own credential, through the REQUEST "
    "authorizer. The widget sandbox page is static too, and may only be framed by the inspector."
)


def _cfn(construct: Construct) -> cdk.CfnElement:
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return child


class InspectorSite(Construct):
    """The bucket, its contents, the read role, the /inspector routes and the widget sandbox API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        api: apigw.RestApi,
        origin: str,
        base_path: str,
        access_log_group: logs.ILogGroup,
        encryption_key: kms.IKey,
    ) -> None:
        """`encryption_key`: the stack's data key (infra/constructs/encryption.py), for the log group of
        the deploy-time copy."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        base_url = f"{origin}{base_path}"
        self.url = f"{base_url}{INSPECTOR_PATH}"
        self.client_metadata_url = f"{base_url}{INSPECTOR_PATH}/oauth/client-metadata.json"

        # The widget sandbox: its own API, so its own origin.
        sandbox_stage = SANDBOX_ROOT_STAGE if not base_path else base_path.strip("/")
        self.sandbox_api = apigw.RestApi(
            self,
            "SandboxApi",
            rest_api_name=f"{stack.stack_name}-inspector-sandbox",
            description="serverless-mcp: the inspector's MCP Apps widget sandbox (one static page)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=sandbox_stage,
                throttling_rate_limit=SANDBOX_THROTTLE_RATE,
                throttling_burst_limit=SANDBOX_THROTTLE_BURST,
                metrics_enabled=False,
                # Traced with the rest of the stack when ENABLE_XRAY is on (checkov CKV_AWS_73).
                tracing_enabled=config.enable_xray,
                # Beside the main API's lines (its own apiId), in the same format.
                access_log_destination=apigw.LogGroupLogDestination(access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(access_log_format()),
            ),
        )
        self.sandbox_origin = (
            f"https://{self.sandbox_api.rest_api_id}.execute-api.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}"
        )
        page = sandbox_page()
        if any(mark in page for mark in _TEMPLATE_SYNTAX):
            raise ConfigError("devtools/inspector/sandbox.html must contain no '$' or '#' (a MOCK template)")
        self.sandbox_methods = [
            static_get(resource, page, sandbox_headers(origin))
            for resource in (self.sandbox_api.root, self.sandbox_api.root.add_resource("{proxy+}"))
        ]

        # The bucket and what it holds. Encrypted (SSE-S3), private to the account (public access
        # blocked, ACLs disabled), TLS only. Not versioned and no server access log: infra/constructs/
        # checkov.py says why, on the bucket.
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Static files rebuilt from the pinned package on every deploy: nothing to keep.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # The copy's own log lines (CDK's handler, run during a deploy only) under the data key, as
        # every log group of the stack (checkov CKV_AWS_158); one group: the handler is one function.
        self.deployment_log_group = logs.LogGroup(
            self,
            "DeploymentLogGroup",
            retention=logs.RetentionDays.ONE_MONTH,
            encryption_key=encryption_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.deployments = self._deploy(base_path, base_url)

        # API Gateway's own right to read the pages: GetObject under inspector/, nothing else.
        self.read_role = iam.Role(
            self,
            "ReadRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway reads the inspector's static files (GET /inspector)",
        )
        self.read_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{KEY_PREFIX}*")]
            )
        )
        headers = site_headers(self.sandbox_origin)
        inspector = api.root.add_resource(INSPECTOR_PATH.strip("/"))
        proxy = inspector.add_resource("{proxy+}")
        self.methods = [
            self._s3_get(inspector, INDEX_KEY, headers),
            self._s3_get(proxy, KEY_PREFIX + "{proxy}", headers),
        ]

    def acknowledge_findings(self) -> None:
        """cdk-nag acknowledgements for what this construct adds (infra/constructs/nag.py calls it)."""
        from infra.constructs.nag import acknowledge

        for method in (*self.methods, *self.sandbox_methods):
            acknowledge(method, "APIG4", PUBLIC_PAGE_REASON)
            acknowledge(method, "COG4", PUBLIC_PAGE_REASON)
        sandbox = self.sandbox_api
        acknowledge(sandbox, "APIG2", "GET only, no body: the one static page; nothing to validate.")
        acknowledge(
            sandbox.deployment_stage,
            "APIG6",
            "One static page answered by a MOCK; every request is in the JSON access log already.",
        )
        acknowledge(
            sandbox.deployment_stage,
            "APIG3",
            "One static page answered by a MOCK, throttled; it reads and writes nothing: WAF adds cost only.",
        )
        acknowledge(
            self.bucket,
            "S1",
            "Static files rebuilt from the pinned package on every deploy, private, read only by API Gateway "
            "through its role; every read is a GET /inspector request in the API's JSON access log.",
        )
        acknowledge(
            self.read_role,
            f"IAM5[Resource::<{cdk.Stack.of(self).get_logical_id(_cfn(self.bucket))}.Arn>/{KEY_PREFIX}*]",
            "s3:GetObject only, on the inspector's prefix only: the files API Gateway serves at /inspector.",
        )
        bucket = cdk.Stack.of(self).get_logical_id(_cfn(self.bucket))
        for child in self.deployment_handlers():
            acknowledge(child, "L1", "aws-cdk-lib's BucketDeployment handler: its runtime is CDK's choice.")
            acknowledge(
                child,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "aws-cdk-lib's BucketDeployment handler writes its own logs; it runs only in a deploy.",
            )
            findings = (
                *(f"Action::s3:{action}" for action in ("GetBucket*", "GetObject*", "List*", "Abort*")),
                "Action::s3:DeleteObject*",
                "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
                f"Resource::<{bucket}.Arn>/*",
            )
            for finding in findings:
                acknowledge(
                    child,
                    f"IAM5[{finding}]",
                    "aws-cdk-lib's BucketDeployment grants: read the CDK asset bucket, write the "
                    "inspector bucket; it runs only during a deploy, to copy the inspector's files.",
                )

    def deployment_handlers(self) -> list[IConstruct]:
        """aws-cdk-lib's BucketDeployment handler: a deploy-time custom resource function that copies
        the files, one singleton at the stack's root (not under this construct)."""
        children = cdk.Stack.of(self).node.children
        return [child for child in children if child.node.id.startswith("Custom::CDKBucketDeployment")]

    def _deploy(self, base_path: str, base_url: str) -> list[s3deploy.BucketDeployment]:
        """One deployment per content type (S3 serves the type it stored), without pruning each other."""
        try:
            objects = static_objects()
        except InspectorUnavailable as error:
            raise ConfigError(f"INSPECTOR=true: {error}") from None
        # The files go to a staging folder per content type (the asset hash is the content's).
        staging = Path(tempfile.mkdtemp(prefix="serverless-mcp-inspector-"))
        folders: dict[str, Path] = {}
        for key, obj in objects.items():
            path = folders.setdefault(obj.content_type, staging / str(len(folders))) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(obj.body)
        by_type: dict[str, list[s3deploy.ISource]] = defaultdict(list)
        for content_type, folder in folders.items():
            by_type[content_type].append(s3deploy.Source.asset(str(folder)))
        # Built with deploy-time values (the sandbox API's id, the API's URL).
        page = index_html(base_path, self.sandbox_origin)
        by_type[HTML_TYPE] += [
            s3deploy.Source.data(INDEX_KEY, page),
            s3deploy.Source.data(CALLBACK_KEY, page),
        ]
        document = json.dumps(client_metadata(base_url), indent=2)
        by_type[JSON_TYPE].append(s3deploy.Source.data(CLIENT_METADATA_KEY, document))
        deployments = []
        for number, (content_type, sources) in enumerate(sorted(by_type.items())):
            deployments.append(
                s3deploy.BucketDeployment(
                    self,
                    f"Files{number}",
                    destination_bucket=self.bucket,
                    sources=sources,
                    content_type=content_type,
                    prune=False,
                    retain_on_delete=False,
                    memory_limit=512,
                    log_group=self.deployment_log_group,
                )
            )
        return deployments

    def _s3_get(self, resource: apigw.IResource, key: str, headers: dict[str, str]) -> apigw.Method:
        """GET on `resource`: the object `key` (maybe `{proxy}`) with its stored Content-Type and the
        site's headers; a missing key (S3 answers 403 without ListBucket) is a 404; S3 errors a 502."""
        parameters = {f"method.response.header.{name}": literal(value) for name, value in headers.items()}
        integration = apigw.AwsIntegration(
            service="s3",
            integration_http_method="GET",
            path=f"{self.bucket.bucket_name}/{key}",
            options=apigw.IntegrationOptions(
                credentials_role=self.read_role,
                request_parameters=(
                    {"integration.request.path.proxy": "method.request.path.proxy"}
                    if "{proxy}" in key
                    else None
                ),
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_parameters={
                            "method.response.header.Content-Type": "integration.response.header.Content-Type",
                            **parameters,
                        },
                    ),
                    apigw.IntegrationResponse(
                        status_code="404",
                        selection_pattern=r"4\d{2}",
                        response_parameters={"method.response.header.Content-Type": literal(JSON_TYPE)},
                        response_templates={"application/json": NOT_FOUND_BODY},
                    ),
                    apigw.IntegrationResponse(
                        status_code="502",
                        selection_pattern=r"5\d{2}",
                        response_parameters={"method.response.header.Content-Type": literal(JSON_TYPE)},
                        response_templates={"application/json": INTERNAL_ERROR_BODY},
                    ),
                ],
            ),
        )
        declared = {name: True for name in ("method.response.header.Content-Type", *parameters)}
        return resource.add_method(
            "GET",
            integration,
            authorization_type=apigw.AuthorizationType.NONE,
            request_parameters={"method.request.path.proxy": True} if "{proxy}" in key else None,
            method_responses=[
                apigw.MethodResponse(status_code="200", response_parameters=declared),
                apigw.MethodResponse(
                    status_code="404", response_parameters={"method.response.header.Content-Type": True}
                ),
                apigw.MethodResponse(
                    status_code="502", response_parameters={"method.response.header.Content-Type": True}
                ),
            ],
        )
