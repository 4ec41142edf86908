"""The official MCP SDK client drives the real Lambda entry point through API Gateway events.

Every request the client makes becomes a REST v1 or HTTP API v2 proxy event, is handled by
`app.mcp.handler.handler`, and the Lambda response goes back to the client as HTTP. Both
protocol generations the SDK speaks are covered: the 2025-11-25 initialize handshake and
2026-07-28 (no handshake, per-request metadata).
"""

from __future__ import annotations

import json

import pytest
from mcp_types import TextContent, TextResourceContents

from app.mcp.server import build_server
from tests.unit.mcp.conftest import FULL_CONTEXT, ClientFactory

pytestmark = pytest.mark.anyio

MATRIX = [
    pytest.param(fmt, mode, b64, id=f"{fmt}-{mode}{'-base64' if b64 else ''}")
    for fmt in ("v1", "v2")
    for mode in ("legacy", "2026-07-28")
    for b64 in (False, True)
]


@pytest.mark.parametrize(("fmt", "mode", "b64"), MATRIX)
async def test_every_example_capability(connect: ClientFactory, fmt: str, mode: str, b64: bool) -> None:
    async with connect(event_format=fmt, mode=mode, base64_body=b64) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")

        tools = await client.list_tools()
        # Every registered tool the context's scopes allow (the registry decides, not a literal list).
        granted = frozenset(FULL_CONTEXT["scopes"].split())
        allowed = {
            name
            for name, scopes in build_server().requirements.tool_scopes().tools.items()
            if scopes <= granted
        }
        assert {"add", "whoami", "days_between"} <= allowed
        assert {tool.name for tool in tools.tools} == allowed

        added = await client.call_tool("add", {"a": 2, "b": 40})
        assert added.is_error is False
        assert added.structured_content == {"result": 42.0}

        days = await client.call_tool("days_between", {"start": "2026-01-01", "end": "2026-03-01"})
        assert days.structured_content == {"result": 59}

        bad = await client.call_tool("days_between", {"start": "yesterday", "end": "2026-03-01"})
        assert bad.is_error is True
        assert isinstance(bad.content[0], TextContent)
        assert "ISO 8601" in bad.content[0].text

        me = await client.call_tool("whoami", {})
        assert me.is_error is False

        resource = await client.read_resource("info://server")
        contents = resource.contents[0]
        assert isinstance(contents, TextResourceContents)
        assert json.loads(contents.text)["name"] == "serverless-mcp"

        prompt = await client.get_prompt("summarize", {"text": "Lambda is serverless."})
        message = prompt.messages[0].content
        assert isinstance(message, TextContent)
        assert "Lambda is serverless." in message.text


async def test_auto_mode_discovers_the_modern_protocol(connect: ClientFactory) -> None:
    async with connect(mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("add", {"a": 1, "b": 1})
        assert result.structured_content == {"result": 2.0}
