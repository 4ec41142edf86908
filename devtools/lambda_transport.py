"""An httpx2 transport that delivers each HTTP request to a Lambda handler as an API Gateway event.

This is how the official `mcp` SDK client drives the real Lambda entry point in tests and
benchmarks: client request → proxy event (REST v1 or HTTP API v2) → `handler(event, context)`
→ Lambda proxy response → HTTP response. Nothing of the MCP protocol is touched on the way.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx2

from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime


def response_from_lambda(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a Lambda proxy integration response."""
    headers: list[tuple[str, str]] = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result.get("statusCode", 500)), headers, body


class LambdaProxyTransport(httpx2.AsyncBaseTransport):
    """Turns httpx2 requests into API Gateway proxy events for `runtime`'s handler."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        *,
        event_format: EventFormat = "v1",
        authorizer_context: Mapping[str, Any] | None = None,
        base64_body: bool = False,
        stage_path: str = "",
    ) -> None:
        """`stage_path` (e.g. "/prod") is stripped from URL paths, as API Gateway does."""
        self._stage_path = stage_path.rstrip("/")
        self._runtime = runtime
        self._format = event_format
        self._authorizer = authorizer_context
        self._base64 = base64_body
        self.events: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in request.headers.raw}
        path = request.url.path
        if self._stage_path and path.startswith(self._stage_path + "/"):
            path = path[len(self._stage_path) :]
        event = proxy_event(
            self._format,
            request.method,
            path,
            headers=headers,
            body=body if body else None,
            base64_encode=self._base64,
            authorizer=self._authorizer,
        )
        self.events.append(event)
        status, response_headers, response_body = response_from_lambda(await self._runtime.invoke(event))
        return httpx2.Response(status, headers=response_headers, content=response_body, request=request)
