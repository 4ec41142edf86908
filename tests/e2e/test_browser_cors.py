"""What the MCP Inspector's browser does against `make dev`: every step passes the browser's CORS checks.

The Inspector (a web page on http://localhost:6274) signs in with the MCP SDK's browser OAuth
code, using `fetch` from its own origin: RFC 9728 metadata with `MCP-Protocol-Version`, RFC 8414
metadata, RFC 7591 registration (a JSON POST), then a full-window navigation to the front's
authorize page (consent, the upstream login, back to its redirect URI), then the token request
(a form POST; `Authorization: Basic` for a confidential client) and revocation. A request with a
non-safelisted header or content type is preflighted (OPTIONS). Over real HTTP, this test sends
what the browser sends and applies the checks the browser applies before it lets the page read
an answer (Fetch standard: CORS-preflight fetch https://fetch.spec.whatwg.org/#cors-preflight-fetch,
CORS check https://fetch.spec.whatwg.org/#cors-check, CORS-safelisted request headers
https://fetch.spec.whatwg.org/#cors-safelisted-request-header). The SDK's requests are from
`@modelcontextprotocol/sdk` client/auth.js (`discoverMetadataWithFallback` sends
`MCP-Protocol-Version`; `registerClient` sends `Content-Type: application/json`;
`exchangeAuthorization` sends a form with `Accept: application/json`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import httpx2
import pytest

from tests.e2e.browser_support import page_origin, run_in_page, webdriver_session
from tests.e2e.oauth_support import Browser, oauth_stack, query_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e-browser-cors")]

INSPECTOR = "http://localhost:6274"
REDIRECT_URI = f"{INSPECTOR}/oauth/callback"
PROTOCOL_VERSION = "2025-11-25"
# Headers a page may set without a preflight (the Fetch standard's safelist, for the values used here).
SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
SAFELISTED_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Its own stack (as `make dev`, the dev login auto-approved): the front's audit events it
    causes stay out of the shared stack whose audit trail other tests inspect."""
    with oauth_stack(tmp_path_factory.mktemp("browser-cors-stack"), cimd_ca=None) as state:
        yield state


def needs_preflight(method: str, headers: Mapping[str, str]) -> list[str]:
    """The non-safelisted header names a browser would list in Access-Control-Request-Headers."""
    names = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "content-type" and value.split(";")[0].strip().lower() in SAFELISTED_TYPES:
            continue
        if lowered in SAFELISTED and lowered != "content-type":
            continue
        names.append(lowered)
    return sorted(names)


def assert_preflight_allows(response: httpx2.Response, method: str, header_names: Sequence[str]) -> None:
    """The browser's checks on a preflight answer, for a request without credentials."""
    assert 200 <= response.status_code < 300, response.status_code
    assert response.headers.get("access-control-allow-origin") in ("*", INSPECTOR)
    methods = {m.strip().upper() for m in response.headers.get("access-control-allow-methods", "").split(",")}
    assert method in methods or method in ("GET", "HEAD", "POST"), (method, methods)
    allowed = {h.strip().lower() for h in response.headers.get("access-control-allow-headers", "").split(",")}
    for name in header_names:
        # `*` is not a wildcard for Authorization; the list names every header explicitly here.
        assert name in allowed, (name, allowed)


def assert_readable(response: httpx2.Response) -> None:
    """The CORS check on the actual answer: the page may read it (no credentials were sent)."""
    assert response.headers.get("access-control-allow-origin") in ("*", INSPECTOR), dict(response.headers)


async def browser_fetch(
    http: httpx2.AsyncClient, method: str, url: str, headers: Mapping[str, str], **body: Any
) -> httpx2.Response:
    """A page's `fetch` from the Inspector's origin: preflight if the browser would, then the request."""
    preflight_names = needs_preflight(method, headers)
    if preflight_names or method not in ("GET", "HEAD", "POST"):
        preflight = await http.options(
            url,
            headers={
                "Origin": INSPECTOR,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ",".join(preflight_names),
            },
        )
        assert_preflight_allows(preflight, method, preflight_names)
    response = await http.request(method, url, headers={"Origin": INSPECTOR, **headers}, **body)
    assert_readable(response)
    return response


def _authorize_url(
    metadata: Mapping[str, Any], client_id: str, redirect_uri: str, state: str, challenge: str, resource: str
) -> str:
    """The authorization request a client sends the user's window to (PKCE S256, RFC 8707 resource)."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
        "scope": "mcp/access",
    }
    return f"{metadata['authorization_endpoint']}?{urlencode(query)}"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def test_the_inspectors_browser_can_discover_register_sign_in_and_get_tokens(
    stack: dict[str, Any],
) -> None:
    mcp_url: str = stack["mcp_url"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(mcp_url))
    version = {"MCP-Protocol-Version": PROTOCOL_VERSION}
    async with httpx2.AsyncClient(timeout=30) as http:
        # 1. RFC 9728 metadata (path-inserted form first, as the SDK does).
        prm = await browser_fetch(http, "GET", f"{origin}/.well-known/oauth-protected-resource/mcp", version)
        assert prm.status_code == 200
        issuer = prm.json()["authorization_servers"][0]
        assert issuer == stack["oauth_issuer"]

        # 2. RFC 8414 metadata at the host root, path inserted (RFC 8414 §3.1).
        issuer_path = urlsplit(issuer).path
        metadata_url = f"{origin}/.well-known/oauth-authorization-server{issuer_path}"
        metadata = (await browser_fetch(http, "GET", metadata_url, version)).json()
        assert metadata["issuer"] == issuer

        # 3. RFC 7591 registration: a JSON POST, so a preflight for Content-Type.
        registered = await browser_fetch(
            http,
            "POST",
            metadata["registration_endpoint"],
            {"Content-Type": "application/json"},
            json={
                "client_name": "MCP Inspector (e2e)",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            },
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]

        # 4. The authorize page is a navigation, not a fetch: a script on the Inspector's origin
        # that fetches it gets an answer its browser will not hand over (no ACAO).
        verifier, challenge = _pkce()
        authorize_url = _authorize_url(
            metadata, client_id, REDIRECT_URI, "inspector-state", challenge, mcp_url
        )
        fetched = await http.get(authorize_url, headers={"Origin": INSPECTOR})
        assert fetched.status_code == 200
        assert "access-control-allow-origin" not in fetched.headers
        async with httpx2.AsyncClient(timeout=30) as window:  # the navigated window, its own cookies
            landed = await Browser(window).sign_in(authorize_url, REDIRECT_URI)
        answer = query_of(landed)
        assert answer["state"] == "inspector-state"
        assert answer["iss"] == issuer

        # 5. The token request: a form POST with Accept (both safelisted: no preflight needed) ...
        tokens = await browser_fetch(
            http,
            "POST",
            metadata["token_endpoint"],
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            content=urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": answer["code"],
                    "code_verifier": verifier,
                    "redirect_uri": REDIRECT_URI,
                    "client_id": client_id,
                    "resource": mcp_url,
                }
            ),
        )
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["access_token"]
        refresh_token = tokens.json()["refresh_token"]

        # ... and a confidential client's Basic authentication is preflighted and allowed too.
        basic = await browser_fetch(
            http,
            "POST",
            metadata["token_endpoint"],
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "Basic " + base64.b64encode(b"not-a-client:not-a-secret").decode(),
            },
            content="grant_type=refresh_token&refresh_token=unknown",
        )
        assert basic.status_code in (400, 401)
        assert basic.json()["error"] in ("invalid_client", "invalid_grant")

        # 6. RFC 7009 revocation, from the browser as well.
        revoked = await browser_fetch(
            http,
            "POST",
            metadata["revocation_endpoint"],
            {"Content-Type": "application/x-www-form-urlencoded"},
            content=urlencode({"token": refresh_token, "client_id": client_id}),
        )
        assert revoked.status_code == 200


async def test_the_jwks_and_the_openid_form_of_the_metadata_are_readable(stack: dict[str, Any]) -> None:
    issuer: str = stack["oauth_issuer"]
    version = {"MCP-Protocol-Version": PROTOCOL_VERSION}
    async with httpx2.AsyncClient(timeout=30) as http:
        metadata = (
            await browser_fetch(http, "GET", f"{issuer}/.well-known/openid-configuration", version)
        ).json()
        jwks = await browser_fetch(http, "GET", metadata["jwks_uri"], {})
    assert jwks.json()["keys"]


async def test_a_preflight_runs_no_function_and_mcp_has_none(stack: dict[str, Any]) -> None:
    """The preflight is the gateway's own answer (204, no body; tests/unit/devtools/test_gateway_cors.py
    shows no function runs); /mcp declares no OPTIONS without ALLOWED_ORIGINS (none here): 403.
    With them, see test_browser_mcp.py."""
    mcp_url: str = stack["mcp_url"]
    async with httpx2.AsyncClient(timeout=30) as http:
        preflight = await http.options(
            f"{stack['oauth_issuer']}/token",
            headers={"Origin": INSPECTOR, "Access-Control-Request-Method": "POST"},
        )
        mcp = await http.options(
            mcp_url, headers={"Origin": INSPECTOR, "Access-Control-Request-Method": "POST"}
        )
    assert preflight.status_code == 204
    assert preflight.content == b""
    assert mcp.status_code == 403
    assert mcp.json() == {"message": "Missing Authentication Token"}


# ---------------------------------------------------------------------------------------------
# The same in a real browser: Debian's Chromium, driven through chromedriver's W3C WebDriver HTTP
# API (https://www.w3.org/TR/webdriver2/: New Session, Navigate To, Execute Async Script), from a
# page on another origin. The browser itself enforces CORS; the consent page's fetch failing is
# the control that shows it does.


def test_a_real_browser_on_another_origin_reads_exactly_the_public_endpoints(stack: dict[str, Any]) -> None:
    mcp_url: str = stack["mcp_url"]
    issuer: str = stack["oauth_issuer"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(mcp_url))
    version = {"MCP-Protocol-Version": PROTOCOL_VERSION}
    with page_origin() as page, webdriver_session() as (http, session):
        assert page != origin
        assert http.post(f"/session/{session}/url", json={"url": page + "/"}).status_code == 200
        redirect_uri = f"{page}/oauth/callback"
        prm, metadata_answer, registered = run_in_page(
            http,
            session,
            [
                {
                    "method": "GET",
                    "url": f"{origin}/.well-known/oauth-protected-resource/mcp",
                    "headers": version,
                },
                {
                    "method": "GET",
                    "url": f"{origin}/.well-known/oauth-authorization-server{urlsplit(issuer).path}",
                    "headers": version,
                },
                {
                    "method": "POST",
                    "url": f"{issuer}/register",
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"client_name": "browser", "redirect_uris": [redirect_uri]}),
                },
            ],
        )
        assert prm["read"], prm
        assert json.loads(prm["body"])["authorization_servers"][0] == issuer
        assert metadata_answer["read"], metadata_answer
        metadata = json.loads(metadata_answer["body"])
        assert registered["read"], registered
        assert registered["status"] == 201
        client_id = json.loads(registered["body"])["client_id"]

        verifier, challenge = _pkce()
        authorize_url = _authorize_url(metadata, client_id, redirect_uri, "browser-state", challenge, mcp_url)
        [consent_fetch] = run_in_page(http, session, [{"method": "GET", "url": authorize_url, "headers": {}}])
        # The control: the browser refuses the page the consent page (no Access-Control-Allow-Origin).
        assert not consent_fetch["read"], consent_fetch
        assert "TypeError" in consent_fetch["error"]

        code = query_of(anyio.run(_navigate, authorize_url, redirect_uri))["code"]
        form = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "resource": mcp_url,
            }
        )
        form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        basic = {**form_headers, "Authorization": "Basic " + base64.b64encode(b"nobody:nothing").decode()}
        tokens, replayed, confidential = run_in_page(
            http,
            session,
            [
                {"method": "POST", "url": metadata["token_endpoint"], "headers": form_headers, "body": form},
                {"method": "POST", "url": metadata["token_endpoint"], "headers": form_headers, "body": form},
                {
                    "method": "POST",
                    "url": metadata["token_endpoint"],
                    "headers": basic,
                    "body": "grant_type=x",
                },
            ],
        )
    assert tokens["read"], tokens
    assert tokens["status"] == 200
    assert json.loads(tokens["body"])["access_token"]
    # An OAuth error is readable too, so the client can say what went wrong (RFC 6749 §5.2).
    assert replayed["read"], replayed
    assert json.loads(replayed["body"])["error"] == "invalid_grant"
    # Authorization (client_secret_basic) passes the preflight.
    assert confidential["read"], confidential
    assert json.loads(confidential["body"])["error"]


async def _navigate(authorize_url: str, redirect_uri: str) -> str:
    """The full-window sign-in (consent, dev login) up to the redirect URI: a navigation, not a fetch."""
    async with httpx2.AsyncClient(timeout=30) as window:
        return await Browser(window).sign_in(authorize_url, redirect_uri)
