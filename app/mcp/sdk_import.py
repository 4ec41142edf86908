"""Import the MCP SDK once, the cheap way: without uvicorn and without the cyclic GC running.

`app.mcp.handler` imports this module before anything else from the SDK. On a cold start the
SDK import is most of the time (pydantic builds every MCP type), and two things in it are waste
on Lambda:

- `sse_starlette`, which the SDK's streamable HTTP transport imports, tries `import
  uvicorn.main` only to hook uvicorn's shutdown so that open SSE streams drain on Ctrl-C. That
  pulls in uvicorn, click, multiprocessing, pickle, configparser and `logging.config` (about
  40 ms here). The SDK is imported while `sys.modules["uvicorn"]` is None, which makes that
  import raise ImportError, the case sse_starlette handles; the mark is lifted afterwards, so
  uvicorn stays importable (`make dev` serves through it). Lost: the SSE drain hook, and this
  endpoint never opens an SSE stream (GET is 405, answers are JSON).
- The cyclic garbage collector runs dozens of times while the import allocates, scanning an
  ever larger heap, and finds almost nothing (under a thousand objects): about 3% of the cold
  start. It is paused for the import; then `gc.freeze()` moves everything the import built
  (long-lived by nature) out of the collector's sight, so later collections during invocations
  scan only what requests allocate.

Nothing is changed when the SDK or uvicorn is already loaded (the local stack, tests).
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Final

# What the app uses from the SDK; importing these loads nearly all of it.
SDK_MODULES: Final = (
    "mcp.server.streamable_http",
    "mcp.server.streamable_http_manager",
    "mcp.server.mcpserver",
    "mcp.server.runner",
)


def import_sdk_for_lambda(modules: tuple[str, ...] = SDK_MODULES) -> None:
    if "uvicorn" in sys.modules or any(name in sys.modules for name in modules):
        return
    collecting = gc.isenabled()
    gc.disable()
    sys.modules["uvicorn"] = None  # type: ignore[assignment]
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        del sys.modules["uvicorn"]
        if collecting:
            gc.freeze()
            gc.enable()


import_sdk_for_lambda()
