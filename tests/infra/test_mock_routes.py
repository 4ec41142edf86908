"""/health and the protected-resource metadata are answered by API Gateway (MOCK), not the MCP function.

"Mock integrations for REST APIs in API Gateway" (https://docs.aws.amazon.com/apigateway/latest/
developerguide/how-to-mock-integration.html): the integration request template returns
`{"statusCode": 200}` and the 200 integration response's mapping template is the body. So
unauthenticated traffic on these paths costs no Lambda invocation.

The metadata body is built at synth. It must be the very document the MCP function serves for
the settings the stack writes to SSM, so each test renders the synthesized template with the
same deploy-time values (API id, region, user pool) for the body and for the SSM parameters,
feeds the parameters to the app's own `protected_resource_metadata_json`, and compares bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.core.config import AuthSettings
from app.mcp.asgi import METADATA_HEADERS, protected_resource_metadata_json
from app.mcp.server import build_server
from devtools import gateway as emulator
from infra.config import ConfigError
from infra.constructs.api import HEALTH_BODY, PRM_HEADERS
from tests.infra.conftest import Synth, api_routes, other_server_metadata_routes, server_paths, synthesize
from tests.infra.test_stack_options import CERTIFICATE_ONLY

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

HEADER = "method.response.header."
STATIC_ROUTES = (
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/health",
)
# Deploy-time values, as CloudFormation would fill them in.
PSEUDO = {"AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws"}
# An external OIDC issuer, no front, a custom domain: the metadata's other shape.
OIDC_NO_FRONT: dict[str, object] = {
    **CERTIFICATE_ONLY,
    "STACK_NAME": "McpMock",
    "IDENTITY_PROVIDER": "oidc",
    "OAUTH_ISSUER": "https://login.example.com/tenant/",
}


@pytest.fixture(scope="module")
def oidc_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-mock"), OIDC_NO_FRONT)


def resolve(value: Any) -> str:
    """A CloudFormation value as deployed: Fn::Join joined, Ref/GetAtt replaced by plausible values."""
    if isinstance(value, str):
        return value
    ((key, arg),) = value.items()
    if key == "Fn::Join":
        separator, parts = arg
        return str(separator).join(resolve(part) for part in parts)
    if key == "Ref":
        return PSEUDO.get(arg) or ("eu-west-1_Pool1" if "UserPool" in arg else f"api{abs(hash(arg)) % 10**6}")
    if key == "Fn::GetAtt":
        return f"{arg[0].lower()}-{arg[1].lower()}"
    raise AssertionError(f"unexpected intrinsic {key}")


def static_answer(synth: Synth, path: str) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers) the MOCK method on `path` answers GET with."""
    props = api_routes(synth)[("GET", path)]
    assert props["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in props
    integration = props["Integration"]
    assert integration["Type"] == "MOCK", path
    assert "Uri" not in integration
    assert integration["RequestTemplates"] == {"application/json": '{"statusCode": 200}'}
    assert integration["PassthroughBehavior"] == "WHEN_NO_MATCH"
    [response] = integration["IntegrationResponses"]
    assert "SelectionPattern" not in response  # the default response, whatever the request
    headers = {}
    for name, value in (response.get("ResponseParameters") or {}).items():
        assert value.startswith("'"), (name, value)  # a literal, not a request or context mapping
        assert value.endswith("'"), (name, value)
        headers[name.removeprefix(HEADER)] = value[1:-1]
    [method_response] = props["MethodResponses"]
    assert method_response["StatusCode"] == response["StatusCode"]
    assert set(method_response.get("ResponseParameters") or {}) == {HEADER + name for name in headers}
    return int(response["StatusCode"]), resolve(response["ResponseTemplates"]["application/json"]), headers


def app_document(synth: Synth) -> str:
    """What the MCP function serves, from the SSM parameters this stack writes."""
    params = {p["Properties"]["Name"]: p["Properties"] for p in synth.of_type("AWS::SSM::Parameter").values()}
    prefix = f"/{synth.stack.stack_name}"
    mcp_url = resolve(params[f"{prefix}/mcp-url"]["Value"])
    values = json.loads(resolve(params[f"{prefix}/auth-settings"]["Value"]))
    settings = AuthSettings.from_mapping(mcp_url, values, "test")
    return protected_resource_metadata_json(settings, build_server().requirements.all_scopes())


@pytest.mark.parametrize("variant", ["default", "oidc"])
def test_metadata_mock_body_is_the_document_the_mcp_function_serves(
    variant: str, default_synth: Synth, oidc_synth: Synth
) -> None:
    synth = default_synth if variant == "default" else oidc_synth
    expected = app_document(synth)
    for path in STATIC_ROUTES[:2]:
        status, body, headers = static_answer(synth, path)
        assert status == 200
        assert body == expected, path
        assert headers == PRM_HEADERS == METADATA_HEADERS
    document = json.loads(expected)
    if variant == "default":
        # Cognito with the front: the front first, the pool second, both on the deploy-time hosts.
        front, pool = document["authorization_servers"]
        assert front == document["resource"].removesuffix("/mcp") + "/oauth"
        assert pool.startswith("https://cognito-idp.eu-west-1.amazonaws.com/")
    else:
        assert document["resource"] == f"https://{CERTIFICATE_ONLY['CUSTOM_DOMAIN_NAME']}/mcp"
        assert document["authorization_servers"] == ["https://login.example.com/tenant/"]
    assert "mcp/access" in document["scopes_supported"]


def test_health_is_a_mock_with_the_apps_body(default_synth: Synth) -> None:
    status, body, headers = static_answer(default_synth, "/health")
    assert (status, headers) == (200, {})
    assert json.loads(body) == {"status": "ok"} == json.loads(HEALTH_BODY)


def test_the_emulator_serves_the_same_static_routes_and_answers(default_synth: Synth) -> None:
    """devtools/gateway.py: the same GET routes are static there, with the same headers and body."""
    routes = api_routes(default_synth)
    mock_gets = {
        path
        for (verb, path), props in routes.items()
        if verb == "GET" and props["Integration"]["Type"] == "MOCK"
    }
    # Every other server's path-inserted metadata too (test_servers.py).
    others = {path for verb, path in other_server_metadata_routes(default_synth) if verb == "GET"}
    assert mock_gets == set(STATIC_ROUTES) | others
    # The local stack adds every other server's resources (devtools/gateway.py server_routes).
    every_route = (*emulator.ROUTES, *emulator.server_routes(server_paths(default_synth)))
    assert {route.path for route in every_route if route.integration == "static"} == mock_gets
    assert emulator.METADATA_HEADERS == PRM_HEADERS
    assert emulator.HEALTH_BODY == HEALTH_BODY
    assert static_answer(default_synth, "/health")[1] == emulator.HEALTH_BODY


def test_only_mcp_and_the_front_invoke_functions(default_synth: Synth) -> None:
    """No unauthenticated route of the MCP function is left: every Lambda integration is /mcp or the front."""
    for (verb, path), props in api_routes(default_synth).items():
        if props["Integration"]["Type"] == "AWS_PROXY":
            assert path in server_paths(default_synth) or "oauth" in path, (verb, path)
            if path in server_paths(default_synth):
                assert props["AuthorizationType"] == "CUSTOM"


def test_a_scope_velocity_would_read_fails_synth(tmp_path: Path) -> None:
    """A `$` or `#` in a literal would be interpreted by the mapping template: refused, named."""
    with pytest.raises(ConfigError, match=r"contains '\$' or '#'"):
        synthesize(tmp_path, {**OIDC_NO_FRONT, "OAUTH_ISSUER": "https://login.example.com/#tenant"})
