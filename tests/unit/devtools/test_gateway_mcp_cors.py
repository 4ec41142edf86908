"""CORS for browser MCP clients through the gateway emulator: the /mcp preflight, the gateway's answers.

With ALLOWED_ORIGINS set, the stack (infra/constructs/mcp_cors.py) gives /mcp an OPTIONS method
with a MOCK integration and no authorizer ("CORS for REST APIs in API Gateway":
https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html), whose
`Access-Control-Allow-Origin` is the first origin, replaced by the request's `Origin` when it is
one of the others ("Override your API's request and response parameters and status codes":
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html),
and CORS headers on every gateway response: UNAUTHORIZED and ACCESS_DENIED, and DEFAULT_4XX /
DEFAULT_5XX for the types it does not customize ("Gateway response types":
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
Those headers are literals (https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-swagger-extensions-gateway-responses.responseParameters.html): one origin, or `*`
with several. tests/infra/test_mcp_cors.py checks these answers against the synthesized template.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx2
import pytest

from app.mcp import cors as function_cors
from devtools import mcp_cors as gateway_cors
from tests.unit.devtools.conftest import FORBIDDEN, VALID, ok, running_gateway

APP = "https://app.example.com"
DEV = "http://127.0.0.1:5173"
TOOLS = "http://localhost:6274"
EVIL = "https://evil.example"
ALLOW_HEADERS = "Authorization,Content-Type,MCP-Protocol-Version,Mcp-Method,Mcp-Name,Mcp-Session-Id"
EXPOSED = "WWW-Authenticate,Mcp-Session-Id,Mcp-Protocol-Version"


def _preflight(url: str, origin: str | None) -> httpx2.Response:
    """What a browser sends before `fetch(url, {method: "POST", headers: {Authorization, Content-Type}})`."""
    headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    if origin is not None:
        headers["Origin"] = origin
    return httpx2.options(url, headers=headers)


def test_one_origin_the_preflight_is_the_mocks_answer_without_authorizer_or_function() -> None:
    with running_gateway(allowed_origins=(APP,)) as gateway:
        response = _preflight(gateway.mcp_url, APP)

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["vary"] == "Origin"
    assert response.headers["access-control-allow-methods"] == "POST,GET,DELETE"
    assert response.headers["access-control-allow-headers"] == ALLOW_HEADERS
    assert response.headers["access-control-max-age"] == "3600"
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-amzn-requestid"]
    assert gateway.authorizer.events == gateway.function.events == []


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(APP, APP), (DEV, DEV), (TOOLS, TOOLS), (EVIL, APP), (None, APP), (APP + ".evil.example", APP)],
)
def test_several_origins_the_preflight_names_the_callers_origin_only_if_it_is_listed(
    origin: str | None, allowed: str
) -> None:
    """The literal is the first origin; the template swaps in the caller's origin on an exact match.

    An unlisted origin gets the first one back, which is not its own: its browser fails the
    preflight (Fetch standard, CORS check: https://fetch.spec.whatwg.org/#cors-check) and never
    sends the request.
    """
    with running_gateway(allowed_origins=(APP, DEV, TOOLS)) as gateway:
        response = _preflight(gateway.mcp_url, origin)

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == allowed
    assert response.headers["vary"] == "Origin"
    assert gateway.authorizer.events == gateway.function.events == []


def _slow(release: threading.Event) -> Any:
    def respond(event: dict[str, Any]) -> dict[str, Any]:
        release.wait(timeout=60)
        return {"statusCode": 200, "body": "too late"}

    return respond


def _crash(event: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("the function failed")


def _gateway_answers(**config: Any) -> dict[str, httpx2.Response]:
    """One of each gateway response the emulator makes, by the response type AWS names it."""
    answers: dict[str, httpx2.Response] = {}
    with running_gateway(**config) as gateway:
        answers["UNAUTHORIZED"] = httpx2.post(gateway.mcp_url, headers={"Origin": APP}, content=b"{}")
        answers["ACCESS_DENIED"] = httpx2.post(
            gateway.mcp_url, headers={"Origin": APP, "Authorization": FORBIDDEN}, content=b"{}"
        )
        answers["MISSING_AUTHENTICATION_TOKEN"] = httpx2.post(
            f"{gateway.url}/nowhere", headers={"Origin": APP}
        )
        answers["REQUEST_TOO_LARGE"] = httpx2.post(
            gateway.mcp_url, headers={"Origin": APP, "Authorization": VALID}, content=b"x" * (7 * 1024 * 1024)
        )
    with running_gateway(_crash, **config) as gateway:
        answers["INTEGRATION_FAILURE"] = httpx2.post(
            gateway.mcp_url, headers={"Origin": APP, "Authorization": VALID}, content=b"{}"
        )
    with running_gateway(authorize=_crash, **config) as gateway:
        answers["AUTHORIZER_FAILURE"] = httpx2.post(
            gateway.mcp_url, headers={"Origin": APP, "Authorization": VALID}, content=b"{}"
        )
    release = threading.Event()
    with running_gateway(_slow(release), integration_timeout_seconds=0.2, **config) as gateway:
        try:
            answers["INTEGRATION_TIMEOUT"] = httpx2.post(
                gateway.mcp_url, headers={"Origin": APP, "Authorization": VALID}, content=b"{}"
            )
        finally:
            release.set()
    statuses = {kind: answer.status_code for kind, answer in answers.items()}
    assert statuses == {
        "UNAUTHORIZED": 401,
        "ACCESS_DENIED": 403,
        "MISSING_AUTHENTICATION_TOKEN": 403,
        "REQUEST_TOO_LARGE": 413,
        "INTEGRATION_FAILURE": 502,
        "AUTHORIZER_FAILURE": 500,
        "INTEGRATION_TIMEOUT": 504,
    }
    return answers


def test_one_origin_every_gateway_response_is_readable_by_it_with_the_challenge_exposed() -> None:
    for kind, response in _gateway_answers(allowed_origins=(APP,)).items():
        assert response.headers["access-control-allow-origin"] == APP, kind
        assert response.headers["vary"] == "Origin", kind
        assert response.headers["access-control-expose-headers"] == EXPOSED, kind
        assert "access-control-allow-credentials" not in response.headers, kind
        assert response.json()["message"] != "", kind  # the body is the gateway's own, unchanged


def test_several_origins_gateway_responses_allow_any_origin_and_never_credentials() -> None:
    """A gateway response cannot vary by Origin, so with several origins it says `*`: what it
    holds is public (a fixed message, the challenge naming the public metadata URL)."""
    answers = _gateway_answers(allowed_origins=(APP, DEV))
    for kind, response in answers.items():
        assert response.headers["access-control-allow-origin"] == "*", kind
        assert "vary" not in response.headers, kind
        assert response.headers["access-control-expose-headers"] == EXPOSED, kind
        assert "access-control-allow-credentials" not in response.headers, kind
    # The challenges are still there for the browser to read.
    assert answers["UNAUTHORIZED"].headers["www-authenticate"].startswith("Bearer resource_metadata=")
    assert 'error="insufficient_scope"' in answers["ACCESS_DENIED"].headers["www-authenticate"]


def test_without_allowed_origins_nothing_changes() -> None:
    """ALLOWED_ORIGINS empty (the default): no OPTIONS on /mcp (403, no authorizer) and no CORS
    header on any gateway response."""
    with running_gateway() as gateway:
        preflight = _preflight(gateway.mcp_url, APP)
    assert preflight.status_code == 403
    assert preflight.json() == {"message": "Missing Authentication Token"}
    assert gateway.authorizer.events == []
    for kind, response in {"PREFLIGHT": preflight, **_gateway_answers()}.items():
        assert not [name for name in response.headers if name.startswith("access-control-")], kind
        assert "vary" not in response.headers, kind


def test_the_functions_own_answers_are_passed_on_untouched() -> None:
    """The gateway adds CORS only to what it answers itself: the MCP function sets its own
    (app/mcp/cors.py), and API Gateway passes Access-Control-* and Vary through a Lambda proxy
    integration unchanged (not on the remap list of "Amazon API Gateway important notes for REST
    APIs": https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html)."""
    plain = ok()
    own = ok(headers={"Access-Control-Allow-Origin": DEV, "Vary": "Origin"})
    with running_gateway(plain, allowed_origins=(APP,)) as gateway:
        untouched = httpx2.post(
            gateway.mcp_url, headers={"Origin": APP, "Authorization": VALID}, content=b"{}"
        )
    with running_gateway(own, allowed_origins=(APP, DEV)) as gateway:
        passed = httpx2.post(gateway.mcp_url, headers={"Origin": DEV, "Authorization": VALID}, content=b"{}")

    assert untouched.status_code == 200
    assert "access-control-allow-origin" not in untouched.headers
    assert passed.headers["access-control-allow-origin"] == DEV
    assert passed.headers["vary"] == "Origin"


def test_the_gateway_and_the_function_expose_the_same_headers() -> None:
    """A browser client reads the same headers whoever answered (app/mcp/cors.py ships in the
    function and cannot import devtools, so the two lists are kept equal here)."""
    assert gateway_cors.EXPOSE_HEADERS == function_cors.EXPOSE_HEADERS
