"""The MCP Lambda's side of authorization: fail closed, per-item scopes, step-up, metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mangum import Mangum
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    handle_protected_resource_response,
)
from mcp.server import MCPServer
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from mcp.shared.exceptions import MCPError

from app.asgi import create_app
from app.config import SettingsSource
from app.handlers.mcp import AuthorizerContext
from app.permissions import ScopedServer
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import LambdaProxyTransport, response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.conftest import TEST_ISSUER, TEST_MCP_URL, TEST_PRM_URL
from tests.unit.mcp.conftest import ClientFactory

NARROW_CONTEXT = {
    "principalId": "narrow",
    "principal": "narrow",
    "auth_method": "jwt",
    "scopes": "mcp/access",
}
FORMATS: list[EventFormat] = ["v1", "v2"]


def call(
    runtime: LambdaRuntime,
    fmt: EventFormat,
    *,
    method: str = "POST",
    path: str = "/mcp",
    context: dict[str, str] | None,
    request: tuple[dict[str, str], str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    request_headers, body = request or mcp_request("tools/list")
    event = proxy_event(
        fmt, method, path, headers={**request_headers, **(headers or {})}, body=body, authorizer=context
    )
    status, raw_headers, raw_body = response_from_lambda(runtime.invoke_sync(event))
    return status, {k.lower(): v for k, v in raw_headers}, json.loads(raw_body) if raw_body else None


@pytest.mark.parametrize("fmt", FORMATS)
def test_request_without_authorizer_context_is_401_with_challenge(
    mcp_runtime: LambdaRuntime, fmt: EventFormat
) -> None:
    status, headers, body = call(mcp_runtime, fmt, context=None)
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer resource_metadata="{TEST_PRM_URL}", scope="mcp/access"'
    assert body["error"]["code"] == -32600


@pytest.mark.parametrize("fmt", FORMATS)
def test_sent_token_without_authorizer_context_says_invalid_token(
    mcp_runtime: LambdaRuntime, fmt: EventFormat
) -> None:
    status, headers, _ = call(
        mcp_runtime, fmt, context=None, headers={"Authorization": "Bearer s3cr3t-token-value"}
    )
    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer error="invalid_token", resource_metadata=')
    assert "s3cr3t" not in headers["www-authenticate"]


@pytest.mark.parametrize(
    "context",
    [
        {"principalId": "x"},
        {"principal": "x", "auth_method": "password", "scopes": "mcp/access"},
        {"principal": "", "auth_method": "jwt", "scopes": "mcp/access"},
        {"principal": "x", "auth_method": "jwt", "scopes": 7},
    ],
)
def test_malformed_authorizer_context_is_401(mcp_runtime: LambdaRuntime, context: dict[str, Any]) -> None:
    status, _, _ = call(mcp_runtime, "v1", context=context)
    assert status == 401


@pytest.mark.parametrize("fmt", FORMATS)
def test_principal_without_base_scope_is_403(mcp_runtime: LambdaRuntime, fmt: EventFormat) -> None:
    context = {
        "principal": "x",
        "auth_method": "api_key",
        "scopes": "mcp/profile",
        "key_id": "0123456789abcdef",
    }
    status, headers, _ = call(mcp_runtime, fmt, context=context)
    assert status == 403
    assert headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="mcp/access", resource_metadata="{TEST_PRM_URL}"'
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
def test_tool_call_without_its_scope_is_403_step_up(
    mcp_runtime: LambdaRuntime, fmt: EventFormat, generation: Any
) -> None:
    request = mcp_request("tools/call", tool_call_params("whoami", {}), generation=generation, request_id=7)
    status, headers, body = call(mcp_runtime, fmt, context=NARROW_CONTEXT, request=request)
    assert status == 403
    assert headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="mcp/profile", resource_metadata="{TEST_PRM_URL}"'
    )
    assert body["id"] == 7
    assert body["error"]["code"] == -32600


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_narrow_token_sees_fewer_tools_and_is_refused_the_rest(
    connect: ClientFactory, mode: str
) -> None:
    async with connect(mode=mode, authorizer_context=NARROW_CONTEXT) as client:
        tools = await client.list_tools()
        assert {tool.name for tool in tools.tools} == {"add", "days_between"}
        with pytest.raises(MCPError, match="mcp/profile"):
            await client.call_tool("whoami", {})
        allowed = await client.call_tool("add", {"a": 1, "b": 2})
        assert allowed.structured_content == {"result": 3.0}


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", FORMATS)
async def test_whoami_returns_the_real_principal(connect: ClientFactory, fmt: EventFormat) -> None:
    async with connect(event_format=fmt) as client:
        result = await client.call_tool("whoami", {})
    assert result.structured_content == {
        "principal": "user-123",
        "auth_method": "jwt",
        "scopes": ["mcp/access", "mcp/profile"],
        "client_id": "example-client",
        "key_id": None,
        "tenant": None,
    }


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_protected_resource_metadata_is_public(
    mcp_runtime: LambdaRuntime, path: str, fmt: EventFormat
) -> None:
    status, headers, body = call(mcp_runtime, fmt, method="GET", path=path, context=None, request=({}, ""))
    assert status == 200
    assert body == {
        "resource": TEST_MCP_URL,
        "authorization_servers": [TEST_ISSUER],
        "scopes_supported": ["mcp/access", "mcp/profile", "mcp/upstream"],
        "bearer_methods_supported": ["header"],
        "resource_name": "serverless-mcp",
    }
    assert headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("fmt", FORMATS)
def test_health_is_public(mcp_runtime: LambdaRuntime, fmt: EventFormat) -> None:
    status, _, body = call(mcp_runtime, fmt, method="GET", path="/health", context=None, request=({}, ""))
    assert (status, body) == (200, {"status": "ok"})


@pytest.mark.anyio
async def test_sdk_discovery_accepts_our_metadata(mcp_runtime: LambdaRuntime) -> None:
    """The SDK's own discovery steps: challenge → metadata URL → document → resource check."""
    transport = LambdaProxyTransport(mcp_runtime, authorizer_context=None, stage_path="/prod")
    async with httpx2.AsyncClient(transport=transport) as http:
        headers, body = mcp_request("initialize")
        unauthorized = await http.post(TEST_MCP_URL, headers=headers, content=body)
        assert unauthorized.status_code == 401
        assert extract_scope_from_www_auth(unauthorized) == "mcp/access"
        advertised = extract_resource_metadata_from_www_auth(unauthorized)
        urls = build_protected_resource_metadata_discovery_urls(advertised, TEST_MCP_URL)
        assert urls[0] == TEST_PRM_URL
        metadata = await handle_protected_resource_response(await http.get(urls[0]))
    assert metadata is not None
    assert [str(server).rstrip("/") for server in metadata.authorization_servers] == [TEST_ISSUER]
    assert check_resource_allowed(
        requested_resource=resource_url_from_server_url(TEST_MCP_URL),
        configured_resource=str(metadata.resource),
    )


@pytest.fixture(scope="module")
def scoped_items_runtime() -> Iterator[LambdaRuntime]:
    """A server with a scoped resource and prompt, to show they follow the tool rule."""
    server = ScopedServer(MCPServer("scoped-items"))

    @server.resource("report://quarterly", scopes=["reports/read"])
    def quarterly() -> str:
        return "numbers"

    @server.resource("info://public")
    def public() -> str:
        return "hello"

    @server.prompt(scopes=["prompts/admin"])
    def admin_prompt() -> str:
        return "be an admin"

    app = AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ))))
    runtime = LambdaRuntime(Mangum(app, lifespan="off"))
    yield runtime
    runtime.close()


def test_resources_and_prompts_follow_the_same_scope_rule(scoped_items_runtime: LambdaRuntime) -> None:
    rt = scoped_items_runtime
    _, _, resources = call(rt, "v1", context=NARROW_CONTEXT, request=mcp_request("resources/list"))
    assert [r["uri"] for r in resources["result"]["resources"]] == ["info://public"]
    _, _, prompts = call(rt, "v1", context=NARROW_CONTEXT, request=mcp_request("prompts/list"))
    assert prompts["result"]["prompts"] == []

    status, headers, _ = call(
        rt, "v1", context=NARROW_CONTEXT, request=mcp_request("resources/read", {"uri": "report://quarterly"})
    )
    assert status == 403
    assert 'scope="reports/read"' in headers["www-authenticate"]
    status, headers, _ = call(
        rt, "v1", context=NARROW_CONTEXT, request=mcp_request("prompts/get", {"name": "admin_prompt"})
    )
    assert status == 403
    assert 'scope="prompts/admin"' in headers["www-authenticate"]

    wide = {**NARROW_CONTEXT, "scopes": "mcp/access reports/read prompts/admin"}
    status, _, body = call(
        rt, "v1", context=wide, request=mcp_request("resources/read", {"uri": "report://quarterly"})
    )
    assert status == 200
    assert body["result"]["contents"][0]["text"] == "numbers"
    _, _, prompts = call(rt, "v1", context=wide, request=mcp_request("prompts/list"))
    assert [p["name"] for p in prompts["result"]["prompts"]] == ["admin_prompt"]
