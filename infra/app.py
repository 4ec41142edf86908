"""CDK entry point: `npx cdk synth` / `npx cdk deploy` run `python -m infra.app` (see cdk.json).

`main()` first reads `.env` from the working directory (the project root, where `npx cdk` runs),
so the stack sees the same settings as `make dev`. Precedence: `-c NAME=value` context, then
the environment, then `.env`, then the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from devtools.env_file import EnvFileError, load_env_file
from infra.config import ConfigError, StackConfig
from infra.stack import ServerlessMcpStack


def build_app(
    context: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    outdir: str | None = None,
    nag: bool = True,
) -> tuple[cdk.App, ServerlessMcpStack]:
    """The app and its one stack. Tests call this with their own context and an empty env."""
    environ = os.environ if env is None else env
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    config = StackConfig.from_sources(app.node.try_get_context, environ)
    stack = ServerlessMcpStack(
        app,
        config.stack_name,
        config=config,
        env=cdk.Environment(
            account=environ.get("CDK_DEFAULT_ACCOUNT"), region=environ.get("CDK_DEFAULT_REGION")
        ),
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    try:
        load_env_file(Path(".env"))
    except EnvFileError as exc:
        raise SystemExit(f"infra.app: {exc}") from None
    try:
        app, _stack = build_app()
    except ConfigError as exc:
        # The message names the setting to change; a traceback would only bury it.
        raise SystemExit(f"infra.app: {exc}") from None
    app.synth()


if __name__ == "__main__":
    main()
