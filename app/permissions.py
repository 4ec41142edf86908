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

Kind = Literal["tool", "resource", "prompt"]
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass
class ScopeRequirements:
    """Which scopes each named tool, resource (by URI) and prompt requires."""

    _table: dict[tuple[Kind, str], frozenset[str]] = field(default_factory=dict)

    def declare(self, kind: Kind, name: str, scopes: Iterable[str]) -> None:
        self._table[(kind, name)] = frozenset(scopes)

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


class ScopedServer:
    """An `MCPServer` whose decorators also record the scopes each item requires."""

    def __init__(self, server: MCPServer, requirements: ScopeRequirements | None = None) -> None:
        self.mcp = server
        self.requirements = requirements or ScopeRequirements()

    def tool(
        self, *, scopes: Sequence[str] = (), name: str | None = None, **kwargs: Any
    ) -> Callable[[_F], _F]:
        def decorator(fn: _F) -> _F:
            self.requirements.declare("tool", name or fn.__name__, scopes)
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
