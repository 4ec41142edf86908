"""A real browser calls /mcp from a page on another origin: allowed origins work, others are refused.

Debian's headless Chromium (tests/e2e/browser_support.py) opens a page on its own loopback origin
and runs `fetch` there against a local stack started with `--allowed-origin` (ALLOWED_ORIGINS).
The browser itself applies CORS (Fetch standard: https://fetch.spec.whatwg.org/#http-cors-protocol):
a JSON POST with `Authorization` is preflighted, and the page reads an answer only if it names
the page's origin, and a header beyond the safelisted ones only if it is exposed.

- From an allowed origin: a POST without a token reads the 401 and its `WWW-Authenticate`
  (API Gateway's UNAUTHORIZED gateway response, with CORS headers), follows it to the metadata,
  then with the dev API key runs initialize, tools/list and tools/call (2025-11-25), and a
  2026-07-28 tools/call with its `Mcp-Method`/`Mcp-Name` headers; the OPTIONS preflights are the
  gateway's MOCK answers (infra/constructs/mcp_cors.py), the answers the MCP function's own
  (app/mcp/cors.py).
- From any other origin: the preflight names another origin, so the browser never sends the
  authenticated request (a TypeError in the page); a client that forges the Origin outside a
  browser is refused by the MCP function (403).
Two stacks: one allowed origin (every answer names it) and two (the preflight's mapping template
names the caller's origin; gateway responses say `*`, see devtools/mcp_cors.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from devtools.mcp_messages import MODERN_VERSION, mcp_request, tool_call_params
from tests.e2e.browser_support import browser_paths, page_origin, run_in_page, webdriver_session
from tests.e2e.conftest import stack_process

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-browser-mcp")]


@dataclass(frozen=True)
class Setup:
    """A local stack with ALLOWED_ORIGINS = `allowed`, a foreign page, and one browser session."""

    stack: dict[str, Any]
    allowed: list[str]
    foreign: str
    http: httpx2.Client
    session: str

    def fetch_from(self, page: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Open `page` in the browser and run the fetches there, in order."""
        navigated = self.http.post(f"/session/{self.session}/url", json={"url": page + "/"})
        assert navigated.status_code == 200, navigated.text
        return run_in_page(self.http, self.session, steps)


@pytest.fixture(scope="module", params=[1, 2], ids=["one-origin", "two-origins"])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    browser_paths()  # a missing browser skips (fails in CI) before anything starts
    with ExitStack() as stack:
        pages = [stack.enter_context(page_origin()) for _ in range(request.param + 1)]
        allowed, foreign = pages[:-1], pages[-1]
        state_dir: Path = tmp_path_factory.mktemp("browser-mcp-stack")
        command = [sys.executable, "-m", "devtools", "dev", "--port", "0", "--state-dir", str(state_dir)]
        for origin in allowed:
            command += ["--allowed-origin", origin]
        stack.enter_context(stack_process(command, state_dir, "credentials.json"))
        credentials: dict[str, Any] = json.loads((state_dir / "credentials.json").read_text())
        http, session = stack.enter_context(webdriver_session())
        yield Setup(credentials, allowed, foreign, http, session)


def _post(
    url: str, method: str, params: dict[str, Any] | None = None, *, key: str | None = None, **kw: Any
) -> dict[str, Any]:
    """A fetch step for one MCP request, with the headers the official SDKs send."""
    headers, body = mcp_request(method, params, **kw)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return {"method": "POST", "url": url, "headers": headers, "body": body}


def test_a_page_on_an_allowed_origin_reads_the_challenge_then_calls_tools(setup: Setup) -> None:
    mcp_url, key = setup.stack["mcp_url"], setup.stack["api_key"]
    for page in setup.allowed:
        (challenge,) = setup.fetch_from(page, [_post(mcp_url, "initialize")])
        # The 401 is API Gateway's own answer, and the page can read its challenge.
        assert challenge["read"], (page, challenge)
        assert challenge["status"] == 401
        www_authenticate = challenge["headers"]["www-authenticate"]
        # Several servers behind the local gateway: its one 401 literal names no server's metadata
        # (docs/servers.md); a browser client finds it at the path-inserted well-known URL.
        assert www_authenticate == 'Bearer scope="mcp/access"', www_authenticate
        metadata_url = mcp_url.removesuffix("/mcp") + "/.well-known/oauth-protected-resource/mcp"

        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        notify = {**_post(mcp_url, "tools/list", key=key), "body": json.dumps(initialized)}
        metadata, initialize, notified, listed, called, modern = setup.fetch_from(
            page,
            [
                {"method": "GET", "url": metadata_url, "headers": {}},
                _post(mcp_url, "initialize", key=key),
                notify,
                _post(mcp_url, "tools/list", key=key, request_id=2),
                _post(
                    mcp_url, "tools/call", tool_call_params("add", {"a": 2, "b": 3}), key=key, request_id=3
                ),
                _post(
                    mcp_url,
                    "tools/call",
                    tool_call_params("add", {"a": 4, "b": 5}),
                    key=key,
                    generation=MODERN_VERSION,
                    request_id=4,
                ),
            ],
        )
        for step in (metadata, initialize, notified, listed, called, modern):
            assert step["read"], (page, step)
        assert json.loads(metadata["body"])["resource"] == mcp_url
        assert initialize["status"] == 200
        assert json.loads(initialize["body"])["result"]["protocolVersion"]
        assert notified["status"] == 202
        assert listed["status"] == 200
        assert "add" in {tool["name"] for tool in json.loads(listed["body"])["result"]["tools"]}
        assert json.loads(called["body"])["result"]["structuredContent"] == {"result": 5.0}
        assert modern["status"] == 200, modern
        assert json.loads(modern["body"])["result"]["structuredContent"] == {"result": 9.0}


def test_a_page_on_another_origin_is_refused(setup: Setup) -> None:
    mcp_url, key = setup.stack["mcp_url"], setup.stack["api_key"]
    # A simple request (no preflight: text/plain, no Authorization) still reaches the gateway.
    simple = {"method": "POST", "url": mcp_url, "headers": {"Content-Type": "text/plain"}, "body": "{}"}
    with_key, without_key, plain = setup.fetch_from(
        setup.foreign, [_post(mcp_url, "tools/list", key=key), _post(mcp_url, "initialize"), simple]
    )
    # The preflight names an allowed origin, not this one: the browser never sends the request.
    for refused in (with_key, without_key):
        assert not refused["read"], refused
        assert "TypeError" in refused["error"]
    if len(setup.allowed) == 1:
        # Every gateway response names the one allowed origin: the 401 is not this page's to read.
        assert not plain["read"], plain
    else:
        # With several origins gateway responses say `*`: a page may read the public challenge.
        assert plain["read"], plain
        assert plain["status"] == 401
        assert plain["headers"]["www-authenticate"] == 'Bearer scope="mcp/access"'  # several servers

    # Outside a browser nothing stops a forged Origin from being sent: the MCP function refuses it.
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    forged = httpx2.post(
        mcp_url,
        json=listing,
        headers={"Authorization": f"Bearer {key}", "Origin": setup.foreign, "Accept": "application/json"},
        timeout=30,
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["message"] == "Forbidden: origin not allowed"
    assert "access-control-allow-origin" not in forged.headers
