"""The authorization front's public routes through the gateway emulator, as the stack declares them.

The stack (infra/constructs/api.py) gives the front GET on the two host-root metadata resources
and GET and POST on the greedy proxy resource `/oauth/{proxy+}`, with no authorizer, each a Lambda
proxy integration. What a client and the function see there follows the same AWS documents as
the MCP route (the tests cite them), plus:

- a greedy path variable `{proxy+}` matches one or more path segments below its parent and reaches
  the function as `pathParameters.proxy`, the event's `resource` being the resource's path
  ("Set up a proxy integration with a proxy resource":
  https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-set-up-simple-proxy.html);
- a request to a resource or method that does not exist is 403 "Missing Authentication Token"
  ("How do I troubleshoot 403 Missing Authentication Token errors?":
  https://repost.aws/knowledge-center/api-gateway-authentication-token-errors: "The API request
  is made to a method or resource that doesn't exist").
"""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from app.auth.front import AUTHORIZATION_SERVER_METADATA_PATHS, CALLBACK_PATH, TOKEN_PATH
from tests.unit.devtools.conftest import VALID, ok, running_gateway

HOST_ROOT_METADATA = [path for path in AUTHORIZATION_SERVER_METADATA_PATHS if not path.startswith("/oauth/")]


def _redirect(event: dict[str, Any]) -> dict[str, Any]:
    """What the front answers at the end of a consent: a 302 with two cookies."""
    return {
        "statusCode": 302,
        "headers": {
            "Location": "http://127.0.0.1:33418/callback?code=c0de&state=s",
            "Cache-Control": "no-store",
        },
        "multiValueHeaders": {
            "Set-Cookie": [
                "__Host-binding=; Max-Age=0; Path=/oauth; HttpOnly; SameSite=Lax",
                "csrf=abc; Path=/oauth; HttpOnly; SameSite=Lax",
            ]
        },
        "body": "",
    }


@pytest.mark.parametrize("path", HOST_ROOT_METADATA)
def test_the_host_root_metadata_resources_reach_the_front_without_the_authorizer(path: str) -> None:
    """Plain resources: `resource` is the path, `pathParameters` null, no authorizer context.

    Lambda proxy input format (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html): a method with authorization NONE has no
    `requestContext.authorizer`; `sourceIp` is the caller.
    """
    with running_gateway(front=ok('{"issuer": "x"}')) as gateway:
        response = httpx2.get(f"{gateway.url}{path}")

    assert response.status_code == 200
    assert response.json() == {"issuer": "x"}
    assert gateway.authorizer.events == []
    assert gateway.function.events == []
    assert gateway.front is not None
    [event] = gateway.front.events
    assert event["resource"] == path
    assert event["path"] == path
    assert event["pathParameters"] is None
    assert event["requestContext"]["resourcePath"] == path
    assert "authorizer" not in event["requestContext"]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("method", "path", "proxy"),
    [
        ("GET", "/oauth/authorize", "authorize"),
        ("POST", "/oauth/token", "token"),
        ("GET", "/oauth/.well-known/openid-configuration", ".well-known/openid-configuration"),
        ("GET", "/oauth/.well-known/oauth-authorization-server", ".well-known/oauth-authorization-server"),
        ("POST", "/oauth/a/b/c", "a/b/c"),
    ],
)
def test_the_greedy_proxy_resource_hands_the_rest_of_the_path_to_the_front(
    method: str, path: str, proxy: str
) -> None:
    """`/oauth/{proxy+}`: the event's `resource` is the resource, `pathParameters.proxy` the rest.

    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-set-up-simple-proxy.html
    (a greedy path variable matches all child resources; the function gets the variable's value).
    """
    with running_gateway(front=ok()) as gateway:
        response = httpx2.request(method, f"{gateway.url}{path}")

    assert response.status_code == 200
    assert gateway.front is not None
    [event] = gateway.front.events
    assert event["httpMethod"] == method
    assert event["resource"] == "/oauth/{proxy+}"
    assert event["requestContext"]["resourcePath"] == "/oauth/{proxy+}"
    assert event["pathParameters"] == {"proxy": proxy}
    assert event["path"] == path
    assert event["requestContext"]["path"] == f"/local{path}"
    assert "authorizer" not in event["requestContext"]
    assert gateway.authorizer.events == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        *[(method, TOKEN_PATH) for method in ("PUT", "DELETE", "PATCH", "HEAD")],
        ("POST", "/.well-known/oauth-authorization-server/oauth"),
        ("DELETE", "/.well-known/openid-configuration/oauth"),
        ("GET", "/oauth"),  # the parent of a greedy resource is not that resource
        ("GET", "/oauth/"),  # nor is an empty greedy variable
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/.well-known/oauth-authorization-server/oauth/extra"),
    ],
)
def test_a_method_or_resource_the_stack_does_not_declare_is_403_missing_authentication_token(
    method: str, path: str
) -> None:
    """API Gateway answers undeclared methods and resources itself: 403, no function runs.

    https://repost.aws/knowledge-center/api-gateway-authentication-token-errors ("a method or
    resource that doesn't exist"); the stack declares only GET and POST on `/oauth/{proxy+}` and
    GET on the two metadata resources (plus their CORS preflights: test_gateway_cors.py), so HEAD
    is refused too.
    """
    with running_gateway(front=ok()) as gateway:
        response = httpx2.request(method, f"{gateway.url}{path}")

    assert response.status_code == 403
    if method != "HEAD":
        assert response.json() == {"message": "Missing Authentication Token"}
    assert gateway.front is not None
    assert gateway.front.events == []
    assert gateway.authorizer.events == []


@pytest.mark.parametrize("path", [*HOST_ROOT_METADATA, TOKEN_PATH, CALLBACK_PATH])
def test_without_a_front_its_routes_do_not_exist(path: str) -> None:
    """A stack with the front switched off has none of its resources: 403, as any unknown path."""
    with running_gateway() as gateway:
        response = httpx2.get(f"{gateway.url}{path}")

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    assert gateway.function.events == []


def test_a_redirect_with_cookies_reaches_the_browser_as_the_front_sent_it() -> None:
    """`Location`, `Cache-Control` and every `Set-Cookie` pass through unchanged.

    None of them is on the "important notes" header table (Lambda column: only Authorization,
    Connection, Content-MD5, Date, Max-Forwards, Server, User-Agent and WWW-Authenticate are
    remapped; Expect, Host, Proxy-Authenticate, TE, Trailer, Transfer-Encoding, Upgrade and Via
    dropped): https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-known-issues.html. Several cookies need `multiValueHeaders`: `headers`
    holds one value per name (Lambda proxy output format,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
    """
    with running_gateway(front=_redirect) as gateway:
        response = httpx2.post(
            f"{gateway.url}/oauth/consent",
            content="decision=approve&csrf=abc",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )

    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1:33418/callback?code=c0de&state=s"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers.get_list("set-cookie") == [
        "__Host-binding=; Max-Age=0; Path=/oauth; HttpOnly; SameSite=Lax",
        "csrf=abc; Path=/oauth; HttpOnly; SameSite=Lax",
    ]
    assert not any(name.startswith("x-amzn-remapped") for name in response.headers)
    assert gateway.front is not None
    [event] = gateway.front.events
    assert event["body"] == "decision=approve&csrf=abc"
    assert event["isBase64Encoded"] is False


def test_the_fronts_www_authenticate_is_remapped_like_any_integrations() -> None:
    """A token endpoint's 401 `invalid_client` challenge (RFC 6749 §5.2) cannot reach the client.

    The front is a Lambda proxy integration, so its `WWW-Authenticate` arrives as
    `x-amzn-Remapped-WWW-Authenticate` (https://docs.aws.amazon.com/apigateway/latest/
    developerguide/api-gateway-known-issues.html); the JSON error body is what
    a client can rely on.
    """
    answer = ok(
        '{"error": "invalid_client"}',
        statusCode=401,
        headers={"WWW-Authenticate": 'Basic realm="oauth"', "Content-Type": "application/json"},
    )
    with running_gateway(front=answer) as gateway:
        response = httpx2.post(f"{gateway.url}{TOKEN_PATH}", content="grant_type=authorization_code")

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert "www-authenticate" not in response.headers
    assert response.headers["x-amzn-remapped-www-authenticate"] == 'Basic realm="oauth"'


def test_a_client_authorization_header_reaches_the_front_and_no_authorizer_runs() -> None:
    """`client_secret_basic` at the token endpoint: the public route passes the header through.

    Even one the authorizer would accept for /mcp: the front's routes have no authorizer, and the
    gateway does not consult one for them (authorization type NONE).
    """
    with running_gateway(front=ok()) as gateway:
        basic = httpx2.post(
            f"{gateway.url}{TOKEN_PATH}",
            headers={"Authorization": "Basic Y2xpZW50OnNlY3JldA=="},
            content="grant_type=refresh_token",
        )
        bearer = httpx2.get(f"{gateway.url}/oauth/jwks.json", headers={"Authorization": VALID})

    assert basic.status_code == bearer.status_code == 200
    assert gateway.authorizer.events == []
    assert gateway.front is not None
    assert [e["headers"]["authorization"] for e in gateway.front.events] == [
        "Basic Y2xpZW50OnNlY3JldA==",
        VALID,
    ]


def test_the_authorize_query_reaches_the_front_with_every_value() -> None:
    """Query parameters of `/authorize` in both maps, repeated ones in order (proxy input format)."""
    query = "response_type=code&client_id=https%3A%2F%2Fc.example%2Fm.json&scope=a&scope=b"
    with running_gateway(front=ok()) as gateway:
        httpx2.get(f"{gateway.url}/oauth/authorize?{query}")

    assert gateway.front is not None
    [event] = gateway.front.events
    assert event["queryStringParameters"]["client_id"] == "https://c.example/m.json"
    assert event["multiValueQueryStringParameters"]["scope"] == ["a", "b"]
    assert event["queryStringParameters"]["scope"] == "b"


def test_a_failing_front_is_502_as_for_the_mcp_function() -> None:
    """A function error is API Gateway's 502 "Internal server error", never the error's text."""

    def fail(event: dict[str, Any]) -> Any:
        raise RuntimeError("secret detail that must not leak")

    with running_gateway(front=fail) as gateway:
        response = httpx2.get(f"{gateway.url}/oauth/jwks.json")

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    assert "secret" not in response.text
