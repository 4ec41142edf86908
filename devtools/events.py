"""API Gateway events in the shapes `sam local generate-event` produces.

Used by the CLI (`mcp-lambda event`), the tests' Lambda transport and the local gateway
emulator, so all three send the handlers exactly what API Gateway would.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

EventFormat = Literal["v1", "v2"]

# A request's headers or query parameters: a mapping, or (name, value) pairs in the order they
# arrived when a name may repeat (what an HTTP server hands the gateway emulator).
Parameters = Mapping[str, str] | Iterable[tuple[str, str]]

DEFAULT_HOST = "abcdef1234.execute-api.us-east-1.amazonaws.com"
DEFAULT_STAGE = "prod"
DEFAULT_API_ID = "abcdef1234"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


def _encode_body(body: bytes | str | None, base64_encode: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    raw = body.encode() if isinstance(body, str) else body
    if base64_encode:
        return base64.b64encode(raw).decode("ascii"), True
    return raw.decode("utf-8"), False


def single_and_multi(parameters: Parameters | None) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The `headers`/`multiValueHeaders` (or query) pair of a REST event from repeated parameters.

    Every value reaches the multi-value map in order; the single-value map keeps the last one,
    as API Gateway does (Lambda proxy input format:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
    """
    pairs = parameters.items() if isinstance(parameters, Mapping) else (parameters or ())
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _with_defaults(
    defaults: Mapping[str, str], parameters: Parameters | None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    # A default fills a header the request does not carry in any letter case: "Host" and "host"
    # side by side would give the handler two hosts, and which one wins would depend on it.
    single, multi = single_and_multi(parameters)
    present = {name.lower() for name in single}
    missing = {name: value for name, value in defaults.items() if name.lower() not in present}
    return {**missing, **single}, {**{name: [value] for name, value in missing.items()}, **multi}


def _now() -> tuple[str, int]:
    now = datetime.now(UTC)
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(now.timestamp() * 1000)


def rest_v1_event(
    method: str,
    path: str,
    *,
    headers: Parameters | None = None,
    body: bytes | str | None = None,
    base64_encode: bool = False,
    authorizer: Mapping[str, Any] | None = None,
    resource: str | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = DEFAULT_STAGE,
    request_id: str | None = None,
    query: Parameters | None = None,
) -> dict[str, Any]:
    """An API Gateway REST API (v1) Lambda proxy event.

    `authorizer` is the authorizer output as API Gateway passes it on: the context keys plus
    `principalId`, all flat. A repeated header or query parameter keeps every value in the
    multi-value map and its last value in the single-value one.
    """
    all_headers, multi_headers = _with_defaults({"Host": DEFAULT_HOST, "X-Forwarded-Proto": "https"}, headers)
    single_query, multi_query = single_and_multi(query)
    encoded, is_b64 = _encode_body(body, base64_encode)
    request_time, epoch = _now()
    context: dict[str, Any] = {
        "accountId": DEFAULT_ACCOUNT,
        "resourceId": "abc123",
        "stage": stage,
        "requestId": request_id or str(uuid.uuid4()),
        "requestTime": request_time,
        "requestTimeEpoch": epoch,
        "identity": {
            "sourceIp": source_ip,
            "userAgent": _header(all_headers, "user-agent"),
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
        },
        "path": f"/{stage}{path}",
        "resourcePath": resource or path,
        "httpMethod": method,
        "apiId": DEFAULT_API_ID,
        "protocol": "HTTP/1.1",
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": encoded,
        "isBase64Encoded": is_b64,
    }


def http_v2_event(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    base64_encode: bool = False,
    authorizer: Mapping[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2 payload) event on the `$default` stage.

    `authorizer` is a Lambda authorizer's context, which HTTP APIs nest under
    `requestContext.authorizer.lambda`.
    """
    lowered = {name.lower(): value for name, value in {"host": DEFAULT_HOST, **(headers or {})}.items()}
    encoded, is_b64 = _encode_body(body, base64_encode)
    request_time, epoch = _now()
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    context: dict[str, Any] = {
        "accountId": DEFAULT_ACCOUNT,
        "apiId": DEFAULT_API_ID,
        "domainName": lowered["host"],
        "domainPrefix": lowered["host"].split(".")[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": lowered.get("user-agent", ""),
        },
        "requestId": request_id or str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time,
        "timeEpoch": epoch,
    }
    if authorizer is not None:
        context["authorizer"] = {"lambda": dict(authorizer)}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": context,
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if encoded is not None:
        event["body"] = encoded
    return event


def proxy_event(
    event_format: EventFormat,
    method: str,
    path: str,
    **kwargs: Any,
) -> dict[str, Any]:
    """A v1 or v2 proxy event (same keyword arguments as the two builders)."""
    if event_format == "v1":
        return rest_v1_event(method, path, **kwargs)
    kwargs.pop("resource", None)
    kwargs.pop("stage", None)
    return http_v2_event(method, path, **kwargs)


def request_authorizer_event(
    method: str,
    path: str,
    *,
    headers: Parameters | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = DEFAULT_STAGE,
    request_id: str | None = None,
    query: Parameters | None = None,
) -> dict[str, Any]:
    """A REST API REQUEST-authorizer event (`sam local generate-event apigateway request-authorizer`).

    Repeated headers and query parameters are kept as in the proxy event (`rest_v1_event`).
    """
    all_headers, multi_headers = _with_defaults({"Host": DEFAULT_HOST}, headers)
    single_query, multi_query = single_and_multi(query)
    request_time, epoch = _now()
    return {
        "type": "REQUEST",
        "methodArn": (
            f"arn:aws:execute-api:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:{DEFAULT_API_ID}/{stage}/{method}{path}"
        ),
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {
            "path": f"/{stage}{path}",
            "accountId": DEFAULT_ACCOUNT,
            "resourceId": "abc123",
            "stage": stage,
            "requestId": request_id or str(uuid.uuid4()),
            "requestTime": request_time,
            "requestTimeEpoch": epoch,
            "identity": {"sourceIp": source_ip, "userAgent": _header(all_headers, "user-agent")},
            "resourcePath": path,
            "httpMethod": method,
            "apiId": DEFAULT_API_ID,
        },
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")
