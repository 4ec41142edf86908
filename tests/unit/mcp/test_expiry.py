"""An expired credential stops working at its expiry, not when the authorizer cache forgets it.

API Gateway caches a REQUEST authorizer's Allow (and its context) per identity-source value for
the authorizer's TTL (300 s by default, up to 3600 s): during that time the authorizer is not
called again, so it cannot notice that the JWT's `exp` (or the API key's `expires_at`) has
passed. The context therefore carries the expiry, and the MCP Lambda refuses an expired
principal itself with 401 `invalid_token`, the answer RFC 6750 §3.1 gives for an expired token.

https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
(with authorization caching on, the returned policy is cached and applied to further requests
within the TTL) and https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html
(`authorizerResultTtlInSeconds`: default 300, at most 3600)
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
(the `context` map reaches the integration as `$context.authorizer.<key>`)

Every credential here is real: JWTs signed by the dev issuer with a key generated at test time,
verified by the authorizer's own `Gatekeeper`; API keys generated and verified by the
authorizer's `Authenticator`. The clock is the test's, shared by both functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum

from app.auth.api_keys import KeyStore, generate_api_key
from app.auth.authenticator import Authenticator
from app.auth.principal import Principal
from app.authorizer.gatekeeper import Gatekeeper
from app.core.config import SettingsSource
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.server import build_server
from devtools.dev_issuer import DevIssuer
from devtools.events import EventFormat, proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request, tool_call_params
from tests.conftest import TEST_ISSUER, TEST_MCP_URL, TEST_PRM_URL, LogCapture

T0 = 1_800_000_000  # the test's epoch seconds; no test reads the wall clock
LIFETIME = 300
LEEWAY = 30  # JWT_LEEWAY_SECONDS default: the authorizer's and the MCP Lambda's


class Clock:
    """Epoch seconds the test sets: the authorizer and the MCP Lambda both read it."""

    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _start_at_t0(clock: Clock) -> None:
    clock.now = float(T0)


@pytest.fixture(scope="module")
def runtime(clock: Clock) -> Iterator[LambdaRuntime]:
    """The example server behind the MCP edge, reading the test's clock."""
    app = AuthorizerContext(create_app(build_server(), SettingsSource(env=dict(os.environ)), clock=clock))
    lambda_runtime = LambdaRuntime(Mangum(app, lifespan="off"))
    yield lambda_runtime
    lambda_runtime.close()


@pytest.fixture(scope="module")
def issuer() -> DevIssuer:
    return DevIssuer(TEST_ISSUER)


def authorize_jwt(issuer: DevIssuer, clock: Clock, token: str) -> dict[str, Any]:
    """What API Gateway hands the MCP Lambda after the real authorizer logic allowed `token`."""
    keeper = Gatekeeper(SettingsSource(env=dict(os.environ)), fetch_json=issuer.fetch_json, clock=clock)
    decision = keeper.decide(f"Bearer {token}")
    assert decision.allowed, decision.reason
    assert decision.principal is not None
    return {"principalId": decision.principal.subject, **decision.principal.to_context()}


def send(
    runtime: LambdaRuntime, context: dict[str, Any], fmt: EventFormat = "v1"
) -> tuple[int, dict[str, str], Any]:
    headers, body = mcp_request("tools/call", tool_call_params("add", {"a": 1, "b": 2}))
    event = proxy_event(fmt, "POST", "/mcp", headers=headers, body=body, authorizer=context)
    status, raw_headers, raw_body = response_from_lambda(runtime.invoke_sync(event))
    return status, {k.lower(): v for k, v in raw_headers}, json.loads(raw_body) if raw_body else None


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_a_cached_allow_for_a_jwt_stops_working_when_the_token_expires(
    runtime: LambdaRuntime, issuer: DevIssuer, clock: Clock, logs: LogCapture, fmt: EventFormat
) -> None:
    token = issuer.mint(audience=TEST_MCP_URL, now=T0, expires_in=LIFETIME)
    context = authorize_jwt(issuer, clock, token)  # the Allow API Gateway now caches
    assert context["expires_at"] == str(T0 + LIFETIME)

    assert send(runtime, context, fmt)[0] == 200
    clock.now = T0 + LIFETIME + LEEWAY - 1  # inside the leeway the authorizer also grants
    assert send(runtime, context, fmt)[0] == 200

    clock.now = T0 + LIFETIME + LEEWAY  # the first instant the authorizer would refuse it
    status, headers, body = send(runtime, context, fmt)
    assert status == 401
    assert headers["www-authenticate"] == (
        f'Bearer error="invalid_token", resource_metadata="{TEST_PRM_URL}", scope="mcp/access"'
    )
    assert body["error"]["code"] == -32600
    assert "expired" in body["error"]["message"]
    assert token not in json.dumps(body)
    audit = logs.audits()[-1]
    assert (audit["outcome"], audit["reason"], audit["status"]) == ("denied", "credential_expired", 401)
    assert audit["principal"] == "dev-user"


def test_the_edge_and_the_authorizer_agree_on_the_instant_of_expiry(
    runtime: LambdaRuntime, issuer: DevIssuer, clock: Clock
) -> None:
    """One second before, both accept; at the instant, both refuse: no window either way."""
    token = issuer.mint(audience=TEST_MCP_URL, now=T0, expires_in=LIFETIME)
    context = authorize_jwt(issuer, clock, token)
    keeper = Gatekeeper(SettingsSource(env=dict(os.environ)), fetch_json=issuer.fetch_json, clock=clock)
    for now, allowed in [(T0 + LIFETIME + LEEWAY - 1, True), (T0 + LIFETIME + LEEWAY, False)]:
        clock.now = now
        assert keeper.decide(f"Bearer {token}").allowed is allowed
        assert (send(runtime, context)[0] == 200) is allowed


def test_an_api_key_past_expires_at_is_refused_even_with_a_cached_allow(
    runtime: LambdaRuntime, clock: Clock, logs: LogCapture
) -> None:
    expires_at = T0 + 3600
    plaintext, record = generate_api_key("temp-bot", ["mcp/access"], expires_at, T0)
    store = KeyStore().add(record)
    authenticator = Authenticator(None, lambda: store, "mcp/access", clock)
    principal = authenticator.authenticate(f"Bearer {plaintext}")
    context = {"principalId": principal.subject, **principal.to_context()}
    assert context["expires_at"] == str(expires_at)

    clock.now = expires_at - 1
    assert send(runtime, context)[0] == 200
    clock.now = expires_at  # API key expiry has no leeway: the authorizer refuses from here too
    status, headers, _ = send(runtime, context)
    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert logs.audits()[-1]["reason"] == "credential_expired"
    assert plaintext not in logs.text()


def test_an_api_key_that_never_expires_carries_no_expiry(runtime: LambdaRuntime, clock: Clock) -> None:
    plaintext, record = generate_api_key("ci-bot", ["mcp/access"], None, T0)
    store = KeyStore().add(record)
    principal = Authenticator(None, lambda: store, "mcp/access", clock).authenticate(f"Bearer {plaintext}")
    context = {"principalId": principal.subject, **principal.to_context()}
    assert "expires_at" not in context
    clock.now = T0 + 10 * 365 * 86400
    assert send(runtime, context)[0] == 200


def test_an_unreadable_expiry_in_the_context_is_401(runtime: LambdaRuntime) -> None:
    """Fail closed: an expiry the MCP Lambda cannot read is not "never expires"."""
    context = {**Principal("u", "jwt", frozenset({"mcp/access"})).to_context(), "expires_at": "later"}
    assert send(runtime, context)[0] == 401
