"""The inspector option (INSPECTOR): absent by default; with it, what the emulator serves, as AWS.

Off (the default), no /inspector route, bucket or second API exists, and /mcp admits no extra
origin. On: API Gateway reads the files from a private bucket with an S3 integration (a role that
may only GetObject under inspector/), answers with the headers devtools/inspector_site.py gives
the emulator, 404 for a missing key, and serves the widget sandbox from another REST API's MOCK;
the front knows the inspector's client and the auth settings admit its origin.

Static header values are quoted literals with their own single quotes escaped (`\\'`), the form
API Gateway accepts in response parameter mappings ("Set up response data mapping for REST APIs":
https://docs.aws.amazon.com/apigateway/latest/developerguide/request-response-data-mappings.html,
"a static value enclosed within a pair of single quotes").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.gateway import INSPECTOR_ROUTES
from devtools.inspector_site import (
    CLIENT_NAME,
    NOT_FOUND_BODY,
    content_security_policy,
    inspector_client,
    sandbox_headers,
    sandbox_page,
    site_headers,
)
from infra.constructs.waf import OAUTH_ROUTES
from tests.infra.conftest import Synth, as_list, render, statements, synthesize

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-inspector")]

ON: dict[str, object] = {"STACK_NAME": "McpInspector", "INSPECTOR": "true"}
ON_DOMAIN: dict[str, object] = {
    **ON,
    "STACK_NAME": "McpInspectorDomain",
    "CUSTOM_DOMAIN_NAME": "mcp.example.com",
    "HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
    "HOSTED_ZONE_NAME": "example.com",
}


@pytest.fixture(scope="module")
def on(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-inspector"), ON)


@pytest.fixture(scope="module")
def on_domain(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-inspector-domain"), ON_DOMAIN)


def routes_of(synth: Synth, api_key: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(method, path): properties} of one REST API's methods."""
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path_of(resource_id: object) -> str:
        if isinstance(resource_id, dict) and "Fn::GetAtt" in resource_id:
            return ""
        assert isinstance(resource_id, dict)
        props = resources[resource_id["Ref"]]["Properties"]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"]) or "/"): m["Properties"]
        for m in synth.of_type("AWS::ApiGateway::Method").values()
        if m["Properties"]["RestApiId"] == {"Ref": api_key}
    }


def apis(synth: Synth) -> tuple[str, str | None]:
    """(the MCP API's logical id, the sandbox API's or None)."""
    keys = sorted(synth.of_type("AWS::ApiGateway::RestApi"))
    main = next(k for k in keys if "Sandbox" not in k)
    sandbox = next((k for k in keys if "Sandbox" in k), None)
    return main, sandbox


def unquote(literal: str) -> str:
    """What the client receives for a static response parameter `'…'` with `\\'` escapes."""
    assert literal.startswith("'"), literal
    assert literal.endswith("'"), literal
    return literal[1:-1].replace("\\'", "'")


def sandbox_origin(synth: Synth) -> str:
    _, sandbox = apis(synth)
    return "https://${" + str(sandbox) + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


def parameter_json(synth: Synth, name_fragment: str) -> dict[str, Any]:
    """An SSM parameter's JSON value, tokens rendered as ${…}."""
    key = synth.id_of("AWS::SSM::Parameter", name_fragment)
    value: dict[str, Any] = json.loads(render(synth.resources[key]["Properties"]["Value"]))
    return value


def test_off_by_default_nothing_exists(default_synth: Synth) -> None:
    main, sandbox = apis(default_synth)
    assert sandbox is None
    paths = {path for _, path in routes_of(default_synth, main)}
    assert not [path for path in paths if path.startswith("/inspector")]
    assert not default_synth.of_type("AWS::S3::Bucket")
    assert not default_synth.of_type("Custom::CDKBucketDeployment")
    assert parameter_json(default_synth, "AuthSettings").get("inspector", False) is False
    assert "InspectorUrl" not in default_synth.outputs


def test_routes_are_the_emulators_public_gets_read_from_s3(on: Synth) -> None:
    main, _ = apis(on)
    routes = routes_of(on, main)
    declared = {(verb, route.path) for route in INSPECTOR_ROUTES for verb in route.methods}
    assert {key for key in routes if key[1].startswith("/inspector")} == declared
    role = on.id_of("AWS::IAM::Role", "InspectorReadRole")
    bucket = on.id_of("AWS::S3::Bucket", "InspectorBucket")
    for (_, path), props in routes.items():
        if not path.startswith("/inspector"):
            continue
        assert route_is_public(props)
        integration = props["Integration"]
        assert integration["Type"] == "AWS"
        assert integration["IntegrationHttpMethod"] == "GET"
        assert integration["Credentials"] == {"Fn::GetAtt": [role, "Arn"]}
        uri = render(integration["Uri"])
        key = "inspector/index.html" if path == "/inspector" else "inspector/{proxy}"
        assert uri.endswith(f":s3:path/${{{bucket}}}/{key}"), uri
        if path.endswith("{proxy+}"):
            assert integration["RequestParameters"] == {
                "integration.request.path.proxy": "method.request.path.proxy"
            }


def route_is_public(props: dict[str, Any]) -> bool:
    return bool(props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props)


def test_answers_carry_the_emulators_headers_and_not_found(on: Synth) -> None:
    main, _ = apis(on)
    expected = site_headers(sandbox_origin(on))
    for (_, path), props in routes_of(on, main).items():
        if not path.startswith("/inspector"):
            continue
        responses = {r["StatusCode"]: r for r in props["Integration"]["IntegrationResponses"]}
        ok = responses["200"]["ResponseParameters"]
        assert ok.pop("method.response.header.Content-Type") == "integration.response.header.Content-Type"
        served = {name.removeprefix("method.response.header."): unquote(render(v)) for name, v in ok.items()}
        assert served == expected
        missing = responses["404"]
        assert missing["SelectionPattern"] == r"4\d{2}"  # S3 answers 403 for a missing key without ListBucket
        assert missing["ResponseTemplates"] == {"application/json": NOT_FOUND_BODY}
        assert responses["502"]["SelectionPattern"] == r"5\d{2}"
    policy = expected["Content-Security-Policy"]
    assert policy == content_security_policy(sandbox_origin(on))
    assert "script-src 'self';" in policy


def test_the_role_may_only_read_the_inspector_files(on: Synth) -> None:
    role = on.id_of("AWS::IAM::Role", "InspectorReadRole")
    trust = on.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "apigateway.amazonaws.com"}]
    bucket = on.id_of("AWS::S3::Bucket", "InspectorBucket")
    granted = [statement for owner, statement in statements(on) if owner.startswith("InspectorReadRole")]
    assert len(granted) == 1
    assert as_list(granted[0]["Action"]) == ["s3:GetObject"]
    assert render(granted[0]["Resource"]) == f"${{{bucket}.Arn}}/inspector/*"
    props = on.resources[bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    bucket_policy = next(iter(on.of_type("AWS::S3::BucketPolicy").values()))["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in bucket_policy["Statement"]
    )


def test_files_are_copied_with_the_emulators_content_types(on: Synth) -> None:
    copies = on.of_type("Custom::CDKBucketDeployment")
    types = sorted(c["Properties"]["SystemMetadata"]["content-type"] for c in copies.values())
    assert types == sorted(
        {
            "text/html; charset=utf-8",
            "application/json",
            "text/javascript; charset=utf-8",
            "text/css; charset=utf-8",
            "image/svg+xml",
        }
    )
    for copy in copies.values():
        assert copy["Properties"]["Prune"] is False  # one copy per type: none deletes another's files


def test_the_widget_sandbox_is_another_api_whose_mock_serves_the_page(on: Synth, on_domain: Synth) -> None:
    _, sandbox = apis(on)
    assert sandbox is not None
    routes = routes_of(on, sandbox)
    assert set(routes) == {("GET", "/"), ("GET", "/{proxy+}")}
    for props in routes.values():
        assert route_is_public(props)
        integration = props["Integration"]
        assert integration["Type"] == "MOCK"
        (response,) = integration["IntegrationResponses"]
        assert response["ResponseTemplates"] == {"application/json": sandbox_page()}
        headers = {
            name.removeprefix("method.response.header."): unquote(render(value))
            for name, value in response["ResponseParameters"].items()
        }
        main, _ = apis(on)
        origin = "https://${" + main + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
        assert headers == sandbox_headers(origin)
    # Its stage holds the path the inspector asks for: <base path>/inspector/sandbox.
    stages = {
        render(s["Properties"]["RestApiId"]): s["Properties"]["StageName"]
        for s in on.of_type("AWS::ApiGateway::Stage").values()
    }
    assert stages["${" + sandbox + "}"] == "prod"
    _, domain_sandbox = apis(on_domain)
    domain_stages = {
        render(s["Properties"]["RestApiId"]): s["Properties"]["StageName"]
        for s in on_domain.of_type("AWS::ApiGateway::Stage").values()
    }
    assert domain_stages["${" + str(domain_sandbox) + "}"] == "inspector"
    # With a custom domain, the page frames the sandbox from the domain's origin only.
    (domain_methods,) = [routes_of(on_domain, str(domain_sandbox))[("GET", "/{proxy+}")]]
    (domain_response,) = domain_methods["Integration"]["IntegrationResponses"]
    policy = unquote(
        render(domain_response["ResponseParameters"]["method.response.header.Content-Security-Policy"])
    )
    assert policy.startswith("frame-ancestors https://mcp.example.com;")


def test_the_front_knows_the_inspector_and_mcp_admits_its_origin(on: Synth) -> None:
    main, _ = apis(on)
    base = "https://${" + main + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"
    assert parameter_json(on, "AuthSettings")["inspector"] is True
    front = parameter_json(on, "OAuthFrontSettings")
    assert inspector_client(base) in front["preregistered_clients"]
    assert inspector_client(base)["client_name"] == CLIENT_NAME
    assert render(on.outputs["InspectorUrl"]["Value"]) == f"{base}/inspector"
    # The WAF's query-argument rule is scoped off the OAuth callback's path, as for the front's.
    assert OAUTH_ROUTES.search_string in "/inspector/oauth/callback"
