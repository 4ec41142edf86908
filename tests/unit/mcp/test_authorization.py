"""The MCP Lambda's side of authorization: fail closed, per-item scopes, step-up, metadata.

Expectations about the example server are derived from its registry (`build_server()`), not
written out: adding a tool with `scopes=[...]` exactly as the README says must not break a
test. Scopes on resource templates are checked the way the SDK routes a `resources/read`:
an exact static resource first, then the templates in registration order; a URI that matches
neither is refused at the edge (-32602), so no URI can reach a template without its scopes.
"""

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

from app.core.config import SettingsSource
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.permissions import ScopedServer
from app.mcp.server import build_server
from app.tools import examples
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import LambdaProxyTransport, response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.conftest import TEST_ISSUER, TEST_MCP_URL, TEST_PRM_URL, LogCapture
from tests.unit.mcp.conftest import FULL_CONTEXT, ClientFactory

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
        "principal": "apikey:x",
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
        'Bearer error="insufficient_scope", scope="mcp/access mcp/profile", '
        f'resource_metadata="{TEST_PRM_URL}"'
    )
    assert body["id"] == 7
    assert body["error"]["code"] == -32600


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_narrow_token_sees_fewer_tools_and_is_refused_the_rest(
    connect: ClientFactory, mode: str
) -> None:
    registry = build_server()
    every_tool = {tool.name for tool in await registry.mcp.list_tools()}
    granted = frozenset(NARROW_CONTEXT["scopes"].split())
    visible = {name for name in every_tool if registry.requirements.allows("tool", name, granted)}
    hidden = every_tool - visible
    assert visible  # the example server has tools on both sides of the line
    assert hidden
    async with connect(mode=mode, authorizer_context=NARROW_CONTEXT) as client:
        tools = await client.list_tools()
        assert {tool.name for tool in tools.tools} == visible
        for name in sorted(hidden):
            needed = registry.requirements.missing("tool", name, granted)
            with pytest.raises(MCPError, match=sorted(needed)[0]):
                await client.call_tool(name, {})
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
        "scopes_supported": sorted({"mcp/access", *build_server().requirements.all_scopes()}),
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

    # Templates, registered in this order: the SDK tries them in this order too.
    @server.resource("report://special/summary")
    def special() -> str:
        return "static: report://special/summary"

    @server.resource("report://{year}/summary", scopes=["reports/read"])
    def yearly(year: str) -> str:
        return f"template: report://{{year}}/summary ({year})"

    @server.resource("report://{year}/{+rest}")
    def anything_else(year: str, rest: str) -> str:
        return f"template: report://{{year}}/{{+rest}} ({year}, {rest})"

    @server.resource("public://{name}")
    def public_template(name: str) -> str:
        return f"template: public://{{name}} ({name})"

    app = AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ))))
    runtime = LambdaRuntime(Mangum(app, lifespan="off"))
    yield runtime
    runtime.close()


def test_resources_and_prompts_follow_the_same_scope_rule(scoped_items_runtime: LambdaRuntime) -> None:
    rt = scoped_items_runtime
    _, _, resources = call(rt, "v1", context=NARROW_CONTEXT, request=mcp_request("resources/list"))
    assert [r["uri"] for r in resources["result"]["resources"]] == [
        "info://public",
        "report://special/summary",
    ]
    _, _, prompts = call(rt, "v1", context=NARROW_CONTEXT, request=mcp_request("prompts/list"))
    assert prompts["result"]["prompts"] == []

    status, headers, _ = call(
        rt, "v1", context=NARROW_CONTEXT, request=mcp_request("resources/read", {"uri": "report://quarterly"})
    )
    assert status == 403
    assert 'scope="mcp/access reports/read"' in headers["www-authenticate"]
    status, headers, _ = call(
        rt, "v1", context=NARROW_CONTEXT, request=mcp_request("prompts/get", {"name": "admin_prompt"})
    )
    assert status == 403
    assert 'scope="mcp/access prompts/admin"' in headers["www-authenticate"]

    wide = {**NARROW_CONTEXT, "scopes": "mcp/access reports/read prompts/admin"}
    status, _, body = call(
        rt, "v1", context=wide, request=mcp_request("resources/read", {"uri": "report://quarterly"})
    )
    assert status == 200
    assert body["result"]["contents"][0]["text"] == "numbers"
    _, _, prompts = call(rt, "v1", context=wide, request=mcp_request("prompts/list"))
    assert [p["name"] for p in prompts["result"]["prompts"]] == ["admin_prompt"]


def read(runtime: LambdaRuntime, uri: str, context: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    return call(
        runtime, "v1", context=context, request=mcp_request("resources/read", {"uri": uri}, request_id=9)
    )


def test_resource_template_scopes_are_enforced(scoped_items_runtime: LambdaRuntime) -> None:
    """A concrete URI that matches a scoped template needs the template's scopes (finding 2.1)."""
    status, headers, body = read(scoped_items_runtime, "report://2026/summary", NARROW_CONTEXT)
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="mcp/access reports/read", '
        f'resource_metadata="{TEST_PRM_URL}"'
    )
    assert body["id"] == 9
    wide = {**NARROW_CONTEXT, "scopes": "mcp/access reports/read"}
    status, _, body = read(scoped_items_runtime, "report://2026/summary", wide)
    assert status == 200
    assert body["result"]["contents"][0]["text"] == "template: report://{year}/summary (2026)"


# (URI, the text the SDK serves it with, or None when no resource or template matches it)
ROUTES = [
    ("report://special/summary", "static: report://special/summary"),  # static before templates
    ("report://2026/summary", "template: report://{year}/summary (2026)"),
    ("report://2026/q1/detail", "template: report://{year}/{+rest} (2026, q1/detail)"),
    ("report://2026/summaryx", "template: report://{year}/{+rest} (2026, summaryx)"),
    ("public://hello", "template: public://{name} (hello)"),
    ("report://2026", None),
    ("public://", "template: public://{name} ()"),  # an empty variable matches
    ("nothing://at/all", None),
    ("", None),
]


@pytest.mark.parametrize(("uri", "served_by"), ROUTES, ids=[uri or "empty" for uri, _ in ROUTES])
def test_the_edge_resolves_a_uri_to_the_item_the_sdk_serves(
    scoped_items_runtime: LambdaRuntime, uri: str, served_by: str | None, logs: LogCapture
) -> None:
    """The SDK is the judge: with every scope, what it serves tells which item the URI reached.

    Without `reports/read` the edge must refuse exactly the URIs the SDK serves from the scoped
    template, and refuse a URI that reaches nothing before the SDK sees it.
    """
    wide = {**NARROW_CONTEXT, "scopes": "mcp/access reports/read"}
    status, _, body = read(scoped_items_runtime, uri, wide)
    if served_by is None:
        assert status == 400
        assert body["id"] == 9
        assert body["error"]["code"] == -32602
        assert "no resource or resource template" in body["error"]["message"]
        assert logs.audits()[-1]["outcome"] == "denied"
        assert logs.audits()[-1]["reason"] == "unknown_resource"
        assert logs.audits()[-1]["action"] == "resources/read"
        return
    assert status == 200
    assert body["result"]["contents"][0]["text"] == served_by
    narrow_status, _, _ = read(scoped_items_runtime, uri, NARROW_CONTEXT)
    assert narrow_status == (403 if served_by.startswith("template: report://{year}/summary") else 200)


def test_template_listing_is_filtered_by_scope(scoped_items_runtime: LambdaRuntime) -> None:
    rt = scoped_items_runtime
    request = mcp_request("resources/templates/list")
    _, _, narrow = call(rt, "v1", context=NARROW_CONTEXT, request=request)
    assert [t["uriTemplate"] for t in narrow["result"]["resourceTemplates"]] == [
        "report://{year}/{+rest}",
        "public://{name}",
    ]
    wide = {**NARROW_CONTEXT, "scopes": "mcp/access reports/read"}
    _, _, everything = call(rt, "v1", context=wide, request=request)
    assert [t["uriTemplate"] for t in everything["result"]["resourceTemplates"]] == [
        "report://{year}/summary",
        "report://{year}/{+rest}",
        "public://{name}",
    ]


@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
def test_example_template_needs_the_profile_scope(mcp_runtime: LambdaRuntime, generation: Any) -> None:
    """The example `identity://caller/{field}` template carries `mcp/profile`, like `whoami`."""
    uri = "identity://caller/principal"
    request = mcp_request("resources/read", {"uri": uri}, generation=generation)
    status, headers, _ = call(mcp_runtime, "v1", context=NARROW_CONTEXT, request=request)
    assert status == 403
    assert f'scope="mcp/access {examples.PROFILE_SCOPE}"' in headers["www-authenticate"]
    status, _, body = call(mcp_runtime, "v1", context=FULL_CONTEXT, request=request)
    assert status == 200
    assert body["result"]["contents"][0]["text"] == FULL_CONTEXT["principal"]
    listing = mcp_request("resources/templates/list", generation=generation)
    _, _, narrow = call(mcp_runtime, "v1", context=NARROW_CONTEXT, request=listing)
    assert narrow["result"]["resourceTemplates"] == []
    _, _, full = call(mcp_runtime, "v1", context=FULL_CONTEXT, request=listing)
    assert [t["uriTemplate"] for t in full["result"]["resourceTemplates"]] == ["identity://caller/{field}"]


def test_example_template_answers_unknown_fields_as_unknown_resources(mcp_runtime: LambdaRuntime) -> None:
    status, _, body = call(
        mcp_runtime,
        "v1",
        context=FULL_CONTEXT,
        request=mcp_request("resources/read", {"uri": "identity://caller/password"}),
    )
    assert status < 500
    assert body["error"]["code"] == -32602


def test_a_scoped_tool_added_as_the_readme_says_is_advertised_and_enforced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """README "Adding your own tools": a new module in `TOOL_MODULES` with `scopes=[...]`."""
    import app.tools

    def register(server: ScopedServer) -> None:
        @server.tool(scopes=["reports/write"])
        def file_report(title: str) -> str:
            """File a report."""
            return title

    monkeypatch.setattr(app.tools, "TOOL_MODULES", (*app.tools.TOOL_MODULES, register))
    server = build_server()
    assert server.requirements.required("tool", "file_report") == frozenset({"reports/write"})
    runtime = LambdaRuntime(
        Mangum(AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ)))), lifespan="off")
    )
    try:
        path = "/.well-known/oauth-protected-resource/mcp"
        _, _, metadata = call(runtime, "v1", method="GET", path=path, context=None, request=({}, ""))
        assert "reports/write" in metadata["scopes_supported"]
        _, _, tools = call(runtime, "v1", context=NARROW_CONTEXT)
        assert "file_report" not in {tool["name"] for tool in tools["result"]["tools"]}
        request = mcp_request("tools/call", tool_call_params("file_report", {"title": "t"}))
        status, headers, _ = call(runtime, "v1", context=NARROW_CONTEXT, request=request)
        assert status == 403
        assert 'scope="mcp/access reports/write"' in headers["www-authenticate"]
    finally:
        runtime.close()


def test_two_authorization_headers_are_refused_even_with_an_authorizer_context(
    mcp_runtime: LambdaRuntime,
) -> None:
    """With an authorizer cache, API Gateway may decide on one of two credentials from its cache.

    REST proxy events carry every value in `multiValueHeaders`
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html);
    the function refuses a request that sent more than one credential, whatever was decided.
    """
    request_headers, body = mcp_request("tools/list")
    event = proxy_event("v1", "POST", "/mcp", headers=request_headers, body=body, authorizer=FULL_CONTEXT)
    event["multiValueHeaders"]["Authorization"] = ["Bearer first", "Bearer second"]
    status, _, _ = response_from_lambda(mcp_runtime.invoke_sync(event))
    assert status == 401
    event["multiValueHeaders"]["Authorization"] = ["Bearer only-one"]
    status, _, _ = response_from_lambda(mcp_runtime.invoke_sync(event))
    assert status == 200
