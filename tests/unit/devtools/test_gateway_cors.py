"""CORS preflights through the gateway emulator: the gateway answers them (MOCK), as the stack declares.

A browser client (the MCP Inspector on http://localhost:6274) sends OPTIONS before a metadata
fetch with `MCP-Protocol-Version`, a JSON POST to /register, or a token request with
`Authorization: Basic`. The stack (infra/constructs/api.py) gives the protected-resource
metadata resources and the front's resources an OPTIONS method with a MOCK integration and no
authorizer; API Gateway answers it itself ("CORS for REST APIs in API Gateway":
https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html; the MOCK OPTIONS
method: https://docs.aws.amazon.com/apigateway/latest/developerguide/
enable-cors-for-resource-using-swagger-importer-tool.html). tests/infra/test_cors.py checks the
emulator's answer against the synthesized template.
"""

from __future__ import annotations

import httpx2
import pytest

from app.auth.front import (
    AUTHORIZATION_SERVER_METADATA_PATHS,
    CONSENT_PATH,
    JWKS_PATH,
    REGISTER_PATH,
    TOKEN_PATH,
)
from tests.unit.devtools.conftest import VALID, ok, running_gateway

INSPECTOR: str = "http://localhost:6274"
PRM_PATHS = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp")
HOST_ROOT_METADATA = [path for path in AUTHORIZATION_SERVER_METADATA_PATHS if not path.startswith("/oauth/")]
ALLOW_HEADERS = "Authorization,Content-Type,MCP-Protocol-Version,Mcp-Method,Mcp-Name"


def _preflight(url: str, method: str, headers: str) -> httpx2.Response:
    """What a browser sends before a non-simple cross-origin request (Fetch standard, CORS preflight)."""
    return httpx2.options(
        url,
        headers={
            "Origin": INSPECTOR,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.mark.parametrize(
    ("path", "method", "allowed"),
    [
        *[(path, "GET", "GET") for path in PRM_PATHS],
        *[(path, "GET", "GET") for path in HOST_ROOT_METADATA],
        ("/oauth/.well-known/oauth-authorization-server", "GET", "GET,POST"),
        (JWKS_PATH, "GET", "GET,POST"),
        (REGISTER_PATH, "POST", "GET,POST"),
        (TOKEN_PATH, "POST", "GET,POST"),
    ],
)
def test_a_preflight_is_answered_by_the_gateway_without_a_function(
    path: str, method: str, allowed: str
) -> None:
    """204, the declared Access-Control-* headers, an empty body; no authorizer, no function runs.

    A MOCK integration returns its integration response (status and header literals) and no body
    (no response template); the answer is the same for any requested method and headers (the
    browser decides). API Gateway adds `x-amzn-RequestId` to every answer.
    """
    with running_gateway(front=ok()) as gateway:
        response = _preflight(f"{gateway.url}{path}", method, "mcp-protocol-version,content-type")

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == allowed
    assert response.headers["access-control-allow-headers"] == ALLOW_HEADERS
    assert response.headers["access-control-max-age"] == "3600"
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-amzn-requestid"]
    assert gateway.authorizer.events == []
    assert gateway.function.events == []
    assert gateway.front is not None
    assert gateway.front.events == []


def test_the_proxy_resources_preflight_also_answers_for_consent_but_allows_no_credentials() -> None:
    """`/oauth/{proxy+}` is one resource: its preflight covers /oauth/consent too.

    Harmless: without `Access-Control-Allow-Credentials: true` a browser fails the preflight of a
    cookie-bearing fetch (Fetch standard, CORS check with credentials mode "include"), and the
    consent page's own answer carries no Access-Control-Allow-Origin (tests/unit/oauth/test_cors.py).
    """
    with running_gateway(front=ok()) as gateway:
        response = _preflight(f"{gateway.url}{CONSENT_PATH}", "POST", "content-type")

    assert response.status_code == 204
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["access-control-allow-origin"] == "*"
    assert gateway.front is not None
    assert gateway.front.events == []


@pytest.mark.parametrize("path", ["/mcp", "/health", "/oauth", "/.well-known/oauth-authorization-server"])
def test_a_preflight_where_the_stack_declares_none_is_403_missing_authentication_token(path: str) -> None:
    """No OPTIONS method on /mcp without ALLOWED_ORIGINS (the default; with it see
    test_gateway_mcp_cors.py), on /health, or on undeclared resources.

    https://repost.aws/knowledge-center/api-gateway-authentication-token-errors ("a method or
    resource that doesn't exist"). The authorizer does not run for /mcp either: the method does
    not exist, so there is nothing to authorize.
    """
    with running_gateway(front=ok()) as gateway:
        response = _preflight(f"{gateway.url}{path}", "POST", "authorization,content-type")

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    assert "access-control-allow-origin" not in response.headers
    assert gateway.authorizer.events == []
    assert gateway.function.events == []


@pytest.mark.parametrize("path", [*HOST_ROOT_METADATA, TOKEN_PATH])
def test_without_a_front_its_preflights_do_not_exist_but_the_prm_ones_do(path: str) -> None:
    """A stack with the front switched off has none of its resources, OPTIONS included."""
    with running_gateway() as gateway:
        front = _preflight(f"{gateway.url}{path}", "GET", "mcp-protocol-version")
        prm = _preflight(f"{gateway.url}{PRM_PATHS[1]}", "GET", "mcp-protocol-version")

    assert front.status_code == 403
    assert prm.status_code == 204


def test_the_functions_access_control_headers_reach_the_browser_unchanged() -> None:
    """On the actual request the integration's CORS headers pass through (not on AWS's remap list).

    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html:
    only Authorization, Connection, Content-MD5, Date, Max-Forwards, Server, User-Agent and
    WWW-Authenticate are remapped for a Lambda proxy integration.
    """
    answer = ok(
        '{"error": "slow_down"}',
        statusCode=429,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": "Retry-After",
            "Retry-After": "3600",
        },
    )
    with running_gateway(front=answer) as gateway:
        response = httpx2.post(
            f"{gateway.url}{REGISTER_PATH}",
            json={"redirect_uris": [f"{INSPECTOR}/oauth/callback"]},
            headers={"Origin": INSPECTOR, "Authorization": VALID},
        )

    assert response.status_code == 429
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "Retry-After"
    assert response.headers["retry-after"] == "3600"
    assert gateway.authorizer.events == []
