"""Bodies, quotas, timeouts and failing functions: the gateway's answers, as API Gateway's."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import httpx2
import pytest

from devtools.gateway import (
    DEFAULT_INTEGRATION_TIMEOUT_SECONDS,
    LAMBDA_RESPONSE_LIMIT_BYTES,
    MAX_PAYLOAD_BYTES,
    GatewayConfig,
)
from tests.unit.devtools.conftest import BASE_SCOPE, PRM_BODY, PRM_URL, VALID, ok, running_gateway

AUTH = {"Authorization": VALID}


def _message(response: httpx2.Response) -> Any:
    assert response.headers["content-type"] == "application/json"
    return response.json()["message"]


def test_a_body_that_is_not_utf8_reaches_the_function_as_text_with_replacement_characters() -> None:
    """No binary media types: the payload is handed on as a UTF-8 string, never a 500.

    Content type conversions (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-payload-encodings-workflow.html): with `binaryMediaTypes` and `contentHandling`
    undefined, any request payload becomes a "UTF8-encoded string"; bytes that are not UTF-8
    cannot survive that (why binary uploads arrive corrupted without binary media types), so
    they become U+FFFD and `isBase64Encoded` stays false.
    """
    raw = b'{"text": "caf\xe9 \xff\xfe", "cut": "\xe2\x82"}'
    with running_gateway() as gateway:
        response = httpx2.post(
            gateway.mcp_url, headers={**AUTH, "Content-Type": "application/octet-stream"}, content=raw
        )

    assert response.status_code == 200
    event = gateway.function.events[0]
    assert event["isBase64Encoded"] is False
    assert event["body"] == raw.decode("utf-8", errors="replace")
    assert "\ufffd" in event["body"]


def test_a_payload_over_10_mb_is_refused_before_the_authorizer_runs() -> None:
    """10 MB is API Gateway's payload quota for REST APIs, and it cannot be raised.

    Quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): "Payload
    size 10 MB". The answer, as observed from API Gateway (koki-develop/lgtm-generator#10):
    `413`, `content-type: text; charset=utf-8`, `HTTP content length exceeded 10485760 bytes.`,
    and no x-amzn-RequestId (nothing behind the front door ran).
    """
    with running_gateway() as gateway:
        response = httpx2.post(gateway.mcp_url, headers=AUTH, content=b"x" * (MAX_PAYLOAD_BYTES + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == "text; charset=utf-8"
    assert response.text == "HTTP content length exceeded 10485760 bytes."
    assert "x-amzn-requestid" not in response.headers
    assert gateway.authorizer.events == gateway.function.events == []


def test_an_event_over_lambdas_6_mb_request_quota_is_413_request_too_long() -> None:
    """Under API Gateway's 10 MB but over Lambda's 6 MB invocation payload: the function never runs.

    Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
    "Invocation payload (request and response): 6 MB each for request and response
    (synchronous)". API Gateway's answer, as observed (koki-develop/lgtm-generator#10): 413
    `{"message": "Request Too Long"}` (the REQUEST_TOO_LARGE gateway response, 413:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
    """
    with running_gateway() as gateway:
        response = httpx2.post(gateway.mcp_url, headers=AUTH, content=b"x" * (7 * 1024 * 1024))

    assert response.status_code == 413
    assert _message(response) == "Request Too Long"
    assert len(gateway.authorizer.events) == 1
    assert gateway.function.events == []


def test_no_answer_within_the_integration_timeout_is_504_integration_timeout() -> None:
    """A function slower than the integration timeout: 504 "Endpoint request timed out".

    Quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html):
    "Integration timeout: 50 milliseconds - 29 seconds"; gateway response types
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html):
    INTEGRATION_TIMEOUT, 504; its default message as AWS's troubleshooting article quotes it
    (https://repost.aws/knowledge-center/api-gateway-504-errors). The fake function blocks
    until the test releases it, so no duration is measured or assumed.
    """
    release = threading.Event()

    def never_in_time(event: dict[str, Any]) -> dict[str, Any]:
        release.wait(timeout=60)
        return {"statusCode": 200, "body": "too late"}

    with running_gateway(never_in_time, integration_timeout_seconds=0.2) as gateway:
        try:
            response = httpx2.post(gateway.mcp_url, headers=AUTH, content=b"{}")
        finally:
            release.set()

    assert response.status_code == 504
    assert _message(response) == "Endpoint request timed out"
    assert len(gateway.function.events) == 1


def test_the_integration_timeout_defaults_to_29_seconds_and_bad_settings_name_themselves() -> None:
    """29 s is API Gateway's default integration timeout; 50 ms its floor (limits.html).

    Caching needs an identity source and a TTL of 0-3600 s (`identitySource`,
    `authorizerResultTtlInSeconds`: https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html).
    """
    config = GatewayConfig(
        resource_metadata_url=PRM_URL, base_scope=BASE_SCOPE, protected_resource_metadata=PRM_BODY
    )
    assert config.integration_timeout_seconds == DEFAULT_INTEGRATION_TIMEOUT_SECONDS == 29
    bad: list[tuple[dict[str, Any], str]] = [
        ({"integration_timeout_seconds": 0.01}, "integration_timeout_seconds"),
        ({"authorizer_ttl_seconds": 3601}, "authorizer_ttl_seconds"),
        ({"identity_sources": ()}, "identity_sources"),
        ({"identity_sources": ("bad header",)}, "identity_sources"),
    ]
    for settings, name in bad:
        with pytest.raises(ValueError, match=name):
            GatewayConfig(
                resource_metadata_url=PRM_URL,
                base_scope=BASE_SCOPE,
                protected_resource_metadata=PRM_BODY,
                **settings,
            )


def test_a_response_over_lambdas_6_mb_response_quota_is_502() -> None:
    """A function answer over 6291556 bytes never reaches the client: 502 "Internal server error".

    Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html),
    6 MB per synchronous response; Lambda's error names the exact bound ("Response payload
    size exceeded maximum allowed payload size (6291556 bytes)") and API Gateway answers 502
    with INTEGRATION_FAILURE "Internal server error" (access log in DataBiosphere/azul#8192).
    An answer just under the bound passes whole.
    """
    envelope = len(json.dumps({"statusCode": 200, "body": ""}))
    under = "u" * (LAMBDA_RESPONSE_LIMIT_BYTES - envelope)  # serialised: exactly the quota

    def sized(event: dict[str, Any]) -> dict[str, Any]:
        big = event["queryStringParameters"] == {"size": "7MB"}
        return {"statusCode": 200, "body": "o" * 7_000_000 if big else under}

    with running_gateway(sized) as gateway:
        too_big = httpx2.post(f"{gateway.mcp_url}?size=7MB", headers=AUTH)
        just_under = httpx2.post(f"{gateway.mcp_url}?size=quota", headers=AUTH)

    assert too_big.status_code == 502
    assert _message(too_big) == "Internal server error"
    assert just_under.status_code == 200
    assert len(just_under.content) == len(under)


@pytest.mark.parametrize(
    "output",
    [
        pytest.param(RuntimeError("boom"), id="function-error"),
        pytest.param("not an object", id="not-an-object"),
        pytest.param({"statusCode": 200, "body": "{}", "extra": 1}, id="unknown-key"),
        pytest.param({"statusCode": "two hundred"}, id="bad-status"),
        pytest.param({"statusCode": 200, "headers": {"X-List": ["a"]}}, id="list-in-headers"),
        pytest.param({"statusCode": 200, "body": {"not": "a string"}}, id="body-not-a-string"),
        pytest.param({"statusCode": 200, "headers": {"X-Bad": "\u2603"}}, id="header-not-latin-1"),
    ],
)
def test_a_function_error_or_malformed_output_is_502_never_a_crash(output: object) -> None:
    """A failing function or output that is not a proxy response: 502 "Internal server error".

    Output format (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format):
    "If the function output is of a different format, API Gateway returns a 502 Bad Gateway
    error response."
    """

    def respond(event: dict[str, Any]) -> object:
        if isinstance(output, Exception):
            raise output
        return output

    with running_gateway(respond) as gateway:
        response = httpx2.post(gateway.mcp_url, headers=AUTH, content=b"{}")

    assert response.status_code == 502
    assert _message(response) == "Internal server error"


def test_a_base64_body_reaches_the_client_as_text_without_binary_media_types() -> None:
    """`isBase64Encoded: true` is decoded only for binary media types, and this API has none.

    Content type conversions (api-gateway-payload-encodings-workflow.html), response table: with
    `binaryMediaTypes` undefined, "Text or binary data | A text type | Undefined | Undefined |
    UTF8-encoded string"; binary media types (https://docs.aws.amazon.com/apigateway/latest/
    developerguide/api-gateway-payload-encodings.html) must be configured for a Lambda proxy to
    return binary.
    """
    encoded = base64.b64encode(b"\x89PNG binary").decode()
    with running_gateway(ok(encoded, isBase64Encoded=True, headers={"Content-Type": "image/png"})) as gw:
        response = httpx2.get(gw.mcp_url, headers=AUTH)

    assert response.status_code == 200
    assert response.text == encoded
