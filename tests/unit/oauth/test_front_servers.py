"""The front issues tokens per MCP server: `resource` names one (RFC 8707), the token's `aud` is it.

With several servers behind the API (MCP_SERVER_PATHS, docs/servers.md) a client signing in for
`/research/mcp` sends that URL as `resource` on authorize and token requests (RFC 8707 §2: "the
authorization server ... SHOULD audience-restrict issued access tokens to the resource(s)
indicated"); the token is for that server only, refresh keeps it, and a resource that is no
server of this API is `invalid_target` (RFC 8707 §2.2).
"""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from app.core.config import ConfigurationError
from app.core.servers import server_url
from app.oauth.settings import server_paths_of
from tests.unit.oauth.front_harness import (
    MCP_URL,
    Browser,
    Env,
    authorize_query,
    body,
    event,
    front_env,
    pkce_pair,
    query_of,
    redeem,
    settings_document,
    sign_in,
)

RESEARCH_URL = server_url(MCP_URL, "/research/mcp")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with front_env(monkeypatch, settings_document(), {"MCP_SERVER_PATHS": "/mcp,/research/mcp"}) as opened:
        yield opened


def tokens_for(env: Env, resource: str) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    callback = sign_in(env, Browser(env.front), challenge, resource=resource)
    code = query_of(callback.headers["Location"])["code"]
    response = redeem(env, code, verifier, resource=resource)
    assert response.status == 200, response.body
    return {key: str(value) for key, value in body(response).items()}


def audience(token: object) -> object:
    assert isinstance(token, str)
    return jwt.decode(token, options={"verify_signature": False})["aud"]


@pytest.mark.parametrize("resource", [MCP_URL, RESEARCH_URL])
def test_the_token_is_for_exactly_the_server_named_as_resource(env: Env, resource: str) -> None:
    tokens = tokens_for(env, resource)
    assert audience(tokens["access_token"]) == resource
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "inspector"}
    refreshed = Browser(env.front).send(event("POST", "/oauth/token", form=form))
    assert refreshed.status == 200
    assert audience(body(refreshed)["access_token"]) == resource


def test_a_refresh_cannot_move_the_grant_to_another_server(env: Env) -> None:
    tokens = tokens_for(env, RESEARCH_URL)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": "inspector",
        "resource": MCP_URL,
    }
    moved = Browser(env.front).send(event("POST", "/oauth/token", form=form))
    assert moved.status == 400
    assert body(moved)["error"] == "invalid_target"


@pytest.mark.parametrize(
    "resource", [server_url(MCP_URL, "/other/mcp"), "https://elsewhere.example/research/mcp"]
)
def test_a_resource_that_is_no_server_of_this_api_is_invalid_target(env: Env, resource: str) -> None:
    _, challenge = pkce_pair()
    query = authorize_query(challenge, resource=resource, scope="")
    refused = Browser(env.front).send(event("GET", "/oauth/authorize", query=query))
    assert refused.status == 302
    assert query_of(refused.headers["Location"])["error"] == "invalid_target"
    assert env.audit.last()["reason"] == "invalid_target"


def test_without_the_setting_only_the_primary_server_is_a_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    with front_env(monkeypatch, settings_document()) as env:
        _, challenge = pkce_pair()
        query = authorize_query(challenge, resource=RESEARCH_URL, scope="")
        page = Browser(env.front).send(event("GET", "/oauth/authorize", query=query))
        assert query_of(page.headers["Location"])["error"] == "invalid_target"


@pytest.mark.parametrize(
    "value", ["/research/mcp,/mcp", "/mcp,/oauth/mcp", "/mcp,research", "/mcp,/a/mcp,/a/mcp"]
)
def test_a_bad_server_path_list_names_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError, match="MCP_SERVER_PATHS"):
        server_paths_of({"MCP_SERVER_PATHS": value})
    assert server_paths_of({}) == ("/mcp",)
    assert server_paths_of({"MCP_SERVER_PATHS": " /mcp , /research/mcp "}) == ("/mcp", "/research/mcp")
