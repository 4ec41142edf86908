"""Import the MCP SDK's HTTP transport without loading uvicorn, a server Lambda never runs.

`sse_starlette`, which the SDK's streamable HTTP transport imports, tries `import uvicorn.main`
at import time only to hook uvicorn's shutdown so that open SSE streams drain on Ctrl-C. That
import pulls in uvicorn, click, multiprocessing, pickle, configparser and `logging.config`:
about 40 ms of every cold start here, for nothing on Lambda.

`app.handlers.mcp` imports this module before anything else from the SDK. It imports the
transport while `sys.modules["uvicorn"]` is None (which makes `import uvicorn...` raise
ImportError, the case sse_starlette handles), then lifts that mark, so uvicorn stays
importable for whoever needs it (`make dev` serves through it). All that is lost is the SSE
drain hook, and this endpoint never opens an SSE stream: GET is 405 and answers are JSON.
Nothing is changed when uvicorn or the transport is already loaded (the local stack, tests).
"""

from __future__ import annotations

import importlib
import sys


def import_transport_without_uvicorn() -> None:
    if "uvicorn" in sys.modules or "sse_starlette.sse" in sys.modules:
        return
    sys.modules["uvicorn"] = None  # type: ignore[assignment]
    try:
        importlib.import_module("mcp.server.streamable_http")
    finally:
        del sys.modules["uvicorn"]


import_transport_without_uvicorn()
