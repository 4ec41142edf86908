"""The inspector at /inspector, in a real headless Chromium, against the local stack (issue 15).

What a developer does with it, and what they must not be able to do by accident:

- the page itself is static and public, says nothing about the server, and is served with a
  strict Content-Security-Policy: an injected inline script does not run;
- signed in with an API key (a custom Authorization header), it lists the tools the key may see,
  calls one from the form built from its input schema, shows the JSON-RPC exchange and, in the
  HTTP exchanges panel, its HTTP status and headers with the credential masked; the call is in
  the audit trail under the key's principal;
- a credential without the base scope gets the gateway's 403 `insufficient_scope` challenge
  (seen in the panel), and the person steps up by signing in with OAuth through the stack's
  authorization front, as the inspector's own client (its client ID is the URL of the client ID
  metadata document the stack serves): consent page, dev sign-in, then the wider tool list;
- the key and the token live in page memory only: the browser's own localStorage and
  sessionStorage stay empty, and reloading the page forgets them;
- no request leaves for another host: telemetry is off (the bundle never tries its analytics
  host), and what the bundle would fetch from the internet (web fonts) is refused by the policy;
- a widget (MCP Apps) renders in the sandbox on another origin and can reach nothing of the
  inspector's page, storage or memory (tests/e2e/inspector_fixtures.py is the probe);
- the real widget, the dice roller (app/tools/dice.py): the inspector renders it in the sandbox
  with the tool's result, its "Roll again" button calls the tool through the inspector, and the
  audit trail has both calls under the same principal and client; without `mcp/dice` the tool is
  not listed, and reading the view is refused exactly like calling the tool (same 403 challenge).

On failure the screenshot, page and browser console are saved and their folder printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from app.mcp.server import build_server
from app.tools.dice import DICE_SCOPE, DICE_WIDGET
from devtools.inspector_site import CLIENT_NAME
from devtools.mcp_messages import HANDSHAKE_VERSION, MODERN_VERSION, mcp_request, tool_call_params
from tests.e2e.browser_support import (
    Console,
    act,
    browser_paths,
    headless_chromium,
    network_events,
    save_artifacts,
)
from tests.e2e.conftest import PHASE_REPORTS
from tests.e2e.inspector_fixtures import PROBE_TOOL
from tests.e2e.inspector_page import InspectorPage, dice_shown, enter_widget, header
from tests.e2e.oauth_support import audit_records, oauth_stack, wait_for_audit
from tests.e2e.test_local_stack import issuer_token

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-inspector")]

REQUIREMENTS = build_server().requirements.tool_scopes()
EVERY_TOOL = set(REQUIREMENTS.tools)
SCOPED_TOOL = "whoami"
DICE_TOOL = "roll_dice"
# A widget renders after the inspector fetched its view and framed the sandbox: on a loaded
# machine (make test, 2 cores) that takes longer than a click.
WIDGET_SECONDS = 60
LOOPBACK = "127.0.0.1"
MASK = "Bearer ••••••"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    browser_paths()  # skip (or fail in CI) before starting anything when there is no browser
    with oauth_stack(
        tmp_path_factory.mktemp("inspector-stack"),
        cimd_ca=None,
        auto_approve=True,
        tool_modules=("tests.e2e.inspector_fixtures",),
    ) as state:
        yield state


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Chrome, Console]]:
    """A fresh headless Chromium; when the test fails, its screenshot, page and console are saved."""
    with headless_chromium(browser_paths(), network_log=True) as driver:
        console = Console(driver)
        yield driver, console
        call = request.node.stash.get(PHASE_REPORTS, {}).get("call")
        if call is not None and call.failed:
            save_artifacts(console, tmp_path / "browser-artifacts")


def signed_in(driver: Chrome, stack: dict[str, Any], authorization: str) -> InspectorPage:
    """The inspector opened, its Authorization header set to `authorization`, in the server's page."""
    page = InspectorPage(driver, stack["inspector_url"])
    page.open()
    page.set_authorization(authorization)
    page.open_server()
    return page


def real_storage(driver: Chrome, origin: str) -> dict[str, int]:
    """How many items the browser itself stores for `origin`: read from a page of that origin
    without boot.js (the health route), in the same tab (sessionStorage is per tab)."""
    driver.get(f"{origin}/health")
    counts: dict[str, int] = driver.execute_script(
        "return {local: localStorage.length, session: sessionStorage.length}"
    )
    return counts


def csp_violations(console: Console) -> list[str]:
    return [
        str(entry["message"])
        for entry in console.read()
        if "Content Security Policy" in str(entry.get("message"))
    ]


def test_the_page_is_static_public_and_names_nothing_of_the_server(stack: dict[str, Any]) -> None:
    base = stack["mcp_url"].removesuffix("/mcp")
    sandbox = stack["inspector_sandbox_origin"]
    with httpx2.Client(timeout=30) as http:
        page = http.get(f"{base}/inspector")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert f"frame-src {sandbox};" in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        # Static code: no tool, resource or prompt of this server is in it.
        for name in EVERY_TOOL:
            assert name not in page.text
        # REST API routing ignores one trailing slash (see devtools/gateway.py `_route`).
        assert http.get(f"{base}/inspector/").text == page.text
        assert http.get(f"{base}/inspector/oauth/callback").text == page.text
        bundle = http.get(f"{base}/inspector/assets/inspector.js")
        assert bundle.status_code == 200
        assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
        # The client ID metadata document: its client_id is its own URL; the front knows it.
        document_url = f"{base}/inspector/oauth/client-metadata.json"
        document = http.get(document_url).json()
        assert document["client_id"] == document_url
        assert document["client_name"] == CLIENT_NAME
        assert document["redirect_uris"] == [f"{base}/inspector/oauth/callback"]
        assert document["token_endpoint_auth_method"] == "none"
        # Only GET, only the site's keys: the widget sandbox is not served on the inspector's origin.
        assert http.get(f"{base}/inspector/sandbox").status_code == 404
        assert http.post(f"{base}/inspector", json={}).status_code == 403
        framed = http.get(f"{sandbox}/inspector/sandbox")
        assert framed.status_code == 200
        assert framed.headers["content-security-policy"].startswith(f"frame-ancestors {base};")


def test_sign_in_with_a_key_call_a_tool_and_read_the_exchange(
    stack: dict[str, Any], browser: tuple[Chrome, Console]
) -> None:
    driver, _ = browser
    page = signed_in(driver, stack, f"Bearer {stack['api_key']}")
    assert page.tool_names() == EVERY_TOOL | {PROBE_TOOL}

    result = page.call_tool("add", {"a": "20", "b": "22"})
    assert "42" in result

    # The inspector's own JSON-RPC log (open by default) lists the exchanges of the connection.
    act("the RPC log", lambda: "RPC Logs" in page.text() and "tools/list" in page.text())
    # The call's HTTP side, in our panel: status, headers (the credential masked), raw bodies.
    call = page.exchange_after(0, "tools/call")
    assert call is not None
    assert call["status"] == 200
    assert header(call, "authorization", "request") == MASK
    assert header(call, "content-type") == "application/json"
    page.click_panel()
    row = act("the panel's tools/call row", lambda: page.panel_row("200 POST /mcp tools/call"))
    row.click()
    shown = act("the exchange's details", lambda: page.text() if MASK in page.text() else None)
    assert '"method":"tools/call"' in shown.replace(" ", "")
    assert '"structuredContent":{"result":42' in shown.replace(" ", "")
    # Shown nowhere (its own form field is a password field), kept masked in the exchanges.
    assert stack["api_key"] not in page.text()
    assert stack["api_key"] not in json.dumps(page.exchanges())

    record = wait_for_audit(
        stack,
        lambda r: r.get("source") == "mcp" and r.get("action") == "tools/call" and r.get("target") == "add",
    )
    assert (record["outcome"], record["principal"], record["auth_method"]) == (
        "ok",
        "apikey:local-dev",
        "api_key",
    )

    # Nothing reached the browser's own storage; a reload forgets the key.
    origin = page.origin
    assert real_storage(driver, origin) == {"local": 0, "session": 0}
    page.open()
    assert "Authenticate" in act(
        "the server tile", lambda: page.text() if "Authenticate" in page.text() else None
    )


def test_no_request_leaves_for_another_host(stack: dict[str, Any], browser: tuple[Chrome, Console]) -> None:
    driver, console = browser
    page = signed_in(driver, stack, f"Bearer {stack['api_key']}")
    page.call_tool("add", {"a": "1", "b": "2"})
    events = network_events(driver)
    requested = {
        e["params"]["requestId"]: e["params"]["request"]["url"]
        for e in events
        if e["method"] == "Network.requestWillBeSent"
    }
    assert requested, "the performance log recorded no request"
    refused = {
        e["params"]["requestId"]
        for e in events
        if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason") == "csp"
    }
    for request_id, url in requested.items():
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or host == LOOPBACK:
            continue
        # Only the bundle's web fonts try to leave, and the policy refuses them in the browser.
        assert request_id in refused, f"a request left for {url}"
    # Telemetry is off, not merely blocked: its host was never even tried.
    everything = json.dumps(events) + json.dumps(console.read())
    assert "posthog" not in everything


def test_an_injected_inline_script_does_not_run(
    stack: dict[str, Any], browser: tuple[Chrome, Console]
) -> None:
    driver, console = browser
    page = InspectorPage(driver, stack["inspector_url"])
    page.open()
    ran = driver.execute_script(
        """
        const script = document.createElement("script");
        script.textContent = "window.__injected = true";
        document.head.appendChild(script);
        return window.__injected === true;
        """
    )
    assert ran is False
    assert any("script-src 'self'" in message for message in csp_violations(console))


def test_a_403_then_a_step_up_by_signing_in_with_oauth(
    stack: dict[str, Any], browser: tuple[Chrome, Console]
) -> None:
    driver, _ = browser
    page = InspectorPage(driver, stack["inspector_url"])
    base = stack["mcp_url"].removesuffix("/mcp")
    client_id = f"{base}/inspector/oauth/client-metadata.json"
    page.open()
    # A credential without the base scope: the gateway's own 403 names the scopes to ask for.
    page.set_authorization(f"Bearer {issuer_token(stack, 'mcp/profile')}")

    def refused() -> dict[str, Any] | None:
        return next((x for x in page.exchanges() if x["status"] == 403 and x["method"] == "POST"), None)

    denied = act("the 403", refused)
    challenge = header(denied, "www-authenticate") or ""
    assert challenge.startswith('Bearer error="insufficient_scope", scope="mcp/access ')
    # Several servers, no stage prefix: the gateway's one literal names no resource_metadata
    # (docs/servers.md); the inspector finds this server's metadata at its path-inserted URL.
    assert "resource_metadata=" not in challenge

    # Step up: drop the narrow credential, sign in with OAuth in the sign-in window.
    page.set_authorization(None)
    main = driver.current_window_handle
    page.click("server-tile-authenticate")
    popup = act("the sign-in window", lambda: next((h for h in driver.window_handles if h != main), None))
    driver.switch_to.window(popup)
    approve = act("the front's consent page", lambda: page.button("Approve"))
    consent = page.text()
    assert f"Allow {CLIENT_NAME} to use this MCP server as you?" in consent
    assert f"Client ID: {client_id}" in consent
    assert "mcp/profile" in consent
    approve.click()
    # The dev issuer approves at once; the callback page completes the sign-in and closes.
    act("the sign-in window to close", lambda: popup not in driver.window_handles, seconds=30)
    driver.switch_to.window(main)
    page.open_server()
    assert SCOPED_TOOL in page.tool_names()
    result = page.call_tool(SCOPED_TOOL, {})
    assert "dev-user" in result

    call = wait_for_audit(
        stack,
        lambda r: (
            r.get("source") == "mcp" and r.get("action") == "tools/call" and r.get("target") == SCOPED_TOOL
        ),
    )
    assert (call["principal"], call["client_id"], call["auth_method"]) == ("dev-user", client_id, "jwt")
    records = audit_records(stack)
    for action in ("authorize", "consent", "token"):
        assert any(
            r.get("source") == "oauth"
            and r.get("action") == action
            and r.get("client_id") == client_id
            and r.get("outcome") == "ok"
            for r in records
        ), f"no successful oauth {action} for the inspector's client"
    # The token never reached the browser's own storage.
    assert real_storage(driver, page.origin) == {"local": 0, "session": 0}


def test_a_widget_renders_in_the_sandbox_and_reaches_nothing_of_the_inspector(
    stack: dict[str, Any], browser: tuple[Chrome, Console]
) -> None:
    driver, _ = browser
    sandbox = stack["inspector_sandbox_origin"]
    page = signed_in(driver, stack, f"Bearer {stack['api_key']}")
    page.call_tool(PROBE_TOOL, {})
    enter_widget(driver, sandbox)

    def report() -> dict[str, str] | None:
        text = str(driver.find_element(By.ID, "probe").text)
        return json.loads(text) if text.startswith("{") and "fetch" in text else None

    results = act("the probe's report", report)
    driver.switch_to.default_content()
    assert results["origin"] == sandbox != page.origin
    for reached in ("top.document", "top.localStorage", "top.stores", "top.location"):
        assert results[reached] == "blocked:SecurityError", (reached, results[reached])
    assert results["fetch"] == "blocked:TypeError"  # the widget's policy: connect-src 'none'


# --- the real widget: the dice roller (app/tools/dice.py) ------------------------------------------


def rpc_result(exchange: dict[str, Any]) -> dict[str, Any]:
    """The JSON-RPC result of a recorded exchange (a JSON body, or one SSE `data:` line)."""
    body = str(exchange["responseBody"])
    data = next((line[5:] for line in body.splitlines() if line.startswith("data:")), body)
    result: dict[str, Any] = json.loads(data)["result"]
    return result


def tool_calls(page: InspectorPage, tool: str) -> list[dict[str, Any]]:
    """Every finished tools/call exchange for `tool`, oldest first."""
    calls = []
    for exchange in page.exchanges():
        body = exchange.get("requestBody") or ""
        if not exchange.get("status") or exchange.get("responseBody") is None or "tools/call" not in body:
            continue
        message = json.loads(body)
        if message.get("method") == "tools/call" and message["params"]["name"] == tool:
            calls.append(exchange)
    return calls


def audit_event(stack: dict[str, Any], source: str, request_id: str) -> dict[str, Any]:
    """The audit event `source` wrote for the request API Gateway numbered `request_id`."""
    return wait_for_audit(stack, lambda r: (r.get("source"), r.get("request_id")) == (source, request_id))


def test_the_dice_widget_renders_in_the_sandbox_and_its_button_calls_as_the_same_caller(
    stack: dict[str, Any], browser: tuple[Chrome, Console]
) -> None:
    driver, _ = browser
    sandbox = stack["inspector_sandbox_origin"]
    page = signed_in(driver, stack, f"Bearer {stack['api_key']}")
    page.call_tool(DICE_TOOL, {"sides": "1000", "count": "5"})
    (model,) = tool_calls(page, DICE_TOOL)
    rolled = rpc_result(model)["structuredContent"]
    assert (rolled["sides"], len(rolled["rolls"])) == (1000, 5)

    # The view (ui://dice/roller.html), fetched by the inspector, rendered in the sandbox origin
    # (another loopback port here, another API deployed), shows the result it was sent.
    enter_widget(driver, sandbox)
    act("the widget's roll", lambda: dice_shown(driver) == (rolled["rolls"], "Rolled."), WIDGET_SECONDS)
    assert driver.execute_script("return window.origin") == sandbox != page.origin
    driver.find_element(By.ID, "roll").click()
    driver.switch_to.default_content()

    # The widget's button went through the inspector: one more tools/call on its connection, with
    # the inspector's credential; the widget shows its answer.
    calls = act(
        "the widget's tools/call", lambda: (c := tool_calls(page, DICE_TOOL))[1:] and c, WIDGET_SECONDS
    )
    assert len(calls) == 2
    relayed = calls[1]
    again = rpc_result(relayed)["structuredContent"]["rolls"]
    enter_widget(driver, sandbox)
    act("the widget's second roll", lambda: dice_shown(driver) == (again, "Rolled."), WIDGET_SECONDS)
    driver.switch_to.default_content()
    assert relayed["status"] == 200
    assert json.loads(relayed["requestBody"])["params"]["arguments"] == {"sides": 1000, "count": 5}
    assert header(relayed, "authorization", "request") == MASK

    # In the audit trail: both calls under the same principal and client, allowed by the authorizer.
    caller = ("principal", "auth_method", "client_id")
    events = {}
    for label, exchange in (("model", model), ("widget", relayed)):
        request_id = header(exchange, "x-amzn-requestid")
        assert request_id
        for source in ("authorizer", "mcp"):
            events[label, source] = audit_event(stack, source, request_id)
        assert events[label, "authorizer"]["outcome"] == "allowed"
        mcp_event = events[label, "mcp"]
        assert (mcp_event["action"], mcp_event["target"], mcp_event["outcome"]) == (
            "tools/call",
            DICE_TOOL,
            "ok",
        )
        assert [events[label, "authorizer"].get(f) for f in caller] == [mcp_event.get(f) for f in caller]
    assert [events["widget", "mcp"].get(f) for f in caller] == [events["model", "mcp"].get(f) for f in caller]
    # An API key is its own client: no OAuth client id on either call.
    assert [events["widget", "mcp"].get(f) for f in caller] == ["apikey:local-dev", "api_key", None]


# From the inspector's page, with its credential: what the inspector would get if it asked anyway.
FETCH = """
const [url, headers, body, done] = arguments;
fetch(url, {method: "POST", headers, body}).then(
  async (response) => done({status: response.status, headers: Object.fromEntries(response.headers)}),
  (error) => done({error: String(error)}));
"""


def test_without_the_dice_scope_the_widget_and_its_tool_are_refused_alike(
    stack: dict[str, Any], browser: tuple[Chrome, Console]
) -> None:
    driver, _ = browser
    token = issuer_token(stack, "mcp/access")
    page = signed_in(driver, stack, f"Bearer {token}")
    assert DICE_TOOL not in page.tool_names()
    assert "whoami" not in page.tool_names()  # nor another scoped tool: the token is narrow
    for generation in (HANDSHAKE_VERSION, MODERN_VERSION):
        answers = {}
        for method, params in (
            ("resources/read", {"uri": DICE_WIDGET.uri}),
            ("tools/call", tool_call_params(DICE_TOOL, {})),
        ):
            headers, body = mcp_request(method, params, generation=generation)
            answers[method] = driver.execute_async_script(
                FETCH, stack["mcp_url"], {**headers, "Authorization": f"Bearer {token}"}, body
            )
        read, call = answers["resources/read"], answers["tools/call"]
        assert read["status"] == call["status"] == 403, (generation, read, call)

        def challenge(answer: dict[str, Any]) -> str:
            # At 2026-07-28 the authorizer refuses (API Gateway's own 403); before, the function,
            # whose WWW-Authenticate API Gateway renames (tests/e2e/test_widgets.py cites AWS).
            found = answer["headers"].get("www-authenticate")
            return str(found or answer["headers"]["x-amzn-remapped-www-authenticate"])

        assert challenge(read) == challenge(call), generation
        assert challenge(read).startswith('Bearer error="insufficient_scope", scope="'), generation
        assert DICE_SCOPE in challenge(read).split('scope="', 1)[1].split('"', 1)[0].split(), generation
        # Both refusals are in the audit trail: denials of the same caller, each naming its item.
        principals = set()
        for answer, target in ((read, DICE_WIDGET.uri), (call, DICE_TOOL)):
            request_id = answer["headers"]["x-amzn-requestid"]
            # At 2026-07-28 the authorizer decides on the routing headers; before, the function.
            source = "authorizer" if generation == MODERN_VERSION else "mcp"
            denied = audit_event(stack, source, request_id)
            assert (denied["outcome"], denied["target"]) == ("denied", target), (generation, denied)
            principals.add(denied["principal"])
        assert len(principals) == 1, (generation, principals)
