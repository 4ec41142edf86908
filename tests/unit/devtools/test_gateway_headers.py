"""Headers and parameters through the gateway emulator, both ways, as API Gateway REST handles them."""

from __future__ import annotations

import httpx2

from tests.unit.devtools.conftest import VALID, ok, running_gateway

KNOWN_ISSUES = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html"
PROXY_FORMAT = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html"
)


def _lower(headers: dict[str, object]) -> dict[str, object]:
    return {name.lower(): value for name, value in headers.items()}


def test_integration_response_headers_are_remapped_or_dropped_as_api_gateway_does() -> None:
    """Every response header on AWS's list, from `headers` and from `multiValueHeaders`.

    "Amazon API Gateway important notes for REST APIs", the header table, Response column for
    Lambda integrations (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-known-issues.html): Authorization, Connection, Content-MD5, Max-Forwards,
    User-Agent and WWW-Authenticate are "Remapped" (to `x-amzn-Remapped-<name>`); Date and Server
    are "Remapped Overwritten"; Expect, Host, Proxy-Authenticate, TE, Trailer, Transfer-Encoding,
    Upgrade and Via are "Dropped"; the others pass through. anthropics/claude-ai-mcp#748 shows a
    Lambda's `WWW-Authenticate` reaching clients as `x-amzn-remapped-www-authenticate`.
    """
    challenge = 'Bearer error="insufficient_scope", scope="mcp/access mcp/profile"'
    headers = {
        "Authorization": "Bearer leaked",
        "Connection": "close",
        "Content-MD5": "Q2hlY2sgSW50ZWdyaXR5IQ==",
        "Max-Forwards": "3",
        "User-Agent": "function/1",
        "Date": "Thu, 01 Jan 1970 00:00:00 GMT",
        "Server": "function-server",
        "Expect": "100-continue",
        "Host": "function.internal",
        "Proxy-Authenticate": 'Basic realm="proxy"',
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Transfer-Encoding": "chunked",
        "Upgrade": "h2c",
        "Via": "1.1 function",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Warn": '199 - "kept"',
        "Age": "7",
    }
    multi = {
        "WWW-Authenticate": [challenge, 'Basic realm="mcp"'],
        "Set-Cookie": ["a=1", "b=2"],
    }
    with running_gateway(ok("{}", headers=headers, multiValueHeaders=multi)) as gateway:
        response = httpx2.get(gateway.mcp_url, headers={"Authorization": VALID})

    assert response.status_code == 200
    got = response.headers
    assert "www-authenticate" not in got
    assert got.get_list("x-amzn-remapped-www-authenticate") == [challenge, 'Basic realm="mcp"']
    for name in ("Authorization", "Connection", "Content-MD5", "Max-Forwards", "User-Agent"):
        assert got[f"x-amzn-remapped-{name}"] == headers[name]
    assert got.get_list("authorization") == []
    assert got.get_list("max-forwards") == []
    assert got.get_list("user-agent") == []
    assert got.get_list("connection") != ["close"]
    # Remapped Overwritten: the function's value moves; the client gets the gateway's Date.
    assert got["x-amzn-remapped-date"] == headers["Date"]
    assert got["x-amzn-remapped-server"] == headers["Server"]
    assert headers["Date"] not in got.get_list("date")
    assert headers["Server"] not in got.get_list("server")
    dropped_names = (
        *("Expect", "Host", "Proxy-Authenticate", "TE"),
        *("Trailer", "Transfer-Encoding", "Upgrade", "Via"),
    )
    for dropped in dropped_names:
        assert got.get(f"x-amzn-remapped-{dropped}") is None
        assert headers[dropped] not in got.get_list(dropped)
    for kept in ("Cache-Control", "Pragma", "Warn", "Age"):
        assert got[kept] == headers[kept]
    assert got.get_list("set-cookie") == ["a=1", "b=2"]
    assert got["content-length"] == str(len(response.content))


def test_multi_value_headers_win_over_headers_and_a_content_type_is_always_sent() -> None:
    """Both header maps of the Lambda output are merged; for a name in both, multiValueHeaders wins.

    Output format (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-output-format): "If
    the same key-value pair is specified in both, only the values from multiValueHeaders will
    appear in the merged list." Important notes (api-gateway-known-issues.html): "API Gateway
    includes a Content-Type header for all integration responses. By default, the content type
    is application/json."
    """
    single = {"X-Tag": "single", "X-Only": "one"}
    respond = ok("{}", headers=single, multiValueHeaders={"x-tag": ["m1", "m2"]})
    with running_gateway(respond) as gateway:
        response = httpx2.get(gateway.mcp_url, headers={"Authorization": VALID})

    assert response.headers.get_list("x-tag") == ["m1", "m2"]
    assert response.headers["x-only"] == "one"
    assert response.headers["content-type"] == "application/json"


def test_gateway_responses_are_not_remapped() -> None:
    """The 401 comes from the gateway itself: its WWW-Authenticate reaches the client as is.

    Only integration responses are remapped (api-gateway-known-issues.html); a gateway response's
    headers are the API's own (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-gatewayResponse-definition.html).
    """
    with running_gateway() as gateway:
        response = httpx2.post(gateway.mcp_url, json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer resource_metadata=")
    assert not [name for name in response.headers if name.lower().startswith("x-amzn-remapped-")]
    assert gateway.authorizer.events == gateway.function.events == []


def test_repeated_headers_and_query_parameters_reach_both_events_with_every_value() -> None:
    """Repeated headers and query parameters: all values in order, and the last in the single map.

    Lambda proxy input format (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format): the
    example has `header2` as ["value1", "value2"] in `multiValueHeaders` and "value2" in
    `headers`; a REQUEST authorizer receives the same request parameters
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html).
    """
    with running_gateway(authorizer_ttl_seconds=0) as gateway:
        response = httpx2.post(
            f"{gateway.mcp_url}?tag=a&tag=b&one=1",
            headers=[("X-Trace", "first"), ("X-Trace", "second"), ("Authorization", VALID)],
            content=b"{}",
        )

    assert response.status_code == 200
    for event in (gateway.authorizer.events[0], gateway.function.events[0]):
        assert _lower(event["multiValueHeaders"])["x-trace"] == ["first", "second"]
        assert _lower(event["headers"])["x-trace"] == "second"
        assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "one": ["1"]}
        assert event["queryStringParameters"] == {"tag": "b", "one": "1"}


def test_every_authorization_header_reaches_the_authorizer() -> None:
    """Two Authorization headers: the authorizer sees both, so a valid last one cannot hide a first.

    Lambda authorizer input (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    api-gateway-lambda-authorizer-input.html) carries the request's headers in the proxy input
    shape (set-up-lambda-proxy-integrations.html): every value in `multiValueHeaders`, the last
    in `headers`. The fake authorizer allows only exactly one valid credential.
    """
    with running_gateway() as gateway:
        two = [("Authorization", "Bearer junk"), ("Authorization", VALID)]
        refused = httpx2.post(gateway.mcp_url, headers=two, content=b"{}")
        allowed = httpx2.post(gateway.mcp_url, headers={"Authorization": VALID}, content=b"{}")

    assert refused.status_code == 401
    seen = gateway.authorizer.events[0]
    assert _lower(seen["multiValueHeaders"])["authorization"] == ["Bearer junk", VALID]
    assert _lower(seen["headers"])["authorization"] == VALID
    assert allowed.status_code == 200
    assert len(gateway.function.events) == 1


def test_x_forwarded_for_is_appended_to_and_the_source_ip_is_the_tcp_peer() -> None:
    """A client's X-Forwarded-For is kept as a claim; the source IP is the connection's.

    $context.identity.sourceIp is "the source IP address of the immediate TCP connection making
    the request to API Gateway endpoint" (https://docs.aws.amazon.com/apigateway/latest/
    developerguide/api-gateway-mapping-template-reference.html); API Gateway appends that address
    to X-Forwarded-For and trusts only the last entry (AWS answer on re:Post:
    https://repost.aws/questions/QU-xMNlCuTT5m6fL60GYEcgg/what-does-the-x-forwarded-for-note-in-the-docs-mean).
    """
    with running_gateway() as gateway:
        spoofed = httpx2.post(
            gateway.mcp_url, headers={"Authorization": VALID, "X-Forwarded-For": "203.0.113.7"}, content=b"{}"
        )
        plain = httpx2.post(gateway.mcp_url, headers={"Authorization": "Bearer other"}, content=b"{}")

    assert spoofed.status_code == 200
    for event in (gateway.authorizer.events[0], gateway.function.events[0]):
        assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
        assert _lower(event["headers"])["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert plain.status_code == 401
    assert _lower(gateway.authorizer.events[1]["headers"])["x-forwarded-for"] == "127.0.0.1"


def test_hop_by_hop_request_headers_are_dropped_before_the_functions() -> None:
    """Request headers API Gateway drops for Lambda integrations never reach the events.

    The important notes' header table, Request column, Lambda (api-gateway-known-issues.html):
    Connection, Content-MD5, Expect, Max-Forwards, Proxy-Authenticate, Server, TE, Trailer,
    Upgrade and WWW-Authenticate are dropped; Via passes through to Lambda.
    """
    sent = {
        "Authorization": VALID,
        "Content-MD5": "Q2hlY2sgSW50ZWdyaXR5IQ==",
        "Max-Forwards": "2",
        "Proxy-Authenticate": 'Basic realm="p"',
        "Server": "client",
        "TE": "trailers",
        "Trailer": "X-Sum",
        "WWW-Authenticate": 'Basic realm="c"',
        "Via": "1.1 client-proxy",
    }
    with running_gateway() as gateway:
        response = httpx2.post(gateway.mcp_url, headers=sent, content=b"{}")

    assert response.status_code == 200
    dropped = {"connection", "content-md5", "max-forwards", "proxy-authenticate", "server", "te", "trailer"}
    for event in (gateway.authorizer.events[0], gateway.function.events[0]):
        names = set(_lower(event["headers"])) | set(_lower(event["multiValueHeaders"]))
        assert not names & (dropped | {"www-authenticate"})
        assert _lower(event["headers"])["via"] == "1.1 client-proxy"
