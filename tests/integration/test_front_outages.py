"""The authorization front when AWS does not answer: a 503 the client can retry, never a 500.

moto serves SSM, Secrets Manager, DynamoDB and KMS on 127.0.0.1; the front's service endpoints
(`AWS_ENDPOINT_URL_<SERVICE>`) point at `FaultProxy`s, so the front's real botocore clients meet a
refused connection or a throttle ("Common Errors",
https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html). RFC 6749
§4.1.2.1 names the error (`temporarily_unavailable`); RFC 9110 §15.6.4 and §10.2.3 the status and
`Retry-After`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.core import config
from app.oauth import handler
from app.oauth.http import Response
from devtools.fault_proxy import Fault, FaultProxy
from devtools.faults import fault_named
from tests.unit.oauth.front_harness import (
    MCP_URL,
    REDIRECT,
    REGION,
    TABLE,
    event,
    front_function_env,
    make_front,
    settings_document,
)

SERVICES = ("ssm", "secretsmanager", "dynamodb", "kms")
ENDPOINT_ENV = {
    "ssm": "AWS_ENDPOINT_URL_SSM",
    "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "kms": "AWS_ENDPOINT_URL_KMS",
}
METADATA_PATH = "/.well-known/oauth-authorization-server/oauth"


@pytest.fixture(scope="module")
def moto_env() -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server holding what the front reads, and the front's environment naming it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"

    def client(service: str) -> Any:
        make: Any = boto3.client  # one call for four services (boto3-stubs types each name apart)
        return make(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    kms = client("kms")
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    sealing = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
    document = settings_document()
    ssm = client("ssm")
    ssm.put_parameter(Name="/mcp/url", Value=MCP_URL, Type="String")
    ssm.put_parameter(Name="/mcp/front", Value=json.dumps(document), Type="String")
    client("secretsmanager").create_secret(
        Name="front-upstream", SecretString=json.dumps({"client_secret": secrets.token_urlsafe(24)})
    )
    env = front_function_env(signing, sealing)
    yield endpoint, env
    server.stop()


@pytest.fixture
def proxies(
    moto_env: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, FaultProxy]]:
    endpoint, _ = moto_env
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(config, "READ_RETRY_SECONDS", 0.0)  # no memo: each request asks AWS again
    started = {service: FaultProxy(endpoint, service).start() for service in SERVICES}
    for service, proxy in started.items():
        monkeypatch.setenv(ENDPOINT_ENV[service], proxy.url)
    yield started
    for proxy in started.values():
        proxy.stop()


def _ask(moto_env: tuple[str, dict[str, str]], raw_event: dict[str, Any]) -> tuple[Response, dict[str, Any]]:
    """One request through the front's handler logic with a fresh container (no cached settings)."""
    front, _ = make_front(moto_env[1])
    response, audit = handler.handle(raw_event, front)
    return response, {"outcome": audit.outcome, "reason": audit.reason}


def _assert_unavailable(response: Response) -> None:
    assert response.status == 503
    # When the failed read is tried again (READ_RETRY_SECONDS, set to 0 here so each request asks).
    assert response.headers["Retry-After"] == config.retry_after_seconds()
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.body)["error"] == "temporarily_unavailable"


@pytest.mark.parametrize("fault", ["refuse", "throttle"])
def test_settings_unreadable_is_a_503_with_retry_after_then_served_again(
    moto_env: tuple[str, dict[str, str]], proxies: dict[str, FaultProxy], fault: str
) -> None:
    proxies["ssm"].set_fault(fault_named(fault, "ssm", kid="unused"))
    response, audit = _ask(moto_env, event("GET", METADATA_PATH))
    _assert_unavailable(response)
    assert (audit["outcome"], audit["reason"]) == ("error", "settings_unavailable")

    proxies["ssm"].set_fault(None)
    response, audit = _ask(moto_env, event("GET", METADATA_PATH))
    assert response.status == 200
    assert json.loads(response.body)["issuer"] == MCP_URL.removesuffix("/mcp") + "/oauth"


def test_storage_refused_mid_flow_is_a_503_and_names_the_failure_not_the_data(
    moto_env: tuple[str, dict[str, str]], proxies: dict[str, FaultProxy]
) -> None:
    proxies["dynamodb"].set_fault(Fault("refuse"))
    registration = {"redirect_uris": [REDIRECT], "client_name": "Outage test"}
    response, audit = _ask(moto_env, event("POST", "/oauth/register", json_body=registration))
    _assert_unavailable(response)
    assert (audit["outcome"], audit["reason"]) == ("error", "aws_unavailable:EndpointConnectionError")
    assert REDIRECT not in json.dumps(audit)
    assert REDIRECT not in response.body


def test_signing_key_unreachable_is_a_503(
    moto_env: tuple[str, dict[str, str]], proxies: dict[str, FaultProxy]
) -> None:
    proxies["kms"].set_fault(Fault("refuse"))
    response, audit = _ask(moto_env, event("GET", "/oauth/jwks.json"))
    _assert_unavailable(response)
    assert audit["reason"] == "aws_unavailable:EndpointConnectionError"


def test_a_bug_is_still_a_500_not_a_retry_invitation(
    moto_env: tuple[str, dict[str, str]], proxies: dict[str, FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setitem(handler._FLOWS, ("/oauth/register", "POST"), (broken, False))
    response, audit = _ask(moto_env, event("POST", "/oauth/register", json_body={}))
    assert response.status == 500
    assert json.loads(response.body)["error"] == "server_error"
    assert audit["reason"] == "exception:KeyError"
