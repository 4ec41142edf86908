"""The `upstream_status` example tool: the server's own credential upstream, never the caller's.

The upstream API is a real HTTP server on 127.0.0.1 that records every request it gets; the
credential is a random value generated per test and stored in moto's Secrets Manager; the
MCP Lambda is the real entry point (`build_asgi_app` behind Mangum), driven by the official
SDK client through API Gateway events that carry the caller's own Authorization header.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import httpx2
import pytest
from mangum import Mangum
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent
from moto import mock_aws

from app.core.config import SettingsSource
from app.mcp.handler import build_asgi_app
from app.tools.upstream import NOT_CONFIGURED, UNREADABLE_CREDENTIAL, credential_in, fetch_json
from devtools.events import EventFormat
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import LambdaProxyTransport
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.conftest import TEST_MCP_URL, TEST_PRM_URL, LogCapture
from tests.unit.mcp.conftest import FULL_CONTEXT, ClientFactory
from tests.unit.mcp.test_authorization import call

UPSTREAM_SECRET_ID = "serverless-mcp/test/upstream-credential"
UPSTREAM_CONTEXT = {
    "principalId": "ops-bot",
    "principal": "ops-bot",
    "auth_method": "jwt",
    "scopes": "mcp/access mcp/upstream",
    "client_id": "ops-client",
}
STATUS_DOCUMENT = {"status": "green", "version": "2026.11", "checks": {"db": "ok", "queue": "ok"}}


@dataclass(frozen=True)
class Received:
    """One request as the upstream saw it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class Reply:
    status: int = 200
    body: bytes = json.dumps(STATUS_DOCUMENT).encode()
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    echo_headers: bool = False  # answer with the request headers (a verbose, hostile upstream)


class FakeUpstream:
    """A real HTTP server on 127.0.0.1 standing in for the upstream API."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reply = Reply()
        self.hold = False  # when set, requests wait for `release` before being answered
        self.release = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.received.append(Received(self.command, self.path, tuple(self.headers.items())))
                if upstream.hold:
                    upstream.release.wait(30)
                reply = upstream.reply
                body = json.dumps(dict(self.headers.items())).encode() if reply.echo_headers else reply.body
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    yield server
    server.close()


@pytest.fixture
def credential() -> Iterator[str]:
    """A fresh upstream credential, stored only in moto's Secrets Manager."""
    with mock_aws():
        value = secrets.token_urlsafe(32)
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name=UPSTREAM_SECRET_ID, SecretString=value)
        yield value


def lambda_runtime(env: Mapping[str, str]) -> LambdaRuntime:
    """The production ASGI app (all tool modules) behind Mangum, reading settings from `env`."""
    return LambdaRuntime(Mangum(build_asgi_app(SettingsSource(env=env), env), lifespan="off"))


@pytest.fixture
def env(upstream: FakeUpstream) -> dict[str, str]:
    """The MCP Lambda's environment: names only; mutated by tests to show call-time reads."""
    return {
        **os.environ,
        "UPSTREAM_SECRET_ID": UPSTREAM_SECRET_ID,
        "UPSTREAM_URL": f"{upstream.url}/v1/status",
    }


@pytest.fixture
def runtime(env: dict[str, str], credential: str) -> Iterator[LambdaRuntime]:
    rt = lambda_runtime(env)
    yield rt
    rt.close()


@asynccontextmanager
async def sdk_client(
    runtime: LambdaRuntime,
    *,
    context: Mapping[str, str] | None = UPSTREAM_CONTEXT,
    headers: Mapping[str, str] | None = None,
    event_format: EventFormat = "v1",
    mode: str = "legacy",
) -> AsyncIterator[tuple[Client, LambdaProxyTransport]]:
    """The SDK client on `runtime`; `headers` go on every HTTP request (and into every event)."""
    transport = LambdaProxyTransport(
        runtime, event_format=event_format, authorizer_context=context, stage_path="/prod"
    )
    async with (
        httpx2.AsyncClient(transport=transport, headers=dict(headers or {})) as http,
        Client(streamable_http_client(TEST_MCP_URL, http_client=http), mode=mode) as client,
    ):
        yield client, transport


def text_of(result: CallToolResult) -> str:
    return "\n".join(item.text for item in result.content if isinstance(item, TextContent))


@pytest.mark.anyio
@pytest.mark.parametrize(("fmt", "mode"), [("v1", "legacy"), ("v2", "2026-07-28")])
async def test_the_upstream_gets_the_server_credential_and_never_the_callers_token(
    runtime: LambdaRuntime, upstream: FakeUpstream, credential: str, fmt: EventFormat, mode: str
) -> None:
    caller_token = secrets.token_urlsafe(32)
    async with sdk_client(
        runtime, headers={"Authorization": f"Bearer {caller_token}"}, event_format=fmt, mode=mode
    ) as (client, transport):
        result = await client.call_tool("upstream_status", {})

    assert result.is_error is False
    assert result.structured_content == STATUS_DOCUMENT
    # The MCP Lambda did receive the caller's Authorization header from API Gateway...
    event_headers = [json.dumps(event["headers"]) for event in transport.events]
    assert any(caller_token in headers for headers in event_headers)
    # ...and the upstream got exactly one request, carrying only the server's own credential.
    assert len(upstream.received) == 1
    request = upstream.received[0]
    assert (request.method, request.path) == ("GET", "/v1/status")
    assert request.values("Authorization") == [f"Bearer {credential}"]
    assert all(caller_token not in value for _, value in request.headers)


@pytest.mark.anyio
async def test_the_secret_may_be_the_json_document_the_stacks_create(
    runtime: LambdaRuntime, upstream: FakeUpstream
) -> None:
    api_key = secrets.token_urlsafe(32)
    document = {"description": "example upstream credential; replace", "api_key": api_key}
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=UPSTREAM_SECRET_ID, SecretString=json.dumps(document)
    )
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is False
    assert upstream.received[0].values("Authorization") == [f"Bearer {api_key}"]


@pytest.mark.parametrize(
    "secret",
    ['{"description": "no key here"}', '{"api_key": ""}', '{"api_key": 42}', "{not json"],
)
def test_a_json_secret_without_an_api_key_is_refused_without_quoting_it(secret: str) -> None:
    with pytest.raises(ToolError, match='non-empty "api_key"') as info:
        credential_in(secret)
    assert secret not in str(info.value)


@pytest.mark.anyio
async def test_the_upstream_url_is_read_at_call_time(
    runtime: LambdaRuntime, upstream: FakeUpstream, env: dict[str, str]
) -> None:
    async with sdk_client(runtime) as (client, _):
        env["UPSTREAM_URL"] = f"{upstream.url}/v2/health"
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is False
    assert [r.path for r in upstream.received] == ["/v2/health"]


@pytest.mark.anyio
@pytest.mark.parametrize("missing", ["UPSTREAM_URL", "UPSTREAM_SECRET_ID"])
async def test_an_unconfigured_upstream_is_a_clear_tool_error(
    runtime: LambdaRuntime, upstream: FakeUpstream, env: dict[str, str], missing: str
) -> None:
    del env[missing]
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is True
    assert NOT_CONFIGURED in text_of(result)
    assert "set UPSTREAM_URL and UPSTREAM_SECRET_ID" in text_of(result)
    assert upstream.received == []


@pytest.mark.anyio
async def test_an_unreadable_secret_tells_the_caller_what_to_check_and_the_log_why(
    runtime: LambdaRuntime, upstream: FakeUpstream, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    env["UPSTREAM_SECRET_ID"] = "serverless-mcp/test/no-such-secret"
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is True
    assert UNREADABLE_CREDENTIAL in text_of(result)
    assert "no-such-secret" not in text_of(result)  # no infrastructure names for the caller
    assert "UPSTREAM_SECRET_ID: could not read secret serverless-mcp/test/no-such-secret" in caplog.text
    assert upstream.received == []


@pytest.mark.anyio
async def test_a_malformed_timeout_names_the_setting(
    runtime: LambdaRuntime, upstream: FakeUpstream, env: dict[str, str]
) -> None:
    env["UPSTREAM_TIMEOUT_SECONDS"] = "soon"
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is True
    assert "UPSTREAM_TIMEOUT_SECONDS must be a number of seconds" in text_of(result)
    assert upstream.received == []


@pytest.mark.anyio
async def test_an_upstream_500_is_a_tool_error_without_the_credential(
    runtime: LambdaRuntime, upstream: FakeUpstream, credential: str, logs: LogCapture
) -> None:
    # The upstream echoes the headers it got, credential included, in its error body.
    upstream.reply = Reply(status=500, echo_headers=True)
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert len(upstream.received) == 1
    assert result.is_error is True
    assert "answered HTTP 500" in text_of(result)
    assert "127.0.0.1" in text_of(result)
    assert credential not in result.model_dump_json()
    assert credential not in logs.text()
    audit = [a for a in logs.audits() if a["action"] == "tools/call"]
    assert [(a["target"], a["outcome"]) for a in audit] == [("upstream_status", "tool_error")]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}),
            "did not answer JSON",
        ),
        (Reply(body=b"[1, 2]"), "did not answer a JSON object"),
        (Reply(status=401, body=b'{"error": "bad credential"}'), "answered HTTP 401"),
    ],
)
async def test_unusable_upstream_answers_are_tool_errors(
    runtime: LambdaRuntime, upstream: FakeUpstream, reply: Reply, message: str
) -> None:
    upstream.reply = reply
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is True
    assert message in text_of(result)


@pytest.mark.anyio
async def test_redirects_are_not_followed_so_the_credential_stays_home(
    runtime: LambdaRuntime, upstream: FakeUpstream, credential: str
) -> None:
    elsewhere = FakeUpstream()
    try:
        upstream.reply = Reply(status=302, body=b"", headers={"Location": f"{elsewhere.url}/collect"})
        async with sdk_client(runtime) as (client, _):
            result = await client.call_tool("upstream_status", {})
    finally:
        elsewhere.close()
    assert result.is_error is True
    assert "answered HTTP 302" in text_of(result)
    assert len(upstream.received) == 1
    assert elsewhere.received == []


@pytest.mark.anyio
async def test_a_slow_upstream_hits_the_timeout(
    runtime: LambdaRuntime, upstream: FakeUpstream, env: dict[str, str]
) -> None:
    env["UPSTREAM_TIMEOUT_SECONDS"] = "0.2"
    upstream.hold = True  # never answers until released (after the call)
    try:
        async with sdk_client(runtime) as (client, _):
            result = await client.call_tool("upstream_status", {})
    finally:
        upstream.release.set()
    assert result.is_error is True
    assert "could not be reached (TimeoutError)" in text_of(result)


@pytest.mark.anyio
async def test_an_unreachable_upstream_is_a_tool_error(runtime: LambdaRuntime, env: dict[str, str]) -> None:
    closed = FakeUpstream()
    closed.close()  # nothing listens on its port any more
    env["UPSTREAM_URL"] = f"{closed.url}/status"
    async with sdk_client(runtime) as (client, _):
        result = await client.call_tool("upstream_status", {})
    assert result.is_error is True
    assert "could not be reached (ConnectionRefusedError)" in text_of(result)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://upstream.example.com/status", "must use https://"),
        ("ftp://127.0.0.1/status", "must use https://"),
        ("file:///etc/passwd", "with a host"),
        ("https://admin:pa55word@upstream.example.com/status", "without user:password@"),
        ("https://upstream.example.com:99999/status", "not a valid URL"),
    ],
)
def test_the_credential_is_only_sent_to_a_safe_url(url: str, message: str) -> None:
    with pytest.raises(ToolError, match=message) as info:
        fetch_json(url, "server-credential", timeout=1)
    assert "pa55word" not in str(info.value)
    assert "server-credential" not in str(info.value)


def test_the_tool_needs_its_own_scope_and_is_hidden_without_it(
    mcp_runtime: LambdaRuntime,
) -> None:
    """Against the real handler module: the tool is registered through TOOL_MODULES."""

    def tools(context: Mapping[str, str]) -> set[str]:
        _, _, body = call(mcp_runtime, "v1", context=dict(context))
        return {tool["name"] for tool in body["result"]["tools"]}

    assert "upstream_status" not in tools(FULL_CONTEXT)
    assert "upstream_status" in tools(UPSTREAM_CONTEXT)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_caller_without_the_scope_gets_a_step_up_challenge(connect: ClientFactory, mode: str) -> None:
    async with connect(mode=mode) as client:
        with pytest.raises(MCPError, match="mcp/upstream"):
            await client.call_tool("upstream_status", {})


def test_the_step_up_challenge_names_the_upstream_scope(mcp_runtime: LambdaRuntime) -> None:
    request = mcp_request("tools/call", tool_call_params("upstream_status", {}), request_id=3)
    status, headers, body = call(mcp_runtime, "v1", context=dict(FULL_CONTEXT), request=request)
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="mcp/access mcp/upstream", '
        f'resource_metadata="{TEST_PRM_URL}"'
    )
    assert body["id"] == 3
