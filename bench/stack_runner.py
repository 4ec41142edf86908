"""Runs the local stack (`devtools.local_stack.LocalStack`, what `make dev` runs) for the benchmark.

    python -m bench.stack_runner [--authorizer-ttl SECONDS]

Started by `bench.localstack` in the project venv, because the stack owns its process (it points
the environment at moto and imports the handlers), so two designs side by side are two
processes. `--authorizer-ttl` is the API Gateway authorizer cache TTL: 0 (the default, as
deployed and as `make dev`) runs the authorizer on every request with the tools' scopes, so it
decides per tool; more than 0 caches its answer per Authorization header for that long. It
listens on an ephemeral port, keeps its state under `bench/.envs/` (one folder per TTL), prints
one JSON line with the credentials on a private copy of stdout (the audit log lines go to
/dev/null, as in every benchmark worker) and stops when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_runner")
    parser.add_argument(
        "--authorizer-ttl",
        type=int,
        default=0,
        metavar="SECONDS",
        help="API Gateway authorizer cache TTL, 0-3600 (default 0: per-tool decisions, as deployed)",
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
    )
    stack = LocalStack(options, progress=lambda text: print(text, file=sys.stderr, flush=True))
    try:
        credentials = stack.start()
        channel.write(json.dumps(asdict(credentials)) + "\n")
        channel.flush()
        sys.stdin.read()  # until the benchmark closes our stdin
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
