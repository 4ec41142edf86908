"""Scopes declared next to each tool, resource and prompt, and the checks that use them.

A template user registers a tool exactly as with the SDK, adding only `scopes=`:

    @server.tool(scopes=["mcp/profile"])
    def whoami(ctx: Context) -> dict[str, object]: ...

A tool with an MCP Apps view names it in the same call, and the view gets the tool's scopes:

    @server.tool(scopes=["mcp/dice"], widget=Widget.from_file(HERE / "dice.html", uri="ui://dice/roller.html"))
    def roll_dice(sides: int = 6) -> DiceRoll: ...

The scopes are kept in one `ScopeRequirements` table that the HTTP layer consults before the
SDK sees a `tools/call`, `resources/read` or `prompts/get` (403 step-up), and that the list
handlers use to hide what a caller may not use. Keeping the table beside the registration, not
in a separate policy file, means a new tool cannot be added without its permission being
visible in the same diff.

Resources need more than a name lookup: a `resources/read` names a concrete URI, and the SDK
serves it from the static resource with exactly that URI or else from the first resource
TEMPLATE (RFC 6570, matched by the SDK's own `UriTemplate`) that matches it, in registration
order. `ScopeRequirements.requirement` resolves a URI the same way, with the same matcher, so a
template's scopes apply to every URI it serves. A URI that resolves to nothing is refused at
the edge: letting it through "unscoped" is how a template's scopes were once skipped.
Resources must therefore be registered through `ScopedServer` (one registered on the bare SDK
server is neither listed nor readable).

Also here, because they guard what a request may reach before a handler runs:

- `routing_header_mismatch`: the `Mcp-Method`/`Mcp-Name` headers (SEP-2243) that the
  authorizer decides on must say what the body does;
- `PromptRequestCheck`: an unknown prompt or a missing required prompt argument is the
  caller's mistake (-32602), not the server's (-32603, as the SDK answers it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from mcp.server import MCPServer
from mcp.server.apps import Visibility
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    NAME_BEARING_METHODS,
    decode_header_value,
    find_duplicated_routing_header,
)
from mcp.shared.uri_template import UriTemplate
from mcp_types.jsonrpc import INVALID_PARAMS

from app.auth.tool_scopes import ToolScopes, tool_scopes_of
from app.core.config import SettingsSource
from app.mcp.listing import listed_items
from app.mcp.widgets import Widget, add_widget_tool, app_only, checked_visibility

Kind = Literal["tool", "resource", "resource_template", "prompt"]
_F = TypeVar("_F", bound=Callable[..., Any])
# Unknown tool and prompt names need no scope: the SDK answers them itself (an `isError` tool
# result, -32602). An unknown resource URI is refused at the edge instead (see module doc).
_OPEN_WHEN_UNDECLARED: Final[frozenset[Kind]] = frozenset({"tool", "prompt"})


@dataclass
class ScopeRequirements:
    """Which scopes each named tool, resource (by URI), resource template and prompt requires."""

    _table: dict[tuple[Kind, str], frozenset[str]] = field(default_factory=dict)
    # Insertion order is the SDK's matching order (its template dict keeps it the same way).
    _templates: dict[str, UriTemplate] = field(default_factory=dict)

    def declare(self, kind: Kind, name: str, scopes: Iterable[str]) -> None:
        """Record the scopes of one item; `ValueError` if it was declared with other scopes.

        The SDK keeps the first tool, prompt or static resource registered under a name and
        the last template, so a second declaration with different scopes would leave the
        table describing an item the SDK does not serve: refuse it at start-up instead.
        """
        needed = frozenset(scopes)
        previous = self._table.get((kind, name))
        if previous is not None and previous != needed:
            raise ValueError(f"{kind} {name!r} is registered twice with different scopes; register it once")
        if kind == "resource_template":
            self._templates[name] = UriTemplate.parse(name)
        self._table[(kind, name)] = needed

    def declared(self, kind: Kind, name: str) -> bool:
        return (kind, name) in self._table

    def resolve_resource(self, uri: str) -> tuple[Kind, str] | None:
        """The static resource or template the SDK would serve `uri` from, or None.

        Mirrors the SDK's `ResourceManager.get_resource`: the exact static URI first, then the
        first template whose pattern matches. (The SDK answers "unknown resource" rather than
        trying a later template when a matching template's parameters fail its path-safety
        checks, so the first pattern match is also the only template it could serve.)
        """
        if ("resource", uri) in self._table:
            return "resource", uri
        for template, parsed in self._templates.items():
            if parsed.match(uri) is not None:
                return "resource_template", template
        return None

    def requirement(self, kind: Kind, name: str) -> frozenset[str] | None:
        """Scopes needed for `name`, or None when no declared item answers to it.

        For `"resource"`, `name` is a requested URI and resolves like `resolve_resource`.
        """
        if kind == "resource":
            item = self.resolve_resource(name)
            return None if item is None else self._table[item]
        return self._table.get((kind, name))

    def required(self, kind: Kind, name: str) -> frozenset[str]:
        """Scopes needed for `name`; an undeclared name needs none (see `allows` for why)."""
        return self.requirement(kind, name) or frozenset()

    def allows(self, kind: Kind, name: str, granted: Iterable[str]) -> bool:
        """May a caller holding `granted` see or use `name`?

        Undeclared tools and prompts: yes (the SDK answers unknown names itself). Undeclared
        resources and templates: no, so a listing never shows what a read would refuse.
        """
        needed = self.requirement(kind, name)
        if needed is None:
            return kind in _OPEN_WHEN_UNDECLARED
        return needed <= frozenset(granted)

    def missing(self, kind: Kind, name: str, granted: Iterable[str]) -> frozenset[str]:
        return self.required(kind, name) - frozenset(granted)

    def all_scopes(self) -> frozenset[str]:
        """Every scope some item requires (advertised in `scopes_supported`)."""
        return frozenset().union(*self._table.values()) if self._table else frozenset()

    def tool_scopes(self) -> ToolScopes:
        """The table in the form the authorizer loads (see `app.auth.tool_scopes`)."""
        sections = {
            "tool": "tools",
            "prompt": "prompts",
            "resource": "resources",
            "resource_template": "resource_templates",
        }
        return tool_scopes_of((sections[kind], name, scopes) for (kind, name), scopes in self._table.items())


class ScopedServer:
    """An `MCPServer` whose decorators also record the scopes each item requires."""

    def __init__(self, server: MCPServer, requirements: ScopeRequirements | None = None) -> None:
        self.mcp = server
        self.requirements = requirements or ScopeRequirements()
        # Tools whose argument values may be audited (redacted) when AUDIT_LOG_ARGUMENTS is on.
        self.audited_arguments: set[str] = set()
        # Where tools read their own settings and credentials; set by `app.mcp.asgi.create_app`.
        self.settings: SettingsSource | None = None
        # MCP Apps views by URI, each widget tool's view URI, and the tools only a view may call.
        self.widgets: dict[str, Widget] = {}
        self.widget_of: dict[str, str] = {}
        self.app_only_tools: set[str] = set()

    def tool(
        self,
        *,
        scopes: Sequence[str] = (),
        name: str | None = None,
        audit_arguments: bool = False,
        widget: Widget | None = None,
        visibility: Sequence[Visibility] | None = None,
        **kwargs: Any,
    ) -> Callable[[_F], _F]:
        """A tool needing `scopes`; with `widget=`, also its MCP Apps view, needing the same scopes.

        `visibility` (`["model"]`, `["app"]`, both by default) says who the host may offer the
        tool to; it needs a widget. `app/mcp/widgets.py` says what the server itself enforces.
        """
        checked = checked_visibility(visibility)
        if checked is not None and widget is None:
            raise ValueError("visibility= needs a widget=: it says whether the tool's view may call it")
        if widget is None and isinstance(kwargs.get("meta"), Mapping) and "ui" in kwargs["meta"]:
            # A hand-written `_meta.ui` would link a view whose scopes nobody declared.
            raise ValueError("declare a tool's MCP Apps view with widget=Widget(...), not meta={'ui': ...}")

        def decorator(fn: _F) -> _F:
            tool_name = name or fn.__name__
            self.requirements.declare("tool", tool_name, scopes)
            if audit_arguments:
                self.audited_arguments.add(tool_name)
            if widget is None:
                return self.mcp.tool(name=name, **kwargs)(fn)
            first_use = self._declare_widget(widget, tool_name, scopes)
            add_widget_tool(self.mcp, fn, widget, checked, add_resource=first_use, name=name, **kwargs)
            if app_only(checked):
                self.app_only_tools.add(tool_name)
            return fn

        return decorator

    def _declare_widget(self, widget: Widget, tool_name: str, scopes: Sequence[str]) -> bool:
        """Record `widget`'s resource with the tool's scopes; True the first time it is seen.

        Tools may share a view only if they need the same scopes: the view needs exactly theirs,
        so that whoever may call one may read it, and nobody else.
        """
        known = self.widgets.get(widget.uri)
        if known is not None and known != widget:
            raise ValueError(f"two different widgets use the URI {widget.uri!r}; give each its own URI")
        if known is not None and self.requirements.required("resource", widget.uri) != frozenset(scopes):
            raise ValueError(
                f"tool {tool_name!r} shares the widget {widget.uri!r} with tools that need other scopes; "
                "a widget needs exactly its tools' scopes: give them the same scopes or separate widgets"
            )
        self.requirements.declare("resource", widget.uri, scopes)
        self.widgets[widget.uri] = widget
        self.widget_of[tool_name] = widget.uri
        return known is None

    def resource(self, uri: str, *, scopes: Sequence[str] = (), **kwargs: Any) -> Callable[[_F], _F]:
        """A static resource, or a resource template when `uri` has `{variables}`.

        Template or not is decided as the SDK decides it: by whether the RFC 6570 template has
        variables. A template's scopes apply to every URI it matches.
        """
        kind: Kind = "resource_template" if UriTemplate.parse(uri).variable_names else "resource"

        def decorator(fn: _F) -> _F:
            self.requirements.declare(kind, uri, scopes)
            return self.mcp.resource(uri, **kwargs)(fn)

        return decorator

    def prompt(
        self, *, scopes: Sequence[str] = (), name: str | None = None, **kwargs: Any
    ) -> Callable[[_F], _F]:
        def decorator(fn: _F) -> _F:
            self.requirements.declare("prompt", name or fn.__name__, scopes)
            return self.mcp.prompt(name=name, **kwargs)(fn)

        return decorator


def target_of(message: dict[str, Any]) -> tuple[Kind, str] | None:
    """The tool, resource or prompt a JSON-RPC request acts on, if any."""
    params = message.get("params")
    if not isinstance(params, dict):
        return None
    method = message.get("method")
    if method == "tools/call" and isinstance(params.get("name"), str):
        return "tool", params["name"]
    if method == "resources/read" and isinstance(params.get("uri"), str):
        return "resource", params["uri"]
    if method == "prompts/get" and isinstance(params.get("name"), str):
        return "prompt", params["name"]
    if method == "completion/complete":
        # Completions reveal what a prompt or template would accept: they need its scopes too.
        ref = params.get("ref")
        if isinstance(ref, dict) and ref.get("type") == "ref/prompt" and isinstance(ref.get("name"), str):
            return "prompt", ref["name"]
        if isinstance(ref, dict) and ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
            uri: str = ref["uri"]
            return ("resource_template" if "{" in uri else "resource"), uri
    return None


_LISTS: dict[str, tuple[str, Kind, str]] = {
    "tools/list": ("tools", "tool", "name"),
    "resources/list": ("resources", "resource", "uri"),
    "resources/templates/list": ("resourceTemplates", "resource_template", "uriTemplate"),
    "prompts/list": ("prompts", "prompt", "name"),
}


class ListFilter:
    """SDK middleware: list results show only the items the caller holds the scopes for.

    `granted` reads the caller's scopes from the request behind the SDK context; `None` means
    no principal, which shows only items that need no extra scope.
    """

    def __init__(
        self, requirements: ScopeRequirements, granted: Callable[[Any], frozenset[str] | None]
    ) -> None:
        self._requirements = requirements
        self._granted = granted

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        result = await call_next(ctx)
        listing = _LISTS.get(ctx.method)
        if listing is None:
            return result
        field_name, kind, key = listing
        result, items = listed_items(result, field_name, ctx.method)
        granted = self._granted(ctx) or frozenset()
        visible = [item for item in items if self._requirements.allows(kind, str(item.get(key)), granted)]
        return {**result, field_name: visible}


def routing_header_mismatch(headers: Iterable[tuple[str, str]], message: Mapping[str, Any]) -> str | None:
    """Why the routing headers disagree with the JSON-RPC body, or None when they agree.

    SEP-2243 (protocol 2026-07-28) has clients mirror the method in `Mcp-Method` and, for
    `tools/call`, `prompts/get` and `resources/read`, the name or URI in `Mcp-Name`, so that
    an intermediary can route and authorize without parsing the body. The authorizer decides
    per tool from these headers, so a body that says something else must never run, whatever
    protocol version it speaks. Headers that are absent say nothing: a 2025-11-25 client
    sends neither and is not affected.

    `headers` are the raw (name, value) lines: a repeated routing header is a mismatch in
    itself, as first-copy and last-copy readers would disagree.
    """
    duplicated = find_duplicated_routing_header(headers)
    if duplicated is not None:
        return f"the {duplicated} header appears more than once"
    folded = {name.lower(): value for name, value in headers}
    method_header = folded.get(MCP_METHOD_HEADER)
    name_header = folded.get(MCP_NAME_HEADER)
    if method_header is None and name_header is None:
        return None
    method = message.get("method")
    if method_header is not None and method_header != method:
        return f"the {MCP_METHOD_HEADER} header does not match the body's method"
    name_key = NAME_BEARING_METHODS.get(method) if isinstance(method, str) else None
    if name_key is None:
        if name_header is not None:
            return f"the {MCP_NAME_HEADER} header names something, but the body's method names nothing"
        return None
    params = message.get("params")
    body_name = params.get(name_key) if isinstance(params, Mapping) else None
    # Equal only when both are present and the same string: an absent header, an absent
    # body value or a malformed base64 sentinel (decoded to None) never matches.
    if not isinstance(body_name, str) or decode_header_value(name_header) != body_name:
        return f"the {MCP_NAME_HEADER} header does not match the body's {name_key!r}"
    return None


class PromptRequestCheck:
    """SDK middleware: a `prompts/get` the SDK cannot serve because of its params is -32602.

    The SDK raises a bare `ValueError` for an unknown prompt name and for a missing required
    argument, which the client sees as -32603 Internal error and the audit trail records as a
    server error. Both are the caller's mistake (JSON-RPC 2.0 §5.1, Invalid params), so they
    are answered as such before the SDK renders the prompt; a prompt that crashes while
    rendering stays an internal error. Params that are malformed in shape are left to the
    SDK's own validation, which already answers -32602.
    """

    def __init__(self, server: MCPServer) -> None:
        self._server = server

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if ctx.method == "prompts/get":
            problem = await self._problem(ctx.params)
            if problem is not None:
                raise MCPError(code=INVALID_PARAMS, message=problem)
        return await call_next(ctx)

    async def _problem(self, params: Any) -> str | None:
        if not isinstance(params, Mapping) or not isinstance(params.get("name"), str):
            return None
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, Mapping):
            return None
        name = params["name"]
        prompt = next((p for p in await self._server.list_prompts() if p.name == name), None)
        if prompt is None:
            # The caller's string is not echoed: it could be anything, of any length.
            return "Unknown prompt: no prompt of that name is offered here (see prompts/list)"
        given = set(arguments or {})
        missing = sorted(a.name for a in prompt.arguments or () if a.required and a.name not in given)
        if missing:
            return f"Missing required argument(s) for prompt {prompt.name!r}: {', '.join(missing)}"
        return None
