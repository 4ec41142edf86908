"""`mcp-lambda new-server NAME`: a new MCP server is one folder plus one registry line.

Writes `app/servers/<package>/__init__.py` (an example tool with the server's own scope) and
appends `ServerSpec("<name>", "app.servers.<package>")` to `SERVERS` in `app/servers/__init__.py`.
The package is the name with `-` turned into `_` (a module name can't hold `-`). Nothing is
written when the name is not a valid, free server name, so a failed run leaves no half-made server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.core.servers import check_server_name, server_path

REGISTRY_FILE: Final = Path("app/servers/__init__.py")
_SERVERS_START: Final = re.compile(r"^SERVERS: tuple\[ServerSpec, \.\.\.\] = \($", re.MULTILINE)

TEMPLATE: Final = '''"""The {name} MCP server, served at {path} by its own Lambda function (docs/servers.md).

Add tools, resources and prompts in `register_all` (or in modules next to this file), each with the
scopes it needs; a client signs in for this server's URL and gets a token only this server accepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from app.mcp.permissions import ScopedServer

NAME = "serverless-mcp-{name}"
INSTRUCTIONS = "The {name} server of this API. Tools you lack the scope for are hidden from tools/list."
SCOPE: Final = "mcp/{name}"


def register_all(server: ScopedServer) -> None:
    """Register this server's tools, resources and prompts on `server`."""

    @server.tool(title="Echo", scopes=[SCOPE])
    def echo(text: str) -> str:
        """Return `text` unchanged (an example: replace it with this server's first real tool)."""
        return text
'''


class ScaffoldError(ValueError):
    """The server can't be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class NewServer:
    name: str
    package: str
    folder: Path
    path: str


def new_server(root: Path, name: str) -> NewServer:
    """Create the server `name` in the repository at `root`; `ScaffoldError` if it can't."""
    try:
        check_server_name(name, "new-server")
    except ValueError as error:
        raise ScaffoldError(str(error)) from None
    registry = root / REGISTRY_FILE
    if not registry.is_file():
        raise ScaffoldError(f"{registry} not found: run this from the repository's root (or pass --root)")
    text = registry.read_text(encoding="utf-8")
    if f'ServerSpec("{name}",' in text:
        raise ScaffoldError(f"a server named {name!r} is already listed in {REGISTRY_FILE}")
    package = name.replace("-", "_")
    folder = root / "app" / "servers" / package
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists: choose another name or remove it")
    start = _SERVERS_START.search(text)
    end = text.find("\n)\n", start.end()) if start else -1
    if start is None or end < 0:
        raise ScaffoldError(
            f"{REGISTRY_FILE} has no `SERVERS: tuple[ServerSpec, ...] = (` ... `)` block to add the line to"
        )
    path = server_path(name, primary=False)
    line = f'\n    ServerSpec("{name}", "app.servers.{package}"),  # at {path}'
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(TEMPLATE.format(name=name, path=path), encoding="utf-8")
    registry.write_text(text[:end] + line + text[end:], encoding="utf-8")
    return NewServer(name, f"app.servers.{package}", folder, path)
