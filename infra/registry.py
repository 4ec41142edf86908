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
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.config import COGNITO_BASE_SCOPE_NAME, COGNITO_RESOURCE_SERVER_ID, COGNITO_SCOPE_NAME, ConfigError

# The file name inside the authorizer's asset (`/var/task/tool_scopes.json` on Lambda).
TOOL_SCOPES_FILE_NAME: Final = "tool_scopes.json"


@dataclass(frozen=True)
class DeclaredScopes:
    """The exported tool-scopes document and what the stack derives from it."""

    document: dict[str, Any]

    @property
    def text(self) -> str:
        return json.dumps(self.document, separators=(",", ":"), sort_keys=True)

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope some tool, prompt or resource requires, sorted."""
        found: set[str] = set()
        for section, items in self.document.items():
            if section != "version":
                for scopes in items.values():
                    found.update(scopes)
        return tuple(sorted(found))

    def users_of(self, scope: str) -> list[str]:
        """Which items require `scope`, for error messages ("tools/whoami")."""
        return sorted(
            f"{section}/{name}"
            for section, items in self.document.items()
            if section != "version"
            for name, scopes in items.items()
            if scope in scopes
        )

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
    return DeclaredScopes(document)
