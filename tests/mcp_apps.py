"""Checks shared by the unit and end-to-end widget tests: what an MCP Apps host sees."""

from __future__ import annotations

from mcp import Client
from mcp.server.apps import APP_MIME_TYPE
from mcp_types import TextResourceContents


async def assert_view_served(client: Client, tool: str, uri: str, html: str) -> None:
    """`tool` is listed naming `uri` in `_meta.ui`, and `uri` is listed and read as an MCP Apps view.

    ext-apps specification 2026-01-26: "Resource Discovery" (the tool's `_meta.ui.resourceUri`)
    and "UI Resource Format" (`text/html;profile=mcp-app`, an HTML5 document).
    """
    listed = {t.name: t.meta or {} for t in (await client.list_tools()).tools}
    assert listed[tool]["ui"]["resourceUri"] == uri
    views = {r.uri: r for r in (await client.list_resources()).resources}
    assert views[uri].mime_type == APP_MIME_TYPE
    contents = (await client.read_resource(uri)).contents[0]
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == APP_MIME_TYPE
    assert contents.text.lstrip().lower().startswith("<!doctype html>")
    assert contents.text == html
