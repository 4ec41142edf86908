"""Two MCP servers behind one gateway and one authorizer, end to end over real HTTP.

The local stack serves the primary server at `/mcp` and the example `research` server at
`/research/mcp`, each by its own function, with the authorizer's cache ON (TTL 300 s) so that the
cache-safety of its policy is what is tested: API Gateway reuses a cached policy for every request
with the same identity sources ("Use API Gateway Lambda authorizers",
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html)
and answers 403 when it does not cover the method ARN ("Output from an API Gateway Lambda
authorizer", https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-lambda-authorizer-output.html).

That a refused request never reached the other server's function is read from the audit trail:
every request a server's function serves writes one `source: mcp` event with API Gateway's
request id (`x-amzn-RequestId`), refusals included (docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import jwt
import pytest

from tests.e2e.conftest import API_KEYS_CACHE_SECONDS
from tests.e2e.oauth_support import audit_records, oauth_stack, signed_in_client, wait_for_audit
from tests.e2e.test_local_stack import MCP_HEADERS, cli, issuer_token, mcp_client

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e-servers")]

CACHE_TTL_SECONDS = 300.0
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("servers-stack")
    with oauth_stack(state_dir, cimd_ca=None, auto_approve=True, authorizer_ttl=CACHE_TTL_SECONDS) as state:
        yield state


def research_url(stack: dict[str, Any]) -> str:
    url: str = stack["servers"]["research"]
    return url


async def post(url: str, credential: str) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=30) as http:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {credential}"}
        return await http.post(url, headers=headers, json=LIST_TOOLS)


def served_by_a_function(stack: dict[str, Any], request_id: str) -> bool:
    return any(r["source"] == "mcp" and r.get("request_id") == request_id for r in audit_records(stack))


async def settle(stack: dict[str, Any], url: str) -> None:
    """One request the research function serves, shipped: every earlier event is shipped too."""
    response = await post(url, stack["api_key"])
    assert response.status_code == 200
    request_id = response.headers["x-amzn-RequestId"]
    wait_for_audit(stack, lambda r: r["source"] == "mcp" and r.get("request_id") == request_id)


async def test_the_dev_key_lists_each_servers_own_tools(stack: dict[str, Any]) -> None:
    assert stack["servers"] == {
        "main": stack["mcp_url"],
        "research": stack["mcp_url"].replace("/mcp", "/research/mcp"),
    }
    async with mcp_client(stack["mcp_url"], stack["api_key"]) as client:
        main_tools = {tool.name for tool in (await client.list_tools()).tools}
    async with mcp_client(research_url(stack), stack["api_key"]) as client:
        research_tools = {tool.name for tool in (await client.list_tools()).tools}
        defined = await client.call_tool("define", {"term": "audience"})
    assert research_tools == {"define", "search_terms"}
    assert {"whoami", "add"} <= main_tools
    assert not main_tools & research_tools
    assert defined.is_error is False
    assert defined.structured_content is not None
    assert defined.structured_content["source"] == "RFC 7519 section 4.1.3"


async def test_each_server_has_its_own_metadata(stack: dict[str, Any]) -> None:
    base = stack["mcp_url"].removesuffix("/mcp")
    async with httpx2.AsyncClient() as http:
        main = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
        research = (await http.get(f"{base}/.well-known/oauth-protected-resource/research/mcp")).json()
        root = (await http.get(f"{base}/.well-known/oauth-protected-resource")).json()
    assert main == root
    assert main["resource"] == stack["mcp_url"]
    assert research["resource"] == research_url(stack)
    assert research["scopes_supported"] == ["mcp/access", "mcp/research"]
    assert "mcp/research" not in main["scopes_supported"]
    assert research["authorization_servers"] == main["authorization_servers"]


async def test_a_token_for_the_primary_server_is_refused_at_research_before_its_function(
    stack: dict[str, Any],
) -> None:
    token = issuer_token(stack, "mcp/access mcp/research")  # aud: the primary server's URL
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == stack["mcp_url"]
    refused = await post(research_url(stack), token)
    assert refused.status_code == 403
    assert refused.json() == {"message": "Forbidden"}
    # Several servers and no stage prefix: no resource_metadata, the client uses path-inserted discovery.
    assert "resource_metadata" not in refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    request_id = refused.headers["x-amzn-RequestId"]
    decision = wait_for_audit(
        stack, lambda r: r["source"] == "authorizer" and r.get("request_id") == request_id
    )
    assert (decision["outcome"], decision["reason"], decision["server"]) == (
        "denied",
        "wrong_server",
        "research",
    )
    # The cached Allow (for /mcp only) serves the primary server.
    assert (await post(stack["mcp_url"], token)).status_code == 200
    await settle(stack, research_url(stack))
    assert not served_by_a_function(stack, request_id)


async def test_a_cached_allow_for_one_server_does_not_admit_the_other(stack: dict[str, Any]) -> None:
    token = issuer_token(stack, "mcp/access")
    allowed = await post(stack["mcp_url"], token)
    assert allowed.status_code == 200
    first = allowed.headers["x-amzn-RequestId"]
    wait_for_audit(stack, lambda r: r["source"] == "authorizer" and r.get("request_id") == first)
    refused = await post(research_url(stack), token)
    assert refused.status_code == 403
    second = refused.headers["x-amzn-RequestId"]
    await settle(stack, research_url(stack))
    records = audit_records(stack)
    # Decided from the cache: the authorizer did not run, and neither did the research function.
    assert not any(r.get("request_id") == second for r in records)


async def test_a_key_limited_to_the_primary_server_is_refused_at_research(stack: dict[str, Any]) -> None:
    limited = cli(
        stack,
        "keys",
        "create",
        "--local",
        "--owner",
        "main-only",
        "--scopes",
        "mcp/access",
        "--server",
        "main",
    )
    research_only = cli(
        stack,
        *("keys", "create", "--local", "--owner", "research-only"),
        *("--scopes", "mcp/access", "mcp/research"),
        *("--server", "research"),
    )
    await anyio.sleep(API_KEYS_CACHE_SECONDS + 0.2)  # the new keys reach the authorizer's key store cache
    refused = await post(research_url(stack), limited)
    assert refused.status_code == 403
    request_id = refused.headers["x-amzn-RequestId"]
    decision = wait_for_audit(
        stack, lambda r: r["source"] == "authorizer" and r.get("request_id") == request_id
    )
    assert (decision["reason"], decision["key_id"]) == ("wrong_server", limited.split("_")[1])
    assert (await post(stack["mcp_url"], limited)).status_code == 200
    assert (await post(research_url(stack), research_only)).status_code == 200
    assert (await post(stack["mcp_url"], research_only)).status_code == 403
    await settle(stack, research_url(stack))
    assert not served_by_a_function(stack, request_id)


async def test_the_sdk_signs_in_for_research_through_the_front_and_that_token_is_refused_at_main(
    stack: dict[str, Any],
) -> None:
    async with signed_in_client(stack, server_url=research_url(stack)) as signed_in:
        # Signed in with the scope the 401 named (the base scope): the glossary's list is readable.
        terms = await signed_in.client.read_resource("glossary://terms")
        assert "resource indicator" in str(terms.contents[0])
        # It found the research server's metadata at its path-inserted well-known URL.
        fetched = [url for method, url, status in signed_in.exchanges if method == "GET" and status == 200]
        assert any(url.endswith("/.well-known/oauth-protected-resource/research/mcp") for url in fetched)
    token = signed_in.storage.tokens[-1].access_token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == research_url(stack)
    assert claims["iss"] == stack["oauth_issuer"]
    refused = await post(stack["mcp_url"], token)
    assert refused.status_code == 403
    request_id = refused.headers["x-amzn-RequestId"]
    await settle(stack, research_url(stack))
    assert not served_by_a_function(stack, request_id)
    main_events = [r for r in audit_records(stack) if r.get("request_id") == request_id]
    assert all(r["source"] == "authorizer" for r in main_events)
