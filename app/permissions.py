"""Scopes declared next to each tool, resource and prompt, and the checks that use them.

A template user registers a tool exactly as with the SDK, adding only `scopes=`:

    @server.tool(scopes=["mcp/profile"])
    def whoami(ctx: Context) -> dict[str, object]: ...

The scopes are kept in one `ScopeRequirements` table that the HTTP layer consults before the
SDK sees a `tools/call` (403 step-up) and that the list handlers use to hide what a caller may
not call. Keeping the table beside the registration, not in a separate policy file, means a
new tool cannot be added without its permission being visible in the same diff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from mcp.server import MCPServer

from app.auth.tool_scopes import ToolScopes, tool_scopes_of
from app.config import SettingsSource

Kind = Literal["tool", "resource", "prompt"]
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass
class ScopeRequirements:
    """Which scopes each named tool, resource (by URI) and prompt requires."""

    _table: dict[tuple[Kind, str], frozenset[str]] = field(default_factory=dict)

    def declare(self, kind: Kind, name: str, scopes: Iterable[str]) -> None:
        self._table[(kind, name)] = frozenset(scopes)

    def declared(self, kind: Kind, name: str) -> bool:
        return (kind, name) in self._table

    def required(self, kind: Kind, name: str) -> frozenset[str]:
        """Scopes needed for `name`; unknown names need none (the SDK answers "unknown")."""
        return self._table.get((kind, name), frozenset())

    def allows(self, kind: Kind, name: str, granted: Iterable[str]) -> bool:
        return self.required(kind, name) <= frozenset(granted)

    def missing(self, kind: Kind, name: str, granted: Iterable[str]) -> frozenset[str]:
        return self.required(kind, name) - frozenset(granted)

    def all_scopes(self) -> frozenset[str]:
        """Every scope some item requires (advertised in `scopes_supported`)."""
        return frozenset().union(*self._table.values()) if self._table else frozenset()

    def tool_scopes(self) -> ToolScopes:
        """The table in the form the authorizer loads (see `app.auth.tool_scopes`)."""
        sections = {"tool": "tools", "prompt": "prompts", "resource": "resources"}
        return tool_scopes_of(
            ("resource_templates" if kind == "resource" and "{" in name else sections[kind], name, scopes)
            for (kind, name), scopes in self._table.items()
        )


class ScopedServer:
    """An `MCPServer` whose decorators also record the scopes each item requires."""

    def __init__(self, server: MCPServer, requirements: ScopeRequirements | None = None) -> None:
        self.mcp = server
        self.requirements = requirements or ScopeRequirements()
        # Tools whose argument values may be audited (redacted) when AUDIT_LOG_ARGUMENTS is on.
        self.audited_arguments: set[str] = set()
        # Where tools read their own settings and credentials; set by `app.asgi.create_app`.
        self.settings: SettingsSource | None = None

    def tool(
        self,
        *,
        scopes: Sequence[str] = (),
        name: str | None = None,
        audit_arguments: bool = False,
        **kwargs: Any,
    ) -> Callable[[_F], _F]:
        def decorator(fn: _F) -> _F:
            tool_name = name or fn.__name__
            self.requirements.declare("tool", tool_name, scopes)
            if audit_arguments:
                self.audited_arguments.add(tool_name)
            return self.mcp.tool(name=name, **kwargs)(fn)

        return decorator

    def resource(self, uri: str, *, scopes: Sequence[str] = (), **kwargs: Any) -> Callable[[_F], _F]:
        def decorator(fn: _F) -> _F:
            self.requirements.declare("resource", uri, scopes)
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
    return None


_LISTS: dict[str, tuple[str, Kind, str]] = {
    "tools/list": ("tools", "tool", "name"),
    "resources/list": ("resources", "resource", "uri"),
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
        if not isinstance(result, dict) and hasattr(result, "model_dump"):
            result = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        field_name, kind, key = listing
        items = result.get(field_name) if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(items, list):
            # Fail closed: an unfilterable listing is an error, never an unfiltered list.
            raise RuntimeError(f"cannot filter {ctx.method} result by scope")
        granted = self._granted(ctx) or frozenset()
        visible = [item for item in items if self._requirements.allows(kind, str(item.get(key)), granted)]
        return {**result, field_name: visible}
