"""The local stack (what `make dev` runs) in its own process, and timed requests through it.

Each stack runs in its own process (`bench.stack_runner`), exactly as `make dev` builds it:
uvicorn → the API Gateway emulator (`devtools/gateway.py`) → the real authorizer (on every
request with TTL 0; its answer cached per Authorization header for the TTL otherwise, as API
Gateway does) → the real MCP handler. A `StackClient` sends one prepared POST again and again
over one keep-alive httpx2 connection, sequentially, so a sample is the latency a client sees
per request. It is a `bench.phases` slot worker, so series against several stacks running at
once are interleaved batch by batch, and noise from a shared machine hits them alike.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.layout import LOGS_DIR, REPO_ROOT, worker_env

if TYPE_CHECKING:
    import httpx2

START_TIMEOUT_S = 120.0


class StackError(RuntimeError):
    """The stack did not start, or answered a timed request with something other than success."""


@dataclass(frozen=True)
class StackCredentials:
    """What a started stack prints: its URL, two credentials that hold every scope, its functions' env.

    `access_token` is the dev issuer's (the upstream's) RS256 token; `environment` holds the
    variables the stack gave its functions (names, ids, the moto endpoint; see `bench.stack_runner`).
    """

    mcp_url: str
    api_key: str
    access_token: str
    environment: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def running_stack(
    authorizer_ttl_seconds: int, *, auto_approve_login: bool = False
) -> Iterator[StackCredentials]:
    """A local stack with this authorizer cache TTL, in its own process, stopped on exit.

    `auto_approve_login`: the dev issuer's sign-in page approves at once (for a headless sign-in).
    """
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOGS_DIR / f"local-stack-ttl{authorizer_ttl_seconds}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.stack_runner",
                "--authorizer-ttl",
                str(authorizer_ttl_seconds),
                *(["--auto-approve-login"] if auto_approve_login else []),
            ],
            cwd=REPO_ROOT,
            env=worker_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            line = _first_line(process)
            if not line:
                log.flush()
                tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                raise StackError(
                    f"the TTL {authorizer_ttl_seconds} stack did not start: {' | '.join(tail) or 'no output'}"
                )
            printed = json.loads(line)
            yield StackCredentials(
                printed["mcp_url"],
                printed["api_key"],
                printed["access_token"],
                dict(printed.get("environment") or {}),
            )
        finally:
            _stop(process)


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    return process.stdout.readline() if readable else ""


def _stop(process: subprocess.Popen[str]) -> None:
    """Close its stdin (the runner's signal to stop) and wait; kill only if it hangs."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@dataclass(frozen=True)
class Post:
    """One prepared request: headers (Authorization included) and body."""

    headers: Mapping[str, str]
    body: str


class StackClient:
    """Timed POSTs of prepared requests to one running stack (a `bench.phases.Slot` worker).

    Every answer is checked, so a series can never time refusals: a 200 whose JSON-RPC result
    is a successful tool call, or `StackError`.
    """

    def __init__(self, client: httpx2.Client, url: str, posts: Mapping[str, Post]) -> None:
        self._client, self._url, self._posts = client, url, posts

    def run(self, event: str, n: int) -> list[int]:
        post = self._posts[event]
        durations: list[int] = []
        for _ in range(n):
            started = time.perf_counter_ns()
            response = self._client.post(self._url, content=post.body, headers=dict(post.headers))
            durations.append(time.perf_counter_ns() - started)
            # Checked outside the timed region: reading the text is the client's work, not the stack's.
            if response.status_code != 200 or '"isError":false' not in response.text.replace(" ", ""):
                raise StackError(f"{event}: unexpected answer {response.status_code}: {response.text[:200]}")
        return durations
