"""Bodies and methods an authenticated caller can send to force a 500 or a stream that never ends.

Each gets a clean 4xx JSON-RPC error instead, and leaves one audit event with its reason. The
requests go through the real handler module (API Gateway event → Mangum → the app), as on Lambda.
"""

from __future__ import annotations

import codecs
import json
import uuid
from typing import Any

import pytest

from app.mcp.asgi import MAX_JSON_DEPTH
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import Generation, jsonrpc, mcp_request, tool_call_params
from tests.conftest import LogCapture
from tests.unit.mcp.conftest import FULL_CONTEXT

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601


def post(
    runtime: LambdaRuntime,
    body: bytes | str,
    *,
    headers: dict[str, str] | None = None,
    fmt: EventFormat = "v1",
    generation: Generation = "2025-11-25",
) -> tuple[int, Any, str]:
    """POST a raw body (base64 in the event, so any bytes arrive as sent); status, JSON, request id."""
    request_id = f"req-{uuid.uuid4()}"
    base_headers, _ = mcp_request("tools/list", generation=generation)
    event = proxy_event(
        fmt,
        "POST",
        "/mcp",
        headers={**base_headers, **(headers or {})},
        body=body,
        base64_encode=True,
        authorizer=FULL_CONTEXT,
        request_id=request_id,
    )
    status, _, reply = response_from_lambda(runtime.invoke_sync(event))
    return status, json.loads(reply) if reply else None, request_id


def audit_of(logs: LogCapture, request_id: str) -> dict[str, Any]:
    (audit,) = [a for a in logs.audits() if a.get("request_id") == request_id]
    return audit


def nested(kind: str, depth: int) -> str:
    """A tools/call whose arguments hold `value` at `depth` levels of nesting of the whole body."""
    opener, closer = ("[", "]") if kind == "array" else ('{"a":', "}")
    inner = depth - 3  # the body object, params and arguments are three levels already
    return (
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":'
        + opener * inner
        + "1"
        + closer * inner
        + ',"b":1}}}'
    )


# --- nesting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", [100_000, 2_000, MAX_JSON_DEPTH + 1])
@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
def test_json_nested_deeper_than_the_limit_is_a_400_jsonrpc_error(
    mcp_runtime: LambdaRuntime, logs: LogCapture, kind: str, depth: int, generation: Generation
) -> None:
    """100k levels made `json.loads` raise RecursionError (a 500); a few hundred, pydantic."""
    status, reply, request_id = post(mcp_runtime, nested(kind, depth), generation=generation)
    assert status == 400
    assert reply["error"]["code"] == INVALID_REQUEST
    assert f"{MAX_JSON_DEPTH} levels" in reply["error"]["message"]
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"], audit["status"]) == ("denied", "nesting_too_deep", 400)


@pytest.mark.parametrize("kind", ["array", "object"])
def test_json_nested_up_to_the_limit_reaches_the_tool(mcp_runtime: LambdaRuntime, kind: str) -> None:
    status, reply, _ = post(mcp_runtime, nested(kind, MAX_JSON_DEPTH))
    assert status == 200
    # `add` wants a number: the nested value is the tool's error, not the edge's.
    assert reply["result"]["isError"] is True


def test_many_shallow_values_are_not_deep(mcp_runtime: LambdaRuntime) -> None:
    body = json.dumps(jsonrpc("tools/call", tool_call_params("add", {"a": 1, "b": 2, "pad": [[0]] * 5000})))
    status, reply, _ = post(mcp_runtime, body)
    assert status == 200
    assert reply["result"]["isError"] is False


# --- strict UTF-8 ---------------------------------------------------------------------------------

TOOLS_LIST = json.dumps(jsonrpc("tools/list", None))


@pytest.mark.parametrize(
    "body",
    [
        codecs.BOM_UTF8 + TOOLS_LIST.encode(),
        TOOLS_LIST.encode("utf-16-le"),
        TOOLS_LIST.encode("utf-16-be"),
        TOOLS_LIST.encode("utf-16"),  # with its BOM
        TOOLS_LIST.encode("utf-32"),
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"\xff\xfe"}}',
        # CESU-8: a surrogate encoded as three bytes, which `json.loads(bytes)` let through.
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"\xed\xa0\x80"}}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"\xc0\xaf"}}',  # overlong
    ],
    ids=["utf8-bom", "utf16le", "utf16be", "utf16-bom", "utf32", "invalid-byte", "cesu8", "overlong"],
)
@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_a_body_that_is_not_strict_utf8_json_is_a_parse_error(
    mcp_runtime: LambdaRuntime, logs: LogCapture, body: bytes, fmt: EventFormat
) -> None:
    """RFC 8259 §8.1: JSON exchanged between systems MUST be UTF-8 and MUST NOT start with a
    byte order mark (https://www.rfc-editor.org/rfc/rfc8259#section-8.1)."""
    status, reply, request_id = post(mcp_runtime, body, fmt=fmt)
    assert status == 400
    assert reply["error"]["code"] == PARSE_ERROR
    assert "UTF-8" in reply["error"]["message"]
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"]) == ("denied", "parse_error")


def test_non_ascii_utf8_is_served(mcp_runtime: LambdaRuntime) -> None:
    body = json.dumps(
        jsonrpc("tools/call", tool_call_params("add", {"a": 1, "b": 2, "é": "ø😀"})), ensure_ascii=False
    )
    status, reply, _ = post(mcp_runtime, body.encode())
    assert status == 200
    assert reply["result"]["structuredContent"] == {"result": 3.0}


# --- methods a buffered, stateless Lambda cannot honour -------------------------------------------

LISTEN_PARAMS = {"notifications": {"toolsListChanged": True, "resourceSubscriptions": ["info://server"]}}


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_subscriptions_listen_is_refused_with_method_not_found(
    mcp_runtime: LambdaRuntime, logs: LogCapture, fmt: EventFormat
) -> None:
    """A valid 2026-07-28 listen request: its reply is a stream that never ends, which crashed
    Mangum (a 500). The spec pairs -32601 with HTTP 404 at 2026-07-28 (the SDK's
    `mcp.shared.inbound.ERROR_CODE_HTTP_STATUS`; github/github-mcp-server#3073 refuses it the same way)."""
    headers, body = mcp_request("subscriptions/listen", LISTEN_PARAMS, generation="2026-07-28")
    status, reply, request_id = post(mcp_runtime, body, headers=headers, fmt=fmt, generation="2026-07-28")
    assert status == 404
    assert reply["id"] == 1
    assert reply["error"]["code"] == METHOD_NOT_FOUND
    assert "subscriptions/listen" in reply["error"]["message"]
    assert "stateless" in reply["error"]["message"]
    audit = audit_of(logs, request_id)
    assert (audit["action"], audit["outcome"], audit["reason"]) == (
        "subscriptions/listen",
        "denied",
        "method_not_supported",
    )


def capabilities(runtime: LambdaRuntime, method: str, generation: Generation) -> dict[str, Any]:
    headers, body = mcp_request(method, generation=generation)
    status, reply, _ = post(runtime, body, headers=headers, generation=generation)
    assert status == 200, reply
    result: dict[str, Any] = reply["result"]["capabilities"]
    return result


@pytest.mark.parametrize(
    ("method", "generation"), [("server/discover", "2026-07-28"), ("initialize", "2025-11-25")]
)
def test_no_change_notification_or_subscription_is_advertised(
    mcp_runtime: LambdaRuntime, method: str, generation: Generation
) -> None:
    """A buffered JSON reply has no stream to deliver `list_changed` or `resources/updated` on."""
    caps = capabilities(mcp_runtime, method, generation)
    assert {"tools", "resources", "prompts"} <= set(caps)
    for kind in ("tools", "resources", "prompts"):
        assert caps[kind].get("listChanged") in (None, False), caps
    assert caps["resources"].get("subscribe") in (None, False), caps


# --- caller text echoed in JSON-RPC errors ----------------------------------------------------------


@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize(
    ("method", "params"),
    [("x/" + "q" * 5000, None), ("resources/read", {"uri": "info://" + "q" * 5000})],
    ids=["unknown-method", "unknown-resource"],
)
def test_caller_text_in_a_jsonrpc_error_is_bounded(
    mcp_runtime: LambdaRuntime, method: str, params: dict[str, Any] | None, generation: Generation
) -> None:
    headers, body = mcp_request(method, params, generation=generation)
    status, reply, _ = post(mcp_runtime, body, headers=headers, generation=generation)
    assert 200 <= status < 500
    error = reply["error"]
    if method.startswith("x/"):
        assert "qqqq" in json.dumps(error)  # still says what was asked for...
    # (an unknown resource is refused at the edge, which does not echo the URI at all)
    assert "q" * 257 not in json.dumps(error)
    assert len(error["message"]) <= 257  # ...cut to 256 characters and an ellipsis
    assert len(json.dumps(error.get("data", ""))) <= 300
