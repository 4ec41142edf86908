"""The local stack's gateway behaves like API Gateway REST, with the real handlers behind it.

Cases the real authorizer and MCP handler can produce are driven here over real HTTP; those they
cannot (a 7 MB answer, a function that never returns) are in `tests/unit/devtools/`.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from tests.e2e.conftest import local_logs_client
from tests.e2e.test_local_stack import MCP_HEADERS, issuer_token

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.xdist_group("e2e")]

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


async def _audit_records(stack: dict[str, Any], request_id: str) -> list[dict[str, Any]]:
    """The audit events of one API Gateway request id, from the stack's moto log group."""
    logs = local_logs_client(stack)
    records: list[dict[str, Any]] = []
    for _ in range(60):  # the local stack ships audit events every 0.5 s
        found = logs.filter_log_events(logGroupName=stack["audit_log_group"], filterPattern=f'"{request_id}"')
        records = [json.loads(event["message"]) for event in found["events"]]
        if {record["source"] for record in records} >= {"authorizer", "mcp"}:
            break
        await anyio.sleep(0.25)
    return records


async def test_a_second_authorization_header_reaches_the_real_authorizer(local_stack: dict[str, Any]) -> None:
    """A valid credential after a bogus one is refused: the authorizer sees both headers.

    REQUEST authorizer input (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-lambda-authorizer-input.html) in the Lambda proxy input shape
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html):
    every value in `multiValueHeaders`. A fresh token, so no cached policy answers instead.
    """
    token = issuer_token(local_stack, "mcp/access")
    both = [("Authorization", "Bearer not-a-token"), ("Authorization", f"Bearer {token}")]
    async with httpx2.AsyncClient() as http:
        refused = await http.post(
            local_stack["mcp_url"], headers=[*MCP_HEADERS.items(), *both], json=LIST_TOOLS
        )
        alone = await http.post(
            local_stack["mcp_url"],
            headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"},
            json=LIST_TOOLS,
        )

    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"  # the stack's UNAUTHORIZED response
    assert alone.status_code == 200


async def test_a_spoofed_x_forwarded_for_is_not_the_audited_source_ip(local_stack: dict[str, Any]) -> None:
    """Both Lambdas audit the TCP peer, not the address a client claims.

    $context.identity.sourceIp is "the source IP address of the immediate TCP connection making
    the request to API Gateway endpoint" (https://docs.aws.amazon.com/apigateway/latest/
    developerguide/api-gateway-mapping-template-reference.html); API Gateway appends the peer
    to X-Forwarded-For (AWS on re:Post: https://repost.aws/questions/QU-xMNlCuTT5m6fL60GYEcgg/
    what-does-the-x-forwarded-for-note-in-the-docs-mean).
    """
    token = issuer_token(local_stack, "mcp/access")
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.7"}
    async with httpx2.AsyncClient() as http:
        response = await http.post(local_stack["mcp_url"], headers=headers, json=LIST_TOOLS)

    assert response.status_code == 200
    records = await _audit_records(local_stack, response.headers["x-amzn-requestid"])
    assert {record["source"] for record in records} == {"authorizer", "mcp"}
    assert {record.get("source_ip") for record in records} == {"127.0.0.1"}


async def test_a_body_that_is_not_utf8_is_a_json_rpc_error_from_the_real_handler(
    local_stack: dict[str, Any],
) -> None:
    """Not UTF-8 and no binary media types: the MCP Lambda gets text and answers; never a 500.

    Content type conversions (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-payload-encodings-workflow.html): with no `binaryMediaTypes`, the payload is
    passed on as a "UTF8-encoded string"; the bytes that are not UTF-8 become U+FFFD.
    """
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {local_stack['api_key']}"}
    async with httpx2.AsyncClient() as http:
        response = await http.post(local_stack["mcp_url"], headers=headers, content=b"\xff\xfe{not json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700  # JSON-RPC parse error
