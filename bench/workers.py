"""The parent's side of `bench/worker.py`: start a worker, read its cold start, ask for timings.

A `Launch` says how to start one contender (interpreter, handler, events, environment); every
start is a fresh process, which is what a cold start is.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.layout import LOGS_DIR, REPO_ROOT, WORKER


class WorkerError(RuntimeError):
    """A worker died or answered something unexpected; the message ends with its log's tail."""


@dataclass(frozen=True)
class Launch:
    """How to start one contender's worker."""

    key: str
    python: Path
    events: Path
    env: dict[str, str]
    file: Path | None = None
    module: str | None = None
    cwd: Path = REPO_ROOT

    def argv(self, *, cold: bool) -> list[str]:
        source = ["--file", str(self.file)] if self.file is not None else ["--module", str(self.module)]
        return [str(self.python), "-P", str(WORKER), "--events", str(self.events), *source] + (
            ["--cold"] if cold else []
        )


@dataclass(frozen=True)
class Startup:
    """What one fresh process reported: import time, first invocation, its answer."""

    import_ns: int
    first_call_ns: int
    process_ns: int  # from spawning the process to reading its first answer
    response: Any

    @property
    def cold_ns(self) -> int:
        return self.import_ns + self.first_call_ns


@dataclass
class Worker:
    """A running worker process, answering timing requests over its pipes."""

    launch: Launch
    cold: bool = False
    startup: Startup | None = None
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)
    _log: IO[str] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return LOGS_DIR / f"{self.launch.key}.log"

    def start(self, timeout: float = 120.0) -> Startup:
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        began = time.perf_counter_ns()
        self._process = subprocess.Popen(
            self.launch.argv(cold=self.cold),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=self.launch.env,
            cwd=self.launch.cwd,
            text=True,
            bufsize=1,
        )
        message = self._read()
        if "import_ns" not in message:
            raise self._error(f"unexpected first message {message!r}")
        self.startup = Startup(
            import_ns=int(message["import_ns"]),
            first_call_ns=int(message["first_call_ns"]),
            process_ns=time.perf_counter_ns() - began,
            response=message["response"],
        )
        return self.startup

    def call(self, event: str) -> Any:
        """One untimed invocation of the named event; its response."""
        self._send({"op": "call", "event": event})
        message = self._read()
        if "response" not in message:
            raise self._error(f"unexpected answer {message!r}")
        return message["response"]

    def run(self, event: str, n: int) -> list[int]:
        """N timed invocations of the named event; durations in nanoseconds."""
        self._send({"op": "run", "event": event, "n": n})
        message = self._read()
        if "ns" not in message:
            raise self._error(f"unexpected answer {message!r}")
        return [int(value) for value in message["ns"]]

    def profile(self, event: str, n: int, out: Path) -> None:
        self._send({"op": "profile", "event": event, "n": n, "out": str(out)})
        if not self._read().get("ok"):
            raise self._error("profile failed")

    def close(self) -> None:
        """Ask the worker to exit and wait, so no process outlives its measurement."""
        process = self._process
        if process is not None:
            if process.poll() is None and not self.cold and process.stdin is not None:
                with contextlib.suppress(BrokenPipeError, WorkerError):
                    self._send({"op": "exit"})
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._log is not None:
            self._log.close()
        self._process = None
        self._log = None

    def _send(self, command: dict[str, Any]) -> None:
        process = self._require()
        assert process.stdin is not None
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()

    def _read(self) -> dict[str, Any]:
        process = self._require()
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=30)
            raise self._error(f"worker exited with status {process.returncode}")
        message: dict[str, Any] = json.loads(line)
        return message

    def _require(self) -> subprocess.Popen[str]:
        if self._process is None:
            raise WorkerError(f"{self.launch.key}: worker not started")
        return self._process

    def _error(self, what: str) -> WorkerError:
        if self._log is not None:
            self._log.flush()
        tail = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        return WorkerError(f"{self.launch.key}: {what}; log tail: {' | '.join(tail)}")

    def __enter__(self) -> Worker:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def cold_start(launch: Launch) -> Startup:
    """One fresh process: import, one invocation, exit. Waits for the exit before returning."""
    worker = Worker(launch, cold=True)
    try:
        return worker.start()
    finally:
        worker.close()
