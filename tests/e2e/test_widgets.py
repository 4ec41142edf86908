"""MCP Apps widgets through the local stack: the view behind the same gate as its tool.

Over real HTTP against `mcp-lambda dev` (API Gateway emulator, authorizer, MCP function), with the
official SDK client, in both protocol generations:

- with the tool's scope, the tool is listed with `_meta.ui.resourceUri`, its `ui://` view is
  listed and read as `text/html;profile=mcp-app` (ext-apps specification 2026-01-26, "UI Resource
  Format"), and the tool runs;
- without it, neither is listed, and reading the view is refused exactly like calling the tool:
  at 2026-07-28 by the authorizer from the `Mcp-Method`/`Mcp-Name` headers, so API Gateway's own
  403 carries the challenge; at 2025-11-25 by the function, whose `WWW-Authenticate` API Gateway
  renames to `x-amzn-Remapped-WWW-Authenticate` ("Amazon API Gateway important notes for REST
  APIs", https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html);
- the view's own button, in a real headless Chromium, against the reference host side of MCP
  Apps (`AppBridge` from `@modelcontextprotocol/ext-apps`; ext-apps "Standard MCP Messages": the
  view talks JSON-RPC over postMessage, the host relays `tools/call` on its own MCP connection).
  The view runs in an iframe sandboxed without `allow-same-origin`, completes the handshake,
  shows the model's result, and its "Roll again" sends `tools/call`, which the test relays with
  the host's SDK client. That call is an ordinary `tools/call`: the authorizer decides it and
  the audit trail records the same principal and client as the model's own call.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.shared.exceptions import MCPError
from mcp_types import TextResourceContents
from selenium import webdriver
from selenium.webdriver.common.by import By

from app.mcp.server import build_server
from app.mcp.tool_scopes_export import server_table
from app.tools.dice import DICE_WIDGET
from devtools.mcp_messages import HANDSHAKE_VERSION, MODERN_VERSION, Generation, mcp_request, tool_call_params
from tests.conftest import missing
from tests.e2e.browser_support import (
    NODE_BIN,
    ROOT,
    Console,
    browser_paths,
    failure_artifacts,
    headless_chromium,
    page_origin,
    wait_until,
)
from tests.e2e.oauth_support import wait_for_audit
from tests.e2e.test_local_stack import issuer_token, mcp_client
from tests.mcp_apps import assert_view_served

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e")]

SERVER = build_server()
TOOL = "roll_dice"
VIEW = SERVER.widget_of[TOOL]
SCOPES = SERVER.requirements.required("tool", TOOL)
# The gateway's 403 names every scope of every server behind it (docs/servers.md).
EVERY_DECLARED_SCOPE = server_table().all_scopes()
MODES = ["legacy", "2026-07-28"]
APPS_HOST = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


@pytest.mark.parametrize("mode", MODES)
async def test_with_the_scope_the_tool_and_its_view_are_served(
    local_stack: dict[str, Any], mode: str
) -> None:
    assert DICE_WIDGET.uri == VIEW
    async with mcp_client(local_stack["mcp_url"], local_stack["access_token"], mode) as client:
        await assert_view_served(client, TOOL, VIEW, DICE_WIDGET.html)
        rolled = await client.call_tool(TOOL, {"sides": 6, "count": 2})
    assert rolled.is_error is False
    assert rolled.structured_content is not None
    assert len(rolled.structured_content["rolls"]) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_without_the_scope_neither_is_listed_and_both_are_refused(
    local_stack: dict[str, Any], mode: str
) -> None:
    token = issuer_token(local_stack, "mcp/access")
    async with mcp_client(local_stack["mcp_url"], token, mode) as client:
        assert TOOL not in {tool.name for tool in (await client.list_tools()).tools}
        assert VIEW not in {resource.uri for resource in (await client.list_resources()).resources}
        # What each refusal carries is in the next test; here: the SDK client gets no view.
        with pytest.raises(MCPError):
            await client.read_resource(VIEW)
        with pytest.raises(MCPError):
            await client.call_tool(TOOL, {})


def audit_of(stack: dict[str, Any], source: str, request_id: str) -> dict[str, Any]:
    """The audit event `source` shipped for the request API Gateway numbered `request_id`."""
    return wait_for_audit(
        stack, lambda record: (record["source"], record["request_id"]) == (source, request_id)
    )


async def raw(stack: dict[str, Any], token: str, request: tuple[dict[str, str], str]) -> httpx2.Response:
    headers, body = request
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(
            stack["mcp_url"], headers={**headers, "Authorization": f"Bearer {token}"}, content=body
        )


@pytest.mark.parametrize("generation", [HANDSHAKE_VERSION, MODERN_VERSION])
async def test_reading_the_view_gets_the_same_challenge_as_calling_the_tool(
    local_stack: dict[str, Any], generation: Generation
) -> None:
    token = issuer_token(local_stack, "mcp/access")
    read = await raw(local_stack, token, mcp_request("resources/read", {"uri": VIEW}, generation=generation))
    call = await raw(
        local_stack, token, mcp_request("tools/call", tool_call_params(TOOL, {}), generation=generation)
    )
    assert read.status_code == call.status_code == 403
    if generation == MODERN_VERSION:
        # The authorizer refused on the routing headers: API Gateway's ACCESS_DENIED response,
        # naming every declared scope (the gateway response cannot know which item was named).
        challenge = read.headers["www-authenticate"]
        assert "x-amzn-remapped-www-authenticate" not in read.headers
        named = set(challenge.split('scope="', 1)[1].split('"', 1)[0].split())
        assert named == {"mcp/access", *EVERY_DECLARED_SCOPE}
        # Several servers, no stage prefix: the gateway's literal names no server's metadata.
        assert 'resource_metadata="' not in challenge
        denied = audit_of(local_stack, "authorizer", read.headers["x-amzn-requestid"])
        assert (denied["outcome"], denied["reason"], denied["target_kind"], denied["target"]) == (
            "denied",
            "insufficient_scope",
            "resource",
            VIEW,
        )
    else:
        # The function refused (it knows the item): its challenge names exactly what is missing.
        challenge = read.headers["x-amzn-remapped-www-authenticate"]
        assert "www-authenticate" not in read.headers
        assert challenge.startswith(
            f'Bearer error="insufficient_scope", scope="{" ".join(sorted({"mcp/access", *SCOPES}))}"'
        )
        assert all(scope in read.json()["error"]["message"] for scope in SCOPES)
        assert 'resource_metadata="' in challenge
    assert challenge.startswith('Bearer error="insufficient_scope"')
    call_challenge = call.headers.get("www-authenticate") or call.headers["x-amzn-remapped-www-authenticate"]
    assert call_challenge == challenge


# --- the view's own button, in a browser --------------------------------------------------------

# The reference host side of MCP Apps: `AppBridge` and `PostMessageTransport` from
# `@modelcontextprotocol/ext-apps` (the ext-apps specification's own package, pinned through
# package-lock.json), bundled for the browser once per session by the rolldown already installed.
EXT_APPS_BRIDGE = (
    ROOT / "node_modules" / "@modelcontextprotocol" / "ext-apps" / "dist" / "src" / "app-bridge.js"
)
ROLLDOWN = ROOT / "node_modules" / ".bin" / "rolldown"

# Runs in the host page, once the bundle defined `window.ExtApps`: the view in an iframe sandboxed
# WITHOUT allow-same-origin (an opaque origin: it cannot reach this page), connected to an
# AppBridge. After the handshake the host sends the tool's input and result; a `tools/call`
# from the view is queued in `window.relay` for the test to send over the host's MCP connection,
# and `window.answer(index, result)` resolves it.
HOST_SCRIPT = """
const [html, toolArguments, toolResult, done] = arguments;
const {AppBridge, PostMessageTransport} = window.ExtApps;
window.relay = [];
const answers = [];
window.answer = (index, result) => answers[index](result);
const frame = document.createElement("iframe");
frame.id = "view";
frame.setAttribute("sandbox", "allow-scripts");
frame.srcdoc = html;
frame.style.width = "480px";
frame.style.height = "320px";
document.body.appendChild(frame);
const bridge = new AppBridge(
  null,
  {name: "serverless-mcp-test-host", version: "0.1.0"},
  {serverTools: {}},
  {hostContext: {theme: "light", displayMode: "inline"}},
);
bridge.oninitialized = () => {
  window.initialized = true;
  bridge.sendToolInput({arguments: toolArguments});
  bridge.sendToolResult(toolResult);
};
bridge.oncalltool = (params) => new Promise((resolve) => {
  window.relay.push(params);
  answers.push(resolve);
});
const transport = new PostMessageTransport(frame.contentWindow, frame.contentWindow);
bridge.connect(transport).then(() => done(true), (error) => done(String(error)));
"""


@pytest.fixture(scope="session")
def app_bridge(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ext-apps host bridge as one browser script (an IIFE that sets `window.ExtApps`)."""
    if not EXT_APPS_BRIDGE.exists() or not ROLLDOWN.exists() or not (NODE_BIN / "node").exists():
        missing(
            "@modelcontextprotocol/ext-apps or rolldown is not installed: run `make node_modules/.installed`"
        )
    folder = tmp_path_factory.mktemp("ext-apps-bridge")
    entry = folder / "entry.mjs"
    # An absolute import: the bundle resolves the package's own imports from node_modules.
    entry.write_text(
        f"import {{AppBridge, PostMessageTransport}} from {json.dumps(str(EXT_APPS_BRIDGE))};\n"
        "window.ExtApps = {AppBridge, PostMessageTransport};\n"
    )
    bundle = folder / "bridge.js"
    env = {**os.environ, "PATH": os.pathsep.join([str(NODE_BIN), os.environ.get("PATH", "")])}
    command = [str(ROLLDOWN), str(entry), "--format", "iife", "--platform", "browser", "--file", str(bundle)]
    subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    return bundle.read_text()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[webdriver.Chrome, str]]:
    """A headless Chromium showing an empty page on its own loopback origin (the host page)."""
    with headless_chromium(browser_paths()) as driver, page_origin() as origin:
        driver.get(origin + "/")
        yield driver, origin


def dice_shown(driver: webdriver.Chrome) -> tuple[list[int], str]:
    """The dice the view shows and its status line (read inside the view's frame)."""
    driver.switch_to.frame(driver.find_element(By.ID, "view"))
    try:
        dice = [int(die.text) for die in driver.find_elements(By.CSS_SELECTOR, "#dice .die")]
        return dice, " ".join(line.text for line in driver.find_elements(By.ID, "status"))
    finally:
        driver.switch_to.default_content()


@pytest.mark.parametrize("mode", MODES)
async def test_the_views_button_calls_the_tool_through_the_host_as_the_same_caller(
    local_stack: dict[str, Any],
    browser: tuple[webdriver.Chrome, str],
    app_bridge: str,
    tmp_path: Path,
    mode: str,
) -> None:
    driver, _ = browser
    console = Console(driver)
    request_ids: list[str] = []

    async def remember_request_id(response: httpx2.Response) -> None:
        if response.request.method == "POST":
            request_ids.append(response.headers["x-amzn-requestid"])

    # The host's one MCP connection: the dev user's JWT (client `mcp-lambda-dev`), tagged by its
    # User-Agent so that this test finds its own audit events.
    user_agent = f"e2e-widget-host/{uuid.uuid4()}"
    arguments = {"sides": 1000, "count": 5}
    async with mcp_client(
        local_stack["mcp_url"],
        local_stack["access_token"],
        mode,
        extensions=[APPS_HOST],
        headers={"User-Agent": user_agent},
        event_hooks={"response": [remember_request_id]},
    ) as host:
        view = (await host.read_resource(VIEW)).contents[0]
        assert isinstance(view, TextResourceContents)
        model_call = len(request_ids)
        first = (await host.call_tool(TOOL, arguments)).model_dump(
            by_alias=True, exclude_none=True, mode="json"
        )
        model_request_id = request_ids[model_call]

        with failure_artifacts(console, tmp_path / "browser"):
            driver.execute_script(app_bridge)
            assert driver.execute_async_script(HOST_SCRIPT, view.text, arguments, first) is True
            wait_until(
                "the view to show the model's roll",
                lambda: dice_shown(driver)[0] == first["structuredContent"]["rolls"],
            )
            assert driver.execute_script("return window.initialized") is True

            driver.switch_to.frame(driver.find_element(By.ID, "view"))
            driver.find_element(By.ID, "roll").click()
            driver.switch_to.default_content()
            relayed = wait_until(
                "the view's tools/call", lambda: driver.execute_script("return window.relay")
            )
            assert relayed == [{"name": TOOL, "arguments": arguments}]

            # The host relays it as it relays anything: an ordinary tools/call on its connection.
            widget_call = len(request_ids)
            second = await host.call_tool(relayed[0]["name"], relayed[0]["arguments"])
            widget_request_id = request_ids[widget_call]
            answer = second.model_dump(by_alias=True, exclude_none=True, mode="json")
            driver.execute_script("window.answer(0, arguments[0])", answer)
            wait_until(
                "the view to show the relayed roll",
                lambda: dice_shown(driver) == (answer["structuredContent"]["rolls"], "Rolled."),
            )
            assert not console.errors()

    events = {
        (label, source): audit_of(local_stack, source, request_id)
        for label, request_id in (("model", model_request_id), ("widget", widget_request_id))
        for source in ("authorizer", "mcp")
    }
    caller = ("principal", "auth_method", "client_id")
    for label in ("model", "widget"):
        mcp_event, authorizer_event = events[label, "mcp"], events[label, "authorizer"]
        assert (mcp_event["action"], mcp_event["target"], mcp_event["outcome"]) == ("tools/call", TOOL, "ok")
        assert mcp_event["user_agent"] == user_agent
        assert authorizer_event["outcome"] == "allowed"
        assert [authorizer_event[field] for field in caller] == [mcp_event[field] for field in caller]
    assert [events["widget", "mcp"][field] for field in caller] == [
        events["model", "mcp"][field] for field in caller
    ]
    assert events["widget", "mcp"]["principal"] == "dev-user"
    assert events["widget", "mcp"]["client_id"] == "mcp-lambda-dev"
    assert json.dumps(events["widget", "mcp"]).count(local_stack["access_token"][-24:]) == 0
