"""MCP Apps widgets: a tool's `ui://` view, served under the tool's own scopes.

MCP Apps (extension `io.modelcontextprotocol/ui`, ext-apps specification 2026-01-26) lets a tool
name an HTML view in `_meta.ui.resourceUri`; the host reads that `ui://` resource with
`resources/read` and renders it in a sandboxed iframe, and the view calls tools back through the
host (an ordinary `tools/call` on the host's connection). A template user declares both at once:

    @server.tool(scopes=["mcp/dice"], widget=Widget.from_file(HERE / "dice.html", uri="ui://dice/roller.html"))
    def roll_dice(sides: int = 6) -> DiceRoll: ...

`ScopedServer.tool` (app/mcp/permissions.py) then records the resource with exactly the tool's
scopes, so a caller who may not call the tool can neither list nor read its view: the widget is
never the open door beside a locked tool. The wire shapes (the tool's `_meta.ui`, the resource's
MIME type `text/html;profile=mcp-app` and `_meta.ui`) are the SDK's own (`mcp.server.apps.Apps`).

`visibility` (`_meta.ui.visibility`: `"model"`, `"app"`) is mostly the host's to enforce: a
tool call relayed from a view is the same JSON-RPC request as the model's, on the same
connection, so the server cannot tell who asked. What the server can know is whether the client
declared MCP Apps: at 2026-07-28 every request carries the client's capabilities, and a client
without the extension has no view that could call an app-only tool, so `VisibilityGate` hides
such tools from its `tools/list` and refuses its calls to them. At 2025-11-25 the capabilities
come only with `initialize`, which a stateless server does not keep: every tool is listed, and
the host applies `visibility` (the ext-apps specification makes that the host's duty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast, get_args

from mcp.server import MCPServer
from mcp.server.apps import Apps, ResourceCsp, Visibility, client_supports_apps
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from app.mcp.listing import listed_items

_VISIBILITIES: Final[frozenset[str]] = frozenset(get_args(Visibility))
_MODERN: Final = frozenset(MODERN_PROTOCOL_VERSIONS)


@dataclass(frozen=True)
class Widget:
    """A `ui://` HTML view (MCP Apps) that the tools declaring it render their results in.

    `csp` lists the outside origins the view may reach (`connectDomains`, `resourceDomains`, …);
    without it the host applies the specification's restrictive default (no connections).
    """

    uri: str
    html: str
    name: str | None = None
    title: str | None = None
    description: str | None = None
    prefers_border: bool | None = None
    csp: ResourceCsp | None = None

    @classmethod
    def from_file(cls, path: Path, *, uri: str, **kwargs: Any) -> Widget:
        """The view whose HTML is the file at `path` (kept next to its tool module, shipped with it)."""
        return cls(uri=uri, html=path.read_text(encoding="utf-8"), **kwargs)


def apps_extension() -> Apps:
    """The MCP Apps extension to pass to `MCPServer(extensions=[...])`.

    It contributes nothing itself (each widget is added with its tool by `add_widget_tool`); it
    makes the server advertise `io.modelcontextprotocol/ui` in its capabilities, as the SDK and
    SEP-2133 do (`server/discover` at 2026-07-28; the 2025-11-25 `initialize` result has no
    `extensions` field, and hosts there go by the tools' `_meta.ui`).
    """
    return Apps()


def checked_visibility(visibility: Sequence[str] | None) -> list[Visibility] | None:
    """`visibility` as given, if it is a non-empty list of distinct `"model"`/`"app"`; else ValueError."""
    if visibility is None:
        return None
    values = list(visibility)
    if isinstance(visibility, str) or not values or len(set(values)) != len(values):
        raise ValueError('visibility must be a non-empty list of distinct values: ["model"], ["app"] or both')
    unknown = [value for value in values if value not in _VISIBILITIES]
    if unknown:
        raise ValueError(f'visibility knows only "model" and "app", not {", ".join(map(repr, unknown))}')
    return cast("list[Visibility]", values)


def add_widget_tool(
    server: MCPServer,
    fn: Callable[..., Any],
    widget: Widget,
    visibility: Sequence[Visibility] | None,
    *,
    add_resource: bool,
    **tool_kwargs: Any,
) -> None:
    """Register `fn` as a tool linked to `widget` (and the widget's resource when `add_resource`).

    The SDK's `Apps` builds both, so the `_meta.ui` and the resource are exactly what the SDK
    would serve; it raises ValueError for a URI that is not `ui://` or a `meta` with a `ui` key.
    """
    apps = Apps()
    apps.tool(resource_uri=widget.uri, visibility=visibility, **tool_kwargs)(fn)
    apps.add_html_resource(
        widget.uri,
        widget.html,
        name=widget.name,
        title=widget.title,
        description=widget.description,
        csp=widget.csp,
        prefers_border=widget.prefers_border,
    )
    for tool in apps.tools():
        server.add_tool(tool.fn, meta=tool.meta, **tool.kwargs)
    if add_resource:
        for resource in apps.resources():
            server.add_resource(resource.resource)


def app_only(visibility: Iterable[str] | None) -> bool:
    """A tool only a view may call: its visibility is given and leaves out the model."""
    return visibility is not None and "model" not in visibility


class VisibilityGate:
    """SDK middleware: app-only tools are not offered to a client that declared no MCP Apps support.

    Applies where the request itself carries the client's capabilities (2026-07-28 and later):
    such a client's `tools/list` omits the tools whose visibility leaves out `"model"`, and its
    `tools/call` of one is -32602 with a message saying why. Everywhere else it changes nothing
    (see the module doc for what only the host can enforce).
    """

    def __init__(self, app_only_tools: Iterable[str]) -> None:
        self._app_only = frozenset(app_only_tools)

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if not self._app_only or ctx.method not in ("tools/list", "tools/call") or not _lacks_apps(ctx):
            return await call_next(ctx)
        if ctx.method == "tools/call":
            params = ctx.params
            name = params.get("name") if isinstance(params, Mapping) else None
            if name in self._app_only:
                raise MCPError(
                    code=INVALID_PARAMS,
                    message=f"Tool {name!r} is callable only from its MCP Apps view (visibility "
                    '["app"]), and this client did not declare the MCP Apps extension '
                    "(io.modelcontextprotocol/ui with text/html;profile=mcp-app)",
                )
            return await call_next(ctx)
        result, tools = listed_items(await call_next(ctx), "tools", ctx.method)
        return {**result, "tools": [tool for tool in tools if tool.get("name") not in self._app_only]}


def _lacks_apps(ctx: Any) -> bool:
    """The request says which capabilities its client has, and MCP Apps is not among them."""
    return getattr(ctx, "protocol_version", None) in _MODERN and not client_supports_apps(ctx)
