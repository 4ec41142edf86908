"""Each MCP server is its own function: the research server's, built as MCP_SERVER=research builds it.

It serves its own path, tools and metadata (RFC 9728 §3.1, path-inserted, `resource` = its own
URL), writes `server` into its audit events, and (defence in depth behind the authorizer, see
docs/servers.md) refuses a request whose authorizer context does not name it among the servers
the credential may call, or names no server at all (an authorizer that knows only the primary).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from app.core.config import ConfigurationError
from app.core.servers import server_url
from app.mcp.handler import selected_server, server_function
from app.servers import REGISTRY
from devtools.events import rest_v1_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import LambdaProxyTransport, response_from_lambda
from devtools.mcp_messages import mcp_request
from tests.conftest import TEST_MCP_URL, LogCapture

pytestmark = pytest.mark.anyio

RESEARCH = REGISTRY.get("research")
RESEARCH_URL = server_url(TEST_MCP_URL, RESEARCH.path)
CONTEXT = {
    "principalId": "user-1",
    "principal": "user-1",
    "auth_method": "jwt",
    "scopes": "mcp/access mcp/research",
    "servers": "main research",
}


@pytest.fixture(scope="module")
def runtime() -> Iterator[LambdaRuntime]:
    _, serve = server_function(RESEARCH, os.environ)
    function = LambdaRuntime(serve, "serverless-mcp-server-research")
    yield function
    function.close()


def send(runtime: LambdaRuntime, path: str, context: dict[str, str] | None, method: str = "POST") -> Any:
    headers, body = mcp_request("tools/list")
    event = rest_v1_event(
        method,
        path,
        headers=headers,
        body=body if method == "POST" else None,
        authorizer=context,
        request_id=f"req-{uuid.uuid4()}",
    )
    return event["requestContext"]["requestId"], response_from_lambda(runtime.invoke_sync(event))


async def test_the_sdk_client_lists_the_research_servers_own_tools(runtime: LambdaRuntime) -> None:
    transport = LambdaProxyTransport(runtime, authorizer_context=CONTEXT, stage_path="/prod")
    async with (
        httpx2.AsyncClient(transport=transport) as http,
        Client(streamable_http_client(RESEARCH_URL, http_client=http)) as client,
    ):
        assert client.server_info is not None
        assert client.server_info.name == "serverless-mcp-research"
        assert {tool.name for tool in (await client.list_tools()).tools} == {"define", "search_terms"}
        found = await client.call_tool("search_terms", {"word": "token"})
        assert found.is_error is False
        assert "audience" in str(found.content)


def test_its_metadata_names_its_own_url_and_scopes(runtime: LambdaRuntime) -> None:
    _, (status, _, body) = send(runtime, "/.well-known/oauth-protected-resource/research/mcp", None, "GET")
    assert status == 200
    document = json.loads(body)
    assert document["resource"] == RESEARCH_URL
    assert document["scopes_supported"] == ["mcp/access", "mcp/research"]
    # The host-root document is the primary server's, not served by this function.
    _, (root_status, _, _) = send(runtime, "/.well-known/oauth-protected-resource", None, "GET")
    assert root_status == 404


@pytest.mark.parametrize(
    "servers",
    [
        "main",  # the credential may call the primary server only
        None,  # an authorizer that knows one server (no `servers` in its context)
    ],
)
def test_a_context_that_does_not_name_this_server_is_refused(
    runtime: LambdaRuntime, logs: LogCapture, servers: str | None
) -> None:
    context = {key: value for key, value in CONTEXT.items() if key != "servers"}
    if servers is not None:
        context["servers"] = servers
    request_id, (status, headers, _) = send(runtime, RESEARCH.path, context)
    assert status == 401
    challenge = dict((name.lower(), value) for name, value in headers)["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert "oauth-protected-resource/research/mcp" in challenge
    (audit,) = [a for a in logs.audits() if a.get("request_id") == request_id]
    assert (audit["outcome"], audit["reason"], audit["server"]) == ("denied", "wrong_server", "research")


def test_an_allowed_request_is_audited_with_its_server(runtime: LambdaRuntime, logs: LogCapture) -> None:
    request_id, (status, _, _) = send(runtime, RESEARCH.path, CONTEXT)
    assert status == 200
    (audit,) = [a for a in logs.audits() if a.get("request_id") == request_id]
    assert (audit["outcome"], audit["server"]) == ("ok", "research")


def test_an_unknown_mcp_server_name_stops_the_start() -> None:
    with pytest.raises(ConfigurationError, match="MCP_SERVER='nope' names no server"):
        selected_server({"MCP_SERVER": "nope"})
    assert selected_server({}).path == "/mcp"
    assert selected_server({"MCP_SERVER": "research"}).path == "/research/mcp"
