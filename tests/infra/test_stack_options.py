"""The options: external OIDC, custom domain, WAF, X-Ray, execution logs, limits (two synths)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.mcp.server import build_server
from tests.infra.conftest import (
    FRONT_ROUTES,
    PREFLIGHT_ROUTES,
    PRM_PREFLIGHT_ROUTES,
    Synth,
    api_routes,
    lint,
    mcp_routes,
    other_server_metadata_routes,
    render,
    server_paths,
    synthesize,
)

# One synthesis per module: with `pytest -n --dist loadgroup` the module stays on one worker.
pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-options")]

DECLARED = build_server().requirements
ALL_ON: dict[str, object] = {
    "STACK_NAME": "McpOptions",
    "STAGE_NAME": "v1",
    "IDENTITY_PROVIDER": "oidc",
    "OAUTH_ISSUER": "https://example.eu.auth0.com/",
    "OAUTH_AUDIENCES": "https://api.example.com",
    "OAUTH_ALLOWED_CLIENT_IDS": "client-1,client-2",
    "OAUTH_BASE_SCOPE": "mcp/access",
    "ALLOWED_ORIGINS": "https://app.example.com",
    "CUSTOM_DOMAIN_NAME": "mcp.example.com",
    "HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
    "HOSTED_ZONE_NAME": "example.com",
    "CUSTOM_DOMAIN_IP_ADDRESS_TYPE": "dualstack",
    "ENABLE_WAF": "true",
    "WAF_RATE_LIMIT": "500",
    "ENABLE_XRAY": "true",
    "ENABLE_EXECUTION_LOGS": "true",
    "AUTHORIZER_CACHE_TTL_SECONDS": "60",
    "THROTTLE_RATE_LIMIT": "5",
    "THROTTLE_BURST_LIMIT": "10",
    "MCP_RESERVED_CONCURRENCY": "20",
    "AUTHORIZER_RESERVED_CONCURRENCY": "10",
    "OAUTH_FRONT_RESERVED_CONCURRENCY": "5",
    "MCP_MEMORY_MB": "2048",
    "AUDIT_LOG_RETENTION_DAYS": "731",
    "ALARM_EMAIL": "ops@example.com",
    "JWT_LEEWAY_SECONDS": "10",
    "MAX_BODY_BYTES": "2048",
    # The authorization front with an external OIDC issuer: the operator's client and secret.
    "OAUTH_UPSTREAM_CLIENT_ID": "front-client",
    "OAUTH_UPSTREAM_CLIENT_SECRET_NAME": "mcp/front-client",
    "OAUTH_UPSTREAM_SCOPES": "openid,email,offline_access",
}
CERTIFICATE_ONLY: dict[str, object] = {
    "STACK_NAME": "McpCert",
    "CUSTOM_DOMAIN_NAME": "mcp.example.org",
    "CERTIFICATE_ARN": "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100",
    "ENABLE_SNAPSTART": "false",
    "COGNITO_MFA": "optional",
    "AUTHORIZER_CACHE_TTL_SECONDS": "0",
    "API_GATEWAY_CLOUDWATCH_ROLE": "false",
    "OAUTH_FRONT": "false",
}


@pytest.fixture(scope="module")
def on(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-options"), ALL_ON)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-cert"), CERTIFICATE_ONLY)


def _parameters(synth: Synth) -> dict[str, str]:
    return {
        p["Properties"]["Name"]: render(p["Properties"]["Value"])
        for p in synth.of_type("AWS::SSM::Parameter").values()
    }


def _functions(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        p["Properties"]["Handler"].split(".")[1]: p["Properties"]
        for p in synth.of_type("AWS::Lambda::Function").values()
    }


def _header(synth: Synth, response_type: str) -> str:
    for response in synth.of_type("AWS::ApiGateway::GatewayResponse").values():
        props = response["Properties"]
        if props["ResponseType"] == response_type:
            return render(props["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"])
    raise AssertionError(response_type)


# --- external OIDC ---------------------------------------------------------------------------------


def test_oidc_mode_creates_no_cognito_and_writes_the_configured_settings(on: Synth) -> None:
    assert not [k for k, r in on.resources.items() if r["Type"].startswith("AWS::Cognito::")]
    settings = json.loads(_parameters(on)["/McpOptions/auth-settings"])
    assert settings == {
        "issuer": "https://example.eu.auth0.com/",
        "jwks_url": "",
        "audiences": ["https://api.example.com"],
        "allowed_client_ids": ["client-1", "client-2"],
        "base_scope": "mcp/access",
        "allowed_origins": ["https://app.example.com"],
        "oauth_front": True,
    }
    outputs = {key: render(value["Value"]) for key, value in on.outputs.items()}
    assert "UserPoolId" not in outputs
    scopes = ",".join(("mcp/access", *on.stack.declared.scopes))  # every server's (test_servers.py)
    assert outputs["CreateApiKeyCommand"].endswith(f"--stack McpOptions --owner <you> --scopes {scopes}")


# --- custom domain ------------------------------------------------------------------------------------


def test_custom_domain_with_hosted_zone(on: Synth) -> None:
    _, domain = on.one("AWS::ApiGateway::DomainName")
    props = domain["Properties"]
    assert props["DomainName"] == "mcp.example.com"
    assert props["EndpointConfiguration"] == {"Types": ["REGIONAL"], "IpAddressType": "dualstack"}
    assert props["SecurityPolicy"] == "TLS_1_2"
    _, mapping = on.one("AWS::ApiGateway::BasePathMapping")
    assert "BasePath" not in mapping["Properties"]  # at the root: the root well-known URL works
    _, certificate = on.one("AWS::CertificateManager::Certificate")
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    records = [r["Properties"] for r in on.of_type("AWS::Route53::RecordSet").values()]
    assert sorted(r["Type"] for r in records) == ["A", "AAAA"]
    assert {r["HostedZoneId"] for r in records} == {"Z0123456789ABCDEFGHIJ"}


def test_custom_domain_urls_everywhere(on: Synth) -> None:
    assert _parameters(on)["/McpOptions/mcp-url"] == "https://mcp.example.com/mcp"
    prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    if len(server_paths(on)) == 1:
        assert _header(on, "UNAUTHORIZED") == f'\'Bearer resource_metadata="{prm}", scope="mcp/access"\''
        assert _header(on, "ACCESS_DENIED") == (
            f'\'Bearer error="insufficient_scope", scope="mcp/access", resource_metadata="{prm}"\''
        )
    else:  # several servers behind a domain: path-inserted discovery (challenge_rule.py)
        assert _header(on, "UNAUTHORIZED") == "'Bearer scope=\"mcp/access\"'"
        assert _header(on, "ACCESS_DENIED") == '\'Bearer error="insufficient_scope", scope="mcp/access"\''
    outputs = {key: render(value["Value"]) for key, value in on.outputs.items()}
    assert outputs["McpUrl"] == "https://mcp.example.com/mcp"
    assert outputs["ProtectedResourceMetadataUrl"] == prm
    assert "CustomDomainTarget" in outputs


def test_custom_domain_with_existing_certificate(cert: Synth) -> None:
    _, domain = cert.one("AWS::ApiGateway::DomainName")
    assert domain["Properties"]["RegionalCertificateArn"] == CERTIFICATE_ONLY["CERTIFICATE_ARN"]
    cert.template.resource_count_is("AWS::CertificateManager::Certificate", 0)
    cert.template.resource_count_is("AWS::Route53::RecordSet", 0)
    assert _parameters(cert)["/McpCert/mcp-url"] == "https://mcp.example.org/mcp"
    cert.template.resource_count_is("AWS::ApiGateway::Account", 0)


# --- WAF ------------------------------------------------------------------------------------------------


def test_waf_with_managed_rules_and_rate_limit(on: Synth) -> None:
    _, acl = on.one("AWS::WAFv2::WebACL")
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL"
    assert props["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in props["Rules"]}
    assert rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"]["Limit"] == 500
    assert rules["RateLimitPerIp"]["Action"] == {"Block": {}}
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                  "AWSManagedRulesAmazonIpReputationList"):  # fmt: skip
        assert rules[group]["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
    _, association = on.one("AWS::WAFv2::WebACLAssociation")
    stage_id, _ = on.one("AWS::ApiGateway::Stage")
    assert "/stages/${" + stage_id + "}" in render(association["Properties"]["ResourceArn"])


# --- stage, functions, alarms ------------------------------------------------------------------------------


def test_stage_options(on: Synth) -> None:
    _, stage = on.one("AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "v1"
    assert props["TracingEnabled"] is True
    settings = props["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (5, 10)
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    on.template.resource_count_is("AWS::ApiGateway::Account", 1)
    _, authorizer = on.one("AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 60


def test_a_caching_authorizer_decides_on_the_base_scope_only(on: Synth) -> None:
    """A cached decision is reused for every tool, so per-tool decisions are off with TTL > 0."""
    variables = _functions(on)["authorizer"]["Environment"]["Variables"]
    assert variables["AUTHORIZER_CACHE_TTL_SECONDS"] == "60"
    # With several servers it still reads the document, as the list of servers (test_servers.py).
    assert ("TOOL_SCOPES_FILE" in variables) is (len(server_paths(on)) > 1)
    denied = next(
        props["Properties"]
        for props in on.of_type("AWS::ApiGateway::GatewayResponse").values()
        if props["Properties"]["ResponseType"] == "ACCESS_DENIED"
    )
    header = render(denied["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"])
    assert 'scope="mcp/access"' in header


def test_function_options(on: Synth) -> None:
    functions = _functions(on)
    assert functions["mcp"]["ReservedConcurrentExecutions"] == 20
    assert functions["authorizer"]["ReservedConcurrentExecutions"] == 10
    assert functions["oauth"]["ReservedConcurrentExecutions"] == 5
    assert functions["mcp"]["MemorySize"] == 2048
    for props in functions.values():
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert functions["authorizer"]["Environment"]["Variables"]["JWT_LEEWAY_SECONDS"] == "10"
    assert "MAX_BODY_BYTES" not in functions["authorizer"]["Environment"]["Variables"]
    assert functions["mcp"]["Environment"]["Variables"]["MAX_BODY_BYTES"] == "2048"
    assert functions["mcp"]["Environment"]["Variables"]["MCP_URL_PARAMETER"] == "/McpOptions/mcp-url"


def test_retention_and_alarm_email(on: Synth) -> None:
    retention = sorted(g["Properties"]["RetentionInDays"] for g in on.of_type("AWS::Logs::LogGroup").values())
    assert retention == [90, 731]
    _, subscription = on.one("AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def test_routes_do_not_change_with_options(on: Synth, cert: Synth) -> None:
    public = {route for route, props in api_routes(on).items() if props["AuthorizationType"] == "NONE"}
    base = {
        ("GET", "/.well-known/oauth-protected-resource"),
        ("GET", "/.well-known/oauth-protected-resource/mcp"),
        ("GET", "/health"),
    }
    # ALL_ON sets ALLOWED_ORIGINS: /mcp (every server's path) gets its CORS preflight (test_mcp_cors.py).
    mcp_preflight = {("OPTIONS", path) for path in server_paths(on)}
    others = other_server_metadata_routes(on)
    assert public == base | FRONT_ROUTES | PREFLIGHT_ROUTES | mcp_preflight | others
    assert len(api_routes(on)) == len(public) + len(mcp_routes(on))
    # OAUTH_FRONT=false: none of the front's routes (the metadata's preflights stay).
    assert {
        route for route, props in api_routes(cert).items() if props["AuthorizationType"] == "NONE"
    } == base | PRM_PREFLIGHT_ROUTES | other_server_metadata_routes(cert)


def test_snapstart_off_still_uses_the_alias(cert: Synth) -> None:
    for props in _functions(cert).values():
        assert "SnapStart" not in props
    cert.template.resource_count_is("AWS::Lambda::Alias", 1 + len(server_paths(cert)))
    _, authorizer = cert.one("AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 0


def test_cognito_options(cert: Synth) -> None:
    _, pool = cert.one("AWS::Cognito::UserPool")
    assert pool["Properties"]["MfaConfiguration"] == "OPTIONAL"
    _, server = cert.one("AWS::Cognito::UserPoolResourceServer")
    # Derived from the tools' declared scopes: the pool can issue every scope a tool requires.
    assert set(DECLARED.all_scopes()) <= set(cert.stack.declared.scopes)
    names = [scope.removeprefix("mcp/") for scope in cert.stack.declared.scopes]
    assert [s["ScopeName"] for s in server["Properties"]["Scopes"]] == ["access", *names]
    outputs = {key: render(value["Value"]) for key, value in cert.outputs.items()}
    scopes = ",".join(("mcp/access", *cert.stack.declared.scopes))
    assert outputs["CreateApiKeyCommand"].endswith(f"--scopes {scopes}")


# --- checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["on", "cert"])
def test_cdk_nag_and_cfn_lint_pass(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    (plugin,) = synth.validation_report()["pluginReports"]
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    for item in plugin["suppressedViolations"]:
        assert len(item["reason"]) >= 60, item["ruleName"]
    assert lint(synth.template_path) == []


def test_secret_and_parameter_grants_stay_exact_with_options(on: Synth) -> None:
    from tests.infra.conftest import as_list, statements

    for owner, statement in statements(on):
        actions = as_list(statement["Action"])
        if any(action.startswith(("secretsmanager:", "ssm:")) for action in actions):
            for resource in as_list(statement["Resource"]):
                assert "*" not in render(resource), (owner, resource)
        if any(action.startswith("xray:") for action in actions):
            assert set(actions) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --- the authorization front with an external OIDC issuer, and switched off -------------------------


def test_oidc_front_reads_the_operators_secret_by_name(on: Synth) -> None:
    from tests.infra.conftest import statements_about

    variables = _functions(on)["oauth"]["Environment"]["Variables"]
    assert variables["OAUTH_UPSTREAM_SECRET_ID"] == "mcp/front-client"
    assert variables["OAUTH_FRONT_SETTINGS_PARAMETER"] == "/McpOptions/oauth-front-settings"
    grants = [
        (actions, [render(r) for r in statement["Resource"]] if isinstance(statement["Resource"], list)
         else [render(statement["Resource"])])
        for owner, statement, actions in statements_about(on, "secretsmanager:")
        if owner.startswith("OAuthFront")
    ]  # fmt: skip
    # Secrets Manager appends six random characters to a secret's ARN: exactly those, no `*`.
    assert grants == [
        (
            ["secretsmanager:GetSecretValue"],
            [
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:mcp/front-client-??????"
            ],
        )
    ]


def test_oidc_front_settings_name_the_external_issuer_and_client(on: Synth) -> None:
    settings = json.loads(_parameters(on)["/McpOptions/oauth-front-settings"])
    assert settings["upstream_issuer"] == "https://example.eu.auth0.com/"
    assert settings["upstream_client_id"] == "front-client"
    assert settings["upstream_scopes"] == ["openid", "email", "offline_access"]
    assert settings["scopes"] == ["mcp/access", *on.stack.declared.scopes]


def test_front_on_a_custom_domain(on: Synth) -> None:
    outputs = {key: render(value["Value"]) for key, value in on.outputs.items()}
    # The redirect URI to register at the external issuer, and the issuer the PRM names.
    assert outputs["OAuthFrontCallbackUrl"] == "https://mcp.example.com/oauth/callback"
    assert outputs["OAuthFrontIssuer"] == "https://mcp.example.com/oauth"
    # Mapped at the root: https://mcp.example.com/.well-known/oauth-authorization-server/oauth is routed.
    assert set(api_routes(on)) >= FRONT_ROUTES


def test_front_off_creates_none_of_it(cert: Synth) -> None:
    cert.template.resource_count_is("AWS::DynamoDB::Table", 0)
    # Only the stack's data key (secrets and logs), none of the front's keys.
    assert list(cert.of_type("AWS::KMS::Key")) == [cert.id_of("AWS::KMS::Key", "DataKey")]
    assert "/McpCert/oauth-front-settings" not in _parameters(cert)
    assert json.loads(_parameters(cert)["/McpCert/auth-settings"])["oauth_front"] is False
    assert "oauth" not in _functions(cert)
    clients = [c["Properties"]["ClientName"] for c in cert.of_type("AWS::Cognito::UserPoolClient").values()]
    assert sorted(clients) == ["mcp-interactive", "mcp-machine"]
    assert not [key for key in cert.outputs if key.startswith(("OAuthFront", "OAuthTable", "OAuthSigning"))]
