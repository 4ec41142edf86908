"""The scopes the tools declare, read from the app code at synth.

The stack needs them three times: the authorizer's asset carries them (per-tool decisions), the
gateway's 403 challenge names them, and the Cognito resource server must issue each of them (a
tool whose scope the pool cannot issue could never be called). Infra imports nothing from `app/`,
so the registry is exported by `python -m app.mcp.tool_scopes_export` in a subprocess, once per
process and source folder.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.config import COGNITO_BASE_SCOPE_NAME, COGNITO_RESOURCE_SERVER_ID, COGNITO_SCOPE_NAME, ConfigError

# The file name inside the authorizer's asset (`/var/task/tool_scopes.json` on Lambda).
TOOL_SCOPES_FILE_NAME: Final = "tool_scopes.json"


# The registry's server names and where each is served (the contract of app/servers/__init__.py,
# which infra does not import): the first server at /mcp, every other at /<name>/mcp.
PRIMARY_PATH: Final = "/mcp"
SERVER_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,30}")
RESERVED_SERVER_NAMES: Final = frozenset({"mcp", "oauth", "health", "inspector", ".well-known"})
# A version-1 document (one server) is the primary server under this name.
PRIMARY_NAME_V1: Final = "main"


def server_path(name: str, *, primary: bool) -> str:
    return PRIMARY_PATH if primary else f"/{name}{PRIMARY_PATH}"


@dataclass(frozen=True)
class ServerScopes:
    """One MCP server of the registry: its name, its path and the scopes its items declare."""

    name: str
    path: str
    # {"tools": {"deploy": ["mcp/deploy"]}, "prompts": {...}, ...}: version 1's top level.
    sections: Mapping[str, Mapping[str, Sequence[str]]]

    @property
    def primary(self) -> bool:
        return self.path == PRIMARY_PATH

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope some tool, prompt or resource of this server requires, sorted."""
        return tuple(
            sorted(
                {scope for items in self.sections.values() for scopes in items.values() for scope in scopes}
            )
        )

    def users_of(self, scope: str) -> list[str]:
        return sorted(
            f"{section}/{name}"
            for section, items in self.sections.items()
            for name, scopes in items.items()
            if scope in scopes
        )


def _sections(document: Mapping[str, Any], where: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    for section, items in document.items():
        if section in ("version", "path"):
            continue
        if not isinstance(items, dict) or not all(
            isinstance(scopes, list) and all(isinstance(s, str) for s in scopes) for scopes in items.values()
        ):
            raise ConfigError(
                f"the tool registry export's {where}{section!r} is not an object of scope lists"
            )
        sections[section] = items
    return sections


def parse_servers(document: Mapping[str, Any]) -> tuple[ServerScopes, ...]:
    """The servers of an exported document, the primary (at /mcp) first, then by name.

    Version 2 lists them under `servers`; version 1 (a registry of one server) is the primary
    server "main". The export's key order carries no meaning, so the primary is the one at /mcp.
    """
    version = document.get("version")
    if version == 1:
        return (ServerScopes(PRIMARY_NAME_V1, PRIMARY_PATH, _sections(document, "")),)
    if version != 2:
        raise ConfigError(
            f"the tool registry export has version {version!r}; this stack reads versions 1 and 2 "
            "(update infra/ or app/ so both come from the same release)"
        )
    entries = document.get("servers")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError("the tool registry export (version 2) lists no servers under 'servers'")
    servers: list[ServerScopes] = []
    for name, entry in entries.items():
        where = f"server {name!r}"
        if not isinstance(name, str) or not SERVER_NAME.fullmatch(name) or name in RESERVED_SERVER_NAMES:
            raise ConfigError(
                f"{where} in app/servers/__init__.py: a server name is [a-z][a-z0-9-]{{0,30}} and not one of "
                f"{sorted(RESERVED_SERVER_NAMES)}; rename it in SERVERS"
            )
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} in the tool registry export is not an object")
        path = entry.get("path")
        if path != PRIMARY_PATH and path != server_path(name, primary=False):
            raise ConfigError(
                f"{where} has path {path!r}; the first server of SERVERS is at {PRIMARY_PATH}, every "
                f"other at /<name>{PRIMARY_PATH} ({server_path(name, primary=False)})"
            )
        servers.append(ServerScopes(name, path, _sections(entry, f"{where}: ")))
    primaries = [server.name for server in servers if server.primary]
    if len(primaries) != 1:
        raise ConfigError(
            f"the tool registry export has {len(primaries)} servers at {PRIMARY_PATH} ({primaries}); "
            "exactly one, the first entry of SERVERS, is"
        )
    return tuple(sorted(servers, key=lambda server: (not server.primary, server.name)))


@dataclass(frozen=True)
class DeclaredScopes:
    """The exported tool-scopes document and what the stack derives from it."""

    document: dict[str, Any]

    @property
    def text(self) -> str:
        """What the authorizer's asset carries: the document as exported (version 2 with servers)."""
        return json.dumps(self.document, separators=(",", ":"), sort_keys=True)

    @functools.cached_property
    def servers(self) -> tuple[ServerScopes, ...]:
        """Every server, the primary first; a malformed document stops synth (ConfigError)."""
        return parse_servers(self.document)

    @property
    def primary(self) -> ServerScopes:
        return self.servers[0]

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope some tool, prompt or resource of some server requires, sorted: the Cognito
        resource server issues them all and the gateway's 403 (one per API) names them all."""
        return tuple(sorted({scope for server in self.servers for scope in server.scopes}))

    def users_of(self, scope: str) -> list[str]:
        """Which items require `scope`, for error messages ("tools/whoami"; "research: tools/x"
        when there are several servers)."""
        several = len(self.servers) > 1
        return [
            f"{server.name}: {user}" if several else user
            for server in self.servers
            for user in server.users_of(scope)
        ]

    def cognito_scope_names(self) -> tuple[str, ...]:
        """Resource-server scope names (`profile` for `mcp/profile`); ConfigError for any other form."""
        prefix = f"{COGNITO_RESOURCE_SERVER_ID}/"
        names: list[str] = []
        for scope in self.scopes:
            name = scope.removeprefix(prefix)
            if not scope.startswith(prefix) or not COGNITO_SCOPE_NAME.match(name):
                raise ConfigError(
                    f"{', '.join(self.users_of(scope))} requires the scope {scope!r}, which the Cognito "
                    f"user pool cannot issue: with IDENTITY_PROVIDER=cognito every tool scope is "
                    f"'{prefix}<name>' (letters, digits and punctuation other than '\"', '/' and '\\'); "
                    "rename the scope in the tool's `scopes=[...]`"
                )
            if name == COGNITO_BASE_SCOPE_NAME:
                continue  # the base scope is always there
            names.append(name)
        return tuple(names)


@functools.cache
def declared_scopes(app_source_dir: Path) -> DeclaredScopes:
    """Run the registry export against `app_source_dir` (a folder named `app`)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app.mcp.tool_scopes_export"],
            cwd=app_source_dir.parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"could not run the tool registry export: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigError(
            f"the tool registry in {app_source_dir} does not load, so the stack cannot know the tools' "
            f"scopes: {last} (run `python -m app.mcp.tool_scopes_export` to see the whole error)"
        )
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise ConfigError(
            "`python -m app.mcp.tool_scopes_export` printed something that is not JSON"
        ) from None
    if not isinstance(document, dict):
        raise ConfigError("`python -m app.mcp.tool_scopes_export` printed JSON that is not an object")
    declared = DeclaredScopes(document)
    declared.servers  # noqa: B018 (a malformed registry stops synth here, with its message)
    return declared
