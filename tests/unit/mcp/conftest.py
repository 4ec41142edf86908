"""Fixtures for driving the MCP Lambda handler in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client

from devtools.events import EventFormat
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import LambdaProxyTransport
from tests.conftest import TEST_MCP_URL

FULL_CONTEXT = {
    "principalId": "user-123",
    "principal": "user-123",
    "auth_method": "jwt",
    "scopes": "mcp/access mcp/profile",
    "client_id": "example-client",
}

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def mcp_runtime(mcp_handler_runtime: LambdaRuntime) -> LambdaRuntime:
    """The real MCP Lambda handler, warm, shared by the session (one container)."""
    return mcp_handler_runtime


@pytest.fixture
def connect(mcp_runtime: LambdaRuntime) -> ClientFactory:
    """Open the official SDK client against the Lambda handler through API Gateway events."""

    @asynccontextmanager
    async def factory(
        *,
        event_format: EventFormat = "v1",
        mode: str = "legacy",
        authorizer_context: Mapping[str, Any] | None = FULL_CONTEXT,
        base64_body: bool = False,
        runtime: LambdaRuntime | None = None,
        extensions: Sequence[ClientExtension] = (),
    ) -> AsyncIterator[Client]:
        """`runtime`: another handler than the example server's; `extensions`: the client's (SEP-2133)."""
        transport = LambdaProxyTransport(
            runtime or mcp_runtime,
            event_format=event_format,
            authorizer_context=authorizer_context,
            base64_body=base64_body,
            stage_path="/prod",
        )
        async with (
            httpx2.AsyncClient(transport=transport) as http,
            Client(
                streamable_http_client(TEST_MCP_URL, http_client=http), mode=mode, extensions=extensions
            ) as client,
        ):
            yield client

    return factory
