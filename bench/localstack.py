"""Requests per second through the local emulator (`make dev`), with a real HTTP client.

The stack runs in its own process (`bench.stack_runner`) exactly as `make dev` builds it:
uvicorn → the API Gateway emulator (`devtools/gateway.py`) → the real authorizer (its policy
cached for the TTL, as API Gateway does) → the real MCP handler. One httpx2 client with
keep-alive sends the same tools/call sequentially, alternating an API key and a JWT, so the
figure is the latency a developer sees per request. When the emulator is not there (it is
being written separately), the section says so instead of guessing at an interface.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Callable

from bench.layout import LOGS_DIR, REPO_ROOT, worker_env
from bench.report import duration
from bench.summary import Summary

GATEWAY = REPO_ROOT / "devtools" / "gateway.py"
LOCAL_STACK = REPO_ROOT / "devtools" / "local_stack.py"
NOT_PRESENT = "local stack: not measured (emulator not present)"
START_TIMEOUT_S = 120.0


def measure_local_stack(requests: int, progress: Callable[[str], None]) -> list[str]:
    """The report section's lines: a table, or one line saying why nothing was measured."""
    if not GATEWAY.is_file() or not LOCAL_STACK.is_file():
        return [NOT_PRESENT]
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOGS_DIR / "local-stack.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.stack_runner"],
            cwd=REPO_ROOT,
            env=worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            credentials = _ready(process)
            if credentials is None:
                tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                return [
                    f"local stack: not measured (the stack did not start: {' | '.join(tail) or 'no output'})"
                ]
            progress("  local stack up at " + credentials["mcp_url"])
            return _measure(credentials, requests)
        except Exception as exc:  # the emulator is work in progress: report, do not crash the run
            return [f"local stack: not measured ({type(exc).__name__}: {exc})"]
        finally:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _ready(process: subprocess.Popen[str]) -> dict[str, str] | None:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if readable else ""
    if not line:
        return None
    credentials: dict[str, str] = json.loads(line)
    return credentials


def _measure(credentials: dict[str, str], requests: int) -> list[str]:
    import httpx2

    from devtools.mcp_messages import mcp_request, tool_call_params

    headers, body = mcp_request("tools/call", tool_call_params("add", {"a": 2, "b": 3}))
    series = {"API key": credentials["api_key"], "JWT (RS256)": credentials["access_token"]}
    samples: dict[str, list[int]] = {name: [] for name in series}
    batch = 25
    with httpx2.Client(timeout=30) as client:

        def post(token: str) -> int:
            started = time.perf_counter_ns()
            response = client.post(
                credentials["mcp_url"], content=body, headers={**headers, "Authorization": f"Bearer {token}"}
            )
            elapsed = time.perf_counter_ns() - started
            if response.status_code != 200 or '"isError":false' not in response.text.replace(" ", ""):
                raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
            return elapsed

        for token in series.values():
            for _ in range(20):  # warm-up: authorizer policy cached, connection open
                post(token)
        for round_index in range(max(1, requests // batch)):
            names = list(series) if round_index % 2 == 0 else list(reversed(series))
            for name in names:
                samples[name] += [post(series[name]) for _ in range(batch)]
    lines = [
        "One httpx2 client (keep-alive), sequential POST tools/call through uvicorn → gateway emulator → "
        "authorizer (policy cached, TTL 300 s as in `make dev`) → MCP handler:",
        "",
        "| credential | median | p99 | n | requests/s (n / total time) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in samples.items():
        summary = Summary.of(values)
        rate = len(values) / (sum(values) / 1e9)
        cells = [name, duration(summary.median_ns), duration(summary.p99_ns), str(summary.n), f"{rate:,.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
