"""`ScopeRequirements`: the scope table resolves a resource URI the way the SDK routes it.

The end-to-end proof (the SDK serving each URI, the edge refusing the same ones) is in
`test_authorization.py`; these pin the table's own rules, including the ones that keep it from
describing an item the SDK does not serve.
"""

from __future__ import annotations

import pytest
from mcp.server import MCPServer

from app.mcp.permissions import Kind, ScopedServer, ScopeRequirements


def test_a_template_is_declared_as_a_template_and_its_scopes_are_advertised() -> None:
    server = ScopedServer(MCPServer("t"))

    @server.resource("docs://{name}", scopes=["docs/read"])
    def doc(name: str) -> str:
        return name

    @server.resource("docs://index")
    def index() -> str:
        return "index"

    requirements = server.requirements
    assert requirements.declared("resource_template", "docs://{name}")
    assert requirements.declared("resource", "docs://index")
    assert not requirements.declared("resource", "docs://{name}")
    assert requirements.all_scopes() == frozenset({"docs/read"})


def test_a_uri_resolves_to_the_static_resource_first_then_the_first_matching_template() -> None:
    requirements = ScopeRequirements()
    requirements.declare("resource_template", "docs://{name}", ["docs/read"])
    requirements.declare("resource_template", "docs://{+path}", [])
    requirements.declare("resource", "docs://index", [])
    assert requirements.resolve_resource("docs://index") == ("resource", "docs://index")
    assert requirements.resolve_resource("docs://guide") == ("resource_template", "docs://{name}")
    assert requirements.resolve_resource("docs://a/b") == ("resource_template", "docs://{+path}")
    assert requirements.resolve_resource("other://x") is None
    assert requirements.requirement("resource", "docs://guide") == frozenset({"docs/read"})
    assert requirements.requirement("resource", "other://x") is None


def test_undeclared_resources_are_hidden_but_undeclared_tools_are_left_to_the_sdk() -> None:
    requirements = ScopeRequirements()
    assert not requirements.allows("resource", "info://anything", ["mcp/access"])
    assert not requirements.allows("resource_template", "x://{y}", ["mcp/access"])
    assert requirements.allows("tool", "no_such_tool", [])
    assert requirements.allows("prompt", "no_such_prompt", [])


@pytest.mark.parametrize(
    ("kind", "name"),
    [("tool", "t"), ("prompt", "p"), ("resource", "r://x"), ("resource_template", "r://{x}")],
)
def test_redeclaring_an_item_with_other_scopes_is_refused(kind: Kind, name: str) -> None:
    """The SDK keeps one of two registrations; the table must not describe the other one."""
    requirements = ScopeRequirements()
    requirements.declare(kind, name, ["a"])
    requirements.declare(kind, name, ["a"])  # the same scopes again: harmless
    with pytest.raises(ValueError, match="registered twice with different scopes"):
        requirements.declare(kind, name, [])
    assert requirements.requirement(kind, name) == frozenset({"a"})
