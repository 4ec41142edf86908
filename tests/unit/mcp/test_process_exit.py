"""A script that imports the MCP handler and invokes it exits by itself, without an explicit close.

Lambda never needs the process to exit (the container is frozen, then discarded), but every
script, REPL and test runner does. What kept it alive: the parked session-manager task owns
anyio's warm worker thread (see `app.mcp.asgi.keep_worker_threads_warm`), which is not a daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EVENTS_DIR

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json, sys
from app.mcp.handler import handler
for path in sys.argv[1:]:
    with open(path) as file:
        result = handler(json.load(file), None)
    print(json.dumps({"status": result["statusCode"], "body": json.loads(result["body"])}))
"""

# A hang detector, not a speed check: the run takes about two seconds here.
HANG = 120


def run(*events: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *(str(EVENTS_DIR / f"{name}.json") for name in events)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # the test settings (tests/conftest.py)
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"status"')]


@pytest.mark.parametrize(
    "events",
    [
        # `add` is a sync tool: the SDK runs it in an anyio worker thread, kept warm.
        ("v1-tools-call-add",),
        # Warm calls on both paths: the one-exchange path and the SDK transport (2026-07-28).
        ("v2-tools-call-add", "v1-modern-tools-call-add", "v1-tools-list"),
    ],
    ids=["one-sync-tool-call", "warm-calls-both-paths"],
)
def test_a_process_that_invoked_the_handler_exits_by_itself(events: tuple[str, ...]) -> None:
    results = run(*events)
    assert [result["status"] for result in results] == [200] * len(events)
    assert results[0]["body"]["result"]["structuredContent"] == {"result": 5.0}  # type: ignore[index]


def test_a_process_that_invoked_the_handler_on_its_own_runtime_thread_exits_by_itself() -> None:
    """The local stack's shape: the handler's loop lives on a worker thread, never closed here."""
    script = (
        "import json, sys\n"
        "from app.mcp.handler import handler\n"
        "from devtools.lambda_runtime import LambdaRuntime\n"
        "runtime = LambdaRuntime(handler)\n"
        "with open(sys.argv[1]) as file:\n"
        "    event = json.load(file)\n"
        'print(json.dumps([runtime.invoke_sync(event)["statusCode"] for _ in range(3)]))\n'
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(EVENTS_DIR / "v1-tools-call-add.json")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=HANG,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == [200, 200, 200]
