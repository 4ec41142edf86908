"""`prompts/get` mistakes are the caller's: -32602 Invalid params, audited as `error`.

The SDK raises a plain `ValueError` for an unknown prompt name and for a missing required
argument, which reaches the client as -32603 Internal error and the audit trail as a
`server_error`, an alarm for the operator about what is the client's mistake. JSON-RPC 2.0
§5.1 reserves -32602 for "Invalid method parameter(s)". A prompt that itself crashes stays a
server error.

https://www.jsonrpc.org/specification#error_object
https://modelcontextprotocol.io/specification/2025-11-25/server/prompts#error-handling
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum
from mcp.server import MCPServer

from app.core.config import SettingsSource
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.permissions import ScopedServer
from devtools.events import proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import Generation, mcp_request
from tests.conftest import LogCapture
from tests.unit.mcp.test_audit_trail import CONTEXT, audit_of

GENERATIONS: list[Generation] = ["2025-11-25", "2026-07-28"]


@pytest.fixture(scope="module")
def runtime() -> Iterator[LambdaRuntime]:
    server = ScopedServer(MCPServer("prompt-errors"))

    @server.prompt()
    def greet(name: str, tone: str = "warm") -> str:
        return f"Greet {name} in a {tone} tone."

    @server.prompt()
    def broken() -> str:
        raise RuntimeError("the prompt's own bug")

    app = AuthorizerContext(create_app(server, SettingsSource(env=dict(os.environ))))
    lambda_runtime = LambdaRuntime(Mangum(app, lifespan="off"))
    yield lambda_runtime
    lambda_runtime.close()


def get_prompt(
    runtime: LambdaRuntime, params: dict[str, Any], generation: Generation
) -> tuple[int, dict[str, Any], str]:
    headers, body = mcp_request("prompts/get", params, generation=generation, request_id=5)
    request_id = f"req-prompt-{uuid.uuid4()}"
    event = proxy_event(
        "v1", "POST", "/mcp", headers=headers, body=body, authorizer=CONTEXT, request_id=request_id
    )
    status, _, raw = response_from_lambda(runtime.invoke_sync(event))
    return status, json.loads(raw), request_id


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"name": "no_such_prompt"}, "Unknown prompt"),
        ({"name": "greet"}, "name"),
        ({"name": "greet", "arguments": {"tone": "dry"}}, "name"),
    ],
    ids=["unknown-name", "no-arguments", "missing-required"],
)
def test_a_callers_mistake_is_invalid_params_and_audited_as_error(
    runtime: LambdaRuntime, logs: LogCapture, generation: Generation, params: dict[str, Any], says: str
) -> None:
    status, body, request_id = get_prompt(runtime, params, generation)
    assert status < 500
    assert body["id"] == 5
    assert body["error"]["code"] == -32602
    assert says in body["error"]["message"]
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"]) == ("error", "invalid_params")


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_complete_call_still_renders(
    runtime: LambdaRuntime, logs: LogCapture, generation: Generation
) -> None:
    status, body, request_id = get_prompt(
        runtime, {"name": "greet", "arguments": {"name": "Ada"}}, generation
    )
    assert status == 200
    assert body["result"]["messages"][0]["content"]["text"] == "Greet Ada in a warm tone."
    assert audit_of(logs, request_id)["outcome"] == "ok"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_a_prompt_that_crashes_is_still_a_server_error(
    runtime: LambdaRuntime, logs: LogCapture, generation: Generation
) -> None:
    _, body, request_id = get_prompt(runtime, {"name": "broken"}, generation)
    assert body["error"]["code"] == -32603
    assert "the prompt's own bug" not in json.dumps(body)
    assert audit_of(logs, request_id)["outcome"] == "server_error"
