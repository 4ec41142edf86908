"""The edge and the audit trail agree on what a request is: a JSON-RPC id decides it.

JSON-RPC 2.0 §4 says a request's `id` is a String, Number or Null, and a request without an
`id` is a notification; MCP narrows it to a string or an integer (never null). The SDK parses
a message whose `id` is anything else (`true`, `1.5`, `null`, an object) as a notification, so
nothing runs and the client gets a 202, while the audit trail used to record a `tools/call`.
Such a body is refused at the edge as -32600 Invalid Request, and so is a `tools/call`,
`resources/read` or `prompts/get` sent without an `id` (a request the SDK would silently drop):
the audit then says `denied`/`invalid_request`, and no tool-call metric counts it.

https://www.jsonrpc.org/specification#request_object
https://modelcontextprotocol.io/specification/2025-11-25/basic#requests
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.lambda_runtime import LambdaRuntime
from devtools.mcp_messages import BASE_HEADERS
from tests.conftest import LogCapture
from tests.unit.mcp.test_audit_trail import audit_of, send
from tests.unit.test_audit import metric_points

_ABSENT = object()


def request(
    method: str, params: dict[str, Any] | None, request_id: Any = _ABSENT
) -> tuple[dict[str, str], str]:
    headers = {**BASE_HEADERS, "MCP-Protocol-Version": "2025-11-25"}
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not _ABSENT:
        message["id"] = request_id
    if params is not None:
        message["params"] = params
    return headers, json.dumps(message)


ADD = {"name": "add", "arguments": {"a": 1, "b": 2}}
INVALID_IDS = [True, False, 1.5, 1.0, None, {"a": 1}, [1], -0.0]


@pytest.mark.parametrize("request_id", INVALID_IDS, ids=[json.dumps(i) for i in INVALID_IDS])
def test_a_tool_call_with_an_invalid_id_is_refused_and_audited_as_refused(
    mcp_runtime: LambdaRuntime, logs: LogCapture, request_id: Any
) -> None:
    status, request_id_seen = send(mcp_runtime, request("tools/call", ADD, request_id))
    assert status == 400
    audit = audit_of(logs, request_id_seen)
    assert (audit["outcome"], audit["reason"], audit["status"]) == ("denied", "invalid_request", 400)
    assert audit["action"] == "tools/call"
    assert not [point for point in metric_points(logs.text()) if point[0] == "ToolCalls"]


def test_the_refusal_is_a_jsonrpc_invalid_request_with_a_null_id(mcp_runtime: LambdaRuntime) -> None:
    from tests.unit.mcp.conftest import FULL_CONTEXT
    from tests.unit.mcp.test_authorization import call

    status, _, body = call(mcp_runtime, "v1", context=FULL_CONTEXT, request=request("tools/call", ADD, True))
    assert status == 400
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None  # an id we refused cannot be echoed
    assert body["error"]["code"] == -32600
    assert "id" in body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/call", ADD),
        ("resources/read", {"uri": "info://server"}),
        ("prompts/get", {"name": "summarize"}),
    ],
)
def test_a_request_method_sent_without_an_id_is_refused(
    mcp_runtime: LambdaRuntime, logs: LogCapture, method: str, params: dict[str, Any]
) -> None:
    """Without an id the SDK would drop it unanswered (202) while the audit named its target."""
    status, request_id_seen = send(mcp_runtime, request(method, params))
    assert status == 400
    audit = audit_of(logs, request_id_seen)
    assert (audit["outcome"], audit["reason"]) == ("denied", "invalid_request")


@pytest.mark.parametrize("request_id", ["abc", "", 0, -7, 2**63], ids=["str", "empty-str", "0", "neg", "big"])
def test_string_and_integer_ids_are_served(
    mcp_runtime: LambdaRuntime, logs: LogCapture, request_id: Any
) -> None:
    status, request_id_seen = send(mcp_runtime, request("tools/call", ADD, request_id))
    assert status == 200
    assert audit_of(logs, request_id_seen)["outcome"] == "ok"


def test_a_real_notification_is_still_accepted(mcp_runtime: LambdaRuntime, logs: LogCapture) -> None:
    status, request_id_seen = send(mcp_runtime, request("notifications/initialized", None))
    assert status == 202
    audit = audit_of(logs, request_id_seen)
    assert (audit["action"], audit["outcome"]) == ("notifications/initialized", "ok")
