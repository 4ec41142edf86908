"""When SSM or Secrets Manager cannot be read, or the key store is not one: refuse, say why, recover.

The reads fail here as botocore reports them (a `ClientError` with AWS's error code, or a
connection error); `tests/integration/test_setting_outages.py` makes real botocore meet a
throttling or refusing endpoint, and `tests/e2e/test_faults.py` does it through the local stack.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from mangum import Mangum

from app.auth.api_keys import KeyStore, generate_api_key
from app.auth.errors import ReasonCode
from app.authorizer.gatekeeper import Gatekeeper
from app.core.config import (
    ConfigurationError,
    ParameterReader,
    RecentReadFailure,
    SettingsSource,
    SettingUnavailable,
    describe_read_failure,
    fetch_setting,
)
from app.mcp.asgi import create_app
from app.mcp.handler import AuthorizerContext
from app.mcp.server import build_server
from devtools.dev_issuer import DevIssuer
from devtools.events import proxy_event
from devtools.lambda_runtime import LambdaRuntime
from devtools.lambda_transport import response_from_lambda
from devtools.mcp_messages import mcp_request
from tests.conftest import TEST_ISSUER, TEST_MCP_URL, LogCapture
from tests.unit.mcp.test_audit_trail import CONTEXT, audit_of, send

URL_PARAMETER = "/test/mcp-url"
AUTH_PARAMETER = "/test/auth-settings"
KEYS_SECRET = "test/api-keys"
ENV = {
    "MCP_URL_PARAMETER": URL_PARAMETER,
    "AUTH_SETTINGS_PARAMETER": AUTH_PARAMETER,
    "API_KEYS_SECRET_ID": KEYS_SECRET,
    "CONFIG_CACHE_SECONDS": "0",
    "API_KEYS_CACHE_SECONDS": "0",
}


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "hunter2 was here"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetParameter")


def as_powertools_raises(error: Exception) -> Exception:
    """Its own error (`GetParameterError`), raised while handling botocore's: not chained."""
    try:
        try:
            raise error
        except Exception:
            raise RuntimeError("GetParameterError")  # noqa: B904 - as Powertools does
    except RuntimeError as wrapped:
        return wrapped


class ScriptedReader(ParameterReader):
    """SSM and Secrets Manager as a dict; a name in `failing` raises what botocore would."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__()
        self.values = values
        self.failing: dict[str, Exception] = {}

    def parameter(self, name: str, max_age: int) -> str:
        return self._value(name)

    def secret(self, secret_id: str, max_age: int, *, force_fetch: bool = False) -> str:
        return self._value(secret_id)

    def _value(self, name: str) -> str:
        if name in self.failing:
            raise self.failing[name]
        return self.values[name]


@pytest.fixture
def issuer() -> DevIssuer:
    return DevIssuer(TEST_ISSUER)


@pytest.fixture
def api_key_and_reader() -> tuple[str, ScriptedReader]:
    plaintext, record = generate_api_key("ci-bot", ("mcp/access",), None, now=0)
    reader = ScriptedReader(
        {
            URL_PARAMETER: TEST_MCP_URL,
            AUTH_PARAMETER: json.dumps({"issuer": TEST_ISSUER}),
            KEYS_SECRET: json.dumps(KeyStore.from_json({}).add(record).to_json()),
        }
    )
    return plaintext, reader


def keeper(reader: ScriptedReader, issuer: DevIssuer) -> Gatekeeper:
    return Gatekeeper(SettingsSource(env={**os.environ, **ENV}, reader=reader), fetch_json=issuer.fetch_json)


# --- what a failed read is called, and whether it may pass --------------------------------------


@pytest.mark.parametrize(
    ("error", "name", "transient"),
    [
        (client_error("ThrottlingException"), "ThrottlingException", True),
        (client_error("InternalFailure", 500), "InternalFailure", True),
        (client_error("SomethingNew", 503), "SomethingNew", True),
        (client_error("ParameterNotFound"), "ParameterNotFound", False),
        (client_error("ResourceNotFoundException"), "ResourceNotFoundException", False),
        (client_error("AccessDeniedException"), "AccessDeniedException", False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "EndpointConnectionError", True),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), "ConnectionClosedError", True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "ReadTimeoutError", True),
        (KeyError("x"), "KeyError", False),
    ],
)
def test_a_failed_read_is_named_by_its_code_and_classed(error: Exception, name: str, transient: bool) -> None:
    assert describe_read_failure(error) == (name, transient)
    assert describe_read_failure(as_powertools_raises(error)) == (name, transient)


def test_a_transient_failure_says_so_names_the_setting_and_quotes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def throttled() -> str:
        raise client_error("ThrottlingException")

    with caplog.at_level(logging.WARNING), pytest.raises(SettingUnavailable) as info:
        fetch_setting(throttled, "AUTH_SETTINGS_PARAMETER", "SSM parameter /x")
    message = str(info.value)
    assert info.value.transient
    assert message.startswith(
        "AUTH_SETTINGS_PARAMETER: could not read SSM parameter /x (ThrottlingException)"
    )
    assert "throttled" in message
    assert "hunter2" not in message + caplog.text
    assert [record.getMessage() for record in caplog.records] == [message]  # logged once, here


def test_a_refusal_while_the_read_is_not_retried_is_not_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def remembered() -> str:
        raise RecentReadFailure("ThrottlingException", transient=True)

    with caplog.at_level(logging.WARNING), pytest.raises(SettingUnavailable) as info:
        fetch_setting(remembered, "API_KEYS_SECRET_ID", "secret s")
    assert "(ThrottlingException)" in str(info.value)
    assert caplog.records == []


def test_a_missing_parameter_is_a_misconfiguration_with_its_fix() -> None:
    def missing() -> str:
        raise client_error("ParameterNotFound")

    with pytest.raises(SettingUnavailable) as info:
        fetch_setting(missing, "MCP_URL_PARAMETER", "SSM parameter /x")
    assert not info.value.transient
    assert "check that it exists" in str(info.value)


# --- at cold start ---------------------------------------------------------------------------


def test_an_outage_at_cold_start_does_not_stop_it_but_a_misconfiguration_does(
    api_key_and_reader: tuple[str, ScriptedReader], issuer: DevIssuer
) -> None:
    _, reader = api_key_and_reader
    source = SettingsSource(env={**os.environ, **ENV}, reader=reader)
    reader.failing[URL_PARAMETER] = client_error("ThrottlingException")
    source.check_at_start()
    assert keeper(reader, issuer).check_configuration() is None
    reader.failing[URL_PARAMETER] = client_error("ParameterNotFound")
    with pytest.raises(ConfigurationError, match="MCP_URL_PARAMETER"):
        source.check_at_start()
    with pytest.raises(ConfigurationError, match="MCP_URL_PARAMETER"):
        keeper(reader, issuer).check_configuration()


# --- the authorizer ----------------------------------------------------------------------------


def test_unreadable_settings_refuse_every_credential_then_recover(
    api_key_and_reader: tuple[str, ScriptedReader], issuer: DevIssuer
) -> None:
    api_key, reader = api_key_and_reader
    gate = keeper(reader, issuer)
    token = issuer.mint(audience=TEST_MCP_URL)
    assert gate.decide(f"Bearer {api_key}").allowed
    reader.failing[AUTH_PARAMETER] = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    for credential in (api_key, token):
        decision = gate.decide(f"Bearer {credential}")
        assert (decision.allowed, decision.reason, decision.status) == (
            False,
            ReasonCode.SETTINGS_UNAVAILABLE,
            401,
        )
    del reader.failing[AUTH_PARAMETER]
    assert gate.decide(f"Bearer {api_key}").allowed
    assert gate.decide(f"Bearer {token}").allowed


def test_an_unreadable_key_store_refuses_api_keys_only(
    api_key_and_reader: tuple[str, ScriptedReader], issuer: DevIssuer
) -> None:
    api_key, reader = api_key_and_reader
    gate = keeper(reader, issuer)
    reader.failing[KEYS_SECRET] = client_error("ThrottlingException")
    assert gate.decide(f"Bearer {api_key}").reason is ReasonCode.KEY_STORE_UNAVAILABLE
    assert gate.decide(f"Bearer {issuer.mint(audience=TEST_MCP_URL)}").allowed
    del reader.failing[KEYS_SECRET]
    assert gate.decide(f"Bearer {api_key}").allowed


@pytest.mark.parametrize(
    "corrupted",
    [
        "{not json",
        "[1, 2, 3]",
        '{"version": 1, "keys": "everyone"}',
        '{"version": 2, "keys": []}',
        '{"version": 1, "keys": [{"key_id": "x"}]}',
    ],
    ids=["not-json", "not-an-object", "keys-not-a-list", "unknown-version", "record-missing-fields"],
)
def test_a_corrupted_key_store_refuses_api_keys_with_its_own_reason_and_recovers(
    api_key_and_reader: tuple[str, ScriptedReader],
    issuer: DevIssuer,
    caplog: pytest.LogCaptureFixture,
    corrupted: str,
) -> None:
    api_key, reader = api_key_and_reader
    gate = keeper(reader, issuer)
    good = reader.values[KEYS_SECRET]
    assert gate.decide(f"Bearer {api_key}").allowed
    reader.values[KEYS_SECRET] = corrupted
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            decision = gate.decide(f"Bearer {api_key}")
            assert (decision.allowed, decision.reason) == (False, ReasonCode.KEY_STORE_INVALID)
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1, errors  # once until fixed, not once per request
    assert errors[0].startswith("API_KEYS_SECRET_ID:")
    assert "AWSPREVIOUS" in errors[0]
    assert gate.decide(f"Bearer {issuer.mint(audience=TEST_MCP_URL)}").allowed  # JWTs unaffected
    reader.values[KEYS_SECRET] = good
    assert gate.decide(f"Bearer {api_key}").allowed


# --- the MCP function: the documented 503 ------------------------------------------------------


@pytest.fixture
def mcp_runtime_with_reader(api_key_and_reader: tuple[str, ScriptedReader]) -> Iterator[LambdaRuntime]:
    _, reader = api_key_and_reader
    env = {**os.environ, **ENV}
    app = create_app(build_server(), SettingsSource(env=env, reader=reader))
    runtime = LambdaRuntime(Mangum(AuthorizerContext(app), lifespan="off"))
    yield runtime
    runtime.close()


def test_the_mcp_function_answers_503_with_retry_after_when_its_settings_cannot_be_read(
    mcp_runtime_with_reader: LambdaRuntime,
    api_key_and_reader: tuple[str, ScriptedReader],
    logs: LogCapture,
) -> None:
    _, reader = api_key_and_reader
    reader.failing[URL_PARAMETER] = client_error("ThrottlingException")
    request_id = "req-settings-unavailable"
    headers, body = mcp_request("tools/list")
    event = proxy_event(
        "v1", "POST", "/mcp", headers=headers, body=body, authorizer=dict(CONTEXT), request_id=request_id
    )
    status, response_headers, response_body = response_from_lambda(mcp_runtime_with_reader.invoke_sync(event))
    assert status == 503
    assert dict(response_headers)["retry-after"] == "2"  # READ_RETRY_SECONDS: when it is read again
    assert json.loads(response_body)["error"]["message"].startswith("Service unavailable")
    audit = audit_of(logs, request_id)
    assert (audit["outcome"], audit["reason"], audit["status"]) == (
        "server_error",
        "settings_unavailable",
        503,
    )
    del reader.failing[URL_PARAMETER]
    status, request_id = send(mcp_runtime_with_reader, mcp_request("tools/list"), context=CONTEXT)
    assert status == 200
    assert audit_of(logs, request_id)["outcome"] == "ok"
