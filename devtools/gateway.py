"""A local API Gateway (REST API) emulator that runs the real Lambda handlers, Docker-free.

For each request it does what the deployed API does, in the same order:

1. route: `/mcp` (POST, GET, DELETE) behind the authorizer; the protected-resource metadata
   and `/health` (GET) without it; anything else is 403 "Missing Authentication Token";
2. no Authorization header: 401 without running the authorizer (the identity source is
   missing, as with API Gateway's authorizer cache on);
3. build the REQUEST-authorizer event, invoke the real authorizer handler, cache the policy by
   Authorization header for the configured TTL; "Unauthorized" → 401, a Deny or a policy that
   does not cover the method ARN → 403, both with the same `WWW-Authenticate` challenges as
   the CDK stack's gateway responses;
4. build the REST proxy event with the authorizer context and invoke the real MCP handler.
"""

from __future__ import annotations

import fnmatch
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from app.auth.challenge import www_authenticate
from devtools.events import (
    DEFAULT_ACCOUNT,
    DEFAULT_API_ID,
    DEFAULT_REGION,
    request_authorizer_event,
    rest_v1_event,
)
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda

UNAUTHORIZED_MESSAGE: Final = "Unauthorized"


@dataclass(frozen=True)
class Route:
    path: str
    methods: frozenset[str]
    authorized: bool


ROUTES: Final = (
    Route("/mcp", frozenset({"POST", "GET", "DELETE"}), authorized=True),
    Route("/.well-known/oauth-protected-resource", frozenset({"GET"}), authorized=False),
    Route("/.well-known/oauth-protected-resource/mcp", frozenset({"GET"}), authorized=False),
    Route("/health", frozenset({"GET"}), authorized=False),
)


@dataclass(frozen=True)
class GatewayConfig:
    """What the gateway responses say and how long authorizer policies are cached."""

    resource_metadata_url: str
    base_scope: str
    stage: str = "local"
    authorizer_ttl_seconds: float = 300


@dataclass(frozen=True)
class Policy:
    """An authorizer's answer: effect per statement, its principal id and its context."""

    principal_id: str
    statements: tuple[tuple[str, str], ...]
    context: Mapping[str, Any]

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> Policy:
        statements: list[tuple[str, str]] = []
        for statement in response["policyDocument"]["Statement"]:
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                statements.append((str(statement["Effect"]), str(resource)))
        return cls(str(response["principalId"]), tuple(statements), dict(response.get("context") or {}))

    def allows(self, method_arn: str) -> bool:
        """IAM evaluation: an explicit Deny wins; otherwise an Allow must match."""
        matching = [
            effect for effect, resource in self.statements if fnmatch.fnmatchcase(method_arn, resource)
        ]
        return "Deny" not in matching and "Allow" in matching


@dataclass
class AuthorizerCache:
    """Policies by Authorization header value, for a TTL (API Gateway's authorizer cache)."""

    ttl_seconds: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, Policy]] = field(default_factory=dict)

    def get(self, key: str) -> Policy | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, policy: Policy) -> None:
        if self.ttl_seconds > 0:
            self._entries[key] = (self.clock() + self.ttl_seconds, policy)


class Gateway:
    """ASGI app: the emulated REST API in front of the authorizer and MCP handlers."""

    def __init__(self, authorizer: LambdaRuntime, mcp: LambdaRuntime, config: GatewayConfig) -> None:
        self._authorizer = authorizer
        self._mcp = mcp
        self._config = config
        self._cache = AuthorizerCache(config.authorizer_ttl_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        request_id = str(uuid.uuid4())
        response = await self._handle(request, request_id)
        response.headers["x-amzn-RequestId"] = request_id
        await response(scope, receive, send)

    async def _handle(self, request: Request, request_id: str) -> Response:
        route = next((r for r in ROUTES if r.path == request.url.path), None)
        if route is None or request.method not in route.methods:
            return JSONResponse({"message": "Missing Authentication Token"}, status_code=403)
        source_ip = request.client.host if request.client else "127.0.0.1"
        headers = {key: value for key, value in request.headers.items()}
        authorizer_context: dict[str, Any] | None = None
        if route.authorized:
            authorizations = request.headers.getlist("authorization")
            if not authorizations:
                return self._unauthorized()
            started = time.perf_counter()
            policy = await self._authorize(
                ", ".join(authorizations), request, route, headers, source_ip, request_id
            )
            if policy is None:
                return self._unauthorized()
            if not policy.allows(self._method_arn(request.method, route.path)):
                return self._access_denied()
            latency = int((time.perf_counter() - started) * 1000)
            authorizer_context = {
                **policy.context,
                "principalId": policy.principal_id,
                "integrationLatency": latency,
            }
        body = await request.body()
        event = rest_v1_event(
            request.method,
            route.path,
            headers=headers,
            body=body or None,
            authorizer=authorizer_context,
            resource=route.path,
            source_ip=source_ip,
            stage=self._config.stage,
            request_id=request_id,
            query=dict(request.query_params) or None,
        )
        status, response_headers, response_body = response_from_lambda(await self._mcp.invoke(event))
        response = Response(response_body, status_code=status)
        for name, value in response_headers:
            if name.lower() != "content-length":
                response.headers.append(name, value)
        return response

    async def _authorize(
        self,
        authorization: str,
        request: Request,
        route: Route,
        headers: Mapping[str, str],
        source_ip: str,
        request_id: str,
    ) -> Policy | None:
        cached = self._cache.get(authorization)
        if cached is not None:
            return cached
        event = request_authorizer_event(
            request.method,
            route.path,
            headers=headers,
            source_ip=source_ip,
            stage=self._config.stage,
            request_id=request_id,
        )
        try:
            response = await self._authorizer.invoke(event)
            policy = Policy.from_response(response)
        except Exception:
            # "Unauthorized" (401), or a failing authorizer: API Gateway fails closed too.
            return None
        self._cache.put(authorization, policy)
        return policy

    def _method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:{DEFAULT_API_ID}/"
            f"{self._config.stage}/{method}{path}"
        )

    def _unauthorized(self) -> Response:
        challenge = www_authenticate(self._config.resource_metadata_url, (self._config.base_scope,))
        return _gateway_response(401, UNAUTHORIZED_MESSAGE, challenge)

    def _access_denied(self) -> Response:
        challenge = www_authenticate(
            self._config.resource_metadata_url, (self._config.base_scope,), "insufficient_scope"
        )
        return _gateway_response(403, "Forbidden", challenge)


def _gateway_response(status: int, message: str, challenge: str) -> Response:
    body = json.dumps({"message": message}).encode()
    return Response(
        body, status_code=status, headers={"Content-Type": "application/json", "WWW-Authenticate": challenge}
    )
