"""A registry of several MCP servers for the infra tests, written as an app folder at test time.

The stack learns its servers from `python -m app.mcp.tool_scopes_export` run in APP_SOURCE_DIR's
parent (infra/registry.py). These tests must not depend on the app side's registry (issue 14 is
built on two branches), so the folder's export prints a version-2 document written here. The
functions' assets are that folder too (the infra tests never bundle).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Key order carries no meaning in the export: the second server comes first on purpose.
TWO_SERVERS: dict[str, Any] = {
    "version": 2,
    "servers": {
        "research": {
            "path": "/research/mcp",
            "tools": {"search_papers": ["mcp/research"], "cite": []},
            "prompts": {"summarize": ["mcp/research.read"]},
            "resources": {},
            "resource_templates": {},
        },
        "main": {
            "path": "/mcp",
            "tools": {"whoami": ["mcp/profile"], "add": []},
            "prompts": {},
            "resources": {"notes://all": ["mcp/notes"]},
            "resource_templates": {},
        },
    },
}
MAIN_SCOPES = ("mcp/notes", "mcp/profile")
RESEARCH_SCOPES = ("mcp/research", "mcp/research.read")

_EXPORT = """import json, sys
json.dump(json.loads({text!r}), sys.stdout, separators=(",", ":"), sort_keys=True)
sys.stdout.write("\\n")
"""


def write_app(root: Path, document: dict[str, Any]) -> Path:
    """`root/app`, whose tool registry export prints `document`; returns the app folder."""
    app = root / "app"
    (app / "mcp").mkdir(parents=True, exist_ok=True)
    files = {
        app / "__init__.py": "",
        app / "mcp" / "__init__.py": "",
        app / "mcp" / "tool_scopes_export.py": _EXPORT.format(text=json.dumps(document, sort_keys=True)),
    }
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            # Written whole, then renamed: a parallel worker never reads half a file.
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text)
            partial.replace(path)
    return app


# The same registry before "research" was added: a deployed stack of one server.
ONE_SERVER: dict[str, Any] = {"version": 2, "servers": {"main": TWO_SERVERS["servers"]["main"]}}


def fixture_app(name: str, document: dict[str, Any]) -> Path:
    """An app folder at a fixed place (module-level contexts name it before any fixture runs)."""
    return write_app(Path(tempfile.gettempdir()) / f"serverless-mcp-infra-{name}-{os.getuid()}", document)


TWO_SERVER_CONTEXT: dict[str, object] = {
    "STACK_NAME": "McpServers",
    "APP_SOURCE_DIR": str(fixture_app("two-servers", TWO_SERVERS)),
}
ONE_SERVER_CONTEXT: dict[str, object] = {
    "STACK_NAME": "McpServers",
    "APP_SOURCE_DIR": str(fixture_app("one-server", ONE_SERVER)),
}
