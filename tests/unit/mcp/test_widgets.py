"""MCP Apps widgets through the real MCP Lambda handler: the view is guarded exactly like its tool.

The example server's widget tools come from the registry (`ScopedServer.widget_of`), so a widget
added as the README says is covered too. Both protocol generations: 2025-11-25 (initialize) and
2026-07-28 (per-request capabilities, `server/discover`). What is checked, and where the rule
comes from (ext-apps specification 2026-01-26, "UI Resource Format", "Resource Discovery",
"Visibility", "Client<>Server Capability Negotiation"):

- a caller holding the tool's scopes lists the tool with `_meta.ui.resourceUri`, lists and reads
  the `ui://` view as `text/html;profile=mcp-app`, and calls the tool;
- a caller without them sees neither, and reading the view is the same 403 step-up as calling
  the tool, naming the same scopes;
- the server declares the extension `io.modelcontextprotocol/ui` (2026-07-28 `server/discover`);
- `visibility`: an app-only tool is hidden from, and refused to, a 2026-07-28 client that did not
  declare MCP Apps (it can have no view to call it); everything else is the host's to enforce.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum
from mcp.client.extension import advertise
from mcp.server import MCPServer
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.shared.exceptions import MCPError

from app.core.config import SettingsSource
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.permissions import ScopedServer
from app.mcp.server import build_server
from app.mcp.widgets import Widget, apps_extension
from devtools.lambda_runtime import LambdaRuntime
from devtools.mcp_messages import HANDSHAKE_VERSION, MODERN_VERSION, Generation, mcp_request, tool_call_params
from tests.conftest import LogCapture
from tests.mcp_apps import assert_view_served
from tests.unit.mcp.conftest import FULL_CONTEXT, ClientFactory
from tests.unit.mcp.test_authorization import call

pytestmark = pytest.mark.anyio

SERVER = build_server()
REQUIRED = SERVER.requirements
# Every widget tool of the example server, with its view and its scopes.
WIDGET_TOOLS = [
    pytest.param(tool, uri, REQUIRED.required("tool", tool), id=tool)
    for tool, uri in SERVER.widget_of.items()
]
MODES = ["legacy", "2026-07-28"]
GENERATIONS: list[Generation] = [HANDSHAKE_VERSION, MODERN_VERSION]
NARROW = {"principalId": "narrow", "principal": "narrow", "auth_method": "jwt", "scopes": "mcp/access"}
APPS_HOST = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


def holding(scopes: frozenset[str]) -> dict[str, str]:
    return {**FULL_CONTEXT, "scopes": " ".join(sorted({"mcp/access", *scopes}))}


def test_the_template_ships_a_widget_whose_view_needs_exactly_its_tools_scopes() -> None:
    assert SERVER.widget_of, "the example server has a tool with a widget"
    document = REQUIRED.tool_scopes()
    for tool, uri in SERVER.widget_of.items():
        assert uri.startswith("ui://")
        assert REQUIRED.requirement("resource", uri) == REQUIRED.requirement("tool", tool)
        # The authorizer's document (TOOL_SCOPES_FILE) carries the view next to the tool.
        assert document.resources[uri] == document.tools[tool]
        assert document.required("resources/read", uri) == document.required("tools/call", tool)


@pytest.mark.parametrize(("tool", "uri", "scopes"), WIDGET_TOOLS)
@pytest.mark.parametrize("mode", MODES)
async def test_a_caller_with_the_scopes_lists_reads_and_calls(
    connect: ClientFactory, mode: str, tool: str, uri: str, scopes: frozenset[str]
) -> None:
    async with connect(mode=mode, authorizer_context=holding(scopes)) as client:
        await assert_view_served(client, tool, uri, SERVER.widgets[uri].html)


async def test_the_dice_example_answers_text_and_structured_content(connect: ClientFactory) -> None:
    """Hosts without MCP Apps (every 2025-11-25 client, as far as the server knows) get text."""
    async with connect(authorizer_context=holding(REQUIRED.required("tool", "roll_dice"))) as client:
        result = await client.call_tool("roll_dice", {"sides": 6, "count": 3})
        refused = await client.call_tool("roll_dice", {"sides": 1})
    assert result.is_error is False
    roll = result.structured_content
    assert roll is not None
    assert roll["sides"] == 6
    assert len(roll["rolls"]) == 3
    assert all(1 <= value <= 6 for value in roll["rolls"])
    assert roll["total"] == sum(roll["rolls"])
    assert str(roll["total"]) in result.content[0].model_dump()["text"]
    assert refused.is_error is True


@pytest.mark.parametrize(("tool", "uri", "scopes"), WIDGET_TOOLS)
@pytest.mark.parametrize("mode", MODES)
async def test_a_caller_without_the_scopes_sees_neither_and_is_refused_both(
    connect: ClientFactory, mode: str, tool: str, uri: str, scopes: frozenset[str]
) -> None:
    assert scopes, "a scoped example: the point is that the view is locked with its tool"
    async with connect(mode=mode, authorizer_context=NARROW) as client:
        assert tool not in {t.name for t in (await client.list_tools()).tools}
        assert uri not in {r.uri for r in (await client.list_resources()).resources}
        for scope in scopes:
            with pytest.raises(MCPError, match=scope):
                await client.read_resource(uri)
            with pytest.raises(MCPError, match=scope):
                await client.call_tool(tool, {})


@pytest.mark.parametrize(("tool", "uri", "scopes"), WIDGET_TOOLS)
@pytest.mark.parametrize("generation", GENERATIONS)
def test_reading_the_view_is_the_same_step_up_challenge_as_calling_the_tool(
    mcp_runtime: LambdaRuntime, generation: Generation, tool: str, uri: str, scopes: frozenset[str]
) -> None:
    read = mcp_request("resources/read", {"uri": uri}, generation=generation, request_id=3)
    invoke = mcp_request("tools/call", tool_call_params(tool, {}), generation=generation, request_id=4)
    answers = [call(mcp_runtime, "v1", context=NARROW, request=request) for request in (read, invoke)]
    challenge = f'Bearer error="insufficient_scope", scope="{" ".join(sorted({"mcp/access", *scopes}))}"'
    for status, headers, body in answers:
        assert status == 403
        assert headers["www-authenticate"].startswith(challenge)
        assert 'resource_metadata="' in headers["www-authenticate"]
        assert all(scope in body["error"]["message"] for scope in scopes)


def test_the_server_declares_the_mcp_apps_extension(mcp_runtime: LambdaRuntime) -> None:
    """SEP-2133 capabilities at 2026-07-28 (`server/discover`); the SDK leaves `extensions` out of
    a 2025-11-25 `initialize` result (that revision has no such field), where hosts go by the
    tools' `_meta.ui` alone."""
    _, _, discovered = call(
        mcp_runtime,
        "v1",
        context=FULL_CONTEXT,
        request=mcp_request("server/discover", generation=MODERN_VERSION),
    )
    assert discovered["result"]["capabilities"]["extensions"] == {EXTENSION_ID: {}}
    _, _, initialized = call(mcp_runtime, "v1", context=FULL_CONTEXT, request=mcp_request("initialize"))
    assert "extensions" not in initialized["result"]["capabilities"]


# --- visibility -------------------------------------------------------------------------------

PANEL = Widget(uri="ui://panel/view.html", html="<!doctype html><title>panel</title>")


@pytest.fixture(scope="module")
def visibility_runtime() -> Iterator[LambdaRuntime]:
    """A server with the three visibilities on one view: both (default), app only, model only."""
    server = ScopedServer(MCPServer("visibility", extensions=[apps_extension()]))

    @server.tool(widget=PANEL)
    def show_panel() -> str:
        return "panel"

    @server.tool(widget=PANEL, visibility=["app"])
    def refresh_panel() -> str:
        return "refreshed"

    @server.tool(widget=PANEL, visibility=["model"])
    def describe_panel() -> str:
        return "described"

    app = AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ))))
    runtime = LambdaRuntime(Mangum(app, lifespan="off"))
    yield runtime
    runtime.close()


@pytest.mark.parametrize("declares_apps", [True, False], ids=["apps-host", "plain-client"])
@pytest.mark.parametrize("mode", MODES)
async def test_app_only_tools_are_withheld_where_the_server_knows_the_client_has_no_view(
    connect: ClientFactory, visibility_runtime: LambdaRuntime, mode: str, declares_apps: bool
) -> None:
    # Only a 2026-07-28 request carries the client's capabilities; a stateless server never
    # sees those a 2025-11-25 client sent with `initialize`, so it leaves visibility to the host.
    withheld = mode == "2026-07-28" and not declares_apps
    extensions = [APPS_HOST] if declares_apps else []
    async with connect(mode=mode, runtime=visibility_runtime, extensions=extensions) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        expected = {"show_panel", "describe_panel"} | (set() if withheld else {"refresh_panel"})
        assert set(listed) == expected
        if not withheld:
            assert listed["refresh_panel"].meta == {"ui": {"resourceUri": PANEL.uri, "visibility": ["app"]}}
        assert listed["describe_panel"].meta == {"ui": {"resourceUri": PANEL.uri, "visibility": ["model"]}}
        if withheld:
            with pytest.raises(MCPError, match=r"io\.modelcontextprotocol/ui") as refused:
                await client.call_tool("refresh_panel", {})
            assert refused.value.error.code == -32602
        else:
            assert (await client.call_tool("refresh_panel", {})).is_error is False
        # A view's call and the model's are the same request: "model only" is the host's to enforce.
        assert (await client.call_tool("describe_panel", {})).is_error is False


def test_a_withheld_call_is_audited_as_the_callers_error(
    visibility_runtime: LambdaRuntime, logs: LogCapture
) -> None:
    request = mcp_request(
        "tools/call", tool_call_params("refresh_panel", {}), generation=MODERN_VERSION, request_id=7
    )
    status, _, body = call(visibility_runtime, "v1", context=FULL_CONTEXT, request=request)
    assert status == 400
    assert body["error"]["code"] == -32602
    event = logs.audits()[-1]
    assert (event["action"], event["target"], event["outcome"], event["reason"]) == (
        "tools/call",
        "refresh_panel",
        "error",
        "invalid_params",
    )


# --- declaring widgets ------------------------------------------------------------------------


def fresh() -> ScopedServer:
    return ScopedServer(MCPServer("declarations", extensions=[apps_extension()]))


def noop() -> str:
    return ""


def test_tools_may_share_a_view_that_is_then_served_once() -> None:
    server = fresh()
    server.tool(scopes=["mcp/a"], widget=PANEL, name="one")(noop)
    server.tool(scopes=["mcp/a"], widget=PANEL, name="two", visibility=["app"])(noop)
    assert server.widget_of == {"one": PANEL.uri, "two": PANEL.uri}
    assert server.app_only_tools == {"two"}
    assert server.requirements.required("resource", PANEL.uri) == {"mcp/a"}


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        pytest.param(
            lambda s: (
                s.tool(scopes=["mcp/a"], widget=PANEL, name="one")(noop),
                s.tool(widget=PANEL, name="two")(noop),
            ),
            "exactly its tools' scopes",
            id="shared-with-other-scopes",
        ),
        pytest.param(
            lambda s: (
                s.tool(widget=PANEL, name="one")(noop),
                s.tool(widget=Widget(uri=PANEL.uri, html="<p>other</p>"), name="two")(noop),
            ),
            "two different widgets",
            id="one-uri-two-views",
        ),
        pytest.param(
            lambda s: s.tool(visibility=["app"])(noop), "needs a widget", id="visibility-without-widget"
        ),
        pytest.param(lambda s: s.tool(widget=PANEL, visibility=[])(noop), "non-empty", id="empty-visibility"),
        pytest.param(
            lambda s: s.tool(widget=PANEL, visibility=["user"])(noop), "'user'", id="unknown-visibility"
        ),
        pytest.param(lambda s: s.tool(widget=PANEL, visibility="app")(noop), "list", id="visibility-string"),
        pytest.param(
            lambda s: s.tool(meta={"ui": {"resourceUri": PANEL.uri}})(noop),
            "widget=Widget",
            id="hand-written-meta",
        ),
        pytest.param(
            lambda s: s.tool(widget=Widget(uri="https://example.com/v.html", html="<p>x</p>"))(noop),
            "ui://",
            id="not-a-ui-uri",
        ),
    ],
)
def test_a_widget_declared_wrongly_stops_the_server_from_starting(declare: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        declare(fresh())
