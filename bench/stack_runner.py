"""Runs the local stack (`devtools.local_stack.LocalStack`, what `make dev` runs) for the benchmark.

Started by `bench.localstack` as `python -m bench.stack_runner` in the project venv, because the
stack owns its process (it points the environment at moto and imports the handlers). It
listens on an ephemeral port, keeps its state under `bench/.envs/`, prints one JSON line with
the credentials on a private copy of stdout (the audit log lines go to /dev/null, as in every
benchmark worker) and stops when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    from bench.layout import ENVS_DIR
    from devtools.local_stack import LocalStack, LocalStackOptions

    options = LocalStackOptions(port=0, state_dir=ENVS_DIR / "local-stack")
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
