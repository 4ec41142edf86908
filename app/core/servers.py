"""Several MCP servers behind one API: what a server entry is, its path and its public URL.

The registry itself (`app/servers/__init__.py`, one line per server) is what a template user
edits; this module holds the rules every function agrees on, without importing any server:

- the FIRST entry is the primary server, served at `/mcp` (as a single-server stack always was);
  every other entry is served at `/<name>/mcp`;
- a server's resource URL (RFC 8707, the `aud` its tokens carry) is `MCP_URL` with its trailing
  `/mcp` replaced by the server's path: `https://h/prod/mcp` → `https://h/prod/research/mcp`;
- its protected-resource metadata (RFC 9728 §3.1) is at the path-inserted well-known URL under
  the same base: `https://h/prod/.well-known/oauth-protected-resource/research/mcp`.

Names are `[a-z][a-z0-9-]{0,30}` and never a path the API already serves at its root, so a
server's path can't shadow the front, the metadata or the inspector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from app.auth.tool_scopes import SERVER_NAME

MCP_PATH: Final = "/mcp"
PRM_PATH: Final = "/.well-known/oauth-protected-resource"
# The methods the API routes to a server's function through the authorizer (OPTIONS is a MOCK).
SERVER_METHODS: Final = ("POST", "GET", "DELETE")
# The environment variable that tells an MCP function which registry entry it serves.
MCP_SERVER_ENV: Final = "MCP_SERVER"

RESERVED_NAMES: Final = frozenset({"mcp", "oauth", "health", "inspector", ".well-known"})


@dataclass(frozen=True)
class ServerSpec:
    """One registry line: the server's name and the package holding its tools.

    The package exposes `register_all(server: ScopedServer)` and optionally `NAME` (the name the
    server reports to clients) and `INSTRUCTIONS`.
    """

    name: str
    package: str


@dataclass(frozen=True)
class Server:
    """A registry entry placed: its name, its package and the path the API serves it at."""

    name: str
    package: str
    path: str

    @property
    def primary(self) -> bool:
        return self.path == MCP_PATH


def server_path(name: str, *, primary: bool) -> str:
    return MCP_PATH if primary else f"/{name}{MCP_PATH}"


def check_server_name(name: object, where: str) -> str:
    """`name` if it may name a server; ValueError naming `where` otherwise."""
    if not isinstance(name, str) or not SERVER_NAME.fullmatch(name):
        raise ValueError(
            f"{where}: the server name {name!r} must be 1-31 characters of a-z 0-9 -, starting with a letter"
        )
    if name in RESERVED_NAMES:
        raise ValueError(f"{where}: the server name {name!r} is reserved (the API already serves that path)")
    return name


class Registry:
    """The validated registry: servers in order, the first one primary, by name and by path."""

    def __init__(self, specs: Iterable[ServerSpec]) -> None:
        servers: list[Server] = []
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            where = f"app/servers/__init__.py SERVERS[{index}]"
            if not isinstance(spec, ServerSpec):
                raise ValueError(f"{where} must be a ServerSpec(name, package)")
            name = check_server_name(spec.name, where)
            if name in seen:
                raise ValueError(f"{where}: the server name {name!r} is listed twice")
            if not isinstance(spec.package, str) or not spec.package:
                raise ValueError(f"{where}: the package must be a module name such as 'app.servers.{name}'")
            seen.add(name)
            servers.append(Server(name, spec.package, server_path(name, primary=not servers)))
        if not servers:
            raise ValueError("app/servers/__init__.py SERVERS lists no server: keep at least the primary one")
        self.servers: tuple[Server, ...] = tuple(servers)
        self._by_name = {server.name: server for server in servers}

    @property
    def primary(self) -> Server:
        return self.servers[0]

    def get(self, name: str) -> Server:
        """The server called `name`; ValueError naming MCP_SERVER when there is none."""
        server = self._by_name.get(name)
        if server is None:
            known = ", ".join(self._by_name)
            raise ValueError(
                f"{MCP_SERVER_ENV}={name!r} names no server of app/servers/__init__.py ({known})"
            )
        return server

    def selected(self, env: Mapping[str, str]) -> Server:
        """The server an MCP function runs: `MCP_SERVER`, or the primary one when unset."""
        name = env.get(MCP_SERVER_ENV, "").strip()
        return self.get(name) if name else self.primary


def server_url(mcp_url: str, path: str) -> str:
    """The resource URL of the server at `path`: `MCP_URL` with its `/mcp` replaced by `path`."""
    if not mcp_url.endswith(MCP_PATH):
        raise ValueError("the MCP URL must end in /mcp")
    return mcp_url[: -len(MCP_PATH)] + path


def server_metadata_url(mcp_url: str, path: str) -> str:
    """Where the RFC 9728 metadata of the server at `path` is served (path-inserted, inside the stage)."""
    return server_url(mcp_url, PRM_PATH + path)


def parse_server_paths(value: str, setting: str) -> tuple[str, ...]:
    """A comma-separated list of server paths, the primary (`/mcp`) first; ValueError naming `setting`."""
    paths = tuple(item.strip() for item in value.split(",") if item.strip())
    if not paths:
        return (MCP_PATH,)
    if paths[0] != MCP_PATH:
        raise ValueError(f"{setting} must start with the primary server's path (e.g. /mcp,/research/mcp)")
    for path in paths[1:]:
        name = path.removeprefix("/").removesuffix(MCP_PATH)
        if not path.startswith("/") or not path.endswith(MCP_PATH):
            raise ValueError(f"{setting}: {path!r} is not a server path /<name>/mcp")
        check_server_name(name, setting)
    if len(set(paths)) != len(paths):
        raise ValueError(f"{setting} lists a path twice")
    return paths
