"""CORS preflights in the stack: OPTIONS methods with MOCK integrations, and the emulator answers the same.

"CORS for REST APIs in API Gateway" (https://docs.aws.amazon.com/apigateway/latest/developerguide/
how-to-cors.html): for a non-simple cross-origin request the browser sends a preflight (OPTIONS)
that the API must answer with the Access-Control-* headers; an OPTIONS method with a MOCK
integration does so without a backend ("Enable CORS on a resource using the API Gateway import
API": https://docs.aws.amazon.com/apigateway/latest/developerguide/
enable-cors-for-resource-using-swagger-importer-tool.html). The local gateway emulator answers
the preflight itself; here its answer is read from the synthesized template so the two cannot
drift. Shares the default stack's one synthesis (`default_synth`).
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.gateway import FRONT_ROUTES as EMULATOR_FRONT_ROUTES
from devtools.gateway import PREFLIGHT_STATUS, preflight_headers, server_routes
from devtools.gateway import ROUTES as EMULATOR_ROUTES
from tests.infra.conftest import (
    PREFLIGHT_ROUTES,
    Synth,
    api_routes,
    other_server_metadata_routes,
    server_paths,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

HEADER = "method.response.header."


@pytest.fixture(scope="module")
def synth(default_synth: Synth) -> Synth:
    return default_synth


def _declared(props: dict[str, Any]) -> tuple[int, dict[str, str]]:
    """The status and header values a MOCK OPTIONS method answers with (literals are quoted: 'v')."""
    [response] = props["Integration"]["IntegrationResponses"]
    headers: dict[str, str] = {}
    for name, value in response["ResponseParameters"].items():
        assert name.startswith(HEADER), name
        # A literal ('v'), not a mapping from the request or the context.
        assert value.startswith("'"), (name, value)
        assert value.endswith("'"), (name, value)
        headers[name.removeprefix(HEADER)] = value[1:-1]
    return int(response["StatusCode"]), headers


def _preflights(synth: Synth) -> set[tuple[str, str]]:
    """The public resources' preflights, with every other MCP server's metadata (test_servers.py)."""
    return PREFLIGHT_ROUTES | {
        route for route in other_server_metadata_routes(synth) if route[0] == "OPTIONS"
    }


def test_preflights_are_mock_integrations_without_an_authorizer(synth: Synth) -> None:
    """No function runs and no authorizer: a preflight carries no credentials by definition."""
    routes = api_routes(synth)
    assert {route for route in routes if route[0] == "OPTIONS"} == _preflights(synth)
    for route in _preflights(synth):
        props = routes[route]
        assert props["AuthorizationType"] == "NONE", route
        assert "AuthorizerId" not in props, route
        integration = props["Integration"]
        assert integration["Type"] == "MOCK", route
        assert "Uri" not in integration, route
        # The MOCK's request template picks the integration response (status 200 selects it).
        assert integration["RequestTemplates"] == {"application/json": "{ statusCode: 200 }"}, route
        # The method response declares every header the integration response sets.
        status, headers = _declared(props)
        [method_response] = props["MethodResponses"]
        assert int(method_response["StatusCode"]) == status
        assert set(method_response["ResponseParameters"]) == {HEADER + name for name in headers}


def test_preflights_allow_any_origin_without_credentials_and_the_sdk_headers(synth: Synth) -> None:
    """`*` and no Allow-Credentials: these resources carry no cookies. The allowed headers cover
    what the MCP SDK's browser OAuth code sends: MCP-Protocol-Version (metadata), Content-Type
    (JSON to /register), Authorization (client_secret_basic at /token)."""
    routes = api_routes(synth)
    for route in _preflights(synth):
        status, headers = _declared(routes[route])
        assert status == 204, route
        assert headers["Access-Control-Allow-Origin"] == "*", route
        assert "Access-Control-Allow-Credentials" not in headers, route
        allowed = {name.strip().lower() for name in headers["Access-Control-Allow-Headers"].split(",")}
        assert {"mcp-protocol-version", "content-type", "authorization"} <= allowed, route
        assert int(headers["Access-Control-Max-Age"]) > 0, route
    # Each resource allows exactly the methods it has (besides OPTIONS).
    for verb_path in _preflights(synth):
        path = verb_path[1]
        methods = {verb for verb, other in routes if other == path and verb != "OPTIONS"}
        _, headers = _declared(routes[verb_path])
        assert set(headers["Access-Control-Allow-Methods"].split(",")) == methods, path


def test_the_emulator_answers_every_preflight_exactly_as_the_template_declares(synth: Synth) -> None:
    """Same resources, same status, same header names and values (devtools/gateway.py)."""
    routes = api_routes(synth)
    # The local stack adds every other server's resources (devtools/gateway.py server_routes).
    every_route = (*EMULATOR_ROUTES, *EMULATOR_FRONT_ROUTES, *server_routes(server_paths(synth)))
    emulated = {route.path: route for route in every_route if route.preflight}
    assert {("OPTIONS", path) for path in emulated} == _preflights(synth)
    for path, route in emulated.items():
        status, headers = _declared(routes[("OPTIONS", path)])
        assert status == PREFLIGHT_STATUS, path
        assert preflight_headers(route.preflight) == headers, path


def test_without_allowed_origins_mcp_has_no_preflight_and_gateway_responses_no_cors(synth: Synth) -> None:
    """ALLOWED_ORIGINS empty (the default): nothing of test_mcp_cors.py is in the template."""
    assert ("OPTIONS", "/mcp") not in api_routes(synth)
    responses = synth.of_type("AWS::ApiGateway::GatewayResponse").values()
    # The stack's own gateway responses: the challenges, and the usage plans' (on by default).
    assert {props["Properties"]["ResponseType"] for props in responses} == {
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "THROTTLED",
        "QUOTA_EXCEEDED",
        "INVALID_API_KEY",
    }
    for props in responses:
        names = {name.lower() for name in props["Properties"].get("ResponseParameters", {})}
        assert not {name for name in names if "access-control-" in name or name.endswith(".vary")}
