"""Invoke a Lambda handler in-process the way the Lambda runtime does: one thread, one loop.

A Lambda container runs one invocation at a time on one thread. Mangum relies on that (it
drives its own event loop per call), so calling a handler from inside an async test or server
would collide with the caller's loop. `LambdaRuntime` gives each handler a dedicated worker
thread with its own event loop, and callers await invocations from any loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str = "serverless-mcp-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:serverless-mcp-local"
    log_group_name: str = "/aws/lambda/serverless-mcp-local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LambdaRuntime:
    """A single-threaded home for one handler, reused across invocations like a warm container."""

    def __init__(self, handler: Handler, function_name: str = "serverless-mcp-local") -> None:
        self._handler = handler
        self._function_name = function_name
        self._executor = ThreadPoolExecutor(max_workers=1, initializer=self._init_thread)

    @staticmethod
    def _init_thread() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())

    def invoke_sync(self, event: dict[str, Any]) -> Any:
        """Invoke and wait, from a thread with no running loop."""
        return self._executor.submit(self._call, event).result()

    async def invoke(self, event: dict[str, Any]) -> Any:
        """Invoke from async code without blocking its loop."""
        return await asyncio.wrap_future(self._executor.submit(self._call, event))

    def _call(self, event: dict[str, Any]) -> Any:
        return self._handler(event, LambdaContext(function_name=self._function_name))

    def close(self) -> None:
        """Stop what the handler parked on this runtime's loop, then the thread itself."""
        from app.mcp.asgi import stop_session_managers

        self._executor.submit(stop_session_managers).result()
        self._executor.shutdown(wait=True)


def load_handler(spec: str) -> Handler:
    """Import `package.module.function` and return the function."""
    import importlib

    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"handler must look like package.module.function, got {spec!r}")
    handler: Handler = getattr(importlib.import_module(module_name), attr)
    return handler
