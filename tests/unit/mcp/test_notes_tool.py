"""The notes tools' refusals through the real MCP handler (the data path: tests/e2e/test_tenants.py).

The tenant comes only from the authorizer's context, never from an argument; without one, or
without the table configured, the tool answers a tool error the model can read.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.tools.notes import NO_TENANT, NOT_CONFIGURED
from tests.unit.mcp.conftest import FULL_CONTEXT, ClientFactory

pytestmark = pytest.mark.anyio

NOTES = {**FULL_CONTEXT, "scopes": "mcp/access mcp/notes"}


async def text_of(
    connect: ClientFactory, context: dict[str, Any], tool: str, arguments: dict[str, Any]
) -> str:
    async with connect(authorizer_context=context) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    return str(result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize("tool", ["notes_add", "notes_list", "notes_get"])
async def test_without_a_tenant_the_tools_say_so(connect: ClientFactory, tool: str) -> None:
    arguments = {
        "notes_add": {"text": "x"},
        "notes_list": {},
        "notes_get": {"note_id": "1767225600000-0a1b2c3d"},
    }
    assert await text_of(connect, NOTES, tool, arguments[tool]) == f"Error executing tool {tool}: {NO_TENANT}"


async def test_a_tenant_argument_is_not_a_tenant(connect: ClientFactory) -> None:
    """The schema has no tenant: a model cannot choose one (unknown arguments are dropped)."""
    text = await text_of(connect, NOTES, "notes_list", {"tenant": "acme"})
    assert text.endswith(NO_TENANT)


async def test_with_a_tenant_but_no_table_the_tools_say_what_to_set(connect: ClientFactory) -> None:
    assert (await text_of(connect, {**NOTES, "tenant": "acme"}, "notes_list", {})).endswith(NOT_CONFIGURED)


@pytest.mark.parametrize(
    ("tool", "arguments", "fragment"),
    [
        ("notes_add", {"text": "  "}, "must not be empty"),
        ("notes_add", {"text": "x" * 2001}, "at most 2000"),
        ("notes_list", {"limit": 0}, "from 1 to 50"),
        ("notes_get", {"note_id": "../../acme/note#1"}, "must look like"),
    ],
)
async def test_bad_arguments_are_tool_errors_that_do_not_echo_them(
    connect: ClientFactory, tool: str, arguments: dict[str, Any], fragment: str
) -> None:
    text = await text_of(connect, {**NOTES, "tenant": "acme"}, tool, arguments)
    assert fragment in text
    assert "acme/note" not in text


async def test_the_tools_need_the_notes_scope(connect: ClientFactory) -> None:
    async with connect(authorizer_context={**FULL_CONTEXT, "tenant": "acme"}) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert not names & {"notes_add", "notes_list", "notes_get"}
