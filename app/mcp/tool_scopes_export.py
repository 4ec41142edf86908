"""Print the tool registry's scopes as the authorizer's tool-scopes document (JSON).

    python -m app.mcp.tool_scopes_export            # the document on stdout

The CDK app runs this in a subprocess at synth (infra imports nothing from `app/`) to bundle the
document into the authorizer's asset, to name the step-up scopes in the gateway's 403 challenge
and to create the matching Cognito resource-server scopes; the local stack does the same at start.
"""

from __future__ import annotations

import json
import sys

from app.mcp.server import build_server


def document() -> dict[str, object]:
    return build_server().requirements.tool_scopes().to_json()


def main() -> int:
    json.dump(document(), sys.stdout, indent=None, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
