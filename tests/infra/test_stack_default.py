"""The default stack (Cognito, no options): one synthesis for the whole module."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from app.mcp.server import build_server
from infra.constructs.api import access_log_format
from infra.stack import EMPTY_KEY_STORE
from tests.infra.conftest import (
    FRONT_ROUTES,
    PREFLIGHT_ROUTES,
    Synth,
    alias_ids,
    api_routes,
    as_list,
    lint,
    mcp_routes,
    other_server_metadata_routes,
    render,
    server_paths,
    statements,
    statements_about,
)

# One synthesis for this module and test_oauth_front.py (the session fixture `default_synth`):
# with `pytest -n --dist loadgroup` both stay on one worker.
pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

PRM_SUFFIX = "/prod/.well-known/oauth-protected-resource/mcp"
# The scopes the tools declare, from the registry itself (a new scoped tool must not break these).
DECLARED = build_server().requirements
SECRET_LIKE = re.compile(r"(?i)(secret|password|token|private)[^/]*[:=]")


@pytest.fixture(scope="module")
def synth(default_synth: Synth) -> Synth:
    return default_synth


def _logical_id(synth: Synth, kind: str, path_fragment: str) -> str:
    return synth.id_of(kind, path_fragment)


# --- routes and the authorizer ------------------------------------------------------------------


def test_routes_are_exactly_the_contract(synth: Synth) -> None:
    assert set(api_routes(synth)) == {
        ("POST", "/mcp"),
        ("GET", "/mcp"),
        ("DELETE", "/mcp"),
        ("GET", "/.well-known/oauth-protected-resource"),
        ("GET", "/.well-known/oauth-protected-resource/mcp"),
        ("GET", "/health"),
        *FRONT_ROUTES,
        *PREFLIGHT_ROUTES,
        # Every other server of the registry (test_servers.py).
        *mcp_routes(synth),
        *other_server_metadata_routes(synth),
    }


def test_every_mcp_method_uses_the_request_authorizer(synth: Synth) -> None:
    authorizer_id, _ = synth.one("AWS::ApiGateway::Authorizer")
    for (verb, path), props in api_routes(synth).items():
        if path in server_paths(synth):
            assert props["AuthorizationType"] == "CUSTOM", verb
            assert props["AuthorizerId"] == {"Ref": authorizer_id}, verb


def test_only_metadata_health_and_the_front_are_unauthenticated(synth: Synth) -> None:
    public = {route for route, props in api_routes(synth).items() if props["AuthorizationType"] != "CUSTOM"}
    assert public == {
        ("GET", "/.well-known/oauth-protected-resource"),
        ("GET", "/.well-known/oauth-protected-resource/mcp"),
        ("GET", "/health"),
        *FRONT_ROUTES,
        *PREFLIGHT_ROUTES,
        *other_server_metadata_routes(synth),
    }
    for route in public:
        assert api_routes(synth)[route]["AuthorizationType"] == "NONE"


def test_authorizer_cache_ttl_identity_source_and_alias(synth: Synth) -> None:
    _, authorizer = synth.one("AWS::ApiGateway::Authorizer")
    props = authorizer["Properties"]
    assert props["Type"] == "REQUEST"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    # 0: the authorizer runs on every request, so it may decide per tool (app/authorizer/gatekeeper.py).
    assert props["AuthorizerResultTtlInSeconds"] == 0
    alias = _logical_id(synth, "AWS::Lambda::Alias", "AuthorizerAlias")
    assert "${" + alias + "}" in render(props["AuthorizerUri"])


# Answered by API Gateway itself (test_mock_routes.py: bodies and headers).
STATIC_ROUTES = {
    ("GET", "/.well-known/oauth-protected-resource"),
    ("GET", "/.well-known/oauth-protected-resource/mcp"),
    ("GET", "/health"),
}


def test_mcp_invokes_the_mcp_alias_and_metadata_and_health_invoke_nothing(synth: Synth) -> None:
    aliases = alias_ids(synth)
    assert aliases["/mcp"] == _logical_id(synth, "AWS::Lambda::Alias", "McpAlias")
    for route, props in api_routes(synth).items():
        if route in FRONT_ROUTES:
            continue  # test_oauth_front.py: the front's alias
        integration = props["Integration"]
        if (
            route in PREFLIGHT_ROUTES
            or route in STATIC_ROUTES
            or route in other_server_metadata_routes(synth)
        ):
            # test_cors.py, test_mock_routes.py: MOCK integrations, no function
            assert integration["Type"] == "MOCK", route
            assert "Uri" not in integration, route
            continue
        assert route[1] in aliases, route  # each server's path invokes that server's alias
        assert integration["Type"] == "AWS_PROXY", route
        assert "${" + aliases[route[1]] + "}" in render(integration["Uri"]), route


def test_gateway_responses_carry_the_challenges(synth: Synth) -> None:
    responses = {
        props["Properties"]["ResponseType"]: props["Properties"]
        for props in synth.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    # And usage plans' THROTTLED, QUOTA_EXCEEDED, INVALID_API_KEY (tests/infra/test_usage_plans.py).
    assert set(responses) == {
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "THROTTLED",
        "QUOTA_EXCEEDED",
        "INVALID_API_KEY",
    }
    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    header = render(unauthorized["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"])
    assert re.fullmatch(
        r"'Bearer resource_metadata=\"https://\$\{ApiRestApi\w+\}\.execute-api\.\$\{AWS::Region\}"
        r"\.\$\{AWS::URLSuffix\}" + re.escape(PRM_SUFFIX) + r"\", scope=\"mcp/access\"'",
        header,
    )
    # Same bodies as the local gateway emulator (devtools/gateway.py).
    assert json.loads(unauthorized["ResponseTemplates"]["application/json"]) == {"message": "Unauthorized"}

    denied = responses["ACCESS_DENIED"]
    assert denied["StatusCode"] == "403"
    header = render(denied["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"])
    # A literal: the base scope and every scope a tool declares (the per-tool step-up answer).
    # With several servers, every scope of every server (one literal answers for all of them).
    scopes = " ".join(sorted({"mcp/access", *synth.stack.declared.scopes}))
    assert synth.stack.declared.primary.scopes == tuple(sorted(DECLARED.all_scopes()))
    assert len(scopes.split()) > 1
    assert header.startswith(
        f'\'Bearer error="insufficient_scope", scope="{scopes}", resource_metadata="https://'
    )
    assert header.endswith(PRM_SUFFIX + "\"'")
    assert json.loads(denied["ResponseTemplates"]["application/json"]) == {"message": "Forbidden"}


# --- stage -------------------------------------------------------------------------------------


def test_stage_throttling_tracing_and_json_access_log(synth: Synth) -> None:
    _, stage = synth.one("AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is False
    settings = props["MethodSettings"][0]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (50, 100)
    assert "LoggingLevel" not in settings
    log_format = props["AccessLogSetting"]["Format"]
    assert log_format == access_log_format()
    sample = log_format.replace("$context.status", "401").replace(
        "$context.error.messageString", '"Unauthorized"'
    )
    line = json.loads(sample)
    for field in ("requestId", "status", "principal", "authorizerStatus", "authMethod", "ip", "resourcePath"):
        assert field in line
    assert line["status"] == 401
    assert line["principal"] == "$context.authorizer.principalId"
    access_group = _logical_id(synth, "AWS::Logs::LogGroup", "AccessLogGroup")
    assert render(props["AccessLogSetting"]["DestinationArn"]).endswith(":log-group:${" + access_group + "}")


# API Gateway's own `$context.authorizer.*` variables; every other name is a key of the context
# the authorizer returns (https://docs.aws.amazon.com/apigateway/latest/developerguide/
# api-gateway-variables-for-access-logging.html).
GATEWAY_AUTHORIZER_VARIABLES = {"principalId", "status", "latency", "integrationLatency", "integrationStatus"}


def test_access_log_authorizer_fields_read_keys_the_authorizer_really_returns() -> None:
    """`$context.authorizer.auth` was logged empty for ever: the key is `auth_method`."""
    from app.auth.principal import Principal

    returned = set(
        Principal(
            "apikey:alice",
            "api_key",
            frozenset({"mcp/access"}),
            client_id="c",
            key_id="k",
            tenant="t",
            expires_at=1,
        ).to_context()
    )
    referenced = set(re.findall(r"\$context\.authorizer\.(\w+)", access_log_format()))
    assert {"auth_method", "client_id", "key_id"} <= referenced
    assert referenced - GATEWAY_AUTHORIZER_VARIABLES <= returned


# --- functions ------------------------------------------------------------------------------------


def _function(synth: Synth, name: str) -> dict[str, Any]:
    props: dict[str, Any] = synth.resources[_logical_id(synth, "AWS::Lambda::Function", name)]["Properties"]
    return props


def test_functions_runtime_snapstart_and_config(synth: Synth) -> None:
    for name, handler, memory, timeout in (
        ("AuthorizerFunction", "app.authorizer.handler.handler", 512, 10),
        ("McpFunction", "app.mcp.handler.handler", 1024, 29),
    ):
        props = _function(synth, name)
        assert props["Handler"] == handler
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)
        assert "ReservedConcurrentExecutions" not in props
        assert props.get("TracingConfig", {"Mode": "PassThrough"})["Mode"] == "PassThrough"


def test_aliases_point_at_published_versions(synth: Synth) -> None:
    aliases = synth.of_type("AWS::Lambda::Alias")
    assert len(aliases) == 2 + len(server_paths(synth))  # authorizer, front, one per MCP server
    versions = synth.of_type("AWS::Lambda::Version")
    for alias in aliases.values():
        props = alias["Properties"]
        assert props["Name"] == "live"
        version_id = props["FunctionVersion"]["Fn::GetAtt"][0]
        assert version_id in versions
        assert versions[version_id]["Properties"]["FunctionName"] == props["FunctionName"]


def test_invoke_permissions_name_the_alias_only(synth: Synth) -> None:
    aliases = {"${" + key + "}" for key in synth.of_type("AWS::Lambda::Alias")}
    permissions = synth.of_type("AWS::Lambda::Permission")
    assert permissions
    for permission in permissions.values():
        props = permission["Properties"]
        assert render(props["FunctionName"]) in aliases
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert "/test-invoke-stage/" not in render(props["SourceArn"])


def test_function_environment_holds_names_and_arns_only(synth: Synth) -> None:
    api_keys = "${" + _logical_id(synth, "AWS::SecretsManager::Secret", "ApiKeysSecret") + "}"
    upstream = "${" + _logical_id(synth, "AWS::SecretsManager::Secret", "UpstreamSecret") + "}"
    common = {
        "MCP_URL_PARAMETER": "/ServerlessMcp/mcp-url",
        "AUTH_SETTINGS_PARAMETER": "/ServerlessMcp/auth-settings",
        "CONFIG_CACHE_SECONDS": "300",
        "API_KEYS_CACHE_SECONDS": "60",
        "POWERTOOLS_SERVICE_NAME": "serverless-mcp",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "ServerlessMcp",
    }
    authorizer = {
        k: render(v) for k, v in _function(synth, "AuthorizerFunction")["Environment"]["Variables"].items()
    }
    mcp = {k: render(v) for k, v in _function(synth, "McpFunction")["Environment"]["Variables"].items()}
    # Usage plans: the shared keys' IDS (never values) and the tiers (tests/infra/test_usage_plans.py).
    shared = {
        tier: synth.id_of("AWS::ApiGateway::ApiKey", f"SharedKey{tier}") for tier in ("standard", "premium")
    }
    assert authorizer == {
        **common,
        "API_KEYS_SECRET_ID": api_keys,
        "AUTHORIZER_CACHE_TTL_SECONDS": "0",
        "TOOL_SCOPES_FILE": "/var/task/tool_scopes.json",
        "USAGE_KEY_IDS": json.dumps(
            {tier: "${" + key + "}" for tier, key in shared.items()}, separators=(",", ":")
        ),
        "USAGE_DEFAULT_TIER": "standard",
        "USAGE_JWT_TIER": "standard",
    }
    several = len(server_paths(synth)) > 1
    assert mcp == {
        **common,
        "UPSTREAM_SECRET_ID": upstream,
        **({"MCP_SERVER": synth.stack.declared.primary.name} if several else {}),
    }


def test_functions_log_to_the_audit_group(synth: Synth) -> None:
    audit = _logical_id(synth, "AWS::Logs::LogGroup", "AuditLogGroup")
    for name in ("AuthorizerFunction", "McpFunction"):
        assert _function(synth, name)["LoggingConfig"] == {"LogGroup": {"Ref": audit}}


# --- IAM -------------------------------------------------------------------------------------------


def test_secrets_and_parameters_are_granted_by_exact_arn(synth: Synth) -> None:
    seen = 0
    for owner, statement, actions in statements_about(synth, "secretsmanager:", "ssm:"):
        seen += 1
        assert statement["Effect"] == "Allow"
        for action in actions:
            assert "*" not in action, (owner, action)
        for resource in as_list(statement["Resource"]):
            text = render(resource)
            assert "*" not in text, (owner, text)
            assert text.startswith("${") or re.search(
                r":parameter/ServerlessMcp/(mcp-url|auth-settings|oauth-front-settings)$", text
            )
    # Each role (authorizer, front, one per MCP server): its parameters + its one secret.
    assert seen == 2 * (2 + len(server_paths(synth)))


def test_each_role_reads_only_its_own_secret(synth: Synth) -> None:
    api_keys = "${" + _logical_id(synth, "AWS::SecretsManager::Secret", "ApiKeysSecret") + "}"
    upstream = "${" + _logical_id(synth, "AWS::SecretsManager::Secret", "UpstreamSecret") + "}"
    by_policy: dict[str, set[str]] = {}
    for owner, statement in statements(synth):
        if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
            by_policy.setdefault(owner, set()).update(render(r) for r in as_list(statement["Resource"]))
    front = "${" + _logical_id(synth, "AWS::SecretsManager::Secret", "OAuthFrontClientSecret") + "}"
    authorizer = [v for k, v in by_policy.items() if "Authorizer" in k]
    mcp = [v for k, v in by_policy.items() if "Mcp" in k or k.startswith("FunctionsServer")]
    oauth = [v for k, v in by_policy.items() if k.startswith("OAuthFront")]
    servers = len(server_paths(synth))
    assert authorizer == [{api_keys}]
    assert mcp == [{upstream}] * servers
    assert oauth == [{front}]
    assert len(by_policy) == 2 + servers


def test_no_managed_policies_and_no_wildcard_actions(synth: Synth) -> None:
    for role in synth.of_type("AWS::IAM::Role").values():
        trusted = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        if trusted == "lambda.amazonaws.com":
            assert "ManagedPolicyArns" not in role["Properties"]
    for owner, statement in statements(synth):
        for action in as_list(statement["Action"]):
            assert action != "*", owner
            assert not action.endswith(":*"), (owner, action)


# --- secrets and parameters ------------------------------------------------------------------------


def test_api_key_store_starts_empty(synth: Synth) -> None:
    store = synth.resources[_logical_id(synth, "AWS::SecretsManager::Secret", "ApiKeysSecret")]["Properties"]
    assert json.loads(store["SecretString"]) == EMPTY_KEY_STORE == {"version": 1, "keys": []}
    upstream = synth.resources[_logical_id(synth, "AWS::SecretsManager::Secret", "UpstreamSecret")][
        "Properties"
    ]
    assert "SecretString" not in upstream
    assert upstream["GenerateSecretString"]["GenerateStringKey"] == "api_key"


def test_mcp_url_parameter_is_written_from_the_api_url(synth: Synth) -> None:
    params = {p["Properties"]["Name"]: p["Properties"] for p in synth.of_type("AWS::SSM::Parameter").values()}
    assert set(params) == {
        "/ServerlessMcp/mcp-url",
        "/ServerlessMcp/auth-settings",
        "/ServerlessMcp/oauth-front-settings",
    }
    url = render(params["/ServerlessMcp/mcp-url"]["Value"])
    assert re.fullmatch(
        r"https://\$\{ApiRestApi\w+\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/prod/mcp", url
    )
    assert all(p["Type"] == "String" for p in params.values())


def test_cognito_auth_settings(synth: Synth) -> None:
    params = {p["Properties"]["Name"]: p["Properties"] for p in synth.of_type("AWS::SSM::Parameter").values()}
    settings = json.loads(render(params["/ServerlessMcp/auth-settings"]["Value"]))
    pool = "${" + synth.one("AWS::Cognito::UserPool")[0] + "}"
    assert settings["issuer"] == "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/" + pool
    assert settings["jwks_url"] == settings["issuer"] + "/.well-known/jwks.json"
    assert settings["audiences"] == []
    # The front's own Cognito client is not accepted: its tokens never leave the front.
    clients = {
        "${" + key + "}" for key in synth.of_type("AWS::Cognito::UserPoolClient") if "OAuthFront" not in key
    }
    assert set(settings["allowed_client_ids"]) == clients
    assert len(clients) == 2
    assert settings["base_scope"] == "mcp/access"
    assert settings["allowed_origins"] == []
    # The authorizer also trusts the front's tokens (issuer and JWKS derived from the MCP URL).
    assert settings["oauth_front"] is True


# --- identity ------------------------------------------------------------------------------------------


def test_cognito_pool_resource_server_and_clients(synth: Synth) -> None:
    _, pool = synth.one("AWS::Cognito::UserPool")
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Properties"]["MfaConfiguration"] == "ON"
    server_id, server = synth.one("AWS::Cognito::UserPoolResourceServer")
    assert server["Properties"]["Identifier"] == "mcp"
    # The base scope, then one per scope the tools of every server declare (`profile` for `mcp/profile`).
    tool_scopes = sorted(synth.stack.declared.scopes)
    assert [s["ScopeName"] for s in server["Properties"]["Scopes"]] == [
        "access",
        *(scope.removeprefix("mcp/") for scope in tool_scopes),
    ]
    clients = {
        c["Properties"]["ClientName"]: c["Properties"]
        for c in synth.of_type("AWS::Cognito::UserPoolClient").values()
    }
    interactive, machine = clients["mcp-interactive"], clients["mcp-machine"]

    def scopes(client: dict[str, Any]) -> set[str]:
        # Ref of a resource server is its identifier ("mcp").
        return {render(s).replace("${" + server_id + "}", "mcp") for s in client["AllowedOAuthScopes"]}

    assert interactive["AllowedOAuthFlows"] == ["code"]
    assert not interactive.get("GenerateSecret", False)
    assert scopes(interactive) == {"mcp/access", *tool_scopes, "openid", "email"}
    assert interactive["CallbackURLs"] == [
        "http://localhost:6274/oauth/callback",
        "http://localhost:6274/oauth/callback/debug",
    ]
    assert machine["AllowedOAuthFlows"] == ["client_credentials"]
    assert machine["GenerateSecret"] is True
    assert scopes(machine) == {"mcp/access", *tool_scopes}
    synth.template.resource_count_is("AWS::Cognito::UserPoolDomain", 1)


# --- observability ----------------------------------------------------------------------------------


def test_log_retention(synth: Synth) -> None:
    groups = {
        key: group["Properties"]["RetentionInDays"]
        for key, group in synth.of_type("AWS::Logs::LogGroup").items()
    }
    assert len(groups) == 2
    assert groups[_logical_id(synth, "AWS::Logs::LogGroup", "AuditLogGroup")] == 365
    assert groups[_logical_id(synth, "AWS::Logs::LogGroup", "AccessLogGroup")] == 90


def test_metric_filters_and_alarms(synth: Synth) -> None:
    filters = {f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
               for f in synth.of_type("AWS::Logs::MetricFilter").values()}  # fmt: skip
    assert set(filters) == {
        "AuthorizationFailures",
        "Mcp5xx",
        "ThrottledRequests",
        "OAuth5xx",
        "RefreshTokenReuse",
    }
    assert "401" in filters["AuthorizationFailures"]["FilterPattern"]
    assert "403" in filters["AuthorizationFailures"]["FilterPattern"]
    assert "429" in filters["ThrottledRequests"]["FilterPattern"]
    alarms = synth.of_type("AWS::CloudWatch::Alarm")
    names = sorted(re.sub(r"[0-9A-F]{8}$", "", key) for key in alarms)
    assert names == sorted(
        f"Monitoring{n}Alarm"
        for n in (
            "AuthFailureSpike",
            "Mcp5xx",
            "Throttling",
            "LambdaThrottles",
            "AuthorizerErrors",
            "AuditWriteFailures",
            "OAuth5xx",
            "OAuthFrontErrors",
            "RefreshTokenReuse",
        )
    )
    topic, _ = synth.one("AWS::SNS::Topic")
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
    synth.template.resource_count_is("AWS::SNS::Subscription", 0)
    # The metric app/core/audit.py writes when an audit line cannot be written, from all three functions.
    audit_alarm = next(a for key, a in alarms.items() if "AuditWriteFailures" in key)
    metrics = [m["MetricStat"]["Metric"] for m in audit_alarm["Properties"]["Metrics"] if "MetricStat" in m]
    assert {m["MetricName"] for m in metrics} == {"AuditWriteFailures"}
    assert {d["Value"] for m in metrics for d in m["Dimensions"]} == {"authorizer", "mcp", "oauth"}
    assert {m["Namespace"] for m in metrics} == {"ServerlessMcp"}


def test_saved_queries_and_dashboard(synth: Synth) -> None:
    queries = {
        q["Properties"]["Name"]: q["Properties"] for q in synth.of_type("AWS::Logs::QueryDefinition").values()
    }
    assert {"ServerlessMcp/who-called-which-tool", "ServerlessMcp/denied-requests-by-reason"} <= set(queries)
    assert "stats count(*)" in queries["ServerlessMcp/who-called-which-tool"]["QueryString"]
    synth.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


# --- options off -------------------------------------------------------------------------------------


def test_options_are_off_by_default(synth: Synth) -> None:
    for kind in (
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::ApiGateway::DomainName",
        "AWS::ApiGateway::BasePathMapping",
        "AWS::CertificateManager::Certificate",
        "AWS::Route53::RecordSet",
    ):
        synth.template.resource_count_is(kind, 0)


def test_account_logging_role_is_set_and_retained(synth: Synth) -> None:
    account_id, account = synth.one("AWS::ApiGateway::Account")
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = synth.resources[role_id]
    assert role["DeletionPolicy"] == "Retain"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert account_id


# --- outputs -------------------------------------------------------------------------------------------


def test_outputs(synth: Synth) -> None:
    outputs = {key: render(value["Value"]) for key, value in synth.outputs.items()}
    assert outputs["McpUrl"].endswith("/prod/mcp")
    assert outputs["ProtectedResourceMetadataUrl"].endswith(PRM_SUFFIX)
    assert outputs["CreateApiKeyCommand"] == (
        "mcp-lambda keys create --stack ServerlessMcp --owner <you> "
        f"--scopes {','.join(('mcp/access', *synth.stack.declared.scopes))}"
    )
    for key in ("UserPoolId", "UserPoolDomain", "InteractiveClientId", "MachineClientId", "ApiKeysSecretArn",
                "AuditLogGroupName", "TokenEndpoint", "OAuthIssuer"):  # fmt: skip
        assert key in outputs
    assert "CustomDomainTarget" not in outputs


def test_template_holds_no_secret_values(synth: Synth) -> None:
    text = synth.template_path.read_text()
    assert "PRIVATE KEY" not in text
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    synth.template.has_resource_properties(
        "AWS::SecretsManager::Secret", Match.object_like({"GenerateSecretString": Match.any_value()})
    )


# --- checks ------------------------------------------------------------------------------------------------


def test_cdk_nag_passes_with_specific_acknowledgements(synth: Synth) -> None:
    report = synth.validation_report()
    plugins = {plugin["pluginName"]: plugin for plugin in report["pluginReports"]}
    # Besides cdk-nag, CDK lists the several-servers warning there (test_servers.py), and only that.
    several = len(server_paths(synth)) > 1
    assert set(plugins) == {"AwsSolutions", *(("Construct Annotations",) if several else ())}
    plugin = plugins["AwsSolutions"]
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    suppressed = plugin["suppressedViolations"]
    assert suppressed, "expected the documented acknowledgements"
    for item in suppressed:
        assert len(item["reason"]) >= 60, item["ruleName"]
        assert item["acknowledgedId"].startswith(f"AwsSolutions::{item['ruleName']}")
    rules = {item["ruleName"].split("[")[0] for item in suppressed}
    assert rules <= {
        f"AwsSolutions-{rule}"
        for rule in ("L1", "APIG2", "APIG3", "APIG4", "APIG6", "COG4", "COG8", "SMG4", "IAM4")
    }


def test_cfn_lint_passes(synth: Synth) -> None:
    assert lint(synth.template_path) == []


def test_template_file_is_in_outdir(synth: Synth) -> None:
    assert Path(synth.template_path).is_file()


def test_multi_tenancy_is_off_by_default(synth: Synth) -> None:
    """No tenant table or role, and no function told about tenants (tests/infra/test_tenants.py: on)."""
    assert not [key for key in synth.resources if key.startswith("TenantData")]
    for function in synth.of_type("AWS::Lambda::Function").values():
        assert not [name for name in function["Properties"]["Environment"]["Variables"] if "TENANT" in name]
