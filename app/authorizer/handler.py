"""Lambda entry point of the API Gateway REST REQUEST authorizer.

Translates the event into an Authorization header value, asks `Gatekeeper` for a decision,
writes one audit event, and answers in the form API Gateway expects:

- allowed: an Allow policy for the whole stage (`<api>/<stage>/*/*`), because API Gateway
  caches the policy per Authorization header and reuses it for every route; with several MCP
  servers (docs/servers.md), for exactly the resources of every server the credential may call
  (`<api>/<stage>/*/mcp`, `<api>/<stage>/*/research/mcp`), whichever one the request was for,
  so a cached Allow for server A evaluated at server B is API Gateway's 403; the context
  carries the principal (never a credential); with usage plans on, `usageIdentifierKey` (top
  level, next to the policy) names the API Gateway API key whose usage plan meters the request
  ("Output from an API Gateway Lambda authorizer"; docs/quotas.md);
- a valid credential for other servers of the API only: the same Allow for those servers, which
  does not cover this request's resource, so API Gateway answers 403 ACCESS_DENIED;
- a valid credential without the base scope, or (per-tool decisions on, see
  `app.authorizer.gatekeeper`) without the scopes of the tool, prompt or resource the request's
  `Mcp-Method`/`Mcp-Name` headers name: an explicit Deny; API Gateway answers with its 403
  ACCESS_DENIED gateway response, whose `WWW-Authenticate` is the step-up challenge;
- anything else: the exception "Unauthorized", the only way to get a 401 from API Gateway.

Routing headers are read only when each appears exactly once: a repeated `Mcp-Method` or
`Mcp-Name` names no item here, and the MCP function refuses such a request (400) anyway.

Imports stay small (no mcp, no Starlette): this function's cold start is paid before every
first request of a new container.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.auth.errors import ReasonCode
from app.auth.tool_scopes import NAME_BEARING_METHODS, decode_header_value
from app.authorizer.gatekeeper import Decision, Gatekeeper, Target
from app.core.audit import AuditEvent, emit
from app.core.config import SettingsSource
from app.core.log_levels import apply_log_levels
from app.core.servers import MCP_PATH, SERVER_METHODS
from app.core.snapstart import register_after_restore, reseed_random

apply_log_levels()
gatekeeper = Gatekeeper(SettingsSource())
gatekeeper.check_configuration()  # a broken setting stops the cold start with a clear message


def after_restore() -> None:
    """SnapStart: drop cached settings, JWKS, key store and AWS clients; reseed `random`."""
    gatekeeper.reset()
    reseed_random()


register_after_restore(after_restore)


class Unauthorized(Exception):
    """Raised to make API Gateway answer 401; the message must be exactly "Unauthorized"."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@dataclass(frozen=True)
class AuthorizerRequest:
    """The parts of a REQUEST-authorizer event the decision and the audit need."""

    authorization: str | None
    method_arn: str
    request_id: str | None
    source_ip: str | None
    user_agent: str | None
    target: Target | None = None
    path: str = MCP_PATH

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, per_tool: bool = True) -> AuthorizerRequest:
        """The request's parts; the routing headers only when decisions are per tool."""
        context = event.get("requestContext") or {}
        identity = context.get("identity") or {}
        return cls(
            authorization=_authorization_header(event),
            method_arn=str(event.get("methodArn") or ""),
            request_id=context.get("requestId"),
            source_ip=identity.get("sourceIp") or None,
            user_agent=identity.get("userAgent") or None,
            target=routing_target(event) if per_tool else None,
            path=resource_path(str(event.get("methodArn") or "")),
        )


def _is_authorization(name: object) -> bool:
    # The length test first: lower-casing every header name of every request costs more.
    return isinstance(name, str) and len(name) == len("authorization") and name.lower() == "authorization"


def _authorization_header(event: Mapping[str, Any]) -> str | None:
    """The Authorization header, case-insensitively; several values are joined so they fail."""
    values: list[str] = []
    for name, value in (event.get("multiValueHeaders") or {}).items():
        if _is_authorization(name) and isinstance(value, list):
            values.extend(str(v) for v in value)
    if not values:
        for name, value in (event.get("headers") or {}).items():
            if _is_authorization(name) and value is not None:
                values.append(str(value))
    if not values:
        return None
    # Two credentials in one request are refused by the strict Bearer parser (", " is malformed).
    return ", ".join(values)


_ROUTING_HEADERS = {"mcp-method": 0, "mcp-name": 1}
_ROUTING_NAME_LENGTHS = frozenset(len(name) for name in _ROUTING_HEADERS)


def routing_target(event: Mapping[str, Any]) -> Target | None:
    """The tool, prompt or resource the SEP-2243 routing headers name, if they name one.

    One pass over the headers (`multiValueHeaders` when API Gateway sent them, which hold every
    value), lower-casing only names of the right length. A header sent more than once names
    nothing: `Mcp-Method` and `Mcp-Name` are each read only when there is exactly one value.
    """
    values: tuple[list[str], list[str]] = ([], [])
    multi = event.get("multiValueHeaders") or {}
    for name, value in (multi or event.get("headers") or {}).items():
        if not isinstance(name, str) or len(name) not in _ROUTING_NAME_LENGTHS:
            continue
        slot = _ROUTING_HEADERS.get(name.lower())
        if slot is None:
            continue
        if multi:
            if isinstance(value, list):
                values[slot].extend(str(v) for v in value)
        elif value is not None:
            values[slot].append(str(value))
    methods, names = values
    if len(methods) != 1 or methods[0] not in NAME_BEARING_METHODS or len(names) != 1:
        return None
    name = decode_header_value(names[0])
    return Target(methods[0], name) if name is not None else None


def resource_path(method_arn: str) -> str:
    """The resource path of a method ARN (`…/<stage>/POST/research/mcp` → `/research/mcp`); "" if none."""
    parts = method_arn.split("/", 3)
    return "/" + parts[3] if len(parts) == 4 else ""


@functools.lru_cache(maxsize=64)
def _server_arns(stage: str, paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{stage}/{verb}{path}" for path in paths for verb in SERVER_METHODS)


def server_arns(method_arn: str, paths: tuple[str, ...]) -> list[str]:
    """`arn:…:<api>/<stage>/<verb><path>` for each server path and each method the API routes to it.

    Verbs are spelled out, not `*`: an IAM wildcard matches any characters, `/` included, so
    `<stage>/*/mcp` would also match `<stage>/POST/research/mcp` (a method ARN is
    `<api>/<stage>/<verb>/<path>`: "Control access to an API with IAM permissions", API Gateway
    developer guide; the re:Post answer on wildcards in authorizer policies says a `*` matches
    across the path after it). Exact ARNs admit exactly these resources.
    """
    # One API and stage per function, a few sets of servers: built once each (a fresh list each call).
    return list(_server_arns(stage_wildcard_arn(method_arn).removesuffix("/*/*"), paths))


def stage_wildcard_arn(method_arn: str) -> str:
    """`arn:aws:execute-api:<region>:<account>:<api>/<stage>/*/*` from a method ARN."""
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    if not prefix.startswith("arn:aws") or ":execute-api:" not in prefix or not stage:
        raise ValueError("methodArn is not an API Gateway method ARN")
    return f"{prefix}/{stage}/*/*"


def policy(
    principal_id: str, effect: str, resource: str | list[str], context: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": dict(context),
    }


def _resources(decision: Decision, method_arn: str, whole_stage: str) -> str | list[str]:
    """The whole stage with one server; else the resources of the servers the decision permits."""
    if decision.permitted is None:
        return whole_stage
    return server_arns(method_arn, tuple(server.path for server in decision.permitted))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        request = AuthorizerRequest.from_event(event, per_tool=gatekeeper.tool_scopes() is not None)
        decision = gatekeeper.decide(request.authorization, request.target, request.path)
        try:
            resource = stage_wildcard_arn(request.method_arn)
        except ValueError:
            resource, decision = "", Decision(principal=None, reason=ReasonCode.INTERNAL_ERROR)
        _audit(request, decision, (time.perf_counter() - started) * 1000)
    except Exception:
        # Fail closed: a malformed event or a failing audit write is a 401, never an Allow.
        raise Unauthorized() from None
    if (decision.allowed or decision.admits_elsewhere) and decision.principal is not None and resource:
        # At a server the credential is not for, this Allow (for its own servers) is what API
        # Gateway would have cached anyway: it does not cover this request, which gets the 403.
        resources = _resources(decision, request.method_arn, resource)
        allowed = policy(decision.principal.subject, "Allow", resources, decision.context())
        if decision.usage_key is not None:
            allowed["usageIdentifierKey"] = decision.usage_key
        return allowed
    if decision.status == 403 and resource:
        denied = {"reason": str(decision.reason)}
        if decision.required_scopes:
            denied["scope"] = " ".join(sorted(decision.required_scopes))
        if decision.permitted is not None:
            # Per tool (no cache): the servers where the item is allowed, and an explicit Deny here.
            here = server_arns(request.method_arn, (request.path,))
            document = policy("denied", "Deny", here, denied)
            if decision.permitted:
                others = server_arns(request.method_arn, tuple(s.path for s in decision.permitted))
                allow = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": others}
                document["policyDocument"]["Statement"].insert(0, allow)
            return document
        return policy("denied", "Deny", resource, denied)
    raise Unauthorized()


def _audit(request: AuthorizerRequest, decision: Decision, latency_ms: float) -> None:
    principal = decision.principal
    emit(
        AuditEvent(
            source="authorizer",
            action="authorize",
            outcome="allowed" if decision.allowed else "denied",
            request_id=request.request_id,
            source_ip=request.source_ip,
            user_agent=request.user_agent,
            principal=principal.subject if principal else None,
            auth_method=principal.auth_method if principal else None,
            client_id=principal.client_id if principal else None,
            key_id=principal.key_id if principal else None,
            tenant=principal.tenant if principal else None,
            server=decision.server,
            target_kind=NAME_BEARING_METHODS[request.target.method] if request.target else None,
            target=request.target.name if request.target else None,
            reason=str(decision.reason) if decision.reason else None,
            status=decision.status,
            latency_ms=round(latency_ms, 3),
        )
    )
