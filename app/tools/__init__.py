"""The MCP tools, resources and prompts this server offers.

Add your own module next to `examples.py`, give it a `register(server)` function and list it in
`TOOL_MODULES`: that is the whole contract. `dice.py` shows a tool with an MCP Apps widget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.tools import dice, examples, notes, upstream

if TYPE_CHECKING:
    from app.mcp.permissions import ScopedServer

TOOL_MODULES: tuple[Callable[[ScopedServer], None], ...] = (
    examples.register,
    upstream.register,
    notes.register,
    dice.register,
)


def register_all(server: ScopedServer) -> None:
    """Register every tool module's tools, resources and prompts on `server`."""
    for register in TOOL_MODULES:
        register(server)
