"""The SDK client's own OAuth step-up, through the gateway emulator, as a deployed client sees it.

API Gateway renames a Lambda proxy integration's `WWW-Authenticate` to
`x-amzn-Remapped-WWW-Authenticate` ("Amazon API Gateway important notes for REST APIs",
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html), so
a challenge reaches a client only from a gateway response. A 2026-07-28 client names the tool in
`Mcp-Method`/`Mcp-Name` (SEP-2243): the authorizer refuses the call (Deny), and the gateway's 403
ACCESS_DENIED response carries the challenge, naming the base scope and every tool scope.

The client is the SDK's `ClientCredentialsOAuthProvider` (an `OAuthClientProvider`): on 401 it
discovers the protected-resource metadata and the issuer, gets a token for the challenged scope;
on 403 `insufficient_scope` it gets a new token for the union of what it had and what was
challenged (SEP-2350), and retries. It authenticates at the dev issuer's token endpoint as the
dev machine client the local stack registered (HTTP Basic, RFC 6749 §2.3.1), which may have
every declared scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.exceptions import MCPError

from app.mcp.server import build_server
from app.mcp.tool_scopes_export import server_table

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e")]

# The example tool that returns the caller; its scopes come from the registry.
SCOPED_TOOL = "whoami"
TOOL_SCOPES = build_server().requirements.tool_scopes().tools[SCOPED_TOOL]
# With several servers the gateway's one 403 literal names every scope of every server
# (docs/servers.md), as it names every tool's with one.
EVERY_DECLARED_SCOPE = server_table().all_scopes()


class MemoryStorage:
    """The SDK's `TokenStorage`, in memory, recording every token it was given."""

    def __init__(self) -> None:
        self.tokens: list[OAuthToken] = []
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens[-1] if self.tokens else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Recorder:
    """Every HTTP exchange the client makes (status and headers), for asserting the sequence."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[str, str, int, httpx2.Headers]] = []

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        self.exchanges.append((request.method, str(request.url), response.status_code, response.headers))


@asynccontextmanager
async def oauth_client(
    stack: dict[str, Any], storage: MemoryStorage, recorder: Recorder, mode: str
) -> AsyncIterator[Client]:
    provider = ClientCredentialsOAuthProvider(
        server_url=stack["mcp_url"],
        storage=storage,
        client_id=stack["dev_client_id"],
        client_secret=stack["dev_client_secret"],
        token_endpoint_auth_method="client_secret_basic",
        issuer=stack["issuer"],
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [recorder]}) as http,
        Client(streamable_http_client(stack["mcp_url"], http_client=http), mode=mode) as client,
    ):
        yield client


def granted(token: OAuthToken) -> set[str]:
    return set((token.scope or "").split())


async def test_a_2026_client_steps_up_on_the_gateways_challenge(local_stack: dict[str, Any]) -> None:
    storage, recorder = MemoryStorage(), Recorder()
    async with oauth_client(local_stack, storage, recorder, "2026-07-28") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        # The first token holds only the base scope the 401 asked for: the scoped tool is hidden.
        assert [granted(t) for t in storage.tokens] == [{"mcp/access"}]
        assert SCOPED_TOOL not in tools
        result = await client.call_tool(SCOPED_TOOL, {})
    assert result.is_error is False
    assert result.structured_content is not None
    assert set(result.structured_content["scopes"]) >= {"mcp/access", *TOOL_SCOPES}

    denied = [headers for method, url, status, headers in recorder.exchanges if status == 403]
    assert len(denied) == 1
    challenge = denied[0]["www-authenticate"]
    # From the gateway (an integration's header would arrive renamed), naming every scope needed.
    assert "x-amzn-remapped-www-authenticate" not in denied[0]
    assert challenge.startswith('Bearer error="insufficient_scope", scope="')
    named = set(challenge.split('scope="', 1)[1].split('"', 1)[0].split())
    assert named >= {"mcp/access", *TOOL_SCOPES}
    assert named == {"mcp/access", *EVERY_DECLARED_SCOPE}
    # Several servers, no stage prefix: no resource_metadata (docs/servers.md); the client already
    # knows this server's metadata from its first sign-in.
    assert 'resource_metadata="' not in challenge
    # Narrow token, 403, a token with the named scopes, and the call succeeded.
    assert len(storage.tokens) == 2
    assert granted(storage.tokens[1]) >= {"mcp/access", *TOOL_SCOPES}


async def test_a_2025_client_gets_the_functions_403_with_the_challenge_renamed(
    local_stack: dict[str, Any],
) -> None:
    """No routing headers: the gateway allows on the base scope and the MCP function refuses.

    What a 2025-11-25 client gets, deployed: a 403 whose JSON-RPC error names the scopes, and
    the challenge only as `x-amzn-Remapped-WWW-Authenticate`, which no client reads. The SDK
    client does not step up; it reports the error.
    """
    storage, recorder = MemoryStorage(), Recorder()
    async with oauth_client(local_stack, storage, recorder, "legacy") as client:
        with pytest.raises(MCPError, match=next(iter(TOOL_SCOPES))):
            await client.call_tool(SCOPED_TOOL, {})
    denied = [headers for method, url, status, headers in recorder.exchanges if status == 403]
    assert denied
    assert "www-authenticate" not in denied[-1]
    assert denied[-1]["x-amzn-remapped-www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert len(storage.tokens) == 1
