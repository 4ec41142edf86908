"""The API Gateway REST API: routes, the REQUEST authorizer, gateway responses, stage, domain.

Routes, and nothing else:
  /mcp                                        POST GET DELETE  REQUEST authorizer -> MCP alias
  /.well-known/oauth-protected-resource       GET              open             -> MOCK (static PRM)
  /.well-known/oauth-protected-resource/mcp   GET              open             -> MOCK (static PRM)
  /health                                     GET              open             -> MOCK (static)
and, with the authorization front on (public by design: it is where a client without a token
goes to get one; it authenticates clients and users itself):
  /.well-known/oauth-authorization-server/oauth   GET        open             -> front alias
  /.well-known/openid-configuration/oauth         GET        open             -> front alias
  /oauth/{proxy+}                                 GET POST   open             -> front alias
and for every other server of the registry (app/servers/__init__.py; issue 14), the same as /mcp
and its path-inserted metadata:
  /<name>/mcp                                        POST GET DELETE  REQUEST authorizer -> its alias
  /.well-known/oauth-protected-resource/<name>/mcp   GET              open             -> MOCK
and OPTIONS (CORS preflight, answered by API Gateway with a MOCK integration, no function, no
authorizer) on both protected-resource metadata resources and on the front's three resources,
so a browser client (the MCP Inspector) can read them from its own origin; with ALLOWED_ORIGINS
set, on /mcp too, and CORS headers on the gateway responses (infra/constructs/mcp_cors.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from infra.config import ConfigError, StackConfig, check_certificate_region
from infra.constructs.challenge_rule import challenge_names_resource_metadata
from infra.constructs.mcp_cors import add_mcp_cors, add_mcp_preflight, gateway_response_headers
from infra.registry import ServerScopes

MCP_PATH = "/mcp"
PRM_ROOT_PATH = "/.well-known/oauth-protected-resource"
PRM_PATH = f"{PRM_ROOT_PATH}{MCP_PATH}"
HEALTH_PATH = "/health"
MCP_METHODS = ("POST", "GET", "DELETE")
# The front's routes (the same paths as app/auth/front.py, which a test keeps equal; infra does
# not import app/). RFC 8414 §3.1 inserts the well-known segment before the issuer's path; the
# `{issuer}/.well-known/...` forms fall under the proxy resource.
FRONT_PATH = "/oauth"
FRONT_METADATA_PATHS = (
    f"/.well-known/oauth-authorization-server{FRONT_PATH}",
    f"/.well-known/openid-configuration{FRONT_PATH}",
)
FRONT_METHODS = ("GET", "POST")

# CORS preflight (OPTIONS) for the public discovery and token resources. A browser client (the MCP
# Inspector, any web MCP client) fetches them from its own origin and, because the SDK adds
# `MCP-Protocol-Version` to metadata fetches, sends JSON to /register and `Authorization: Basic`
# to /token, the browser asks first. API Gateway answers with a MOCK integration ("CORS for REST
# APIs in API Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html);
# the actual responses carry `Access-Control-Allow-Origin: *` from the functions themselves (a
# proxy integration must, per the same page). No `Allow-Credentials`: none of these uses
# cookies. devtools/gateway.py answers the same preflights; tests/infra keeps the two equal.
CORS_ALLOW_ORIGIN = "*"
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name")
CORS_MAX_AGE_SECONDS = 3600
CORS_PREFLIGHT_STATUS = 204

# The unauthenticated GETs are answered by API Gateway itself, with MOCK integrations ("Mock
# integrations for REST APIs in API Gateway": https://docs.aws.amazon.com/apigateway/latest/
# developerguide/how-to-mock-integration.html): a scanner or a client polling the metadata costs
# no invocation of the MCP function. The answers are what the MCP function serves on the same
# paths (app/mcp/asgi.py, which keeps its own routes for use without this stack); the metadata
# document is built at synth from the same inputs, and tests/infra/test_mock_routes.py compares
# the synthesized body with the app's, byte for byte. devtools/gateway.py answers the same way.
PRM_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
HEALTH_BODY = json.dumps({"status": "ok"}, separators=(",", ":"))
# Characters a Velocity mapping template would read as a reference or a directive.
_TEMPLATE_SYNTAX = ("$", "#")


def protected_resource_metadata_body(
    mcp_url: str, authorization_servers: Sequence[str], scopes: Sequence[str]
) -> str:
    """The RFC 9728 document, rendered as the MCP function renders it (compact JSON, same key order)."""
    document = {
        "resource": mcp_url,
        "authorization_servers": list(authorization_servers),
        "scopes_supported": sorted(set(scopes)),
        "bearer_methods_supported": ["header"],
        "resource_name": "serverless-mcp",
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _check_template_literal(name: str, value: str) -> None:
    """A value written into a MOCK response template must be plain text to Velocity.

    Deploy-time values (CDK tokens: the API id, the region, a user pool id) are URL characters;
    only the literals from the configuration can bring `$` or `#`.
    """
    if cdk.Token.is_unresolved(value):
        return
    if any(mark in value for mark in _TEMPLATE_SYNTAX):
        raise ConfigError(
            f"{name} {value!r} contains '$' or '#', which API Gateway's mapping templates (Velocity) "
            "would interpret in the static protected-resource metadata; choose a value without them"
        )


# One JSON object per request. Field names are what the metric filters and saved queries use.
# `status` is a number; every other value is a string ($context.error.messageString is quoted).
#
# Only variables whose values cannot hold a `"` or a `\` go between quotes. API Gateway writes a
# variable's value into the format as is: "Variables for access logging for API Gateway"
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html)
# documents no escaping for any of them, and the only quoted one, `$context.error.messageString`,
# is "the quoted value of $context.error.message". So the two the client writes freely are left
# out: `$context.identity.userAgent` ("the User-Agent header of the API caller") and
# `$context.path` ("the request path", which a scanner fills with anything). One `"` in either
# would make the line invalid JSON, and a JSON line that does not parse is missed by every
# metric filter and Logs Insights field: the very requests an operator hunts for. AWS was seen
# escaping them in one account (DataBiosphere/azul#4348), but undocumented behaviour is not a
# contract. `resourcePath` (the declared resource, e.g. `/oauth/{proxy+}`) says which route
# ran; the functions' audit events carry the rest, JSON-escaped by the logger.
_ACCESS_LOG_STRINGS = {
    "requestId": "$context.requestId",
    "apiId": "$context.apiId",
    "stage": "$context.stage",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "principal": "$context.authorizer.principalId",
    "authMethod": "$context.authorizer.auth_method",
    "clientId": "$context.authorizer.client_id",
    "keyId": "$context.authorizer.key_id",
    "tenant": "$context.authorizer.tenant",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerLatency": "$context.authorizer.latency",
    "authorizeStatus": "$context.authorize.status",
    "errorType": "$context.error.responseType",
    "wafResponseCode": "$context.wafResponseCode",
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_format() -> str:
    """The access log line: a JSON object on one line."""
    parts = [f'"{key}":"{value}"' for key, value in _ACCESS_LOG_STRINGS.items()]
    parts.insert(4, '"status":$context.status')
    parts.append('"errorMessage":$context.error.messageString')
    return "{" + ",".join(parts) + "}"


def unauthorized_challenge(prm_url: str | None, base_scope: str) -> str:
    """The 401 challenge; `prm_url` None: without `resource_metadata` (challenge_rule.py)."""
    if prm_url is None:
        return f'Bearer scope="{base_scope}"'
    return f'Bearer resource_metadata="{prm_url}", scope="{base_scope}"'


def insufficient_scope_challenge(prm_url: str | None, scopes: tuple[str, ...]) -> str:
    """The 403 challenge: a literal (gateway response headers cannot read the authorizer context)."""
    scope = " ".join(sorted(set(scopes)))
    if prm_url is None:
        return f'Bearer error="insufficient_scope", scope="{scope}"'
    return f'Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{prm_url}"'


# Bodies as API Gateway's own defaults, and exactly what the local gateway emulator
# (devtools/gateway.py) answers: the challenge header carries the information.
UNAUTHORIZED_BODY = json.dumps({"message": "Unauthorized"})
ACCESS_DENIED_BODY = json.dumps({"message": "Forbidden"})


def literal(value: str) -> str:
    """A header value as an API Gateway static value: in single quotes, its own quotes escaped
    (`'self'` in a Content-Security-Policy), as accepted by response parameter mappings."""
    return "'" + value.replace("'", "\\'") + "'"


def static_get(resource: apigw.IResource, body: str, headers: dict[str, str]) -> apigw.Method:
    """GET on `resource` answered by API Gateway with `body` and `headers`: no function, no authorizer.

    The request template selects status 200; a request of another content type passes through
    untemplated and gets the default integration response (the one without a status pattern),
    which is the same one, so the answer never depends on what the client sends.
    """
    parameters = {f"method.response.header.{name}": literal(value) for name, value in headers.items()}
    integration = apigw.MockIntegration(
        request_templates={"application/json": json.dumps({"statusCode": 200})},
        passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_MATCH,
        integration_responses=[
            apigw.IntegrationResponse(
                status_code="200",
                response_templates={"application/json": body},
                response_parameters=parameters or None,
            )
        ],
    )
    return resource.add_method(
        "GET",
        integration,
        authorization_type=apigw.AuthorizationType.NONE,
        method_responses=[
            apigw.MethodResponse(
                status_code="200",
                response_parameters={name: True for name in parameters} or None,
            )
        ],
    )


class McpApi(Construct):
    """REST API, authorizer, stage (throttling, access logs, tracing) and optional custom domain."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        mcp_handler: lambda_.IFunction,
        authorizer_handler: lambda_.IFunction,
        access_log_group: logs.ILogGroup,
        issuer: str,
        step_up_scopes: tuple[str, ...] = (),
        primary_scopes: tuple[str, ...] | None = None,
        other_servers: Sequence[tuple[ServerScopes, lambda_.IFunction]] = (),
    ) -> None:
        """`step_up_scopes`: every scope of every server (the 403 names them); `primary_scopes`:
        the primary server's own (its metadata; None: all of them); `other_servers`: every server
        of the registry but the primary, with the alias that serves it."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        execution_logs = config.enable_execution_logs
        # API Gateway writes access (and execution) logs only once the account's API Gateway
        # CloudWatch role is set: a region-wide setting. Created here by default (a first deploy
        # in a fresh account fails without it) and retained on destroy, because other APIs in the
        # account rely on it; API_GATEWAY_CLOUDWATCH_ROLE=false if the account manages it already.
        cloudwatch_role = config.api_gateway_cloudwatch_role
        self.api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{stack.stack_name}-mcp",
            description="serverless-mcp: MCP server behind a REQUEST authorizer",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Usage plans (infra/constructs/usage_plans.py): the authorizer names the caller's key.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER if config.usage.enabled else None,
            # With a custom domain, the metadata and every challenge name that domain as the
            # resource; the execute-api URL would serve the same metadata from another origin,
            # which RFC 9728 §3.3 clients must reject (the `resource` must match the URL they
            # fetched it for). So the domain is the only way in: the default endpoint is off.
            disable_execute_api_endpoint=bool(config.custom_domain_name),
            cloud_watch_role=cloudwatch_role,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN if cloudwatch_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage_name,
                description="serverless-mcp stage",
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(access_log_format()),
                tracing_enabled=config.enable_xray,
                logging_level=apigw.MethodLoggingLevel.ERROR if execution_logs else None,
                data_trace_enabled=False,
                metrics_enabled=False,
            ),
        )
        self.stage = self.api.deployment_stage
        if config.custom_domain_name:
            # RestApi always outputs its execute-api URL ("Endpoint"); with that endpoint disabled
            # the URL answers 403 to everyone, so the output would only mislead.
            self.api.node.try_remove_child("Endpoint")

        # The authorizer: every credential is in the Authorization header (the cache key when the
        # TTL is not 0; with TTL 0 it runs on every request and decides per tool).
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            authorizer_name=f"{stack.stack_name}-authorizer",
            handler=authorizer_handler,
            identity_sources=[apigw.IdentitySource.header("Authorization")],
            results_cache_ttl=cdk.Duration.seconds(config.authorizer_cache_ttl_seconds),
        )
        integration = apigw.LambdaIntegration(mcp_handler, proxy=True, allow_test_invoke=False)

        mcp = self.api.root.add_resource(MCP_PATH.strip("/"))
        self.mcp_methods = self._mcp_methods(config, mcp, integration)
        # With ALLOWED_ORIGINS: OPTIONS /mcp (MOCK, no authorizer) and CORS on gateway responses.
        self.mcp_preflight = add_mcp_cors(self.api, mcp, config.allowed_origins, MCP_METHODS)
        well_known = self.api.root.add_resource(".well-known")
        self._well_known = well_known
        prm_root = well_known.add_resource("oauth-protected-resource")
        prm = prm_root.add_resource(MCP_PATH.strip("/"))
        health = self.api.root.add_resource(HEALTH_PATH.strip("/"))
        self._prm_resources = (prm_root, prm)
        self._health = health
        self.preflight_methods: list[apigw.Method] = [
            self._preflight(resource, ("GET",)) for resource in (prm_root, prm)
        ]

        # Public URLs: the custom domain when there is one, else the execute-api stage URL.
        self.domain: apigw.DomainName | None = None
        if config.custom_domain_name:
            self.domain = self._custom_domain(config)
            self.origin = f"https://{config.custom_domain_name}"
            self.base_path = ""
            base = self.origin
            self.mcp_url = f"{base}{MCP_PATH}"
            self.prm_url = f"{base}{PRM_PATH}"
        else:
            # Built from the API id and the LITERAL stage name: `api.url` refers to the Stage
            # resource, which depends on the deployment, which depends on the gateway responses
            # and (through the methods) on the functions, and those would form a cycle.
            self.origin = f"https://{self.api.rest_api_id}.execute-api.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}"
            self.base_path = f"/{config.stage_name}"
            base = f"{self.origin}{self.base_path}"
            self.mcp_url = f"{base}{MCP_PATH}"
            self.prm_url = f"{base}{PRM_PATH}"
        self.base_url = base
        # app/auth/front.py front_issuer(mcp_url): the MCP URL with its /mcp replaced by /oauth.
        self.front_issuer = f"{base}{FRONT_PATH}"
        self.front_methods: list[apigw.Method] = []

        # The metadata names the front first when it is deployed, then the upstream issuer
        # (app/core/config.py AuthSettings.authorization_servers); it advertises the base scope and
        # every scope a tool declares.
        base_scope = config.base_scope
        for scope_name in (base_scope, *step_up_scopes):
            _check_template_literal("the scope", scope_name)
        _check_template_literal("the issuer", issuer)
        _check_template_literal("the custom domain", config.custom_domain_name or "")
        servers = ((self.front_issuer,) if config.oauth_front.enabled else ()) + ((issuer,) if issuer else ())
        own_scopes = step_up_scopes if primary_scopes is None else primary_scopes
        self.metadata_body = protected_resource_metadata_body(
            self.mcp_url, servers, (base_scope, *own_scopes)
        )
        self.public_methods = [
            static_get(resource, self.metadata_body, PRM_HEADERS) for resource in self._prm_resources
        ]
        self.public_methods.append(static_get(self._health, HEALTH_BODY, {}))
        # {server name: (its MCP URL, its metadata URL)} for every server but the primary.
        self.server_urls: dict[str, tuple[str, str]] = {}
        self.metadata_bodies: dict[str, str] = {}
        for server, handler in other_servers:
            self._add_server(config, server, handler, servers, base_scope, prm_root)

        # With several servers one challenge literal answers for all of them (challenge_rule.py).
        names_metadata = challenge_names_resource_metadata(
            1 + len(other_servers), root_well_known_routable=bool(config.custom_domain_name)
        )
        challenge_prm_url = self.prm_url if names_metadata else None
        if other_servers and not config.custom_domain_name:
            cdk.Annotations.of(self).add_warning_v2(
                "serverless-mcp:several-servers-without-custom-domain",
                "Several MCP servers on the execute-api URL: its host-root well-known URLs are not "
                f"routable behind /{config.stage_name}, so the 401/403 challenges name only the primary "
                "server's metadata and clients of the other servers cannot discover theirs. Set "
                "CUSTOM_DOMAIN_NAME (infra/README-deploy.md, 'Several MCP servers').",
            )

        # ACCESS_DENIED is also the per-tool step-up answer when the authorizer decides per tool
        # (TTL 0). Its headers are literals or request parameters, never the authorizer's
        # context (https://docs.aws.amazon.com/apigateway/latest/developerguide/
        # api-gateway-swagger-extensions-gateway-responses.gatewayResponse.html), so it names the
        # base scope and every scope a tool declares: a client that asks for them all succeeds.
        per_tool = config.authorizer_cache_ttl_seconds == 0
        denied_scopes = (base_scope, *step_up_scopes) if per_tool else (base_scope,)
        # Readable by a browser client on an allowed origin (none without ALLOWED_ORIGINS).
        cors = gateway_response_headers(config.allowed_origins)
        self.api.add_gateway_response(
            "Unauthorized",
            type=apigw.ResponseType.UNAUTHORIZED,
            status_code="401",
            response_headers={
                "WWW-Authenticate": f"'{unauthorized_challenge(challenge_prm_url, base_scope)}'",
                "Cache-Control": "'no-store'",
                **cors,
            },
            templates={"application/json": UNAUTHORIZED_BODY},
        )
        self.api.add_gateway_response(
            "AccessDenied",
            type=apigw.ResponseType.ACCESS_DENIED,
            status_code="403",
            response_headers={
                "WWW-Authenticate": f"'{insufficient_scope_challenge(challenge_prm_url, denied_scopes)}'",
                "Cache-Control": "'no-store'",
                **cors,
            },
            templates={"application/json": ACCESS_DENIED_BODY},
        )

    def _mcp_methods(
        self, config: StackConfig, resource: apigw.IResource, integration: apigw.Integration
    ) -> list[apigw.Method]:
        """POST GET DELETE on one server's resource, behind the one REQUEST authorizer."""
        return [
            resource.add_method(
                verb,
                integration,
                authorizer=self.authorizer,
                authorization_type=apigw.AuthorizationType.CUSTOM,
                # Usage plans apply only to methods that require an API key.
                api_key_required=config.usage.enabled,
            )
            for verb in MCP_METHODS
        ]

    def _add_server(
        self,
        config: StackConfig,
        server: ServerScopes,
        handler: lambda_.IFunction,
        authorization_servers: Sequence[str],
        base_scope: str,
        prm_root: apigw.IResource,
    ) -> None:
        """`/<name>/mcp` as /mcp is (authorizer, API key, CORS) and its path-inserted metadata."""
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False)
        resource: apigw.IResource = self.api.root
        for part in server.path.strip("/").split("/"):
            resource = resource.add_resource(part)
        self.mcp_methods.extend(self._mcp_methods(config, resource, integration))
        add_mcp_preflight(resource, config.allowed_origins, MCP_METHODS)
        prm: apigw.IResource = prm_root
        for part in server.path.strip("/").split("/"):
            prm = prm.add_resource(part)
        for scope_name in server.scopes:
            _check_template_literal("the scope", scope_name)
        url = f"{self.base_url}{server.path}"
        body = protected_resource_metadata_body(url, authorization_servers, (base_scope, *server.scopes))
        self.server_urls[server.name] = (url, f"{self.base_url}{PRM_ROOT_PATH}{server.path}")
        self.metadata_bodies[server.name] = body
        self.public_methods.append(static_get(prm, body, PRM_HEADERS))
        self.preflight_methods.append(self._preflight(prm, ("GET",)))

    def add_front_routes(self, front_handler: lambda_.IFunction) -> None:
        """The authorization front's public routes, proxied whole to its function."""
        integration = apigw.LambdaIntegration(front_handler, proxy=True, allow_test_invoke=False)
        resources: list[tuple[apigw.IResource, tuple[str, ...]]] = []
        for path in FRONT_METADATA_PATHS:
            _, _, kind, issuer_path = path.split("/")
            resource: apigw.IResource = self._well_known.add_resource(kind).add_resource(issuer_path)
            resources.append((resource, ("GET",)))
        proxy = self.api.root.add_resource(FRONT_PATH.strip("/")).add_resource("{proxy+}")
        resources.append((proxy, FRONT_METHODS))
        for resource, verbs in resources:
            self.front_methods.extend(
                resource.add_method(verb, integration, authorization_type=apigw.AuthorizationType.NONE)
                for verb in verbs
            )
            # `/oauth/{proxy+}` is one resource, so its preflight also answers for /oauth/authorize,
            # /oauth/consent and /oauth/callback. Harmless: it allows no credentials (a fetch with
            # the consent cookie fails this preflight, and one without the cookie is refused by the
            # front), and whether a page may READ an answer is the actual response's
            # Access-Control-Allow-Origin, which the front sets only on metadata, JWKS, register,
            # token and revoke (app/oauth/cors.py), never on those cookie-bound navigations.
            self.preflight_methods.append(self._preflight(resource, verbs))

    @staticmethod
    def _preflight(resource: apigw.IResource, verbs: tuple[str, ...]) -> apigw.Method:
        """OPTIONS on `resource`: a MOCK integration answering the CORS preflight, no authorizer."""
        return resource.add_cors_preflight(
            allow_origins=[CORS_ALLOW_ORIGIN],
            allow_methods=list(verbs),
            allow_headers=list(CORS_ALLOW_HEADERS),
            max_age=cdk.Duration.seconds(CORS_MAX_AGE_SECONDS),
            status_code=CORS_PREFLIGHT_STATUS,
        )

    def _custom_domain(self, config: StackConfig) -> apigw.DomainName:
        zone: route53.IHostedZone | None = None
        if config.hosted_zone_id:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "HostedZone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name
            )
        certificate: acm.ICertificate
        if config.certificate_arn:
            # The region is a token when the stack is environment-agnostic: nothing to check then.
            region = cdk.Stack.of(self).region
            check_certificate_region(config, None if cdk.Token.is_unresolved(region) else region)
            certificate = acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn)
        else:
            assert zone is not None  # config validation guarantees a zone or a certificate
            certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=config.custom_domain_name,
                validation=acm.CertificateValidation.from_dns(zone),
            )
        domain = apigw.DomainName(
            self,
            "DomainName",
            domain_name=config.custom_domain_name,
            certificate=certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        dual_stack = config.custom_domain_ip_address_type == "dualstack"
        if dual_stack:
            # DomainName has no IP address type property (aws-cdk-lib 2.275); the L1 has it
            # (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-custom-domain-ip-address-type.html).
            cfn_domain = domain.node.default_child
            assert isinstance(cfn_domain, apigw.CfnDomainName)
            cfn_domain.add_property_override("EndpointConfiguration.IpAddressType", "dualstack")
        # Mapped at the root, so https://<domain>/.well-known/oauth-protected-resource works too.
        domain.add_base_path_mapping(self.api, stage=self.stage)
        if zone is not None:
            target = route53.RecordTarget.from_alias(route53_targets.ApiGatewayDomain(domain))
            route53.ARecord(
                self, "AliasRecord", zone=zone, record_name=config.custom_domain_name, target=target
            )
            if dual_stack:
                # An IPv4-only domain (API Gateway's default) has no IPv6 address: an AAAA alias
                # to it would resolve to nothing, and IPv6-preferring clients would fail first.
                route53.AaaaRecord(
                    self, "AliasRecordIpv6", zone=zone, record_name=config.custom_domain_name, target=target
                )
        return domain
