"""Custom-domain traps (issue 13 §2): one origin, DNS records that resolve, a usable certificate."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, StackConfig
from tests.infra.conftest import Synth, render, synthesize

# One synthesis per fixture and module: with `pytest -n --dist loadgroup` the module stays on one worker.
pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-custom-domain")]

CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
ZONE_ONLY: dict[str, object] = {
    "STACK_NAME": "McpDomain",
    "CUSTOM_DOMAIN_NAME": "mcp.example.net",
    "HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
    "HOSTED_ZONE_NAME": "example.net",
    "ENABLE_SNAPSTART": "false",
    "API_GATEWAY_CLOUDWATCH_ROLE": "false",
}


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-domain-zone"), ZONE_ONLY)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("cdk-domain-none"),
        {"STACK_NAME": "McpNoDomain", "ENABLE_SNAPSTART": "false", "API_GATEWAY_CLOUDWATCH_ROLE": "false"},
    )


def test_custom_domain_turns_the_execute_api_endpoint_off(zone: Synth) -> None:
    """The metadata names https://<domain>/mcp as the resource; served from the execute-api host it
    would name another origin, which RFC 9728 §3.3 tells clients to reject. With the default endpoint
    disabled (RestApi DisableExecuteApiEndpoint,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-disable-default-endpoint.html)
    the domain is the only origin, and no output advertises the dead execute-api URL."""
    _, api = zone.one("AWS::ApiGateway::RestApi")
    assert api["Properties"]["DisableExecuteApiEndpoint"] is True
    outputs = {key: render(value["Value"]) for key, value in zone.outputs.items()}
    assert not [key for key, value in outputs.items() if "execute-api" in value], outputs
    assert outputs["McpUrl"] == "https://mcp.example.net/mcp"


def test_without_a_custom_domain_the_execute_api_endpoint_stays(plain: Synth) -> None:
    """No domain: the execute-api URL is the MCP URL, so it must stay reachable."""
    _, api = plain.one("AWS::ApiGateway::RestApi")
    assert api["Properties"].get("DisableExecuteApiEndpoint", False) is False
    outputs = {key: render(value["Value"]) for key, value in plain.outputs.items()}
    assert "execute-api" in outputs["McpUrl"]


def test_an_ipv4_domain_gets_an_a_record_only(zone: Synth) -> None:
    """API Gateway's default IP address type for a public custom domain is IPv4
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-custom-domain-ip-address-type.html):
    such a domain has no IPv6 address, so an AAAA alias would send IPv6-first clients nowhere."""
    _, domain = zone.one("AWS::ApiGateway::DomainName")
    assert domain["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    records = [r["Properties"] for r in zone.of_type("AWS::Route53::RecordSet").values()]
    assert [(r["Type"], r["Name"]) for r in records] == [("A", "mcp.example.net.")]
    assert records[0]["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"


def test_ip_address_type_is_ipv4_or_dualstack() -> None:
    """A typo (`ipv6`: API Gateway has no IPv6-only public domain) stops synth naming the setting."""
    base = {"CUSTOM_DOMAIN_NAME": "mcp.example.net", "CERTIFICATE_ARN": CERTIFICATE}
    assert StackConfig.from_sources(base).custom_domain_ip_address_type == "ipv4"
    dual = StackConfig.from_sources({**base, "CUSTOM_DOMAIN_IP_ADDRESS_TYPE": "DualStack"})
    assert dual.custom_domain_ip_address_type == "dualstack"
    with pytest.raises(ConfigError, match="CUSTOM_DOMAIN_IP_ADDRESS_TYPE must be one of ipv4, dualstack"):
        StackConfig.from_sources({**base, "CUSTOM_DOMAIN_IP_ADDRESS_TYPE": "ipv6"})
