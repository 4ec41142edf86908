"""One Lambda asset in one emulated arm64 CPython 3.13 process, driven from the host test.

`GuestFunction` starts `guest_driver.py` under qemu with the asset at `/var/task` and the
runtime's own modules (boto3, `snapshot_restore_py`) at `/var/runtime`, as the Lambda Python
runtime lays them out, and exchanges one JSON line per request with it. Importing a handler
takes about a minute under emulation, so each asset gets exactly one process (one warm
container) for all its cases.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

from infra.constructs.bundling import COMPILE_TREE, compile_bytecode, pip_install, requirements_for
from infra.constructs.functions import LAMBDA_TASK_ROOT
from tests.artefact.sysroot import COMPLETE_MARKER, Arm64Python, cache_root, locked

DRIVER: Final = Path(__file__).resolve().parent / "guest_driver.py"
LAMBDA_RUNTIME_DIR: Final = "/var/runtime"
# Hang guards, not measurements: a cold import under emulation on a busy 2-core machine.
READY_TIMEOUT_SECONDS: Final = 900.0
REQUEST_TIMEOUT_SECONDS: Final = 300.0
STALE_SECONDS: Final = 7 * 24 * 3600  # cached runtime folders unused this long are dropped


class GuestError(AssertionError):
    """The guest process died, hung, or answered something that is not the protocol."""


def build_runtime_dir(scratch: Path) -> Path:
    """What the Lambda runtime provides besides the interpreter, and assets never bundle: boto3
    (the range pyproject.toml names, installed by the stack's own pip for the Lambda platform)
    and the SnapStart hook registry `snapshot_restore_py`, compiled like the assets.

    pip runs every time (its cache makes that quick) and says which versions it chose; the
    compiled folder is cached for exactly those versions, so a warm run compiles nothing.
    """
    import snapshot_restore_py

    scratch.mkdir(parents=True, exist_ok=True)
    pip_install(requirements_for(["boto3"]), scratch)
    hook_module = Path(str(snapshot_restore_py.__file__))
    shutil.copy2(hook_module, scratch / hook_module.name)
    installed = sorted(p.name for p in scratch.glob("*.dist-info"))
    recipe = [
        *installed,
        hashlib.sha256(hook_module.read_bytes()).hexdigest(),
        COMPILE_TREE.read_text("utf-8"),
    ]
    key = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]
    folders = cache_root() / "arm64-runtime"
    cached = folders / key
    with locked(cache_root() / "arm64-runtime.lock"):
        if not (cached / COMPLETE_MARKER).is_file():
            compile_bytecode(scratch, LAMBDA_RUNTIME_DIR)
            (scratch / COMPLETE_MARKER).write_text(json.dumps(installed), encoding="utf-8")
            shutil.rmtree(cached, ignore_errors=True)
            folders.mkdir(parents=True, exist_ok=True)
            shutil.move(scratch, cached)
        (cached / COMPLETE_MARKER).touch()
        # boto3 releases often: keep what ran lately, not one folder per release ever seen.
        for old in folders.iterdir():
            marker = old / COMPLETE_MARKER
            if old != cached and (
                not marker.is_file() or time.time() - marker.stat().st_mtime > STALE_SECONDS
            ):
                shutil.rmtree(old, ignore_errors=True)
    return cached


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
