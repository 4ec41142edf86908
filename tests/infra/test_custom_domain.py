"""Custom-domain traps (issue 13 §2): one origin, DNS records that resolve, a usable certificate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.app import build_app, main
from infra.config import ConfigError, StackConfig, check_certificate_region
from tests.infra.conftest import NO_BUNDLING, Synth, render, synthesize

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
NO_DOMAIN: dict[str, object] = {
    "STACK_NAME": "McpNoDomain",
    "ENABLE_SNAPSTART": "false",
    "API_GATEWAY_CLOUDWATCH_ROLE": "false",
}


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-domain-zone"), ZONE_ONLY)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-domain-none"), NO_DOMAIN)


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


def _build(region: str, certificate: str) -> None:
    """Construct (not synthesize) the stack for an explicit region, as `CDK_DEFAULT_REGION` gives it."""
    context = {**NO_BUNDLING, "CUSTOM_DOMAIN_NAME": "mcp.example.net", "CERTIFICATE_ARN": certificate}
    build_app(context, env={"CDK_DEFAULT_REGION": region}, nag=False)


def test_a_certificate_from_another_region_stops_synth() -> None:
    """A regional custom domain name needs an ACM certificate in the API's region
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-regional-api-custom-domain-create.html,
    "Considerations"): CloudFormation would fail at the DomainName mid-deploy, so synth refuses first."""
    us_east = CERTIFICATE.replace(":eu-west-1:", ":us-east-1:")
    with pytest.raises(
        ConfigError, match="CERTIFICATE_ARN is a certificate in us-east-1, but the stack deploys"
    ):
        _build("eu-west-1", us_east)


def test_a_certificate_in_the_stack_region_is_used() -> None:
    _build("eu-west-1", CERTIFICATE)


def test_the_certificate_region_is_not_checked_without_a_region() -> None:
    """Environment-agnostic (no CDK_DEFAULT_REGION): the region is unknown at synth, nothing to compare."""
    config = StackConfig.from_sources(
        {"CUSTOM_DOMAIN_NAME": "mcp.example.net", "CERTIFICATE_ARN": CERTIFICATE}
    )
    check_certificate_region(config, None)
    with pytest.raises(ConfigError, match="CERTIFICATE_ARN"):
        check_certificate_region(config, "us-west-2")


def test_the_cli_prints_the_certificate_message_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_DEFAULT_REGION", "ap-southeast-2")
    monkeypatch.setenv("CUSTOM_DOMAIN_NAME", "mcp.example.net")
    monkeypatch.setenv("CERTIFICATE_ARN", CERTIFICATE)
    monkeypatch.setenv("ENABLE_SNAPSTART", "false")
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps(NO_BUNDLING))
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    with pytest.raises(SystemExit) as exited:
        main()
    assert str(exited.value).startswith("infra.app: CERTIFICATE_ARN is a certificate in eu-west-1")
