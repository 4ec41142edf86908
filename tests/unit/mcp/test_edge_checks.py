"""Edge checks of the MCP HTTP layer: warm reuse, body limits, origins, hosts."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from mangum import Mangum

from app.core.config import SettingsSource
from app.mcp.handler import build_asgi_app
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.unit.mcp.conftest import FULL_CONTEXT


def call(runtime: LambdaRuntime, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    status, headers, body = response_from_lambda(runtime.invoke_sync(event))
    return status, {k.lower(): v for k, v in headers}, json.loads(body) if body else None


def tool_call_event(fmt: EventFormat = "v1", request_id: int = 1, **extra_headers: str) -> dict[str, Any]:
    headers, body = mcp_request(
        "tools/call", tool_call_params("add", {"a": request_id, "b": 1}), request_id=request_id
    )
    return proxy_event(
        fmt, "POST", "/mcp", headers={**headers, **extra_headers}, body=body, authorizer=FULL_CONTEXT
    )


def test_hundred_sequential_warm_invocations_all_succeed(mcp_runtime: LambdaRuntime) -> None:
    for i in range(100):
        status, _, body = call(mcp_runtime, tool_call_event("v1" if i % 2 else "v2", request_id=i + 1))
        assert status == 200, body
        assert body["id"] == i + 1
        assert body["result"]["structuredContent"] == {"result": float(i + 2)}


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_body_over_one_mebibyte_is_413_jsonrpc_error(mcp_runtime: LambdaRuntime, fmt: EventFormat) -> None:
    headers, _ = mcp_request("tools/list")
    padding = "x" * (1024 * 1024)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": padding}})
    event = proxy_event(
        fmt, "POST", "/mcp", headers=headers, body=body, base64_encode=True, authorizer=FULL_CONTEXT
    )
    status, _, payload = call(mcp_runtime, event)
    assert status == 413
    assert payload["error"]["code"] == -32600
    assert "1048576" in payload["error"]["message"]


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_json_that_is_not_an_object_is_invalid_request(mcp_runtime: LambdaRuntime, fmt: EventFormat) -> None:
    headers, _ = mcp_request("tools/list")
    event = proxy_event(fmt, "POST", "/mcp", headers=headers, body='"just a string"', authorizer=FULL_CONTEXT)
    status, _, payload = call(mcp_runtime, event)
    assert (status, payload["error"]["code"]) == (400, -32600)


@pytest.mark.parametrize(
    "host", ["abc123.execute-api.eu-west-1.amazonaws.com", "mcp.example.com", "localhost:9"]
)
def test_no_host_is_rejected_with_421(mcp_runtime: LambdaRuntime, host: str) -> None:
    status, _, _ = call(mcp_runtime, tool_call_event(Host=host))
    assert status == 200


@pytest.fixture(scope="module")
def origin_runtime() -> Any:
    """A handler configured with one allowed browser origin."""
    env = {**os.environ, "ALLOWED_ORIGINS": "https://app.example.com"}
    adapter = Mangum(build_asgi_app(SettingsSource(env=env), env), lifespan="off")
    runtime = LambdaRuntime(adapter)
    yield runtime
    runtime.close()


def test_listed_origin_is_served(origin_runtime: LambdaRuntime) -> None:
    status, _, body = call(origin_runtime, tool_call_event(Origin="https://app.example.com"))
    assert status == 200
    assert body["result"]["isError"] is False


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.com.evil.example", "null"])
def test_unlisted_origin_is_403(origin_runtime: LambdaRuntime, origin: str) -> None:
    status, _, body = call(origin_runtime, tool_call_event(Origin=origin))
    assert status == 403
    assert body["error"]["message"] == "Forbidden: origin not allowed"


def test_missing_origin_is_served(origin_runtime: LambdaRuntime) -> None:
    status, _, _ = call(origin_runtime, tool_call_event())
    assert status == 200
