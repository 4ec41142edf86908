"""The settings' real AWS clients (Powertools → botocore) against a throttling, refusing or slow AWS.

moto serves SSM and Secrets Manager on 127.0.0.1; the functions' service-specific endpoints
(`AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_SECRETS_MANAGER`) point at a `FaultProxy` in front of
it, so botocore's own retry path runs: the proxy counts how many attempts one read made.
Throttling is answered as the services do: HTTP 400 with a `ThrottlingException` error code
("Common Errors", https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.core import config
from app.core.config import AWS_MAX_ATTEMPTS, SettingsSource, SettingUnavailable
from devtools.fault_proxy import FaultProxy
from devtools.faults import fault_named

MCP_URL = "https://abc.execute-api.us-east-1.amazonaws.com/prod/mcp"
ENV = {
    "MCP_URL_PARAMETER": "/serverless-mcp/test/mcp-url",
    "AUTH_SETTINGS_PARAMETER": "/serverless-mcp/test/auth-settings",
    "API_KEYS_SECRET_ID": "serverless-mcp/test/api-keys",
    "CONFIG_CACHE_SECONDS": "0",
    "API_KEYS_CACHE_SECONDS": "0",
}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=ENV["MCP_URL_PARAMETER"], Value=MCP_URL, Type="String")
    ssm.put_parameter(
        Name=ENV["AUTH_SETTINGS_PARAMETER"], Value=json.dumps({"base_scope": "mcp/access"}), Type="String"
    )
    boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1").create_secret(
        Name=ENV["API_KEYS_SECRET_ID"], SecretString=json.dumps({"version": 1, "keys": []})
    )
    yield endpoint
    server.stop()


@pytest.fixture
def proxies(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FaultProxy]]:
    started = {
        "ssm": FaultProxy(moto_endpoint, "ssm").start(),
        "secretsmanager": FaultProxy(moto_endpoint).start(),
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", started["ssm"].url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", started["secretsmanager"].url)
    yield started
    for proxy in started.values():
        proxy.stop()


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        ("throttle", "ThrottlingException"),
        ("refuse", "EndpointConnectionError"),
        ("slow", "ReadTimeoutError"),
    ],
)
def test_a_failed_ssm_read_is_bounded_remembered_and_recovered_from(
    proxies: dict[str, FaultProxy], monkeypatch: pytest.MonkeyPatch, fault: str, failure: str
) -> None:
    monkeypatch.setattr(config, "READ_RETRY_SECONDS", 0.5)
    source = SettingsSource(env=ENV)
    assert source.auth().mcp_url == MCP_URL
    ssm = proxies["ssm"]
    passed = ssm.counts().passed
    ssm.set_fault(fault_named(fault, "ssm", kid="unused"))
    with pytest.raises(SettingUnavailable) as info:
        source.auth()
    assert info.value.transient
    assert f"({failure})" in str(info.value)
    if fault != "refuse":  # a refused connection never reaches the proxy's handler
        # botocore's standard retry mode, bounded: exactly AWS_MAX_ATTEMPTS attempts, not its default 3.
        assert ssm.counts().faulted == AWS_MAX_ATTEMPTS

    # Within READ_RETRY_SECONDS the same read is refused without asking AWS again.
    before = ssm.counts()
    with pytest.raises(SettingUnavailable, match=failure):
        source.auth()
    assert ssm.counts() == before

    ssm.set_fault(None)
    time.sleep(0.6)  # past READ_RETRY_SECONDS (a wait, not a timing assertion)
    assert source.auth().mcp_url == MCP_URL
    assert ssm.counts().passed > passed


def test_a_throttled_key_store_read_is_refused_then_read_again(
    proxies: dict[str, FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "READ_RETRY_SECONDS", 0.0)  # no memo: every call asks AWS
    source = SettingsSource(env=ENV)
    secrets = proxies["secretsmanager"]
    secrets.set_fault(fault_named("throttle", "secretsmanager", kid="unused"))
    for attempt in range(1, 3):
        with pytest.raises(
            SettingUnavailable, match=r"API_KEYS_SECRET_ID: could not read .*\(ThrottlingException\)"
        ):
            source.api_key_store()
        assert secrets.counts().faulted == attempt * AWS_MAX_ATTEMPTS
    secrets.set_fault(None)
    assert source.api_key_store() == {"version": 1, "keys": []}
