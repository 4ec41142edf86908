"""One Lambda asset in one emulated arm64 CPython 3.13 process, driven from the host test.

`GuestFunction` starts `guest_driver.py` under qemu with the asset at `/var/task` and the
runtime's own modules (boto3, `snapshot_restore_py`) at `/var/runtime`, as the Lambda Python
runtime lays them out, and exchanges one JSON line per request with it. Importing a handler
takes about a minute under emulation, so each asset gets exactly one process (one warm
container) for all its cases.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

from infra.constructs.bundling import compile_bytecode, pip_install, requirements_for
from infra.constructs.functions import LAMBDA_TASK_ROOT, RUNTIME_PROVIDED
from tests.artefact.sysroot import Arm64Python

DRIVER: Final = Path(__file__).resolve().parent / "guest_driver.py"
LAMBDA_RUNTIME_DIR: Final = "/var/runtime"
# Hang guards, not measurements: a cold import under emulation on a busy 2-core machine.
READY_TIMEOUT_SECONDS: Final = 900.0
REQUEST_TIMEOUT_SECONDS: Final = 300.0


class GuestError(AssertionError):
    """The guest process died, hung, or answered something that is not the protocol."""


def build_runtime_dir(target: Path) -> Path:
    """What the Lambda runtime provides besides the interpreter and the asset never bundles:
    boto3/botocore (`RUNTIME_PROVIDED`, the range pyproject.toml names) and the SnapStart hook
    registry `snapshot_restore_py`, compiled like the assets (runtime modules ship as bytecode)."""
    import snapshot_restore_py

    target.mkdir(parents=True, exist_ok=True)
    pip_install(requirements_for([name for name in RUNTIME_PROVIDED if name == "boto3"]), target)
    shutil.copy2(str(snapshot_restore_py.__file__), target / "snapshot_restore_py.py")
    compile_bytecode(target, LAMBDA_RUNTIME_DIR)
    return target


class GuestFunction:
    """The driver process for one asset; `ready()` waits for the cold start."""

    def __init__(
        self,
        python: Arm64Python,
        *,
        asset: Path,
        runtime_dir: Path,
        handler: str,
        environment: Mapping[str, str],
        workdir: Path,
    ) -> None:
        self.handler = handler
        root = python.guest_root(workdir / "root", {LAMBDA_TASK_ROOT: asset, LAMBDA_RUNTIME_DIR: runtime_dir})
        self.stderr_path = workdir / "stderr.log"
        self._stderr = self.stderr_path.open("w", encoding="utf-8")
        argv = python.command(root, "-I", "-S", str(DRIVER), LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, handler)
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(environment),
            text=True,
            encoding="utf-8",
            cwd=asset,  # Lambda's working directory is the task root
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self._process.stdout is not None
        threading.Thread(target=self._pump, args=(self._process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _read(self, timeout: float, what: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise GuestError(
                f"{self.handler}: no answer to {what} within {timeout:.0f} s{self._tail()}"
            ) from None
        if line is None:
            raise GuestError(f"{self.handler}: the guest exited during {what}{self._tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _tail(self) -> str:
        self._stderr.flush()
        text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        return f"\n--- guest stderr (last 3000 characters) ---\n{text[-3000:]}" if text else ""

    def ready(self) -> dict[str, Any]:
        """The cold start's outcome (import time, interpreter, machine)."""
        answer = self._read(READY_TIMEOUT_SECONDS, "the handler import")
        if not answer.get("ok"):
            raise GuestError(
                f"{self.handler} did not import: {answer.get('error')}\n{answer.get('traceback')}"
            )
        return answer

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._process.stdin.flush()
        return self._read(REQUEST_TIMEOUT_SECONDS, op)

    def invoke(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("invoke", event=event)

    def close(self) -> None:
        try:
            if self._process.poll() is None and self._process.stdin is not None:
                self._process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self._process.stdin.close()
            self._process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            self._stderr.close()
