"""CORS for browser MCP clients on /mcp in the template, with one and with several ALLOWED_ORIGINS.

Pinned here, and compared with what the local gateway emulator answers (devtools/mcp_cors.py):
- OPTIONS /mcp: a MOCK integration without an authorizer ("CORS for REST APIs in API Gateway":
  https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html); its literal
  `Access-Control-Allow-Origin` is the first origin, and with several origins its response
  template overrides it with the request's Origin only on an exact match with another listed
  one ("Override your API's request and response parameters and status codes for REST APIs":
  https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html);
- CORS headers on UNAUTHORIZED, ACCESS_DENIED, DEFAULT_4XX and DEFAULT_5XX, every value a
  literal: a gateway response's parameters are literals or request values
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/
  api-gateway-swagger-extensions-gateway-responses.responseParameters.html), never the request's
  Origin here; DEFAULT_4XX/5XX keep API Gateway's default body and status codes ("Gateway
  response types": https://docs.aws.amazon.com/apigateway/latest/developerguide/
  supported-gateway-response-types.html).
The default stack (no ALLOWED_ORIGINS) has none of this: tests/infra/test_cors.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from devtools.gateway import MCP_METHODS, PREFLIGHT_STATUS
from devtools.mcp_cors import McpCors
from infra.config import ConfigError, StackConfig
from infra.constructs.mcp_cors import check_origins
from tests.infra.conftest import (
    PREFLIGHT_ROUTES,
    Synth,
    api_routes,
    other_server_metadata_routes,
    server_paths,
    synthesize,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-mcp-cors")]

APP = "https://app.example.com"
DEV = "http://127.0.0.1:5173"
TOOLS = "http://localhost:6274"
EVIL = "https://evil.example"
ONE = (APP,)
SEVERAL = (APP, DEV, TOOLS)
METHOD_HEADER = "method.response.header."
GATEWAY_HEADER = "gatewayresponse.header."
# And usage plans' three (on by default, infra/constructs/usage_plans.py): declared, so they carry
# the CORS headers themselves instead of falling back to DEFAULT_4XX.
CORS_TYPES = {
    "UNAUTHORIZED",
    "ACCESS_DENIED",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "THROTTLED",
    "QUOTA_EXCEEDED",
    "INVALID_API_KEY",
}


@pytest.fixture(scope="module")
def synths(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], Synth]:
    return {
        origins: synthesize(tmp_path_factory.mktemp("cdk-cors"), {"ALLOWED_ORIGINS": ",".join(origins)})
        for origins in (ONE, SEVERAL)
    }


def _literal(value: object) -> str:
    """A CloudFormation header literal ('v') as its text; anything else fails the test."""
    assert isinstance(value, str), value
    assert value.startswith("'"), value
    assert value.endswith("'"), value
    return value[1:-1]


def _preflight(synth: Synth) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OPTIONS /mcp method's properties and its one integration response."""
    props = api_routes(synth)[("OPTIONS", "/mcp")]
    [response] = props["Integration"]["IntegrationResponses"]
    return props, response


def _overridden_origins(template: str) -> set[str]:
    """The origins the preflight's template puts in Access-Control-Allow-Origin, read from the VTL.

    Accepted only in the one shape that is safe: the request's Origin header read into `$origin`,
    compared for EXACT equality with literals, and only then written to the header override.
    """
    lines = [line.strip() for line in template.splitlines()]
    assert lines[:4] == [
        '#set($origin = $input.params().header.get("Origin"))',
        '#if($origin == "")',
        '#set($origin = $input.params().header.get("origin"))',
        "#end",
    ], lines
    condition, override, end = lines[4:]
    assert override == "#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)"
    assert end == "#end"
    match = re.fullmatch(r"#if\((.*)\)", condition)
    assert match is not None, condition
    origins = set()
    for comparison in match[1].split(" || "):
        equal = re.fullmatch(r'\$origin == "([^"$#\\]+)"', comparison)
        assert equal is not None, comparison  # `==` on a plain literal: no regex, no reference
        origins.add(equal[1])
    return origins


@pytest.mark.parametrize("origins", [ONE, SEVERAL], ids=["one", "several"])
def test_the_preflight_is_a_mock_without_authorizer_or_function(
    synths: dict[tuple[str, ...], Synth], origins: tuple[str, ...]
) -> None:
    synth = synths[origins]
    routes = api_routes(synth)
    # Every MCP server's path gets one, and every other server's metadata (test_servers.py).
    assert {route for route in routes if route[0] == "OPTIONS"} == PREFLIGHT_ROUTES | {
        ("OPTIONS", path) for path in server_paths(synth)
    } | {route for route in other_server_metadata_routes(synth) if route[0] == "OPTIONS"}
    props, response = _preflight(synth)
    assert props["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in props
    assert props["ApiKeyRequired"] is False
    assert props["Integration"]["Type"] == "MOCK"
    assert "Uri" not in props["Integration"]
    assert props["Integration"]["RequestTemplates"] == {"application/json": "{ statusCode: 200 }"}
    assert int(response["StatusCode"]) == PREFLIGHT_STATUS
    [method_response] = props["MethodResponses"]
    assert set(method_response["ResponseParameters"]) == set(response["ResponseParameters"])
    # The other /mcp methods keep the authorizer.
    for verb in MCP_METHODS:
        assert routes[(verb, "/mcp")]["AuthorizationType"] == "CUSTOM", verb


@pytest.mark.parametrize("origins", [ONE, SEVERAL], ids=["one", "several"])
def test_the_emulator_answers_each_origins_preflight_as_the_template_does(
    synths: dict[tuple[str, ...], Synth], origins: tuple[str, ...]
) -> None:
    """Literals first, then the template's override, for every listed origin, a foreign one and none."""
    _, response = _preflight(synths[origins])
    parameters = response["ResponseParameters"]
    literals = {name.removeprefix(METHOD_HEADER): _literal(value) for name, value in parameters.items()}
    assert "Access-Control-Allow-Credentials" not in literals
    template = response.get("ResponseTemplates", {}).get("application/json")
    overridden = _overridden_origins(template) if template is not None else set()
    assert overridden == set(origins[1:])
    emulator = McpCors(origins)
    for origin in (*origins, EVIL, APP + ".evil.example", None):
        expected = dict(literals)
        if origin in overridden:
            expected["Access-Control-Allow-Origin"] = origin
        assert emulator.preflight_headers(MCP_METHODS, origin) == expected, origin
    # A foreign origin gets the first listed origin back: its browser fails the preflight.
    assert literals["Access-Control-Allow-Origin"] == APP
    assert literals["Vary"] == "Origin"


@pytest.mark.parametrize(("origins", "allow_origin"), [(ONE, APP), (SEVERAL, "*")], ids=["one", "several"])
def test_every_gateway_response_carries_the_emulators_cors_literals(
    synths: dict[tuple[str, ...], Synth], origins: tuple[str, ...], allow_origin: str
) -> None:
    responses = {
        props["Properties"]["ResponseType"]: props["Properties"]
        for props in synths[origins].of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == CORS_TYPES
    expected = McpCors(origins).gateway_response_headers()
    assert expected["Access-Control-Allow-Origin"] == allow_origin
    for kind, props in responses.items():
        cors = {
            name.removeprefix(GATEWAY_HEADER): _literal(value)
            for name, value in props["ResponseParameters"].items()
            if name.removeprefix(GATEWAY_HEADER).startswith("Access-Control-")
            or name == GATEWAY_HEADER + "Vary"
        }
        assert cors == expected, kind
        exposed = {name.strip().lower() for name in cors["Access-Control-Expose-Headers"].split(",")}
        assert "www-authenticate" in exposed, kind
    assert "gatewayresponse.header.WWW-Authenticate" in responses["UNAUTHORIZED"]["ResponseParameters"]
    for fallback in ("DEFAULT_4XX", "DEFAULT_5XX"):
        # A status here would replace every 4XX/5XX type's own; the body stays API Gateway's default.
        assert "StatusCode" not in responses[fallback], fallback
        assert responses[fallback]["ResponseTemplates"] == {
            "application/json": '{"message":$context.error.messageString}'
        }


@pytest.mark.parametrize(
    "origin",
    [
        "https://App.example.com",  # browsers send the host in lowercase: it would never match
        "https://app.example.com:443",  # and never the default port
        "http://localhost:80",
        "https://app.example.com/",
        "app.example.com",
        'https://app.example.com"',
        "https://$app.example.com",
        "https://app.example.com#x",
        "*",
    ],
)
def test_an_origin_a_browser_would_never_send_stops_synth(origin: str) -> None:
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
        StackConfig.from_sources({}, {"ALLOWED_ORIGINS": f"{APP},{origin}"})


def test_origins_that_reach_the_template_must_be_plain_text() -> None:
    """The construct's own check, whatever built the configuration (the Velocity literal's syntax)."""
    check_origins(SEVERAL)
    for origin in ('https://a"b', "https://a$b", "https://a#b", "https://a\\b", "https://a'b"):
        with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
            check_origins((origin,))
    config = StackConfig.from_sources({}, {"ALLOWED_ORIGINS": ",".join(SEVERAL) + ",http://[::1]:8080"})
    assert config.allowed_origins == (*SEVERAL, "http://[::1]:8080")
