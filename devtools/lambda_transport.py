"""An httpx2 transport that delivers each HTTP request to a Lambda handler as an API Gateway event.

This is how the official `mcp` SDK client drives the real Lambda entry point in tests and
benchmarks: client request → proxy event (REST v1 or HTTP API v2) → `handler(event, context)`
→ Lambda proxy response → HTTP response. Nothing of the MCP protocol is touched on the way.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx2

from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime

PROXY_RESPONSE_KEYS: Final = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)


class MalformedProxyResponse(ValueError):
    """The function's output is not a Lambda proxy response (API Gateway answers 502)."""


def _header_value(value: object) -> str:
    if isinstance(value, bool):  # JSON true/false, as the function serialised it
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedProxyResponse("a header value must be a string, number or boolean")


@dataclass(frozen=True)
class ProxyResponse:
    """A Lambda proxy integration response, checked and with its two header maps merged.

    Output format (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format):
    every key is optional, no other key is allowed, and "if you specify values for both headers
    and multiValueHeaders, API Gateway merges them into a single list. If the same key-value
    pair is specified in both, only the values from multiValueHeaders will appear".
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: str
    is_base64: bool

    @classmethod
    def parse(cls, result: object) -> ProxyResponse:
        if not isinstance(result, Mapping) or not set(result) <= PROXY_RESPONSE_KEYS:
            raise MalformedProxyResponse("not a Lambda proxy response object")
        single = result.get("headers") or {}
        multi = result.get("multiValueHeaders") or {}
        if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
            raise MalformedProxyResponse("headers and multiValueHeaders must be objects")
        overridden = {str(name).lower() for name in multi}
        headers = [
            (str(name), _header_value(value))
            for name, value in single.items()
            if value is not None and str(name).lower() not in overridden
        ]
        for name, values in multi.items():
            if not isinstance(values, list):
                raise MalformedProxyResponse("multiValueHeaders values must be lists")
            headers.extend((str(name), _header_value(value)) for value in values if value is not None)
        body = result.get("body")
        if body is not None and not isinstance(body, str):
            raise MalformedProxyResponse("body must be a string")
        is_base64 = result.get("isBase64Encoded") or False
        if not isinstance(is_base64, bool):
            raise MalformedProxyResponse("isBase64Encoded must be a boolean")
        try:
            status = int(result.get("statusCode") or 200)
        except (TypeError, ValueError):
            raise MalformedProxyResponse("statusCode must be an integer") from None
        return cls(status, tuple(headers), body or "", is_base64)

    def decoded_body(self) -> bytes:
        """The body bytes the function meant (base64 decoded when it says so)."""
        if not self.is_base64:
            return self.body.encode()
        try:
            return base64.b64decode(self.body, validate=True)
        except binascii.Error:
            raise MalformedProxyResponse("isBase64Encoded is true but the body is not base64") from None


def response_from_lambda(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a Lambda proxy integration response, as the function meant them.

    This is the function's side of the contract, for tests that call a handler directly; what a
    client of the deployed API receives (remapped headers, no binary media types) is the gateway
    emulator's job (`devtools.gateway`).
    """
    response = ProxyResponse.parse(result)
    return response.status, list(response.headers), response.decoded_body()


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
