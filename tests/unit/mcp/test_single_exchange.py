"""The one-exchange path for handshake-era requests answers exactly what the SDK transport does."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum
from mcp.server import MCPServer

from app.core.config import SettingsSource
from app.mcp import single_exchange
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.permissions import ScopedServer
from app.tools import register_all
from devtools.events import proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.unit.mcp.conftest import FULL_CONTEXT


@pytest.fixture(scope="module")
def runtime() -> Iterator[LambdaRuntime]:
    server = ScopedServer(MCPServer("single-exchange-test"))
    register_all(server)

    @server.tool()
    def worker_thread() -> int:
        """A sync tool: the SDK runs it in an anyio worker thread."""
        return threading.get_ident()

    app = AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ))))
    lambda_runtime = LambdaRuntime(Mangum(app, lifespan="off"))
    yield lambda_runtime
    lambda_runtime.close()


def call(runtime: LambdaRuntime, method: str, params: dict[str, Any] | None, request_id: int = 1) -> Any:
    headers, body = mcp_request(method, params, request_id=request_id)
    event = proxy_event("v1", "POST", "/mcp", headers=headers, body=body, authorizer=FULL_CONTEXT)
    result = runtime.invoke_sync(event)
    return result["statusCode"], json.loads(result["body"])


REQUESTS: list[tuple[str, dict[str, Any] | None]] = [
    ("initialize", None),
    ("ping", None),
    ("tools/list", None),
    ("tools/call", tool_call_params("add", {"a": 1, "b": 2})),
    ("tools/call", tool_call_params("add", {"a": "one"})),
    ("tools/call", tool_call_params("days_between", {"start": "x", "end": "y"})),
    ("tools/call", tool_call_params("no_such_tool", {})),
    ("tools/call", {"arguments": {}}),
    ("resources/list", None),
    ("resources/read", {"uri": "info://server"}),
    ("resources/read", {"uri": "info://missing"}),
    ("prompts/get", {"name": "summarize", "arguments": {"text": "hi"}}),
    ("no/such/method", None),
]


@pytest.mark.parametrize(
    ("method", "params"), REQUESTS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(REQUESTS)]
)
def test_same_answer_as_the_sdk_transport(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch, method: str, params: dict[str, Any] | None
) -> None:
    fast = call(runtime, method, params)
    with monkeypatch.context() as patch:
        patch.setattr(single_exchange, "eligible_version", lambda request: None)
        sdk = call(runtime, method, params)
    assert fast == sdk


def test_sync_tools_reuse_one_worker_thread_across_invocations(runtime: LambdaRuntime) -> None:
    idents = {
        call(runtime, "tools/call", tool_call_params("worker_thread", {}), i)[1]["result"][
            "structuredContent"
        ]["result"]
        for i in range(5)
    }
    assert len(idents) == 1
