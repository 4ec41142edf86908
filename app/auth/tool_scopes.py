"""The scopes each tool, prompt and resource requires, in a form the authorizer can load.

The tool registry (`app.mcp.permissions.ScopeRequirements`) lives beside the tools and imports the
`mcp` SDK; the authorizer must not (its cold start is paid before every first request). So the
registry is exported once, as a small JSON document, when the stack is synthesized (bundled into
the authorizer's asset) or when the local stack starts, and the authorizer reads it here:

    {"version": 2,
     "servers": {
       "main": {"path": "/mcp",
                "tools": {"whoami": ["mcp/profile"]},
                "prompts": {},
                "resources": {"info://server": []},
                "resource_templates": {"notes://{id}": ["mcp/notes"]}},
       "research": {"path": "/research/mcp", "tools": {"define": ["mcp/research"]}, ...}}}

One entry per server of the registry (`app/servers/__init__.py`), the primary one at `/mcp`
(docs/servers.md). Version 1 (one server's sections at the top level) still loads, as the
primary server "main" alone.

With it the authorizer decides per tool from the 2026-07-28 routing headers (`Mcp-Method`,
`Mcp-Name`, SEP-2243) before the MCP Lambda runs, so API Gateway itself sends the step-up
challenge. The MCP Lambda still checks every call against the registry (defence in depth).

Resource templates are matched with a pattern that accepts at least every URI the SDK's RFC 6570
matcher accepts (each `{expression}` matches any non-empty text), and a URI that matches several
templates needs the union of their scopes: the authorizer may refuse more, never allow more.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

FORMAT_VERSION: Final = 2
_SINGLE_SERVER_VERSION: Final = 1
PRIMARY_PATH: Final = "/mcp"
# What a version-1 document's one server is called.
DEFAULT_PRIMARY_NAME: Final = "main"
# JSON-RPC method → the kind of item its `Mcp-Name` header names (SEP-2243 name-bearing methods),
# as the audit trail's `target_kind` calls it.
NAME_BEARING_METHODS: Final[Mapping[str, str]] = {
    "tools/call": "tool",
    "prompts/get": "prompt",
    "resources/read": "resource",
}
_SECTIONS: Final = ("tools", "prompts", "resources", "resource_templates")
_EXPRESSION: Final = re.compile(r"\{[^{}]*\}")
_B64_SENTINEL: Final = re.compile(r"=\?base64\?(?P<payload>.*)\?=")


def decode_header_value(value: str) -> str | None:
    """An `Mcp-Name` header value as the SDK encodes it (`=?base64?…?=` for non-ASCII names).

    The same rules as `mcp.shared.inbound.decode_header_value` (imported by the MCP Lambda, not
    here): a malformed sentinel decodes to None, so a corrupt header never names an item.
    """
    match = _B64_SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match.group("payload")
    try:
        decoded = base64.b64decode(payload, validate=True)
    except binascii.Error:
        return None
    if base64.b64encode(decoded).decode("ascii") != payload:
        return None
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex accepting every URI the template could expand to (a superset of RFC 6570 matching)."""
    parts = _EXPRESSION.split(template)
    return re.compile(".+".join(re.escape(part) for part in parts), re.DOTALL)


@dataclass(frozen=True)
class ToolScopes:
    """Which scopes (beyond the base scope) each named item requires."""

    tools: Mapping[str, frozenset[str]] = field(default_factory=dict)
    prompts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    resources: Mapping[str, frozenset[str]] = field(default_factory=dict)
    resource_templates: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _patterns: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        patterns = tuple((template_pattern(t), s) for t, s in self.resource_templates.items())
        object.__setattr__(self, "_patterns", patterns)

    def required(self, method: str, name: str) -> frozenset[str] | None:
        """Scopes a request for `method` on `name` needs; None if no declared item matches it.

        None means "unknown here": the authorizer lets the MCP Lambda answer (it refuses unknown
        resources and reports unknown tools and prompts as the SDK does).
        """
        kind = NAME_BEARING_METHODS.get(method)
        if kind == "tool":
            return self.tools.get(name)
        if kind == "prompt":
            return self.prompts.get(name)
        if kind != "resource":
            return None
        exact = self.resources.get(name)
        if exact is not None:
            return exact
        matched = [scopes for pattern, scopes in self._patterns if pattern.fullmatch(name)]
        return frozenset().union(*matched) if matched else None

    def all_scopes(self) -> frozenset[str]:
        """Every scope some item requires (the gateway's step-up challenge names them all)."""
        sections = (self.tools, self.prompts, self.resources, self.resource_templates)
        return frozenset().union(*(scopes for section in sections for scopes in section.values()))

    def to_json(self) -> dict[str, Any]:
        """The sections of one server, as they sit under its name in the document."""
        document: dict[str, Any] = {}
        for section in _SECTIONS:
            items: Mapping[str, frozenset[str]] = getattr(self, section)
            document[section] = {name: sorted(items[name]) for name in sorted(items)}
        return document

    @classmethod
    def from_json(cls, document: object) -> ToolScopes:
        """Parse and validate one server's sections; ValueError says what is wrong."""
        if not isinstance(document, dict):
            raise ValueError("tool scopes: a server's entry must be a JSON object")
        sections: dict[str, dict[str, frozenset[str]]] = {}
        for section in _SECTIONS:
            raw = document.get(section, {})
            if not isinstance(raw, dict):
                raise ValueError(f"tool scopes: {section!r} must be an object of name -> [scopes]")
            sections[section] = {name: _scopes(section, name, scopes) for name, scopes in raw.items()}
        return cls(**sections)


# A server's registry name (app/core/servers.py) and the path the API serves it at.
SERVER_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,30}", re.ASCII)
_SERVER_PATH: Final = re.compile(r"/(?:[a-z][a-z0-9-]{0,30}/)?mcp", re.ASCII)


@dataclass(frozen=True)
class ServerScopes:
    """One server of the document: its registry name, the path the API serves it at, its scopes."""

    name: str
    path: str
    scopes: ToolScopes

    @property
    def primary(self) -> bool:
        return self.path == PRIMARY_PATH


@dataclass(frozen=True)
class ServerTable:
    """Every server behind the API, the primary one (at `/mcp`) first, by name and by path."""

    servers: tuple[ServerScopes, ...]
    _by_path: Mapping[str, ServerScopes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_path = {server.path: server for server in self.servers}
        names = {server.name for server in self.servers}
        if len(by_path) != len(self.servers) or len(names) != len(self.servers):
            raise ValueError("tool scopes: two servers share a name or a path")
        if not self.servers or not self.servers[0].primary:
            raise ValueError(f"tool scopes: no server is served at {PRIMARY_PATH} (the primary server)")
        object.__setattr__(self, "_by_path", by_path)

    @property
    def primary(self) -> ServerScopes:
        return self.servers[0]

    def at_path(self, path: str) -> ServerScopes | None:
        """The server the API serves at `path` (`/mcp`, `/research/mcp`), or None."""
        return self._by_path.get(path)

    def named(self, name: str) -> ServerScopes | None:
        return next((server for server in self.servers if server.name == name), None)

    def all_scopes(self) -> frozenset[str]:
        """Every scope some item of some server requires (the gateway's 403 names them all)."""
        return frozenset().union(*(server.scopes.all_scopes() for server in self.servers))

    def to_json(self) -> dict[str, Any]:
        servers = {s.name: {"path": s.path, **s.scopes.to_json()} for s in self.servers}
        return {"version": FORMAT_VERSION, "servers": servers}

    @classmethod
    def from_json(cls, document: object) -> ServerTable:
        """Parse and validate a document (version 2, or 1 for one server); ValueError says what is wrong."""
        if isinstance(document, dict) and document.get("version") == _SINGLE_SERVER_VERSION:
            sections = {key: value for key, value in document.items() if key != "version"}
            return cls((ServerScopes(DEFAULT_PRIMARY_NAME, PRIMARY_PATH, ToolScopes.from_json(sections)),))
        if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
            raise ValueError(f"the tool scopes document must be a JSON object with version {FORMAT_VERSION}")
        raw = document.get("servers")
        if not isinstance(raw, dict) or not raw:
            raise ValueError("tool scopes: 'servers' must be an object of name -> {path, tools, ...}")
        servers: list[ServerScopes] = []
        for name, entry in raw.items():
            if not isinstance(entry, dict):
                raise ValueError(f"tool scopes: servers[{name!r}] must be an object")
            path = entry.get("path")
            if not isinstance(path, str) or not _SERVER_PATH.fullmatch(path):
                raise ValueError(f"tool scopes: servers[{name!r}] needs a path /mcp or /<name>/mcp")
            sections = {key: value for key, value in entry.items() if key != "path"}
            servers.append(ServerScopes(str(name), path, ToolScopes.from_json(sections)))
        servers.sort(key=lambda server: not server.primary)  # key order in JSON is irrelevant
        return cls(tuple(servers))

    @classmethod
    def load(cls, path: Path) -> ServerTable:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"cannot read the tool scopes file {path}: {error.strerror}") from None
        try:
            return cls.from_json(json.loads(text))
        except json.JSONDecodeError:
            raise ValueError(f"the tool scopes file {path} is not JSON") from None


def _scopes(section: str, name: object, scopes: object) -> frozenset[str]:
    if not isinstance(name, str) or not isinstance(scopes, list):
        raise ValueError(f"tool scopes: {section} entries must be name -> [scopes]")
    if not all(isinstance(s, str) and s and " " not in s for s in scopes):
        raise ValueError(f"tool scopes: {section}[{name!r}] holds a scope that is not a scope token")
    return frozenset(scopes)


def tool_scopes_of(entries: Iterable[tuple[str, str, Iterable[str]]]) -> ToolScopes:
    """Build from (section, name, scopes) triples, as the registry exports them."""
    sections: dict[str, dict[str, frozenset[str]]] = {section: {} for section in _SECTIONS}
    for section, name, scopes in entries:
        sections[section][name] = frozenset(scopes)
    return ToolScopes(**sections)
