"""Per-tool decisions in the authorizer, from the 2026-07-28 routing headers (SEP-2243).

A 2026-07-28 client sends `Mcp-Method` and `Mcp-Name` on every POST. With the tool registry's
export (`TOOL_SCOPES_FILE`), the authorizer refuses a call to a tool the principal lacks the
scopes for, so API Gateway sends its own 403 ACCESS_DENIED response (whose `WWW-Authenticate`
survives; an integration's would be renamed to `x-amzn-Remapped-WWW-Authenticate`:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.auth.tool_scopes import ToolScopes, decode_header_value
from app.authorizer import handler as authorizer
from app.authorizer.gatekeeper import Gatekeeper, load_tool_scopes
from app.core.config import ConfigurationError, SettingsSource
from app.mcp.server import build_server
from devtools.dev_issuer import DevIssuer
from devtools.events import request_authorizer_event
from tests.conftest import TEST_MCP_URL

ISSUER = "https://issuer.example.com"
REQUIREMENTS = build_server().requirements
# Scoped and unscoped tools, taken from the registry so a new tool cannot break these tests.
_TOOLS = REQUIREMENTS.tool_scopes().tools
SCOPED_TOOL, TOOL_SCOPES = next((name, scopes) for name, scopes in _TOOLS.items() if scopes)
OPEN_TOOL = next(name for name, scopes in _TOOLS.items() if not scopes)


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(ISSUER)


@pytest.fixture
def tool_scopes_file(tmp_path: Path) -> Path:
    path = tmp_path / "tool-scopes.json"
    # Version 1 (one server's sections at the top level): still read, as the primary server alone.
    path.write_text(json.dumps({"version": 1, **REQUIREMENTS.tool_scopes().to_json()}))
    return path


@pytest.fixture(autouse=True)
def gatekeeper(monkeypatch: pytest.MonkeyPatch, issuer: DevIssuer, tool_scopes_file: Path) -> Gatekeeper:
    env = {**os.environ, "OAUTH_ISSUER": ISSUER, "TOOL_SCOPES_FILE": str(tool_scopes_file)}
    keeper = Gatekeeper(SettingsSource(env=env), fetch_json=issuer.fetch_json)
    keeper.check_configuration()
    monkeypatch.setattr(authorizer, "gatekeeper", keeper)
    return keeper


def invoke(token: str, routing: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", **(routing or {})}
    event = request_authorizer_event("POST", "/mcp", headers=headers)
    event.update(overrides)
    return authorizer.handler(event, None)


def effect(response: dict[str, Any]) -> str:
    return str(response["policyDocument"]["Statement"][0]["Effect"])


def call(tool: str) -> dict[str, str]:
    return {"Mcp-Method": "tools/call", "Mcp-Name": tool}


def test_a_tool_lacking_its_scope_is_denied_naming_every_scope_it_needs(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    response = invoke(token, call(SCOPED_TOOL))
    assert effect(response) == "Deny"
    # The base scope too: a client that replaces its scopes with the challenged ones keeps access.
    assert response["context"] == {
        "reason": "insufficient_scope",
        "scope": " ".join(sorted({"mcp/access", *TOOL_SCOPES})),
    }


def test_the_same_token_may_call_an_unscoped_tool_and_list_tools(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    assert effect(invoke(token, call(OPEN_TOOL))) == "Allow"
    assert effect(invoke(token, {"Mcp-Method": "tools/list"})) == "Allow"


def test_a_token_with_the_tool_scope_is_allowed(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access", *TOOL_SCOPES])
    response = invoke(token, call(SCOPED_TOOL))
    assert effect(response) == "Allow"
    assert response["context"]["principal"] == "dev-user"


@pytest.mark.parametrize(("tool", "view"), sorted(build_server().widget_of.items()))
def test_a_widgets_view_is_decided_exactly_like_its_tool(issuer: DevIssuer, tool: str, view: str) -> None:
    """MCP Apps: the `ui://` view a tool names is refused with the tool, and allowed with it."""
    read_view = {"Mcp-Method": "resources/read", "Mcp-Name": view}
    narrow = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    refused = [invoke(narrow, call(tool)), invoke(narrow, read_view)]
    assert [effect(response) for response in refused] == ["Deny", "Deny"]
    assert refused[0]["context"] == refused[1]["context"]
    assert refused[1]["context"]["reason"] == "insufficient_scope"
    wide = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access", *REQUIREMENTS.required("tool", tool)])
    assert [effect(invoke(wide, call(tool))), effect(invoke(wide, read_view))] == ["Allow", "Allow"]


def test_a_2025_11_25_client_without_routing_headers_is_decided_on_the_base_scope(issuer: DevIssuer) -> None:
    """No `Mcp-Method`: the authorizer cannot know the tool; the MCP function checks it (403)."""
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    assert effect(invoke(token)) == "Allow"


def test_a_repeated_routing_header_names_nothing(issuer: DevIssuer) -> None:
    """Two `Mcp-Name` values: no per-tool decision here; the MCP function answers 400 for it."""
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    event_headers = {"Mcp-Method": ["tools/call"], "Mcp-Name": [OPEN_TOOL, SCOPED_TOOL]}
    response = invoke(token, call(OPEN_TOOL), multiValueHeaders=event_headers)
    assert effect(response) == "Allow"


def test_a_base64_encoded_name_is_decoded_like_the_sdk_does(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    encoded = "=?base64?" + base64.b64encode(SCOPED_TOOL.encode()).decode() + "?="
    assert effect(invoke(token, call(encoded))) == "Deny"
    assert decode_header_value("=?base64?not base64?=") is None
    assert decode_header_value("=?base64?" + base64.b64encode(b"\xff").decode() + "?=") is None


def test_an_unknown_tool_is_left_to_the_mcp_function(issuer: DevIssuer) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    assert effect(invoke(token, call("no-such-tool"))) == "Allow"


def test_an_invalid_credential_is_unauthorized_whatever_tool_it_names(issuer: DevIssuer) -> None:
    with pytest.raises(authorizer.Unauthorized):
        invoke("not-a-token", call(OPEN_TOOL))


def test_the_denial_is_audited_with_the_tool_it_named(
    issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, scopes=["mcp/access"])
    invoke(token, call(SCOPED_TOOL))
    output = capsys.readouterr().out.splitlines()
    lines = [json.loads(line) for line in output if '"event_type":"audit"' in line]
    assert lines[-1]["outcome"] == "denied"
    assert (lines[-1]["reason"], lines[-1]["target_kind"], lines[-1]["target"]) == (
        "insufficient_scope",
        "tool",
        SCOPED_TOOL,
    )
    assert lines[-1]["status"] == 403


def test_per_tool_decisions_with_a_caching_authorizer_stop_the_cold_start(tool_scopes_file: Path) -> None:
    """A cached decision is reused for every tool with the same Authorization header."""
    env = {"TOOL_SCOPES_FILE": str(tool_scopes_file), "AUTHORIZER_CACHE_TTL_SECONDS": "300"}
    with pytest.raises(ConfigurationError, match="AUTHORIZER_CACHE_TTL_SECONDS=0"):
        load_tool_scopes(env)
    assert load_tool_scopes({**env, "AUTHORIZER_CACHE_TTL_SECONDS": "0"}) is not None
    assert load_tool_scopes({}) is None


@pytest.mark.parametrize("content", ["", "[]", '{"version": 2}', '{"version": 1, "tools": {"x": "mcp/a"}}'])
def test_a_broken_tool_scopes_file_stops_the_cold_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "scopes.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="TOOL_SCOPES_FILE"):
        load_tool_scopes({"TOOL_SCOPES_FILE": str(path)})
    with pytest.raises(ConfigurationError, match="TOOL_SCOPES_FILE"):
        load_tool_scopes({"TOOL_SCOPES_FILE": str(tmp_path / "missing.json")})


def test_resource_templates_need_the_union_of_every_template_that_may_match() -> None:
    scopes = ToolScopes.from_json(
        {
            "version": 1,
            "resources": {"notes://index": []},
            "resource_templates": {"notes://{id}": ["mcp/notes"], "notes://{id}/secret": ["mcp/secrets"]},
        }
    )
    assert scopes.required("resources/read", "notes://index") == frozenset()
    assert scopes.required("resources/read", "notes://42") == frozenset({"mcp/notes"})
    # "{id}" may match "42/secret" too (RFC 6570 reserved expansion): refuse more, never allow more.
    assert scopes.required("resources/read", "notes://42/secret") == frozenset({"mcp/notes", "mcp/secrets"})
    assert scopes.required("resources/read", "other://1") is None
    assert scopes.all_scopes() == {"mcp/notes", "mcp/secrets"}
    assert ToolScopes.from_json(scopes.to_json()) == scopes


def test_the_authorizers_header_rules_are_the_sdks() -> None:
    """The authorizer keeps its own copies (it must not import `mcp`); they must not drift."""
    from mcp.shared import inbound

    from app.auth.tool_scopes import NAME_BEARING_METHODS

    assert set(NAME_BEARING_METHODS) == set(inbound.NAME_BEARING_METHODS)
    samples = [
        "whoami",
        inbound.encode_header_value("outil-é"),
        inbound.encode_header_value("工具"),
        "=?base64?not base64?=",
        "=?base64?" + base64.b64encode(b"\xff").decode() + "?=",
        "=?base64?YQ?=",  # unpadded: not canonical
        "",
    ]
    for value in samples:
        assert decode_header_value(value) == inbound.decode_header_value(value), value
