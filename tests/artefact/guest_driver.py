"""Runs INSIDE the emulated arm64 CPython 3.13, next to one Lambda asset: the standard library
only, nothing from the project (the asset is the only code the guest may see).

It plays the part of the Lambda Python runtime for one warm container: import the handler
module once (the cold start), then serve requests that the host test sends one JSON object per
line on stdin, answering one JSON object per line on the original stdout:

- `{"op": "invoke", "event": {...}}` calls the handler on the main thread, with no running event
  loop, as the runtime does; the answer holds its return value or its exception's type and
  message (what the runtime reports as errorType/errorMessage), and every line the function
  printed to stdout meanwhile (its audit and metrics lines);
- `{"op": "restore"}` runs the SnapStart hooks registered with `snapshot_restore_py` as the
  runtime does around a snapshot: the before-snapshot hooks (at publish), then the after-restore
  hooks (when a new container resumes from it);
- `{"op": "report"}` says which code ran: every module loaded from the asset, whether its
  bytecode came from the shipped `.pyc` (and that file's header), any module compiled from
  source instead, and any bytecode the loader tried to write there;
- `{"op": "exit"}` ends the process.

Between requests, anything written to stdout goes to stderr, so the protocol stays clean.

Usage: python3.13 -I -S guest_driver.py <task root> <runtime dir> <package.module.function>
"""

from __future__ import annotations

import _frozen_importlib_external as bootstrap  # the import system's own loader classes
import importlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

PYC_HASH_BASED_UNCHECKED = 0b01  # PEP 552 flags: hash-based, source not checked


class LambdaContext:
    """The context object's attributes that handlers and Powertools read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "artefact"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class ImportWatch:
    """Records every module compiled from source and every bytecode file written."""

    def __init__(self) -> None:
        self.compiled: list[str] = []
        self.written: list[str] = []
        source_to_code = bootstrap.SourceLoader.source_to_code
        set_data = bootstrap.SourceFileLoader.set_data
        watch = self

        def recording_source_to_code(loader: Any, data: bytes, path: str, *args: Any, **kwargs: Any) -> Any:
            watch.compiled.append(str(path))
            return source_to_code(loader, data, path, *args, **kwargs)

        def recording_set_data(loader: Any, path: str, data: bytes, *args: Any, **kwargs: Any) -> Any:
            watch.written.append(str(path))
            return set_data(loader, path, data, *args, **kwargs)

        # Wrapped, not changed: each records its call, then does exactly what it did.
        bootstrap.SourceLoader.source_to_code = recording_source_to_code  # type: ignore[method-assign,assignment]
        bootstrap.SourceFileLoader.set_data = recording_set_data  # type: ignore[method-assign,assignment]


def pyc_header(path: str) -> tuple[bytes, int]:
    with open(path, "rb") as handle:
        header = handle.read(16)
    return header[:4], int.from_bytes(header[4:8], "little")


def bytecode_report(task_root: str, watch: ImportWatch) -> dict[str, Any]:
    """Which code the asset's modules run: the shipped .pyc, machine code, or something else.

    A module is looked at through its `__file__`, not its `__spec__`: some libraries replace their
    module in `sys.modules` with a proxy that has no spec (cryptography's deprecation wrappers).
    Whether the .pyc was USED is what `watch` saw: a module whose bytecode was rejected is compiled
    from source, and that call is recorded.
    """
    prefix = task_root.rstrip("/") + "/"
    python_modules = 0
    extensions: list[str] = []
    problems: list[str] = []
    for name, module in sorted(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if not isinstance(origin, str) or not origin.startswith(prefix):
            continue
        if origin.endswith(".so"):
            extensions.append(name)  # a wheel's aarch64 extension module, loaded by this interpreter
            continue
        python_modules += 1
        cached = importlib.util.cache_from_source(origin)
        if not os.path.isfile(cached):
            problems.append(f"{name}: no shipped bytecode at {cached}")
            continue
        magic, flags = pyc_header(cached)
        if magic != importlib.util.MAGIC_NUMBER:
            problems.append(
                f"{name}: {cached} has magic {magic.hex()}, not {importlib.util.MAGIC_NUMBER.hex()}"
            )
        elif flags != PYC_HASH_BASED_UNCHECKED:
            problems.append(f"{name}: {cached} has flags {flags}, not unchecked-hash")
    return {
        "python_modules": python_modules,
        "extension_modules": extensions,
        "problems": problems,
        "compiled_from_source": sorted(p for p in watch.compiled if p.startswith(prefix)),
        "bytecode_written": sorted(p for p in watch.written if p.startswith(prefix)),
    }


def call_in_capture(function: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Run `function`, capturing what it writes to file descriptor 1 (its stdout lines)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        try:
            try:
                outcome = {"ok": True, "result": function(*args)}
            except Exception as exc:
                outcome = {
                    "ok": False,
                    "error_type": type(exc).__name__,
                    "error_message": str(exc),
                    "traceback": traceback.format_exc(),
                }
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        outcome["stdout"] = capture.read().decode("utf-8", "replace").splitlines()
    return outcome


def run_snapstart_hooks() -> list[str]:
    import snapshot_restore_py  # the runtime provides it (here: the runtime folder)

    ran: list[str] = []
    for hooks in (snapshot_restore_py.get_before_snapshot(), snapshot_restore_py.get_after_restore()):
        for hook, args, kwargs in hooks:
            hook(*args, **kwargs)
            ran.append(f"{hook.__module__}.{hook.__qualname__}")
    return ran


def main(argv: list[str]) -> None:
    task_root, runtime_dir, handler_spec = argv[1], argv[2], argv[3]
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # stray prints between requests: stderr, never the protocol

    def answer(document: dict[str, Any]) -> None:
        protocol.write(json.dumps(document, default=repr) + "\n")

    # As on Lambda: the function's code first, then what the runtime provides, then the stdlib.
    # (The host starts this process in the asset's folder: qemu does not map chdir's path.)
    sys.path[:0] = [task_root, runtime_dir]
    watch = ImportWatch()
    module_name, _, attribute = handler_spec.rpartition(".")
    started = time.perf_counter()
    loaded = call_in_capture(importlib.import_module, module_name)
    import_seconds = time.perf_counter() - started
    handler = getattr(loaded["result"], attribute, None) if loaded["ok"] else None
    answer(
        {
            "op": "ready",
            "ok": handler is not None,
            "error": None if loaded["ok"] else f"{loaded['error_type']}: {loaded['error_message']}",
            "traceback": loaded.get("traceback"),
            "import_seconds": round(import_seconds, 3),
            "stdout": loaded["stdout"],
            "python": sys.version,
            "implementation": sys.implementation.cache_tag,
            "machine": platform.machine(),
            "handler_file": getattr(getattr(handler, "__code__", None), "co_filename", None),
        }
    )
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "artefact")
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        started = time.perf_counter()
        if op == "invoke" and handler is not None:
            outcome = call_in_capture(handler, request["event"], LambdaContext(function_name))
        elif op == "restore":
            outcome = call_in_capture(run_snapstart_hooks)
        elif op == "report":
            outcome = {"ok": True, "result": bytecode_report(task_root, watch), "stdout": []}
        elif op == "exit":
            break
        else:
            outcome = {
                "ok": False,
                "error_type": "DriverError",
                "error_message": f"cannot {op}",
                "stdout": [],
            }
        outcome["op"] = op
        outcome["seconds"] = round(time.perf_counter() - started, 3)
        answer(outcome)
    protocol.flush()
    sys.stderr.flush()
    # The MCP handler parks its session manager on the event loop for the life of the container:
    # end the process as Lambda ends a container, without waiting for it.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
