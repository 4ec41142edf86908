"""The MCP handler invoked in-process with the SAM-style event files in tests/events/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from tests.conftest import load_event

FORMATS = ["v1", "v2"]


def invoke(runtime: LambdaRuntime, name: str) -> tuple[int, dict[str, str], Any]:
    status, headers, body = response_from_lambda(runtime.invoke_sync(load_event(name)))
    return status, {k.lower(): v for k, v in headers}, json.loads(body)


@pytest.mark.parametrize("fmt", FORMATS)
def test_initialize_handshake_answers_with_server_info(mcp_runtime: LambdaRuntime, fmt: str) -> None:
    status, headers, body = invoke(mcp_runtime, f"{fmt}-initialize")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body["result"]["protocolVersion"] == "2025-11-25"
    assert body["result"]["serverInfo"]["name"] == "serverless-mcp"
    assert "tools" in body["result"]["capabilities"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("generation", ["", "modern-"])
def test_tools_list_names_the_example_tools(mcp_runtime: LambdaRuntime, fmt: str, generation: str) -> None:
    status, _, body = invoke(mcp_runtime, f"{fmt}-{generation}tools-list")
    assert status == 200
    assert {tool["name"] for tool in body["result"]["tools"]} >= {"add", "whoami", "days_between"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("generation", ["", "modern-"])
def test_tools_call_returns_structured_result(mcp_runtime: LambdaRuntime, fmt: str, generation: str) -> None:
    status, _, body = invoke(mcp_runtime, f"{fmt}-{generation}tools-call-add")
    assert status == 200
    assert body["result"]["isError"] is False
    assert body["result"]["structuredContent"] == {"result": 5.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_tool_input_is_a_tool_error_not_a_protocol_error(mcp_runtime: LambdaRuntime, fmt: str) -> None:
    status, _, body = invoke(mcp_runtime, f"{fmt}-tools-call-tool-error")
    assert status == 200
    assert body["result"]["isError"] is True
    assert "ISO 8601" in body["result"]["content"][0]["text"]
    assert "not a date" not in body["result"]["content"][0]["text"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("verb", ["get", "delete"])
def test_get_and_delete_are_405_with_allow_post(mcp_runtime: LambdaRuntime, fmt: str, verb: str) -> None:
    status, headers, body = invoke(mcp_runtime, f"{fmt}-{verb}-405")
    assert status == 405
    assert headers["allow"] == "POST"
    assert body["error"]["code"] == -32600


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("case", "status", "code"),
    [("batch-400", 400, -32600), ("not-json-400", 400, -32700), ("bad-origin-403", 403, -32600)],
)
def test_rejections_are_clean_jsonrpc_errors(
    mcp_runtime: LambdaRuntime, fmt: str, case: str, status: int, code: int
) -> None:
    got_status, headers, body = invoke(mcp_runtime, f"{fmt}-{case}")
    assert got_status == status
    assert headers["content-type"] == "application/json"
    assert body == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": code, "message": body["error"]["message"]},
    }
    assert "Traceback" not in body["error"]["message"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_domain_host_is_not_rejected(mcp_runtime: LambdaRuntime, fmt: str) -> None:
    status, _, body = invoke(mcp_runtime, f"{fmt}-custom-domain-host")
    assert status == 200
    assert "tools" in body["result"]
