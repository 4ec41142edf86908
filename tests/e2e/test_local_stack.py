"""End to end over real HTTP: the official MCP client against `mcp-lambda dev` on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    handle_protected_resource_response,
)
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from mcp.shared.exceptions import MCPError

from app.mcp.server import build_server
from tests.e2e.conftest import (
    ALLOWED_ORIGIN,
    API_KEYS_CACHE_SECONDS,
    AUTHORIZER_TTL_SECONDS,
    ROOT,
    local_logs_client,
)

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e")]

REGISTRY = build_server().requirements
EVERY_TOOL = set(REGISTRY.tool_scopes().tools)


@asynccontextmanager
async def mcp_client(
    url: str,
    credential: str | None,
    mode: str = "legacy",
    *,
    extensions: Sequence[ClientExtension] = (),
    headers: Mapping[str, str] | None = None,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> AsyncIterator[Client]:
    auth = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with (
        httpx2.AsyncClient(headers={**auth, **(headers or {})}, timeout=30, event_hooks=event_hooks) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, extensions=extensions) as client,
    ):
        yield client


def cli(stack: dict[str, Any], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "devtools", *args, "--state-dir", stack["state_dir"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


async def post(
    stack: dict[str, Any], credential: str | None, body: Any = None, **headers: str
) -> httpx2.Response:
    """One raw HTTP POST to the MCP endpoint, for asserting status codes and headers."""
    auth = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with httpx2.AsyncClient() as http:
        return await http.post(stack["mcp_url"], headers={**MCP_HEADERS, **auth, **headers}, json=body or {})


def issuer_token(stack: dict[str, Any], scopes: str) -> str:
    """A token from the dev issuer's `/token` by client credentials, as the dev machine client."""
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scopes}).encode()
    basic = base64.b64encode(f"{stack['dev_client_id']}:{stack['dev_client_secret']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the stack's loopback issuer
        f"{stack['issuer']}/token", data=form, headers={"Authorization": f"Basic {basic}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        token: str = json.load(response)["access_token"]
    return token


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_dev_api_key_reaches_every_tool(local_stack: dict[str, Any], mode: str) -> None:
    async with mcp_client(local_stack["mcp_url"], local_stack["api_key"], mode) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} >= EVERY_TOOL
        assert (await client.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42.0}
        me = (await client.call_tool("whoami", {})).structured_content
    assert me is not None
    assert me["principal"] == "apikey:local-dev"
    assert me["auth_method"] == "api_key"


async def test_dev_jwt_validated_through_the_issuers_jwks(local_stack: dict[str, Any]) -> None:
    async with mcp_client(local_stack["mcp_url"], local_stack["access_token"]) as client:
        me = (await client.call_tool("whoami", {})).structured_content
    assert me is not None
    assert (me["principal"], me["auth_method"], me["client_id"]) == ("dev-user", "jwt", "mcp-lambda-dev")


async def test_cli_token_works(local_stack: dict[str, Any]) -> None:
    token = cli(local_stack, "token", "--scopes", "mcp/access", "mcp/profile", "--expires", "300")
    async with mcp_client(local_stack["mcp_url"], token) as client:
        assert (await client.call_tool("whoami", {})).is_error is False


async def test_scope_limited_jwt_sees_fewer_tools_and_gets_step_up(local_stack: dict[str, Any]) -> None:
    token = issuer_token(local_stack, "mcp/access")
    async with mcp_client(local_stack["mcp_url"], token) as client:
        visible = {tool.name for tool in (await client.list_tools()).tools}
        assert visible == {name for name, scopes in REGISTRY.tool_scopes().tools.items() if not scopes}
        with pytest.raises(MCPError, match="mcp/profile"):
            await client.call_tool("whoami", {})
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            local_stack["mcp_url"],
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
            json={
                "jsonrpc": "2.0",
                "id": 5,
                "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}},
            },
        )
    assert response.status_code == 403
    # The MCP Lambda's own challenge is an integration response header: API Gateway renames it
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html),
    # so no client sees it as a challenge. Only a gateway response can send WWW-Authenticate.
    assert "www-authenticate" not in response.headers
    assert response.headers["x-amzn-remapped-www-authenticate"].startswith(
        'Bearer error="insufficient_scope", scope="mcp/access mcp/profile"'
    )


async def test_token_without_base_scope_is_403_at_the_gateway(local_stack: dict[str, Any]) -> None:
    token = issuer_token(local_stack, "mcp/profile")
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            local_stack["mcp_url"], headers={"Authorization": f"Bearer {token}"}, json={}
        )
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope", scope="')
    assert "mcp/access" in challenge.split('scope="', 1)[1].split('"', 1)[0].split()


async def test_no_credential_gets_401_pointing_at_metadata_the_sdk_accepts(
    local_stack: dict[str, Any],
) -> None:
    stack = local_stack
    url = stack["mcp_url"]
    metadata_url = url.removesuffix("/mcp") + "/.well-known/oauth-protected-resource/mcp"
    async with httpx2.AsyncClient() as http:
        response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert response.status_code == 401
        # Several servers behind one gateway and no stage prefix: the one UNAUTHORIZED literal
        # names no server's metadata (docs/servers.md); the SDK then tries the path-inserted
        # well-known URL first (RFC 9728 §3.1), which is this server's.
        assert response.headers["www-authenticate"] == 'Bearer scope="mcp/access"'
        urls = build_protected_resource_metadata_discovery_urls(
            extract_resource_metadata_from_www_auth(response), url
        )
        assert urls[0] == metadata_url
        metadata = await handle_protected_resource_response(await http.get(urls[0]))
    assert metadata is not None
    assert check_resource_allowed(resource_url_from_server_url(url), str(metadata.resource))
    # The local stack runs the authorization front: the metadata names it first, then the dev issuer.
    assert [str(s).rstrip("/") for s in metadata.authorization_servers] == [
        stack["oauth_issuer"],
        stack["issuer"],
    ]


@pytest.mark.parametrize("credential", ["not-a-real-token", "mcpk_0123456789abcdef_" + "A" * 43])
async def test_unknown_credential_is_401(local_stack: dict[str, Any], credential: str) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            local_stack["mcp_url"], headers={"Authorization": f"Bearer {credential}"}, json={}
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer scope="mcp/access"'  # see the test above


async def test_revoked_key_is_refused_within_the_stated_bound(local_stack: dict[str, Any]) -> None:
    key = cli(local_stack, "keys", "create", "--local", "--owner", "e2e", "--scopes", "mcp/access")
    # A new key works at the latest once the key store cache (API_KEYS_CACHE_SECONDS) expires.
    await anyio.sleep(API_KEYS_CACHE_SECONDS + 0.2)
    async with mcp_client(local_stack["mcp_url"], key) as client:
        assert (await client.call_tool("add", {"a": 1, "b": 1})).is_error is False
    cli(local_stack, "keys", "revoke", "--local", "--key-id", key.split("_")[1])
    # The documented bound: API key store cache age + authorizer cache TTL. Wait it out once.
    await anyio.sleep(API_KEYS_CACHE_SECONDS + AUTHORIZER_TTL_SECONDS + 0.5)
    assert (await post(local_stack, key)).status_code == 401


@pytest.mark.parametrize(("origin", "status"), [(ALLOWED_ORIGIN, 200), ("https://evil.example", 403)])
async def test_origin_is_checked(local_stack: dict[str, Any], origin: str, status: int) -> None:
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = await post(local_stack, local_stack["api_key"], listing, Origin=origin)
    assert response.status_code == status


async def test_audit_events_reach_the_log_group_without_credentials(local_stack: dict[str, Any]) -> None:
    secrets_seen = [local_stack["api_key"], local_stack["access_token"]]
    assert (await post(local_stack, "not-a-real-token")).status_code == 401  # one authorizer denial
    async with mcp_client(local_stack["mcp_url"], local_stack["api_key"]) as client:
        await client.call_tool("days_between", {"start": "nope", "end": "2026-01-01"})
    logs = local_logs_client(local_stack)
    messages: list[str] = []
    for _ in range(40):  # the local stack ships audit events every 0.5 s
        found = logs.filter_log_events(logGroupName=local_stack["audit_log_group"])["events"]
        messages = [event.get("message", "") for event in found]
        if any('"tool_error"' in message for message in messages):
            break
        await anyio.sleep(0.25)
    records = [json.loads(message) for message in messages]
    assert {r["source"] for r in records} == {"authorizer", "mcp"}
    assert any(r["action"] == "tools/call" and r["outcome"] == "tool_error" for r in records)
    assert any(r["source"] == "authorizer" and r["outcome"] == "denied" for r in records)
    console = await anyio.Path(local_stack["log_path"]).read_text()
    console = console.split("A fresh token:")[-1]  # only what was logged after the summary
    text = "\n".join(messages) + console
    for secret in secrets_seen:
        assert secret[-24:] not in text
    assert "Bearer " not in "\n".join(messages)
