"""Example: a tool with an MCP Apps widget, both behind the same scope.

`roll_dice` names its view, `ui://dice/roller.html` (the HTML in `dice.html`, next to this file),
in the same decorator that declares its scope. The view gets exactly the tool's scopes: a caller
without `mcp/dice` sees neither in `tools/list` or `resources/list`, and reading the view or
calling the tool is the same 403 step-up. A host that supports MCP Apps (extension
`io.modelcontextprotocol/ui`) renders the view with the result; its "Roll again" button calls
`roll_dice` through the host, which sends an ordinary `tools/call` with its own credential: the
same authorizer decides, and the audit trail records the same principal and client.

Clients without MCP Apps get the same result as text and `structuredContent`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final, TypedDict

from mcp.server.mcpserver.exceptions import ToolError

from app.mcp.permissions import ScopedServer
from app.mcp.widgets import Widget

DICE_SCOPE: Final = "mcp/dice"
MAX_SIDES: Final = 1000
MAX_COUNT: Final = 100
DICE_WIDGET: Final = Widget.from_file(
    Path(__file__).with_name("dice.html"),
    uri="ui://dice/roller.html",
    name="dice-roller",
    title="Dice roller",
    description="Shows a roll of dice, and rolls again through the host",
    prefers_border=True,
)


class DiceRoll(TypedDict):
    """What a roll returns (`structuredContent`, which the view renders)."""

    sides: int
    rolls: list[int]
    total: int


def register(server: ScopedServer) -> None:
    """Register `roll_dice` and its view on `server`."""

    @server.tool(title="Roll dice", scopes=[DICE_SCOPE], widget=DICE_WIDGET)
    def roll_dice(sides: int = 6, count: int = 1) -> DiceRoll:
        """Roll `count` dice with `sides` faces each (2-1000 faces, 1-100 dice) and add them up."""
        if not 2 <= sides <= MAX_SIDES or not 1 <= count <= MAX_COUNT:
            raise ToolError(f"sides must be 2 to {MAX_SIDES} and count 1 to {MAX_COUNT}")
        rolls = [secrets.randbelow(sides) + 1 for _ in range(count)]
        return {"sides": sides, "rolls": rolls, "total": sum(rolls)}
