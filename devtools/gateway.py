"""A local API Gateway (REST API, Lambda proxy) emulator that runs the real Lambda handlers, Docker-free.

The emulator is a contract: where a client could tell the difference, it answers what the
deployed API answers. For each request it does what API Gateway does, in the same order:

1. read the body: over 10 MB is 413 "HTTP content length exceeded 10485760 bytes." before
   anything else runs (API Gateway quotas: https://docs.aws.amazon.com/apigateway/latest/
   developerguide/limits.html; the response as observed in koki-develop/lgtm-generator#10);
2. route, as the stack declares its resources and methods: `/mcp` (POST, GET, DELETE) behind
   the authorizer, and so every other MCP server's `/<name>/mcp`, each integrated with its own
   function (docs/servers.md); the protected-resource metadata (for each server, at its
   path-inserted well-known URL) and `/health` (GET) without it; and, when the
   authorization front is wired in, its public routes: GET on the two host-root metadata
   resources (`/.well-known/oauth-authorization-server/oauth`, `/.well-known/openid-configuration/
   oauth`) and GET and POST on the greedy `/oauth/{proxy+}`, whose event carries that `resource`
   and `pathParameters.proxy`; with the inspector on (devtools/inspector_site.py), GET on
   `/inspector` and `/inspector/{proxy+}`, answered from its objects as the stack's S3 integration
   answers (`Gateway._site`). One trailing slash is ignored, as API Gateway's REST routing does.
   A resource that does not exist, or a method not defined on it, is 403 "Missing Authentication
   Token" (https://repost.aws/knowledge-center/api-gateway-authentication-token-errors:
   "a method or resource that does not exist");
   OPTIONS on the resources the stack gives a CORS preflight (both protected-resource metadata
   resources, and the front's three) is answered here as its MOCK integration does: 204, the
   declared `Access-Control-*` headers, an empty body, no authorizer and no function ("CORS for
   REST APIs in API Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/
   how-to-cors.html; "Enable CORS on a resource using the API Gateway import API", the MOCK
   OPTIONS method: https://docs.aws.amazon.com/apigateway/latest/developerguide/
   enable-cors-for-resource-using-swagger-importer-tool.html). A MOCK answers the same whatever
   the request asks for: the browser, not the gateway, compares it with what it wants to send.
   With ALLOWED_ORIGINS set, OPTIONS on `/mcp` is answered the same way, its
   `Access-Control-Allow-Origin` chosen as the stack's mapping template does, and every gateway
   response carries the stack's CORS headers (`devtools/mcp_cors.py`); without it, neither.
   GET on the protected-resource metadata and on `/health` is answered the same way, as the
   stack's MOCK integrations do ("Mock integrations for REST APIs in API Gateway":
   https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-mock-integration.html):
   200, the static body built from the configuration, the metadata's `Cache-Control` and
   `Access-Control-Allow-Origin` headers, no authorizer and no function;
3. build the request as the integration sees it: repeated headers and query parameters in
   `multiValueHeaders` / `multiValueQueryStringParameters` in order, their last value in
   `headers` / `queryStringParameters` (Lambda proxy input format: https://docs.aws.amazon.com/
   apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html); the hop-by-hop
   headers API Gateway drops are dropped ("Amazon API Gateway important notes for REST APIs":
   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html);
   `X-Forwarded-For` gets the TCP peer appended and `requestContext.identity.sourceIp` is that
   peer, never what the client claims ($context.identity.sourceIp: https://docs.aws.amazon.com/
   apigateway/latest/developerguide/api-gateway-mapping-template-reference.html); a body that is
   not UTF-8 reaches the function as a UTF-8 string with U+FFFD for the bad bytes, since no
   binary media types are configured (https://docs.aws.amazon.com/apigateway/latest/
   developerguide/api-gateway-payload-encodings-workflow.html);
4. authorize with the REQUEST authorizer (https://docs.aws.amazon.com/apigateway/latest/api/
   API_Authorizer.html, `identitySource`): with caching on (TTL > 0) every identity source must
   be present and non-empty, else 401 without running the authorizer, and the policy is cached
   by the identity sources' values; with caching off the authorizer runs on every request.
   "Unauthorized" → 401 UNAUTHORIZED, a Deny or a policy that does not cover the method ARN →
   403 ACCESS_DENIED, both with the CDK stack's gateway responses (`infra/constructs/api.py`);
   with usage plans (API key source AUTHORIZER, `/mcp` requiring an API key), the policy's
   `usageIdentifierKey` is metered as `devtools/usage_plans.py` describes: 403 INVALID_API_KEY,
   429 THROTTLED or 429 QUOTA_EXCEEDED, the stack's gateway responses
   (`infra/constructs/usage_plans.py`);
5. invoke the route's function (the MCP function, or the front): an event over Lambda's 6 MB
   request quota is 413 "Request Too Long"; no answer within the integration timeout (29 s)
   is 504 INTEGRATION_TIMEOUT "Endpoint request timed out"; a function error, a response over
   Lambda's 6 MB response quota (https://docs.aws.amazon.com/lambda/latest/dg/
   gettingstarted-limits.html) or an output that is not a proxy response is 502 "Internal
   server error";
6. answer with the function's response as API Gateway passes it on: `headers` and
   `multiValueHeaders` merged, the integration response headers on AWS's list remapped to
   `x-amzn-Remapped-<name>` or dropped (the "important notes" table, Lambda column), a
   `Content-Type: application/json` when the function set none, and a base64 body passed
   through as text (no binary media types). Gateway responses (401/403/413/502/504) are the
   gateway's own and are never remapped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.auth.challenge import www_authenticate
from app.auth.front import AUTHORIZATION_SERVER_METADATA_PATHS, FRONT_PATH
from devtools.events import (
    DEFAULT_ACCOUNT,
    DEFAULT_API_ID,
    DEFAULT_REGION,
    request_authorizer_event,
    rest_v1_event,
)
from devtools.inspector_site import INSPECTOR_PATH, JSON_TYPE, NOT_FOUND_BODY, SiteObject, object_key
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import MalformedProxyResponse, ProxyResponse
from devtools.mcp_cors import McpCors
from devtools.usage_plans import (
    INVALID_API_KEY_MESSAGE,
    QUOTA_EXCEEDED_MESSAGE,
    THROTTLED_MESSAGE,
    UsageMeter,
    UsagePlanDirectory,
)

if TYPE_CHECKING:
    import uvicorn

UNAUTHORIZED_MESSAGE: Final = "Unauthorized"

# API Gateway's payload quota, and Lambda's synchronous invocation quotas: the request quota is
# 6 MiB, the response one the 6291556 bytes Lambda names in its "Response payload size
# exceeded maximum allowed payload size" error.
MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
LAMBDA_REQUEST_LIMIT_BYTES: Final = 6 * 1024 * 1024
LAMBDA_RESPONSE_LIMIT_BYTES: Final = 6_291_556
DEFAULT_INTEGRATION_TIMEOUT_SECONDS: Final = 29.0

# "Amazon API Gateway important notes for REST APIs", the header table, Lambda integrations.
# Request column: dropped before the authorizer and the function see the request.
DROPPED_REQUEST_HEADERS: Final = frozenset(
    {
        "connection",
        "content-md5",
        "expect",
        "max-forwards",
        "proxy-authenticate",
        "server",
        "te",
        "trailer",
        "transfer-encoding",  # "Exception" for Lambda; the body arrives de-chunked either way
        "upgrade",
        "www-authenticate",
    }
)
# Response column: renamed to x-amzn-Remapped-<name> ("Remapped"; for Date and Server
# "Remapped Overwritten": the client gets the gateway's own Date and no Server of the function).
REMAPPED_RESPONSE_HEADERS: Final = frozenset(
    {
        "authorization",
        "connection",
        "content-md5",
        "date",
        "max-forwards",
        "server",
        "user-agent",
        "www-authenticate",
    }
)
DROPPED_RESPONSE_HEADERS: Final = frozenset(
    {"expect", "host", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "via"}
)
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name (RFC 9110 token)


# "static": a MOCK integration, answered by the gateway itself (see `Gateway._static`); "site":
# the inspector's objects, which the stack reads from S3 (see `Gateway._site`).
Integration = Literal["mcp", "front", "static", "site"]
GREEDY_SUFFIX: Final = "/{proxy+}"

# The CORS preflight's MOCK answer, as infra/constructs/api.py declares it (CORS_* there; a test
# in tests/infra compares the two). The allowed headers are what the MCP SDKs' browser OAuth
# code sends: `MCP-Protocol-Version` on metadata fetches, `Content-Type: application/json` to
# /register, `Authorization: Basic` to /token; the Mcp-Method and Mcp-Name headers of protocol
# 2026-07-28 are listed too. No Allow-Credentials: these resources use no cookies.
PREFLIGHT_STATUS: Final = 204
PREFLIGHT_ALLOW_ORIGIN: Final = "*"
PREFLIGHT_ALLOW_HEADERS: Final = (
    "Authorization",
    "Content-Type",
    "MCP-Protocol-Version",
    "Mcp-Method",
    "Mcp-Name",
)
PREFLIGHT_MAX_AGE_SECONDS: Final = 3600


@dataclass(frozen=True)
class Route:
    """A resource of the REST API, the methods defined on it, and the function they integrate.

    `path` is the resource path as API Gateway names it (the event's `resource`); one ending in
    `/{proxy+}` is a greedy proxy resource: it matches one or more path segments below its parent
    and hands them to the function as `pathParameters.proxy`
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-set-up-simple-proxy.html).
    """

    path: str
    methods: frozenset[str]
    authorized: bool
    integration: Integration = "mcp"
    # Methods a CORS preflight (OPTIONS, a MOCK integration) allows here; empty: no OPTIONS method.
    preflight: tuple[str, ...] = ()

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` is this resource ({} for a plain one), else None."""
        if not self.path.endswith(GREEDY_SUFFIX):
            return {} if path == self.path else None
        prefix = self.path.removesuffix(GREEDY_SUFFIX) + "/"
        rest = path.removeprefix(prefix)
        # A greedy variable needs at least one character: the parent itself is not this resource.
        return {"proxy": rest} if path.startswith(prefix) and rest else None


PRM_PATHS: Final = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")
HEALTH_PATH: Final = "/health"
MCP_PATH: Final = "/mcp"
MCP_METHODS: Final = ("POST", "GET", "DELETE")  # in the stack's order (infra/constructs/api.py)
ROUTES: Final = (
    Route(MCP_PATH, frozenset(MCP_METHODS), authorized=True),
    *(
        Route(path, frozenset({"GET"}), authorized=False, integration="static", preflight=("GET",))
        for path in PRM_PATHS
    ),
    Route(HEALTH_PATH, frozenset({"GET"}), authorized=False, integration="static"),
)
# The MOCK answers, as infra/constructs/api.py declares them (PRM_HEADERS, HEALTH_BODY there;
# tests keep the three equal with what app/mcp/asgi.py serves on the same paths).
METADATA_HEADERS: Final = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
HEALTH_BODY: Final = '{"status":"ok"}'
# The authorization front's public routes (infra/constructs/api.py declares the same): the
# RFC 8414 and OpenID discovery documents at the host root, and everything below /oauth. The
# other two metadata paths (/oauth/.well-known/...) are reached through the proxy resource.
FRONT_ROUTES: Final = (
    *(
        Route(path, frozenset({"GET"}), authorized=False, integration="front", preflight=("GET",))
        for path in AUTHORIZATION_SERVER_METADATA_PATHS
        if not path.startswith(FRONT_PATH + "/")
    ),
    Route(
        FRONT_PATH + GREEDY_SUFFIX,
        frozenset({"GET", "POST"}),
        authorized=False,
        integration="front",
        preflight=("GET", "POST"),
    ),
)


# The inspector (INSPECTOR=true; infra/constructs/inspector.py declares the same): GET on
# /inspector and on the greedy /inspector/{proxy+}, public, answered from the site's objects.
INSPECTOR_ROUTES: Final = (
    Route(INSPECTOR_PATH, frozenset({"GET"}), authorized=False, integration="site"),
    Route(INSPECTOR_PATH + GREEDY_SUFFIX, frozenset({"GET"}), authorized=False, integration="site"),
)


@dataclass(frozen=True)
class InspectorSite:
    """The inspector's objects by key and the headers every one is served with."""

    objects: Mapping[str, SiteObject]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class GatewayConfig:
    """What the gateway responses say, how the authorizer is cached, how long the function may take.

    `protected_resource_metadata` is the body of the metadata routes' static answer.
    `identity_sources` are request header names (API Gateway's `method.request.header.<name>`);
    `access_denied_scopes` are the scopes the 403 ACCESS_DENIED challenge names, the base scope
    when empty, as the CDK stack's gateway response does.
    """

    # What the 401/403 challenges name as `resource_metadata`; None: left out (several servers
    # and no stage prefix, see `challenge_metadata_url`).
    resource_metadata_url: str | None
    base_scope: str
    # The protected-resource metadata document (JSON text), as the stack's MOCK integration
    # serves it: `app.mcp.asgi.protected_resource_metadata_json` for the deployed settings.
    protected_resource_metadata: str
    stage: str = "local"
    authorizer_ttl_seconds: float = 300
    # The other MCP servers' metadata documents, by their path-inserted well-known path
    # (`/.well-known/oauth-protected-resource/research/mcp`), as the stack's MOCK integrations.
    server_metadata: Mapping[str, str] = field(default_factory=dict)
    identity_sources: tuple[str, ...] = ("authorization",)
    access_denied_scopes: tuple[str, ...] = ()
    integration_timeout_seconds: float = DEFAULT_INTEGRATION_TIMEOUT_SECONDS
    # ALLOWED_ORIGINS, in order: a CORS preflight on /mcp and CORS on gateway responses (none when empty).
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # API Gateway refuses these settings too; say which one and what it accepts.
        if not 0 <= self.authorizer_ttl_seconds <= 3600:
            raise ValueError("GatewayConfig.authorizer_ttl_seconds must be 0 (no caching) to 3600 seconds")
        if self.authorizer_ttl_seconds > 0 and not self.identity_sources:
            raise ValueError(
                "GatewayConfig.identity_sources is empty, but caching is on: name at least one "
                "header (e.g. ('authorization',)) or set authorizer_ttl_seconds to 0"
            )
        if any(not _TOKEN.match(name) for name in self.identity_sources):
            raise ValueError(
                "GatewayConfig.identity_sources must be HTTP header names, e.g. ('authorization',)"
            )
        if self.integration_timeout_seconds < 0.05:
            raise ValueError("GatewayConfig.integration_timeout_seconds must be at least 0.05 (50 ms)")
        object.__setattr__(self, "identity_sources", tuple(name.lower() for name in self.identity_sources))


@dataclass(frozen=True)
class Policy:
    """An authorizer's answer: effect per statement, its principal id, its context, and the
    usage key it names (`usageIdentifierKey`, cached with the rest)."""

    principal_id: str
    statements: tuple[tuple[str, str], ...]
    context: Mapping[str, Any]
    usage_identifier_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> Policy:
        statements: list[tuple[str, str]] = []
        for statement in response["policyDocument"]["Statement"]:
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                statements.append((str(statement["Effect"]), str(resource)))
        usage_key = response.get("usageIdentifierKey")
        if usage_key is not None and not isinstance(usage_key, str):
            raise ValueError("usageIdentifierKey must be a string")
        return cls(
            str(response["principalId"]), tuple(statements), dict(response.get("context") or {}), usage_key
        )

    def allows(self, method_arn: str) -> bool:
        """IAM evaluation: an explicit Deny wins; otherwise an Allow must match."""
        matching = [
            effect for effect, resource in self.statements if fnmatch.fnmatchcase(method_arn, resource)
        ]
        return "Deny" not in matching and "Allow" in matching


@dataclass
class AuthorizerCache:
    """Policies by the values of the identity sources, for a TTL (API Gateway's authorizer cache)."""

    ttl_seconds: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, ...], tuple[float, Policy]] = field(default_factory=dict)

    def get(self, key: tuple[str, ...]) -> Policy | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple[str, ...], policy: Policy) -> None:
        if self.ttl_seconds > 0:
            self._entries[key] = (self.clock() + self.ttl_seconds, policy)


@dataclass(frozen=True)
class IncomingRequest:
    """The client's request as API Gateway hands it to the authorizer and the integration."""

    method: str
    route: Route
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    body: str | None
    source_ip: str

    @classmethod
    def build(cls, request: Request, route: Route, body: bytes) -> IncomingRequest:
        # The TCP peer is the source IP. A client's X-Forwarded-For is only a claim: API Gateway
        # keeps it and appends the peer, so the last entry is the one address it vouches for.
        source_ip = request.client.host if request.client else "127.0.0.1"
        headers: list[tuple[str, str]] = []
        forwarded: list[str] = []
        for raw_name, raw_value in request.scope["headers"]:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            if name.lower() == "x-forwarded-for":
                forwarded.append(value)
            elif name.lower() not in DROPPED_REQUEST_HEADERS:
                headers.append((name, value))
        headers.append(("X-Forwarded-For", ", ".join([*forwarded, source_ip])))
        return cls(
            method=request.method,
            route=route,
            headers=tuple(headers),
            query=tuple(request.query_params.multi_items()),
            # No binary media types: the body is text, bytes that are not UTF-8 become U+FFFD.
            body=body.decode("utf-8", errors="replace") if body else None,
            source_ip=source_ip,
        )

    def header(self, name: str) -> str | None:
        """The value API Gateway's single-value `headers` map holds: the last one."""
        values = [value for key, value in self.headers if key.lower() == name]
        return values[-1] if values else None


class Gateway:
    """ASGI app: the emulated REST API in front of the authorizer, MCP and front handlers.

    Without a `front` the API has no front routes (as a stack with the front switched off):
    they answer 403 "Missing Authentication Token" like any other undeclared resource. With
    `usage_plans` (the stack's USAGE_PLANS on) the authorized routes require an API key, which
    the authorizer names; `usage_meter` counts its requests (a clock can be injected).
    """

    def __init__(
        self,
        authorizer: LambdaRuntime,
        mcp: LambdaRuntime,
        config: GatewayConfig,
        front: LambdaRuntime | None = None,
        inspector: InspectorSite | None = None,
        *,
        usage_plans: UsagePlanDirectory | None = None,
        usage_meter: UsageMeter | None = None,
        servers: Mapping[str, LambdaRuntime] | None = None,
    ) -> None:
        """`servers`: the other MCP servers' functions by path (`/research/mcp`), beside `mcp` at `/mcp`."""
        self._authorizer = authorizer
        self._functions: dict[Integration, LambdaRuntime] = {"mcp": mcp}
        self._server_functions: dict[str, LambdaRuntime] = {MCP_PATH: mcp, **(servers or {})}
        self._cors = McpCors(config.allowed_origins)
        routes = (*ROUTES, *server_routes(tuple(self._server_functions)))
        if config.allowed_origins:  # as the stack: each MCP path gets an OPTIONS method for its methods
            routes = tuple(
                dataclasses.replace(r, preflight=MCP_METHODS) if r.path in self._server_functions else r
                for r in routes
            )
        self._routes: tuple[Route, ...] = routes
        if front is not None:
            self._functions["front"] = front
            self._routes = (*self._routes, *FRONT_ROUTES)
        self._inspector = inspector
        if inspector is not None:
            self._routes = (*self._routes, *INSPECTOR_ROUTES)
        self._config = config
        self._cache = AuthorizerCache(config.authorizer_ttl_seconds)
        self._usage_plans = usage_plans
        self._usage_meter = usage_meter or UsageMeter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await _read_body(request)
        if body is None:
            # Refused at the front door, before a request id exists (no x-amzn-RequestId).
            response = Response(
                f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes.",
                status_code=413,
                headers={"Content-Type": "text; charset=utf-8"},
            )
        else:
            request_id = str(uuid.uuid4())
            response = await self._handle(request, body, request_id)
            response.headers["x-amzn-RequestId"] = request_id
            if isinstance(response, GatewayResponse):
                response.headers.update(self._cors.gateway_response_headers())
        await response(scope, receive, send)

    def _route(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The resource `path` names, and its path parameters; a plain resource wins over a greedy one.

        A REST API routes `/x/` to the resource `/x` (observed, aws-powertools/
        powertools-lambda-python#1552: "both API Gateway REST and HTTPV2 route both /hello and
        /hello/"), so one trailing slash is ignored.
        """
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        matches = [(route, params) for route in self._routes if (params := route.match(path)) is not None]
        matches.sort(key=lambda match: match[0].path.endswith(GREEDY_SUFFIX))
        return matches[0] if matches else None

    async def _handle(self, request: Request, body: bytes, request_id: str) -> Response:
        found = self._route(request.url.path)
        if found is not None and request.method == "OPTIONS" and found[0].preflight:
            if found[0].path in self._server_functions:
                cors = self._cors.preflight_headers(found[0].preflight, request.headers.get("origin"))
                return preflight_response(found[0].preflight, cors)
            return preflight_response(found[0].preflight)
        if found is None or request.method not in found[0].methods:
            return _gateway_response(403, "Missing Authentication Token")
        route, path_parameters = found
        if route.integration == "static":
            return self._static(route.path)
        if route.integration == "site":
            return self._site(path_parameters.get("proxy"))
        incoming = IncomingRequest.build(request, route, body)
        authorizer_context: dict[str, Any] | None = None
        if route.authorized:
            outcome = await self._authorize(incoming, request_id)
            if isinstance(outcome, Response):
                return outcome
            authorizer_context = outcome
        event = rest_v1_event(
            incoming.method,
            request.url.path,
            headers=incoming.headers,
            body=incoming.body,
            authorizer=authorizer_context,
            resource=route.path,
            source_ip=incoming.source_ip,
            stage=self._config.stage,
            request_id=request_id,
            query=incoming.query,
        )
        # Lambda proxy input format: `pathParameters` is null for a resource without variables.
        event["pathParameters"] = path_parameters or None
        function = (
            self._server_functions[route.path]
            if route.integration == "mcp"
            else self._functions[route.integration]
        )
        return await self._integrate(function, event)

    def _static(self, path: str) -> Response:
        """A MOCK integration's 200: its response template as the body, its declared headers.

        The template is keyed application/json, which is the content type the client gets.
        """
        if path == HEALTH_PATH:
            return Response(HEALTH_BODY.encode(), headers={"Content-Type": "application/json"})
        body = self._config.server_metadata.get(path, self._config.protected_resource_metadata).encode()
        return Response(body, headers={**METADATA_HEADERS, "Content-Type": "application/json"})

    def _site(self, proxy: str | None) -> Response:
        """The stack's S3 integration: the object's bytes and type, the declared headers; a key
        that does not exist (S3 answers 403 without ListBucket) is the integration response's 404."""
        assert self._inspector is not None
        obj = self._inspector.objects.get(object_key(proxy))
        if obj is None:
            return Response(NOT_FOUND_BODY.encode(), status_code=404, headers={"Content-Type": JSON_TYPE})
        headers = {"Content-Type": obj.content_type, **self._inspector.headers}
        return Response(obj.body, headers=headers)

    async def _authorize(self, incoming: IncomingRequest, request_id: str) -> Response | dict[str, Any]:
        """The authorizer context to pass on, or the gateway response that ends the request."""
        caching = self._config.authorizer_ttl_seconds > 0
        identity = tuple(incoming.header(name) or "" for name in self._config.identity_sources)
        if caching and not all(identity):
            return self._unauthorized()
        started = time.perf_counter()
        policy = self._cache.get(identity) if caching else None
        if policy is None:
            event = request_authorizer_event(
                incoming.method,
                incoming.route.path,
                headers=incoming.headers,
                source_ip=incoming.source_ip,
                stage=self._config.stage,
                request_id=request_id,
                query=incoming.query,
            )
            try:
                output = await self._authorizer.invoke(event)
            except Exception as error:
                # Only the exact error "Unauthorized" is a 401; any other failure of the
                # function is API Gateway's AUTHORIZER_CONFIGURATION_ERROR, a 500.
                if str(error) == UNAUTHORIZED_MESSAGE:
                    return self._unauthorized()
                return _authorizer_error()
            try:
                policy = Policy.from_response(output)
            except (KeyError, TypeError, ValueError, AttributeError):
                return _authorizer_error()  # AUTHORIZER_FAILURE: output that is not a policy
            self._cache.put(identity, policy)
        if not policy.allows(self._method_arn(incoming.method, incoming.route.path)):
            return self._access_denied()
        latency = int((time.perf_counter() - started) * 1000)
        refused = await self._meter(policy.usage_identifier_key)
        if refused is not None:
            return refused
        return {**policy.context, "principalId": policy.principal_id, "integrationLatency": latency}

    async def _meter(self, usage_key: str | None) -> Response | None:
        """With usage plans: the gateway response refusing the request, or None to go on."""
        if self._usage_plans is None:
            return None
        # The directory reads the local AWS (blocking): off the event loop.
        metered = await asyncio.to_thread(self._usage_plans.lookup, usage_key) if usage_key else None
        if metered is None:
            return _gateway_response(403, INVALID_API_KEY_MESSAGE)
        outcome = self._usage_meter.admit(metered)
        if outcome == "throttled":
            return _gateway_response(429, THROTTLED_MESSAGE)
        if outcome == "quota_exceeded":
            return _gateway_response(429, QUOTA_EXCEEDED_MESSAGE)
        return None

    async def _integrate(self, function: LambdaRuntime, event: dict[str, Any]) -> Response:
        """Invoke `function` within Lambda's quotas and the integration timeout."""
        if len(json.dumps(event).encode()) > LAMBDA_REQUEST_LIMIT_BYTES:
            return _gateway_response(413, "Request Too Long")
        try:
            result = await asyncio.wait_for(
                function.invoke(event), timeout=self._config.integration_timeout_seconds
            )
        except TimeoutError:
            # The function keeps running (as on Lambda); only the client stops waiting.
            return _gateway_response(504, "Endpoint request timed out")
        except Exception:
            return _internal_server_error()  # a function error
        try:
            if len(json.dumps(result).encode()) > LAMBDA_RESPONSE_LIMIT_BYTES:
                return _internal_server_error()
            return _client_response(ProxyResponse.parse(result))
        except (TypeError, ValueError):  # not serialisable, or not a proxy response
            return _internal_server_error()

    def _method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:{DEFAULT_API_ID}/"
            f"{self._config.stage}/{method}{path}"
        )

    def _unauthorized(self) -> Response:
        challenge = www_authenticate(self._config.resource_metadata_url, (self._config.base_scope,))
        return _gateway_response(401, UNAUTHORIZED_MESSAGE, _challenge_headers(challenge))

    def _access_denied(self) -> Response:
        scopes = self._config.access_denied_scopes or (self._config.base_scope,)
        challenge = www_authenticate(self._config.resource_metadata_url, scopes, "insufficient_scope")
        return _gateway_response(403, "Forbidden", _challenge_headers(challenge))


def server_routes(paths: Sequence[str]) -> tuple[Route, ...]:
    """The resources of the MCP servers other than the primary one (`/mcp` is in ROUTES).

    As the stack declares them (docs/servers.md): `/<name>/mcp` with POST, GET and DELETE behind
    the authorizer, and a MOCK GET at its path-inserted protected-resource metadata URL.
    """
    others = [path for path in paths if path != MCP_PATH]
    return (
        *(Route(path, frozenset(MCP_METHODS), authorized=True) for path in others),
        *(
            Route(
                PRM_PATHS[0] + path,
                frozenset({"GET"}),
                authorized=False,
                integration="static",
                preflight=("GET",),
            )
            for path in others
        ),
    )


def challenge_names_resource_metadata(server_count: int, *, root_well_known_routable: bool) -> bool:
    """Whether the gateway's 401/403 challenges name the primary server's `resource_metadata`.

    Gateway responses are per API, one literal for every server (docs/servers.md). One server:
    yes, as always. Several: only where the host-root well-known URLs are unroutable (an
    execute-api URL, whose stage comes first), so the primary's clients still find theirs; with
    a custom domain, and in the local stack (no stage prefix), no: each client finds its server's
    metadata at the path-inserted well-known URL (RFC 9728 §3.1), which the mcp SDK client tries.
    The stack's copy is `infra.constructs.challenge_rule` (a test keeps the two equal).
    """
    return server_count == 1 or not root_well_known_routable


def challenge_metadata_url(
    primary_metadata_url: str, server_count: int, *, custom_domain: bool
) -> str | None:
    """The `resource_metadata` the challenges carry under that rule, or None to leave it out."""
    named = challenge_names_resource_metadata(server_count, root_well_known_routable=custom_domain)
    return primary_metadata_url if named else None


def server_config(gateway: Gateway, **options: Any) -> uvicorn.Config:
    """uvicorn settings for serving the gateway; `options` are passed on (host, port, …).

    `proxy_headers=False`: by default uvicorn takes the client address from X-Forwarded-For
    when the peer is 127.0.0.1, i.e. always here, and a client could then pick its own
    `sourceIp`. `server_header=False`: API Gateway's responses carry a Date but no Server.
    `log_config=None`: uvicorn's default closes every logging handler.
    """
    import uvicorn

    return uvicorn.Config(
        gateway,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        lifespan="off",
        access_log=False,
        **options,
    )


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None past API Gateway's payload quota.

    The rest of an oversized body is read and discarded rather than left unread, so the client
    finishes sending and reads the 413 instead of a reset connection.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_PAYLOAD_BYTES:
            chunks.append(chunk)
    return b"".join(chunks) if size <= MAX_PAYLOAD_BYTES else None


def _client_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The function's headers as the client receives them (remapped, dropped, a default type)."""
    passed: list[tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if not _TOKEN.match(name):
            raise MalformedProxyResponse("a header name is not an HTTP token")
        value.encode("latin-1")  # UnicodeEncodeError (a ValueError): not sendable as a header
        # Content-Length is framing: the gateway sends the length of the body it sends.
        if lowered in DROPPED_RESPONSE_HEADERS or lowered == "content-length":
            continue
        passed.append((f"x-amzn-Remapped-{name}" if lowered in REMAPPED_RESPONSE_HEADERS else name, value))
    if not any(name.lower() == "content-type" for name, _ in passed):
        passed.append(("Content-Type", "application/json"))
    return passed


def _client_response(proxy: ProxyResponse) -> Response:
    if not 100 <= proxy.status <= 599:
        raise MalformedProxyResponse("statusCode is not an HTTP status")
    headers = _client_headers(proxy.headers)
    # No binary media types: a base64 body (isBase64Encoded) reaches the client as that text.
    response = Response(proxy.body.encode(), status_code=proxy.status)
    for name, value in headers:
        response.headers.append(name, value)
    return response


def preflight_headers(methods: Sequence[str]) -> dict[str, str]:
    """The headers of a CORS preflight's MOCK answer on a resource allowing `methods`."""
    return {
        "Access-Control-Allow-Headers": ",".join(PREFLIGHT_ALLOW_HEADERS),
        "Access-Control-Allow-Origin": PREFLIGHT_ALLOW_ORIGIN,
        "Access-Control-Allow-Methods": ",".join(methods),
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }


def preflight_response(methods: Sequence[str], headers: Mapping[str, str] | None = None) -> Response:
    """A MOCK integration's answer: the integration response's status and headers, no body.

    `headers` defaults to the public resources' literals (`preflight_headers`). The body is empty:
    no template, or (/mcp with several origins) one that only sets a header override, whose
    output is at most the template's leftover whitespace on AWS (not observable here; a browser
    ignores a preflight's body). The content type is API Gateway's default, application/json, as
    on every answer without one (see `_client_headers`).
    """
    return Response(
        b"",
        status_code=PREFLIGHT_STATUS,
        headers={**(headers or preflight_headers(methods)), "Content-Type": "application/json"},
    )


def _challenge_headers(challenge: str) -> dict[str, str]:
    # As the CDK stack's UNAUTHORIZED and ACCESS_DENIED gateway responses (infra/constructs/api.py).
    return {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}


def _authorizer_error() -> Response:
    """AUTHORIZER_CONFIGURATION_ERROR / AUTHORIZER_FAILURE: 500, the default body's message null.

    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
    """
    return _gateway_response(500, None)


def _internal_server_error() -> Response:
    return _gateway_response(502, "Internal server error")


class GatewayResponse(Response):
    """An answer API Gateway makes itself when it refuses or fails a request (a gateway response
    type): the CORS headers of ALLOWED_ORIGINS are added to these (`Gateway.__call__`)."""


def _gateway_response(
    status: int, message: str | None, headers: Mapping[str, str] | None = None
) -> GatewayResponse:
    """A gateway response: API Gateway's default `{"message": …}` body, never remapped."""
    body = json.dumps({"message": message}).encode()
    return GatewayResponse(
        body, status_code=status, headers={"Content-Type": "application/json", **(headers or {})}
    )
