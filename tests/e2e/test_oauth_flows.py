"""The SDK's own OAuth client signs in to `make dev` with no client ID configured anywhere.

The client is `mcp.client.auth.OAuthClientProvider` (the one MCP hosts build on), driven
headlessly: its redirect handler hands the authorization URL to a small browser that approves
the front's consent page, lets the dev issuer (auto-approve) sign the dev user in, and stops at
the client's loopback redirect URI (RFC 8252 §7.3), from which the callback handler takes
`code`, `state` and `iss` (RFC 9207). The stack runs in its own process, as `make dev` does,
with two test-only options: the dev issuer approves at once, and the front trusts a CA made by
this module, so it can fetch a client ID metadata document served here over https on 127.0.0.1.

Each way of identifying the client (a Client ID Metadata Document, preferred since MCP
2025-11-25, then Dynamic Client Registration, RFC 7591) goes the whole way: discovery from the
401 (RFC 9728 metadata → the front's RFC 8414 metadata), sign-in, list and call tools, a
refresh (the token forced to expire: the SDK refreshes before sending), and a step-up: a
2026-07-28 client names the tool in `Mcp-Name`, the gateway's 403 `insufficient_scope` names the
scopes, and the provider signs in again for the union of what it had and what was named
(SEP-2350), after which the call succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest

from app.mcp.server import build_server
from tests.e2e.oauth_support import (
    REDIRECT_URI,
    DocumentServer,
    Served,
    SignedInClient,
    make_pki,
    oauth_stack,
    signed_in_client,
    wait_for_audit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e-oauth-flows")]

SCOPED_TOOL = "whoami"
TOOL_SCOPES = build_server().requirements.tool_scopes().tools[SCOPED_TOOL]
CIMD_PATH = "/clients/serverless-mcp-e2e.json"


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DocumentServer, Path]]:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    with DocumentServer(pki) as server:
        url = server.url(CIMD_PATH)
        server.routes[CIMD_PATH] = Served.json(
            {
                "client_id": url,
                "client_name": "serverless-mcp e2e (CIMD)",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }
        )
        yield server, pki.ca_path


@pytest.fixture(scope="module")
def stack(
    documents: tuple[DocumentServer, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    with oauth_stack(tmp_path_factory.mktemp("oauth-flows-stack"), cimd_ca=documents[1]) as state:
        yield state


def _claims(stack: dict[str, Any], token: str) -> dict[str, Any]:
    """The access token's claims, verified with PyJWT against the JWKS the front publishes."""
    jwks = httpx2.get(f"{stack['oauth_issuer']}/jwks.json", timeout=10).json()
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=stack["mcp_url"],
        issuer=stack["oauth_issuer"],
    )
    assert header["typ"] == "at+jwt"
    return claims


def _issued(action: str, client_id: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the audit event of a token issued (`token`) or refreshed (`refresh`) for the client."""
    return lambda record: (
        record.get("source") == "oauth"
        and record.get("action") == action
        and record.get("outcome") == "ok"
        and record.get("client_id") == client_id
    )


def _scopes(signed_in: SignedInClient) -> set[str]:
    return set((signed_in.storage.tokens[-1].scope or "").split())


async def _the_whole_way(stack: dict[str, Any], signed_in: SignedInClient, client_id: str) -> None:
    """List and call tools, refresh, step up; every token bound to the MCP URL and this client."""
    client, storage = signed_in.client, signed_in.storage
    # The first sign-in asks for what the 401 named: the base scope only, so the scoped tool hides.
    tools = {tool.name for tool in (await client.list_tools()).tools}
    assert "add" in tools
    assert SCOPED_TOOL not in tools
    assert (await client.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42.0}
    assert len(storage.tokens) == 1
    first = storage.tokens[0]
    assert _scopes(signed_in) == {"mcp/access"}
    claims = _claims(stack, first.access_token)
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("dev-user", client_id, "mcp/access")
    assert first.refresh_token

    # Refresh: the SDK refreshes an expired token before it sends the request.
    signed_in.provider.context.token_expiry_time = time.time() - 1
    assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3.0}
    assert len(storage.tokens) == 2
    refreshed = storage.tokens[1]
    assert refreshed.access_token != first.access_token
    assert refreshed.refresh_token
    assert refreshed.refresh_token != first.refresh_token
    assert _claims(stack, refreshed.access_token)["client_id"] == client_id
    assert any(method == "POST" and url.endswith("/oauth/token") for method, url, _ in signed_in.exchanges)

    # Step up: the gateway's 403 names the scopes; the provider signs in again for them.
    result = await client.call_tool(SCOPED_TOOL, {})
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["principal"] == "dev-user"
    assert result.structured_content["client_id"] == client_id
    assert set(result.structured_content["scopes"]) >= {"mcp/access", *TOOL_SCOPES}
    assert any(status == 403 for _, _, status in signed_in.exchanges)
    assert _scopes(signed_in) >= {"mcp/access", *TOOL_SCOPES}
    # Two consent pages approved: the first sign-in and the step-up.
    consents = [page for page in signed_in.browser.pages if "Approve" in page.text]
    assert len(consents) == 2
    assert all("127.0.0.1" in page.text for page in consents)  # the redirect host is named

    # The audit trail has the token issue and the refresh, with the client and the user.
    for action in ("token", "refresh"):
        record = wait_for_audit(stack, _issued(action, client_id))
        assert record["principal"] == "dev-user"


async def test_a_cimd_client_signs_in_refreshes_and_steps_up(
    stack: dict[str, Any], documents: tuple[DocumentServer, Path]
) -> None:
    """The client ID is the https URL of its metadata document; the front fetched it (and only it)."""
    server, _ = documents
    client_id = server.url(CIMD_PATH)
    async with signed_in_client(stack, client_metadata_url=client_id) as signed_in:
        await _the_whole_way(stack, signed_in, client_id)
        # No registration happened: the CIMD URL is the client ID the SDK used.
        assert not any(url.endswith("/oauth/register") for _, url, _ in signed_in.exchanges)
        assert signed_in.storage.client_info is not None
        assert signed_in.storage.client_info.client_id == client_id
    assert CIMD_PATH in server.requests
    consent = next(page for page in signed_in.browser.pages if "Approve" in page.text)
    assert "serverless-mcp e2e (CIMD)" in consent.text  # the name from the document


async def test_a_dcr_client_registers_signs_in_refreshes_and_steps_up(stack: dict[str, Any]) -> None:
    """No metadata URL: the SDK registers at the front's registration endpoint (RFC 7591)."""
    async with signed_in_client(stack, client_name="serverless-mcp e2e (DCR)") as signed_in:
        # The first request triggers discovery and registration; the client ID is then known.
        await signed_in.client.list_tools()
        info = signed_in.storage.client_info
        assert info is not None
        assert info.client_id
        assert not info.client_id.startswith("https://")
        assert any(
            method == "POST" and url.endswith("/oauth/register") and status == 201
            for method, url, status in signed_in.exchanges
        )
        await _the_whole_way(stack, signed_in, info.client_id)
    wait_for_audit(
        stack,
        lambda r: (
            r.get("source") == "oauth"
            and r.get("action") == "register"
            and r.get("outcome") == "ok"
            and r.get("client_id") == info.client_id
        ),
    )
