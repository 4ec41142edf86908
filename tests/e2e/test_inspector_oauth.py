"""The MCP Inspector signs in to `make dev` in a real browser, with no client ID configured anywhere.

Issue 12's "done when" names the Inspector next to the SDK's OAuth client. Headless HTTP tests
cannot see what only a browser enforces (a review found the consent POST refused in every real
browser: `Referrer-Policy: no-referrer` makes Chromium send `Origin: null`), so this one drives
the official Inspector's web client (`@modelcontextprotocol/inspector`, pinned in package.json)
in headless Chromium against the local stack (`tests/e2e/oauth_harness.py`):

- the Inspector gets the 401, reads the protected-resource metadata (RFC 9728), the front's
  RFC 8414 metadata, registers itself (RFC 7591) and sends the browser to `/oauth/authorize`;
- the browser shows the front's consent page, and the test clicks Approve, as a person would;
- the dev issuer (auto-approve) signs the dev user in and returns to the front's callback,
  which sends the browser back to the Inspector's own `/oauth/callback` with a code and `iss`;
- the Inspector exchanges the code, connects, lists the tools the granted scope allows, and
  calls one.

What the user sees is asserted in the page; what the stack decided, in its shipped audit trail
(registration, consent, callback and token issue for the Inspector's client ID, then MCP calls
under the front-issued token naming the dev user and that client).

The Inspector 2.12's browser code sends discovery, registration and the token request through its
own Node backend (`/api/fetch`), so this flow needs no CORS from the front; only the authorize,
consent and callback steps are browser navigations. On failure the screenshot, page and browser
console are saved and their folder printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from app.mcp.server import build_server
from tests.e2e.browser_support import (
    Console,
    Inspector,
    act,
    browser_paths,
    failure_artifacts,
    headless_chromium,
    inspector_web,
)
from tests.e2e.oauth_support import audit_records, oauth_stack, wait_for_audit

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-inspector-oauth")]

BASE_SCOPE = "mcp/access"
# The tools a token with only the base scope may see; a tool needing another scope stays hidden.
REQUIREMENTS = build_server().requirements.tool_scopes()
OPEN_TOOLS = sorted(name for name, scopes in REQUIREMENTS.tools.items() if set(scopes) <= {BASE_SCOPE})
SCOPED_TOOLS = sorted(name for name, scopes in REQUIREMENTS.tools.items() if not set(scopes) <= {BASE_SCOPE})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    browser_paths()  # skip (or fail in CI) before starting anything when there is no browser
    with oauth_stack(tmp_path_factory.mktemp("inspector-stack"), cimd_ca=None, auto_approve=True) as state:
        yield state


class SignInBlocked(AssertionError):
    """The browser itself refused a step of the sign-in (a Content-Security-Policy violation)."""


# A tool in the Inspector's list: its name under its title.
TOOL_ITEM = "//*[normalize-space(text())='{}']"


def button(driver: Chrome, label: str) -> WebElement | None:
    return next((b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == label), None)


def page_text(driver: Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def sign_in_and_call_a_tool(
    driver: Chrome, console: Console, stack: dict[str, Any], inspector: Inspector
) -> dict[str, str]:
    """What a person does in the Inspector: connect, approve on the front's consent page, list the
    tools, call `add`. Returns the authorize request's query (the Inspector's client ID, …)."""
    front = stack["oauth_issuer"]
    driver.get(inspector.url)

    def connect() -> bool:
        switches = driver.find_elements(By.CSS_SELECTOR, "input[role=switch][aria-label^='Connect']")
        if not switches:
            return False
        # The switch's checkbox is visually hidden under its track: click it as its label would.
        driver.execute_script("arguments[0].click()", switches[0])
        return True

    act("the Inspector's server card", connect)

    # The front's consent page, in the browser: who asks, where the user goes back, what for.
    act("the front's consent page", lambda: button(driver, "Approve"))
    authorize = urlsplit(driver.current_url)
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == f"{front}/authorize"
    query = {name: values[-1] for name, values in parse_qs(authorize.query).items()}
    assert query["redirect_uri"] == f"{inspector.origin}/oauth/callback"
    assert query["code_challenge_method"] == "S256"
    assert query["resource"] == stack["mcp_url"]
    consent = page_text(driver)
    assert "Allow MCP Inspector to use this MCP server as you?" in consent
    assert f"Client ID: {query['client_id']}" in consent
    assert "you will be sent back to 127.0.0.1" in consent
    assert BASE_SCOPE in consent
    approve = button(driver, "Approve")
    assert approve is not None
    approve.click()

    # Back at the Inspector, connected: the code was exchanged and the token accepted.
    def connected() -> bool:
        blocked = [e for e in console.errors() if "Content Security Policy" in str(e.get("message"))]
        if blocked:
            raise SignInBlocked(f"the browser refused a step of the sign-in: {blocked[0]['message']}")
        return driver.current_url.startswith(inspector.origin) and bool(
            re.search(r"\bConnected\b", page_text(driver))
        )

    act("the Inspector to connect after the sign-in", connected, seconds=30)
    assert not console.errors(), "the browser console reported errors during the sign-in"

    def open_tools() -> bool:
        tab = driver.find_elements(By.CSS_SELECTOR, "input[type=radio][value=Tools] + label")
        if tab:
            tab[0].click()
        return bool(tab)

    act("the Tools tab", open_tools)

    def tool_list() -> str | None:
        shown = [e for e in driver.find_elements(By.XPATH, TOOL_ITEM.format("add")) if e.is_displayed()]
        text = page_text(driver)
        return text if shown and re.search(r"^Tools \(\d+\)$", text, re.MULTILINE) else None

    listed = act("the tool list", tool_list)
    for name in OPEN_TOOLS:
        assert re.search(rf"^{re.escape(name)}$", listed, re.MULTILINE), f"{name} is not listed"
    for name in SCOPED_TOOLS:  # not granted: the server hides them from this token
        assert not re.search(rf"^{re.escape(name)}$", listed, re.MULTILINE), f"{name} is listed"

    def fill_in_add() -> bool:
        items = [e for e in driver.find_elements(By.XPATH, TOOL_ITEM.format("add")) if e.is_displayed()]
        if not items:
            return False
        items[0].click()
        fields = driver.find_elements(By.CSS_SELECTOR, "input.mantine-NumberInput-input")
        execute = button(driver, "Execute Tool")
        if len(fields) != 2 or execute is None:
            return False
        fields[0].clear()
        fields[0].send_keys("2")
        fields[1].clear()
        fields[1].send_keys("40.5")
        execute.click()
        return True

    act("the add tool's form", fill_in_add)
    act("the tool's result", lambda: re.search(r"^42\.5$", page_text(driver), re.MULTILINE))
    return query


# The consent page once said `form-action 'self' <upstream>`; Chromium applies form-action to every
# redirect after the form's POST (w3c/webappsec#482, w3c/webappsec-csp#8), so the last hop (front
# callback → the Inspector's loopback callback) was blocked and the user stayed on the consent
# page. Only a real browser shows it: this test is that check.
def test_inspector_signs_in_through_the_consent_page_and_calls_a_tool(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    assert "add" in OPEN_TOOLS, "the example tools changed: pick another open tool here"
    assert SCOPED_TOOLS, "the example tools changed: keep one that needs another scope"
    with (
        inspector_web(stack["mcp_url"], tmp_path / "inspector") as inspector,
        headless_chromium(browser_paths()) as driver,
    ):
        console = Console(driver)
        with failure_artifacts(console, tmp_path / "browser-artifacts"):
            query = sign_in_and_call_a_tool(driver, console, stack, inspector)

    # What the stack decided, in its audit trail: one client, registered by the Inspector and
    # approved in the browser, then MCP calls under the front's token for the dev user.
    client_id = query["client_id"]
    call = wait_for_audit(
        stack,
        lambda r: r.get("source") == "mcp" and r.get("action") == "tools/call" and r.get("target") == "add",
    )
    records = audit_records(stack)

    def one(source: str, action: str, **fields: Any) -> dict[str, Any]:
        found = [
            r
            for r in records
            if r.get("source") == source
            and r.get("action") == action
            and all(r.get(k) == v for k, v in fields.items())
        ]
        assert found, f"no {source} {action} audit event with {fields}"
        return found[-1]

    one("oauth", "register", outcome="ok", client_id=client_id)
    one("oauth", "authorize", outcome="ok", client_id=client_id, reason="consent_shown")
    consented = one("oauth", "consent", outcome="ok", client_id=client_id, reason="approved")
    assert "HeadlessChrome" in consented["user_agent"]  # the browser posted the form, not a script
    one("oauth", "callback", outcome="ok", client_id=client_id, principal="dev-user")
    one("oauth", "token", outcome="ok", client_id=client_id, principal="dev-user")
    for action in ("initialize", "tools/list"):
        one("mcp", action, outcome="ok", client_id=client_id, principal="dev-user", auth_method="jwt")
    assert call["outcome"] == "ok"
    assert (call["principal"], call["client_id"], call["auth_method"]) == ("dev-user", client_id, "jwt")
    refused = [r for r in records if r.get("source") == "oauth" and r.get("outcome") != "ok"]
    assert not refused, f"the front refused part of the Inspector's sign-in: {refused}"
