"""CORS for browser MCP clients on /mcp, with ALLOWED_ORIGINS set; nothing at all without it.

A browser client (a web MCP client, the MCP Inspector, an MCP App's host page) calls /mcp with
`Authorization` and a JSON body, so its browser sends a preflight first, and hands the page an
answer only if it names the page's origin (Fetch standard: https://fetch.spec.whatwg.org/#http-cors-protocol).
Three parts answer it; the MCP function's own answers carry theirs (app/mcp/cors.py):

1. OPTIONS /mcp: a MOCK integration and NO authorizer. A preflight carries no credentials, and an
   authorizer belongs to a method (`AuthorizationType`, `AuthorizerId` of AWS::ApiGateway::Method),
   so the other methods' REQUEST authorizer never sees it, whatever its cache TTL ("CORS for REST
   APIs in API Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html).
   aws-cdk's `add_cors_preflight` builds it: `Access-Control-Allow-Origin` is the first origin as a
   literal, plus `Vary: Origin`; with several origins, its integration response template sets
   `$context.responseOverride.header.Access-Control-Allow-Origin` to the request's `Origin` when it
   EQUALS one of the others ("Override your API's request and response parameters and status
   codes for REST APIs": https://docs.aws.amazon.com/apigateway/latest/developerguide/
   apigateway-override-request-response-parameters.html; exact `==` comparisons since aws-cdk
   PR 26648, which stopped treating the origins as regular expressions). Any other origin gets the
   first one back, so its browser fails the preflight. The origins go into that Velocity template
   as string literals: a `"`, `$` or `#` in one is refused at synth (infra/config.py checks their
   form too).
2. UNAUTHORIZED and ACCESS_DENIED (customized already for their challenges) get CORS headers, and
   DEFAULT_4XX / DEFAULT_5XX are customized with the same headers and API Gateway's default body,
   so every other gateway response (MISSING_AUTHENTICATION_TOKEN, THROTTLED 429,
   REQUEST_TOO_LARGE 413, INTEGRATION_TIMEOUT 504, INTEGRATION_FAILURE, AUTHORIZER_* 500, ...)
   falls back to them ("Gateway response types for API Gateway": https://docs.aws.amazon.com/
   apigateway/latest/developerguide/supported-gateway-response-types.html). Their status codes
   are left alone: a status on DEFAULT_4XX would replace every 4XX type's.
3. Which origin a gateway response names. It cannot depend on the request's Origin: header values
   are literals or request parameters (https://docs.aws.amazon.com/apigateway/latest/
   developerguide/api-gateway-swagger-extensions-gateway-responses.responseParameters.html), and
   gateway response templates are not processed by VTL (https://docs.aws.amazon.com/apigateway/
   latest/developerguide/api-gateway-gatewayResponse-definition.html). Mapping
   `method.request.header.Origin` would reflect EVERY origin, so it is never done. One origin:
   that origin (+ `Vary: Origin`). Several: `*`, so each of them can read a 401's challenge; any
   other page can read it too, which gives it nothing: these answers hold a fixed message and the
   public challenge (its metadata URL is served with `*` already), and `*` never allows
   credentials. No `Access-Control-Allow-Credentials` anywhere: MCP clients send a bearer token,
   not cookies. AWS WAF's own block responses take precedence over gateway responses and carry none.

The values (allowed and exposed headers, max age, which origin a gateway response names) come
from devtools/mcp_cors.py, which the local gateway emulator serves; tests/infra/test_mcp_cors.py
compares the synthesized template, the preflight's Velocity template included, with its answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw

from devtools.mcp_cors import ALLOW_HEADERS, MAX_AGE_SECONDS, McpCors
from infra.config import ConfigError

PREFLIGHT_STATUS: Final = 204
# API Gateway's default gateway response body, kept when DEFAULT_4XX/5XX are customized.
DEFAULT_GATEWAY_BODY: Final = '{"message":$context.error.messageString}'
# Characters that would end a Velocity string literal (or a CloudFormation 'literal'), or start a
# reference or a directive inside one.
_NOT_PLAIN: Final = ('"', "'", "$", "#", "\\")


def check_origins(origins: Sequence[str]) -> None:
    """Every origin can be a literal in the preflight's mapping template and in a header value."""
    for origin in origins:
        if any(mark in origin for mark in _NOT_PLAIN):
            raise ConfigError(
                f"ALLOWED_ORIGINS entry {origin!r} contains a quote, '$', '#' or '\\', which API Gateway's "
                "CORS mapping template would not read as plain text; an origin is scheme://host[:port]"
            )


def gateway_response_headers(origins: Sequence[str]) -> dict[str, str]:
    """The CORS headers of every gateway response, as CloudFormation literals ('value')."""
    return {name: f"'{value}'" for name, value in McpCors(tuple(origins)).gateway_response_headers().items()}


def add_mcp_cors(
    api: apigw.RestApi, mcp: apigw.IResource, origins: Sequence[str], methods: Sequence[str]
) -> apigw.Method | None:
    """The preflight on `mcp` and the DEFAULT_4XX/5XX gateway responses; None without origins.

    UNAUTHORIZED and ACCESS_DENIED take `gateway_response_headers` where they are declared.
    """
    if not origins:
        return None
    check_origins(origins)
    headers = gateway_response_headers(origins)
    body = {"application/json": DEFAULT_GATEWAY_BODY}
    for construct_id, kind in (
        ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
        ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
    ):
        api.add_gateway_response(construct_id, type=kind, response_headers=headers, templates=body)
    return add_mcp_preflight(mcp, origins, methods)


def add_mcp_preflight(
    mcp: apigw.IResource, origins: Sequence[str], methods: Sequence[str]
) -> apigw.Method | None:
    """OPTIONS on one MCP server's resource (every server's path alike); None without origins."""
    if not origins:
        return None
    check_origins(origins)
    return mcp.add_cors_preflight(
        allow_origins=list(origins),
        allow_methods=list(methods),
        allow_headers=list(ALLOW_HEADERS),
        max_age=cdk.Duration.seconds(MAX_AGE_SECONDS),
        status_code=PREFLIGHT_STATUS,
    )
