"""Runs the local stack (`devtools.local_stack.LocalStack`, what `make dev` runs) for the benchmark.

    python -m bench.stack_runner [--authorizer-ttl SECONDS] [--auto-approve-login]

Started by `bench.localstack` in the project venv, because the stack owns its process (it points
the environment at moto and imports the handlers), so two designs side by side are two
processes. `--authorizer-ttl` is the API Gateway authorizer cache TTL: 0 (the default, as
deployed and as `make dev`) runs the authorizer on every request with the tools' scopes, so it
decides per tool; more than 0 caches its answer per Authorization header for that long. It
listens on an ephemeral port, keeps its state under `bench/.envs/` (one folder per TTL), prints
one JSON line with the credentials on a private copy of stdout (the audit log lines go to
/dev/null, as in every benchmark worker) and stops when stdin closes. That line also carries
`environment`: the variables the stack gave its functions (parameter and table names, key ids,
the moto endpoint: names and ids, no secret), so a benchmark can run a handler in a worker of
its own against the same local AWS. `--auto-approve-login` makes the dev issuer's sign-in page
approve at once (302 back to the front), so a benchmark can sign in without a browser.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Final

# What the local stack puts in the environment for its functions (as a deployed stack puts them in
# each Lambda's): names, ids and the local endpoint only; the values they name stay in moto.
FUNCTION_ENVIRONMENT: Final = (
    "AWS_ENDPOINT_URL",
    "MCP_URL_PARAMETER",
    "AUTH_SETTINGS_PARAMETER",
    "API_KEYS_SECRET_ID",
    "UPSTREAM_SECRET_ID",
    "CONFIG_CACHE_SECONDS",
    "API_KEYS_CACHE_SECONDS",
    "AUTHORIZER_CACHE_TTL_SECONDS",
    "TOOL_SCOPES_FILE",
    "OAUTH_FRONT_SETTINGS_PARAMETER",
    "OAUTH_UPSTREAM_SECRET_ID",
    "OAUTH_TABLE_NAME",
    "OAUTH_SIGNING_KEY_ID",
    "OAUTH_SEALING_KEY_ID",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_runner")
    parser.add_argument(
        "--authorizer-ttl",
        type=int,
        default=0,
        metavar="SECONDS",
        help="API Gateway authorizer cache TTL, 0-3600 (default 0: per-tool decisions, as deployed)",
    )
    parser.add_argument(
        "--auto-approve-login",
        action="store_true",
        help="the dev issuer's sign-in page answers at once with a redirect (no click)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.authorizer_ttl <= 3600:
        # The range API Gateway accepts for authorizerResultTtlInSeconds.
        parser.error("--authorizer-ttl must be between 0 and 3600 seconds")

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    from bench.layout import ENVS_DIR
    from devtools.local_stack import LocalStack, LocalStackOptions

    options = LocalStackOptions(
        port=0,
        state_dir=ENVS_DIR / f"local-stack-ttl{args.authorizer_ttl}",
        authorizer_ttl_seconds=args.authorizer_ttl,
        auto_approve_login=args.auto_approve_login,
    )
    stack = LocalStack(options, progress=lambda text: print(text, file=sys.stderr, flush=True))
    try:
        credentials = stack.start()
        environment = {name: os.environ[name] for name in FUNCTION_ENVIRONMENT if name in os.environ}
        channel.write(json.dumps({**asdict(credentials), "environment": environment}) + "\n")
        channel.flush()
        sys.stdin.read()  # until the benchmark closes our stdin
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
