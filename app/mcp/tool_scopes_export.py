"""Print every server's tool scopes as the authorizer's tool-scopes document (JSON, version 2).

    python -m app.mcp.tool_scopes_export            # the document on stdout

The CDK app runs this in a subprocess at synth (infra imports nothing from `app/`) to bundle the
document into the authorizer's asset, to name the step-up scopes in the gateway's 403 challenge
and to create the matching Cognito resource-server scopes; the local stack does the same at start.
"""

from __future__ import annotations

import json
import sys

from app.auth.tool_scopes import ServerScopes, ServerTable
from app.mcp.server import build_server
from app.servers import REGISTRY


def server_table() -> ServerTable:
    """Every server of the registry (`app/servers/__init__.py`) with its path and its scopes."""
    return ServerTable(
        tuple(
            ServerScopes(spec.name, spec.path, build_server(spec).requirements.tool_scopes())
            for spec in REGISTRY.servers
        )
    )


def document() -> dict[str, object]:
    return server_table().to_json()


def main() -> int:
    json.dump(document(), sys.stdout, indent=None, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
