"""The contenders, in table order: how each is installed, started and bundled.

Every contender runs in its own virtualenv (`bench.envs`) holding what it has on Lambda: for
`ours`, the project's runtime dependencies (not the dev tools of the project venv) plus what the
Lambda runtime provides, with `app/` importable from the checkout. The published alternatives
are pinned to the versions this benchmark was written against, so a new release cannot silently
change a row.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.bundles import BundleSpec
from bench.envs import EnvSpec
from bench.layout import APP_DIR, CONTENDERS_DIR, REPO_ROOT

BASELINE = "plain"  # ratios are against the plain SDK setup
OURS = "ours"
AWSLABS_VERSION = "0.1.15"
RUN_MCP_VERSION = "0.5.22"
# Dependencies of the MCP Lambda that the Lambda Python runtime already provides.
RUNTIME_PROVIDED = ("boto3", "botocore")
AUTHORIZER_DEPENDENCIES = ("pyjwt", "aws-lambda-powertools")
# Provided by the Lambda Python runtime and not a project dependency, imported by app/core/snapstart.py.
RUNTIME_EXTRAS = ("snapshot-restore-py",)


@dataclass(frozen=True)
class Contender:
    """One row of the MCP table."""

    key: str
    label: str
    env: EnvSpec
    file: Path | None = None
    module: str | None = None
    published: bool = False  # a published alternative: --quick never builds its env
    warm_cap: int | None = None  # at most this many warm samples (a slow contender)
    note: str = ""


def project_requirements() -> dict[str, str]:
    """`[project].dependencies` of pyproject.toml by normalised name (the single source of truth)."""
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for spec in data["project"]["dependencies"]:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = spec
    return found


def contenders() -> tuple[Contender, ...]:
    return (
        Contender("floor", "floor: bare handler, fixed JSON-RPC result", EnvSpec("floor", (), True),
                  file=CONTENDERS_DIR / "floor.py"),
        Contender("adapter", "adapter floor: Mangum + Starlette route",
                  EnvSpec("adapter", ("mangum", "starlette"), True),
                  file=CONTENDERS_DIR / "adapter_floor.py"),
        Contender("plain", "plain SDK: mcp 2.3 MCPServer + Mangum + warm-safe wrapper",
                  EnvSpec("plain", ("mcp==2.3.0", "mangum"), True), file=CONTENDERS_DIR / "plain_sdk.py"),
        Contender("awslabs", f"awslabs-mcp-lambda-handler {AWSLABS_VERSION}",
                  EnvSpec("awslabs", (f"awslabs-mcp-lambda-handler=={AWSLABS_VERSION}",), False),
                  file=CONTENDERS_DIR / "awslabs_handler.py", published=True,
                  note="own JSON-RPC code (no mcp SDK), protocol 2024-11-05 only, no auth"),
        Contender("run_mcp", f"run-mcp-servers-with-aws-lambda {RUN_MCP_VERSION}",
                  EnvSpec("run_mcp", (f"run-mcp-servers-with-aws-lambda=={RUN_MCP_VERSION}",), False),
                  file=CONTENDERS_DIR / "run_mcp_servers.py", published=True, warm_cap=20,
                  note="starts the stdio MCP server (mcp 1.x) as a child process on every request; about 1 s "
                  "per call, so its warm series is capped at 20 calls spread over the rounds"),
        Contender(OURS, "ours: app.mcp.handler (auth context, scopes, audit)", ours_env(),
                  module="app.mcp.handler"),
    )  # fmt: skip


def ours_env() -> EnvSpec:
    """The MCP and authorizer functions' runtime: `[project].dependencies` and the runtime's extras."""
    return EnvSpec(OURS, (*project_requirements().values(), *RUNTIME_EXTRAS), True)


def bundle_spec(contender: Contender) -> BundleSpec:
    """The Lambda asset of a contender: its requirements and its own code."""
    if contender.key == OURS:
        deps = project_requirements()
        requirements = tuple(spec for name, spec in deps.items() if name not in RUNTIME_PROVIDED)
        return BundleSpec(OURS, requirements, (APP_DIR,), constrained=True)
    assert contender.file is not None
    return BundleSpec(contender.key, contender.env.requirements, (contender.file,), contender.env.constrained)


def authorizer_bundle() -> BundleSpec:
    """app/ plus PyJWT (with cryptography) and Powertools: what the authorizer function ships."""
    deps = project_requirements()
    return BundleSpec("authorizer", tuple(deps[name] for name in AUTHORIZER_DEPENDENCIES), (APP_DIR,), True)
