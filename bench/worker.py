"""Worker process: imports one handler in its own virtualenv and times invocations on request.

Run as a script by the contender's interpreter (standard library only, so it works in every
virtualenv; `-P` keeps `bench/` off `sys.path`):

    python -P bench/worker.py --events EVENTS.json (--file CONTENDER.py | --module PKG.MOD) [--cold]

Why a process per contender: each contender lives in its own virtualenv, and a long-lived
worker per contender lets the parent interleave batches of calls (round-robin), so machine
noise hits every contender alike. Timing happens here, around the handler call only; the pipe
round-trip is never inside a measurement.

Start-up is the cold start: the time to import the handler module, then one invocation of the
default (first) event, both reported in the first message. With `--cold` the worker exits
after that message. Otherwise it answers one JSON command per line on stdin:

- `{"op": "call", "event": NAME}` → `{"response": ...}`: one untimed invocation, to check it;
- `{"op": "run", "event": NAME, "n": N}` → `{"ns": [...]}`: N timed invocations;
- `{"op": "profile", "event": NAME, "n": N, "out": PATH}` → `{"ok": true}`: cProfile stats file;
- `{"op": "exit"}`.

Handlers write logs (audit lines) to stdout, so file descriptor 1 is pointed at /dev/null
before the import (the same sink for every contender) and the protocol uses a private copy.
The root logger is then set up as the Lambda Python runtime sets it up (one handler writing
to the log sink, level left at WARNING) before the handler is imported. Without that, a
library calling `logging.basicConfig(level=INFO)` at import (the `mcp` SDK's `MCPServer` does)
would make every contender log INFO lines per request here, which it does not do on Lambda.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import IO, Any

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_handler(file: str | None, module: str | None) -> Handler:
    """Import the contender (by file path, or by module name) and return its `handler`."""
    if file is not None:
        spec = importlib.util.spec_from_file_location("bench_contender", file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {file}")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules["bench_contender"] = loaded
        spec.loader.exec_module(loaded)
    else:
        loaded = importlib.import_module(str(module))
    handler: Handler = loaded.handler
    return handler


def timed_calls(handler: Handler, event: dict[str, Any], n: int) -> list[int]:
    """N invocations, each on a fresh copy of the event (copied outside the timed region)."""
    events = [copy.deepcopy(event) for _ in range(n)]
    contexts = [LambdaContext() for _ in range(n)]
    durations: list[int] = []
    clock = time.perf_counter_ns
    for one, context in zip(events, contexts, strict=True):
        started = clock()
        handler(one, context)
        durations.append(clock() - started)
    return durations


def profile_calls(handler: Handler, event: dict[str, Any], n: int, out: str) -> None:
    import cProfile

    events = [copy.deepcopy(event) for _ in range(n)]
    contexts = [LambdaContext() for _ in range(n)]
    profiler = cProfile.Profile()
    profiler.enable()
    for one, context in zip(events, contexts, strict=True):
        handler(one, context)
    profiler.disable()
    profiler.dump_stats(out)


def lambda_root_logger() -> None:
    """The root logger as the Lambda runtime leaves it: one handler on the log sink, WARNING."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    logging.getLogger().addHandler(handler)


def send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


def serve(channel: IO[str], handler: Handler, events: dict[str, dict[str, Any]]) -> None:
    for line in sys.stdin:
        command = json.loads(line)
        op = command.get("op")
        if op == "exit":
            return
        event = events[command["event"]]
        if op == "call":
            send(channel, {"response": handler(copy.deepcopy(event), LambdaContext())})
        elif op == "run":
            send(channel, {"ns": timed_calls(handler, event, int(command["n"]))})
        elif op == "profile":
            profile_calls(handler, event, int(command["n"]), str(command["out"]))
            send(channel, {"ok": True})
        else:
            send(channel, {"error": f"unknown op {op!r}"})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--file")
    source.add_argument("--module")
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args(argv)
    with open(args.events, encoding="utf-8") as handle:
        events: dict[str, dict[str, Any]] = json.load(handle)
    first_event = copy.deepcopy(next(iter(events.values())))

    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    lambda_root_logger()

    started = time.perf_counter_ns()
    handler = load_handler(args.file, args.module)
    imported = time.perf_counter_ns()
    response = handler(first_event, LambdaContext())
    answered = time.perf_counter_ns()
    send(
        channel,
        {"import_ns": imported - started, "first_call_ns": answered - imported, "response": response},
    )
    if not args.cold:
        serve(channel, handler, events)
    channel.close()
    # Lambda ends a sandbox by killing it, and a graceful exit can wait forever on a worker
    # thread a library left behind (anyio's, after a sync tool ran): leave at once.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
