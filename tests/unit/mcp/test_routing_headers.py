"""`Mcp-Method` and `Mcp-Name` must say what the body does, or the request is refused.

The 2026-07-28 protocol has clients repeat the JSON-RPC method, and the tool name, prompt name
or resource URI, in headers on every POST (SEP-2243), so that an intermediary can route and
authorize without parsing the body. The API Gateway authorizer decides per tool from these
headers; if the body were allowed to name a different tool, a token allowed `add` could run
`whoami`. So the MCP function refuses ANY request whose body disagrees with a routing header
that is present, whatever protocol version the body speaks (a handshake-era body too), with the
SDK's `HEADER_MISMATCH` JSON-RPC error and a 400:

- `Mcp-Method` differs from the body's `method`;
- for `tools/call`, `prompts/get` and `resources/read`, the decoded `Mcp-Name` differs from the
  body's `name`/`uri` (an absent `Mcp-Name` with `Mcp-Method` present is a difference too);
- `Mcp-Name` is sent for a method that names nothing;
- a routing header appears more than once (first-copy and last-copy readers would disagree).

A request without either header (a 2025-11-25 client) is not affected. The per-tool scope
check behind it stays (defence in depth; `test_authorization.py` covers it for both
generations).

https://modelcontextprotocol.io/specification/draft/basic/transports#standard-mcp-request-headers
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import MutableMapping
from typing import Any

import pytest
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from mcp_types.jsonrpc import HEADER_MISMATCH

from app.auth.principal import Principal
from app.core.config import SettingsSource
from app.core.identity import PRINCIPAL_KEY
from app.mcp.asgi import create_app
from app.mcp.server import build_server
from devtools.events import proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import Generation, mcp_request, tool_call_params
from tests.conftest import LogCapture
from tests.unit.mcp.conftest import FULL_CONTEXT
from tests.unit.mcp.test_audit_trail import audit_of, send
from tests.unit.mcp.test_authorization import call


def sentinel(value: str) -> str:
    """The SEP-2243 base64 form a client uses for a value that is not a plain header token."""
    return f"=?base64?{base64.b64encode(value.encode()).decode()}?="


def tool_call(
    name: str, generation: Generation = "2026-07-28", **header_changes: str | None
) -> tuple[dict[str, str], str]:
    """A `tools/call` of `name`, with routing headers replaced (a value) or removed (None)."""
    headers, body = mcp_request("tools/call", tool_call_params(name, {}), generation=generation)
    for header, value in header_changes.items():
        header_name = header.replace("_", "-")
        headers = {k: v for k, v in headers.items() if k.lower() != header_name.lower()}
        if value is not None:
            headers[header_name] = value
    return headers, body


def assert_mismatch(status: int, body: Any) -> None:
    assert status == 400 == ERROR_CODE_HTTP_STATUS[HEADER_MISMATCH]
    assert body["error"]["code"] == HEADER_MISMATCH
    assert body["id"] == 1


MISMATCHES = {
    "name-names-another-tool": tool_call("whoami", Mcp_Name="add"),
    "method-names-another-method": tool_call("whoami", Mcp_Method="tools/list"),
    "method-without-name": tool_call("whoami", Mcp_Name=None),
    "name-without-method-differs": tool_call("whoami", Mcp_Method=None, Mcp_Name="add"),
    "name-in-base64-differs": tool_call("whoami", Mcp_Name=sentinel("add")),
    "name-in-broken-base64": tool_call("whoami", Mcp_Name="=?base64?!!not base64!!?="),
    "name-differs-in-case": tool_call("whoami", Mcp_Name="WhoAmI"),
    "handshake-era-body-name-differs": tool_call(
        "whoami", "2025-11-25", Mcp_Method="tools/call", Mcp_Name="add"
    ),
    "handshake-era-body-method-differs": tool_call("whoami", "2025-11-25", Mcp_Method="prompts/get"),
    "name-on-a-method-without-name": (
        {**mcp_request("tools/list", generation="2026-07-28")[0], "Mcp-Name": "add"},
        mcp_request("tools/list", generation="2026-07-28")[1],
    ),
    "resource-uri-differs": (
        {
            **mcp_request("resources/read", {"uri": "info://server"}, generation="2026-07-28")[0],
            "Mcp-Name": "x://y",
        },
        mcp_request("resources/read", {"uri": "info://server"}, generation="2026-07-28")[1],
    ),
    "initialize-claims-a-tool-call": (
        {**mcp_request("initialize")[0], "Mcp-Method": "tools/call", "Mcp-Name": "add"},
        mcp_request("initialize")[1],
    ),
}


@pytest.mark.parametrize("fmt", ["v1", "v2"])
@pytest.mark.parametrize("sent", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_a_body_that_disagrees_with_its_routing_headers_is_refused(
    mcp_runtime: LambdaRuntime, fmt: Any, sent: tuple[dict[str, str], str]
) -> None:
    """FULL_CONTEXT holds every scope these calls need: only the mismatch can refuse them."""
    status, _, body = call(mcp_runtime, fmt, context=FULL_CONTEXT, request=sent)
    assert_mismatch(status, body)


AGREEMENTS = {
    "modern-headers-match": tool_call("whoami"),
    "name-in-base64-matches": tool_call("whoami", Mcp_Name=sentinel("whoami")),
    "handshake-era-without-routing-headers": tool_call("whoami", "2025-11-25"),
    "handshake-era-with-matching-headers": tool_call(
        "whoami", "2025-11-25", Mcp_Method="tools/call", Mcp_Name="whoami"
    ),
    "method-header-only-on-a-nameless-method": (
        {**mcp_request("tools/list")[0], "Mcp-Method": "tools/list"},
        mcp_request("tools/list")[1],
    ),
    "resource-uri-matches": mcp_request("resources/read", {"uri": "info://server"}, generation="2026-07-28"),
}


@pytest.mark.parametrize("sent", AGREEMENTS.values(), ids=AGREEMENTS.keys())
def test_a_body_that_agrees_with_its_routing_headers_is_served(
    mcp_runtime: LambdaRuntime, sent: tuple[dict[str, str], str]
) -> None:
    status, _, body = call(mcp_runtime, "v1", context=FULL_CONTEXT, request=sent)
    assert status == 200
    assert "result" in body


def test_the_refusal_is_audited(mcp_runtime: LambdaRuntime, logs: LogCapture) -> None:
    headers, body = tool_call("add", Mcp_Name="days_between")
    status, request_id = send(mcp_runtime, (headers, body))
    assert status == 400
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"], audit["status"]) == ("denied", "header_mismatch", 400)
    assert (audit["action"], audit["target"]) == ("tools/call", "add")


@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
def test_a_duplicated_routing_header_in_a_rest_event_is_refused(
    mcp_runtime: LambdaRuntime, generation: Generation
) -> None:
    """API Gateway REST passes repeated headers in `multiValueHeaders` (and only the last value
    in `headers`); the authorizer may read either, so two values can never both be honoured.

    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#apigateway-multivalue-headers-and-parameters
    """
    headers, body = tool_call("add", generation, Mcp_Method="tools/call", Mcp_Name="add")
    event = proxy_event(
        "v1", "POST", "/mcp", headers={**headers, "Mcp-Name": "add"}, body=body, authorizer=FULL_CONTEXT
    )
    event["multiValueHeaders"]["Mcp-Name"] = ["whoami", "add"]
    status, _, raw = response_from_lambda(mcp_runtime.invoke_sync(event))
    assert_mismatch(status, json.loads(raw))


@pytest.mark.parametrize("generation", ["2025-11-25", "2026-07-28"])
@pytest.mark.parametrize("header", [b"mcp-method", b"mcp-name", b"mcp-protocol-version"])
def test_identical_duplicate_routing_header_lines_are_refused(header: bytes, generation: Generation) -> None:
    """At the ASGI level (uvicorn, the local stack) repeated lines stay separate: refuse them."""
    app = create_app(build_server(), SettingsSource(env=dict(os.environ)))
    headers, body = tool_call("add", generation, Mcp_Method="tools/call", Mcp_Name="add")
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    value = dict(raw_headers)[header]
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": [*raw_headers, (header, value)],
        "server": ("testserver", 443),
        "client": ("203.0.113.7", 1234),
        PRINCIPAL_KEY: Principal("user-123", "jwt", frozenset({"mcp/access", "mcp/profile"})),
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    async def send_message(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send_message))
    start, content = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert_mismatch(start["status"], json.loads(content))
