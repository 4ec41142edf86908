"""CORS headers on the MCP Lambda's answers, for browser clients on the origins in ALLOWED_ORIGINS.

A browser hands a page an answer only if `Access-Control-Allow-Origin` names the page's origin,
and lets it read `WWW-Authenticate`, `Mcp-Session-Id` and `Mcp-Protocol-Version` only if
`Access-Control-Expose-Headers` names them (Fetch standard: CORS check
https://fetch.spec.whatwg.org/#cors-check, CORS-safelisted response headers
https://fetch.spec.whatwg.org/#cors-safelisted-response-header-name). A Lambda proxy
integration must set them itself ("CORS for REST APIs in API Gateway":
https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum

from app.core.config import SettingsSource
from app.mcp.handler import build_asgi_app
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.unit.mcp.conftest import FULL_CONTEXT

FIRST = "https://app.example.com"
SECOND = "http://127.0.0.1:5173"
EXPOSED = {"www-authenticate", "mcp-session-id", "mcp-protocol-version"}


@pytest.fixture(scope="module")
def browser_runtime() -> Iterator[LambdaRuntime]:
    """The MCP handler with two allowed browser origins."""
    env = {**os.environ, "ALLOWED_ORIGINS": f"{FIRST},{SECOND}"}
    runtime = LambdaRuntime(Mangum(build_asgi_app(SettingsSource(env=env), env), lifespan="off"))
    yield runtime
    runtime.close()


def call(runtime: LambdaRuntime, event: dict[str, Any]) -> tuple[int, dict[str, list[str]], Any]:
    """Status, headers (lowercased name -> every value) and JSON body of the function's answer."""
    status, pairs, body = response_from_lambda(runtime.invoke_sync(event))
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        headers.setdefault(name.lower(), []).append(value)
    return status, headers, json.loads(body) if body else None


def event(
    method: str = "tools/call",
    params: dict[str, Any] | None = None,
    *,
    fmt: EventFormat = "v1",
    http_method: str = "POST",
    authorizer: dict[str, Any] | None = FULL_CONTEXT,
    **extra_headers: str,
) -> dict[str, Any]:
    if method == "tools/call" and params is None:
        params = tool_call_params("add", {"a": 1, "b": 2})
    headers, body = mcp_request(method, params)
    return proxy_event(
        fmt, http_method, "/mcp", headers={**headers, **extra_headers}, body=body, authorizer=authorizer
    )


def assert_readable_by(headers: dict[str, list[str]], origin: str) -> None:
    """What the browser checks before it hands the answer to a page on `origin` (no credentials)."""
    assert headers["access-control-allow-origin"] == [origin]
    assert "access-control-allow-credentials" not in headers
    exposed = {name.strip().lower() for name in headers["access-control-expose-headers"][0].split(",")}
    assert exposed >= EXPOSED
    assert headers["vary"] == ["Origin"]


@pytest.mark.parametrize("origin", [FIRST, SECOND])
@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_an_allowed_origin_gets_itself_back_on_a_tool_call(
    browser_runtime: LambdaRuntime, origin: str, fmt: EventFormat
) -> None:
    status, headers, body = call(browser_runtime, event(fmt=fmt, Origin=origin))
    assert status == 200
    assert body["result"]["structuredContent"] == {"result": 3.0}
    assert_readable_by(headers, origin)


def test_initialize_and_a_notification_are_readable_too(browser_runtime: LambdaRuntime) -> None:
    status, headers, body = call(browser_runtime, event("initialize", Origin=SECOND))
    assert status == 200
    assert body["result"]["protocolVersion"]
    assert_readable_by(headers, SECOND)

    notification = event("tools/list", Origin=SECOND)
    notification["body"] = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    status, headers, _ = call(browser_runtime, notification)
    assert status == 202
    assert_readable_by(headers, SECOND)


def test_refusals_are_readable_so_a_browser_client_can_act_on_them(browser_runtime: LambdaRuntime) -> None:
    """401 (the challenge starts the sign-in), 403 step-up, 405 for GET: each with the headers."""
    status, headers, _ = call(browser_runtime, event(authorizer=None, Origin=FIRST))
    assert status == 401
    assert headers["www-authenticate"][0].startswith("Bearer ")
    assert_readable_by(headers, FIRST)

    step_up = event(params=tool_call_params("upstream_status", {}), Origin=FIRST)
    status, headers, _ = call(browser_runtime, step_up)
    assert status == 403
    assert 'error="insufficient_scope"' in headers["www-authenticate"][0]
    assert_readable_by(headers, FIRST)

    status, headers, _ = call(browser_runtime, event(http_method="GET", Origin=FIRST))
    assert status == 405
    assert_readable_by(headers, FIRST)


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "https://app.example.com.evil.example", "https://APP.example.com", "null", ""],
)
def test_any_other_origin_is_refused_with_no_cors_header(browser_runtime: LambdaRuntime, origin: str) -> None:
    """Never `*`, never a reflected origin: the browser blocks the page from reading the 403."""
    status, headers, body = call(browser_runtime, event(Origin=origin))
    assert status == 403
    assert body["error"]["message"] == "Forbidden: origin not allowed"
    assert not [name for name in headers if name.startswith("access-control-")]
    # The answer depends on Origin, so a cache must key on it.
    assert headers["vary"] == ["Origin"]


def test_a_request_without_origin_gets_no_allow_origin(browser_runtime: LambdaRuntime) -> None:
    status, headers, _ = call(browser_runtime, event())
    assert status == 200
    assert not [name for name in headers if name.startswith("access-control-")]
    assert headers["vary"] == ["Origin"]


def test_without_allowed_origins_nothing_changes(mcp_runtime: LambdaRuntime) -> None:
    """The default (ALLOWED_ORIGINS empty): no CORS header and no Vary, whatever is asked."""
    for request, expected in ((event(), 200), (event(Origin=FIRST), 403)):
        status, headers, _ = call(mcp_runtime, request)
        assert status == expected
        assert not [name for name in headers if name.startswith("access-control-") or name == "vary"]
