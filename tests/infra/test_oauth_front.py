"""The authorization front in the default stack (Cognito upstream): routes, table, keys, IAM, Cognito
client, settings, secret handling. Shares the default stack's one synthesis (`default_synth`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app.auth import front as app_front
from app.mcp.server import build_server
from infra.constructs import api as infra_api
from tests.infra.conftest import (
    FRONT_ROUTES,
    Synth,
    api_routes,
    as_list,
    render,
    server_paths,
    statements,
    statements_about,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-stack-default")]

DECLARED = sorted(build_server().requirements.all_scopes())
API_BASE = r"https://\$\{ApiRestApi\w+\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/prod"


@pytest.fixture(scope="module")
def synth(default_synth: Synth) -> Synth:
    return default_synth


def _ref(synth: Synth, kind: str, fragment: str) -> str:
    return "${" + synth.id_of(kind, fragment) + "}"


def _props(synth: Synth, kind: str, fragment: str) -> dict[str, Any]:
    props: dict[str, Any] = synth.resources[synth.id_of(kind, fragment)]["Properties"]
    return props


def _front_statements(synth: Synth) -> list[dict[str, Any]]:
    policy = synth.id_of("AWS::IAM::Policy", "OAuthFrontRole")
    return [statement for owner, statement in statements(synth) if owner == policy]


def _parameter_value(synth: Synth) -> object:
    for parameter in synth.of_type("AWS::SSM::Parameter").values():
        if parameter["Properties"]["Name"] == "/ServerlessMcp/oauth-front-settings":
            return parameter["Properties"]["Value"]
    raise AssertionError("no front settings parameter")


def _settings(synth: Synth) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(render(_parameter_value(synth)))
    return value


# --- routes -----------------------------------------------------------------------------------------


def test_infra_routes_are_the_paths_the_front_serves() -> None:
    """infra does not import app/: its copy of the paths must be the front's own."""
    assert infra_api.FRONT_PATH == app_front.FRONT_PATH
    assert set(infra_api.FRONT_METADATA_PATHS) <= set(app_front.AUTHORIZATION_SERVER_METADATA_PATHS)
    # Every other front path falls under /oauth/{proxy+}.
    others = {
        app_front.JWKS_PATH,
        app_front.REGISTER_PATH,
        app_front.AUTHORIZE_PATH,
        app_front.CONSENT_PATH,
        app_front.CALLBACK_PATH,
        app_front.TOKEN_PATH,
        app_front.REVOKE_PATH,
        *(set(app_front.AUTHORIZATION_SERVER_METADATA_PATHS) - set(infra_api.FRONT_METADATA_PATHS)),
    }
    assert all(path.startswith(app_front.FRONT_PATH + "/") for path in others)


def test_front_routes_are_public_and_proxy_to_the_front_alias(synth: Synth) -> None:
    alias = _ref(synth, "AWS::Lambda::Alias", "OAuthFrontAlias")
    routes = api_routes(synth)
    for route in FRONT_ROUTES:
        props = routes[route]
        assert props["AuthorizationType"] == "NONE", route
        assert "AuthorizerId" not in props, route
        integration = props["Integration"]
        assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST"), route
        assert alias in render(integration["Uri"]), route
    # Nothing else reaches the front, and /mcp stays behind the authorizer.
    for route, props in routes.items():
        if route not in FRONT_ROUTES:  # MOCK integrations (preflights, metadata, health) have no Uri
            assert alias not in render(props["Integration"].get("Uri", "")), route
    assert {props["AuthorizationType"] for (verb, path), props in routes.items() if path == "/mcp"} == {
        "CUSTOM"
    }


def test_the_front_may_be_invoked_by_this_api_through_its_alias_only(synth: Synth) -> None:
    alias = _ref(synth, "AWS::Lambda::Alias", "OAuthFrontAlias")
    function = _ref(synth, "AWS::Lambda::Function", "OAuthFrontFunction")
    permissions = [p["Properties"] for p in synth.of_type("AWS::Lambda::Permission").values()]
    front = [p for p in permissions if render(p["FunctionName"]) == alias]
    assert len(front) == len(FRONT_ROUTES)
    for permission in front:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert "${ApiRestApi" in render(permission["SourceArn"])
    assert not [p for p in permissions if render(p["FunctionName"]) == function]


# --- function --------------------------------------------------------------------------------------


def test_front_function_follows_the_stack_conventions(synth: Synth) -> None:
    props = _props(synth, "AWS::Lambda::Function", "OAuthFrontFunction")
    assert props["Handler"] == "app.oauth.handler.handler"
    assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"])
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["LoggingConfig"] == {
        "LogGroup": {"Ref": synth.id_of("AWS::Logs::LogGroup", "AuditLogGroup")}
    }
    assert props["Timeout"] <= 29  # API Gateway's integration timeout
    alias = _props(synth, "AWS::Lambda::Alias", "OAuthFrontAlias")
    assert alias["Name"] == "live"


def test_front_environment_holds_names_and_arns_only(synth: Synth) -> None:
    variables = {
        key: render(value)
        for key, value in _props(synth, "AWS::Lambda::Function", "OAuthFrontFunction")["Environment"][
            "Variables"
        ].items()
    }
    assert variables == {
        "MCP_URL_PARAMETER": "/ServerlessMcp/mcp-url",
        "OAUTH_FRONT_SETTINGS_PARAMETER": "/ServerlessMcp/oauth-front-settings",
        "OAUTH_UPSTREAM_SECRET_ID": _ref(synth, "AWS::SecretsManager::Secret", "OAuthFrontClientSecret"),
        "OAUTH_TABLE_NAME": _ref(synth, "AWS::DynamoDB::Table", "OAuthFrontTable"),
        "OAUTH_SIGNING_KEY_ID": "${" + synth.id_of("AWS::KMS::Key", "SigningKey") + ".Arn}",
        "OAUTH_SEALING_KEY_ID": "${" + synth.id_of("AWS::KMS::Key", "SealingKey") + ".Arn}",
        "CONFIG_CACHE_SECONDS": "300",
        "POWERTOOLS_SERVICE_NAME": "serverless-mcp",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "ServerlessMcp",
        # Several MCP servers: the resources the front issues tokens for (test_servers.py).
        **({"MCP_SERVER_PATHS": ",".join(paths)} if len(paths := server_paths(synth)) > 1 else {}),
    }


def test_front_is_created_after_what_its_snapstart_init_reads(synth: Synth) -> None:
    depends = synth.resources[synth.id_of("AWS::Lambda::Function", "OAuthFrontFunction")]["DependsOn"]
    for fragment, kind in (
        ("OAuthFrontSettingsParameter", "AWS::SSM::Parameter"),
        ("McpUrlParameter", "AWS::SSM::Parameter"),
        ("OAuthFrontClientSecret", "AWS::SecretsManager::Secret"),
    ):
        assert synth.id_of(kind, fragment) in depends


# --- state: table and keys -------------------------------------------------------------------------


def test_table_is_on_demand_encrypted_with_ttl_and_pitr(synth: Synth) -> None:
    table_id = synth.id_of("AWS::DynamoDB::Table", "OAuthFrontTable")
    table = synth.resources[table_id]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # SSEEnabled true without a key id: the AWS managed key aws/dynamodb (infra/constructs/oauth_front.py).
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "GlobalSecondaryIndexes" not in props
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_signing_key_is_rsa_2048_sign_verify_and_retained(synth: Synth) -> None:
    key = synth.resources[synth.id_of("AWS::KMS::Key", "SigningKey")]
    assert key["Properties"]["KeySpec"] == "RSA_2048"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["Properties"].get("EnableKeyRotation", False) is False  # KMS cannot rotate asymmetric keys
    assert key["DeletionPolicy"] == "Retain"


def test_sealing_key_is_symmetric_rotated_and_retained(synth: Synth) -> None:
    key = synth.resources[synth.id_of("AWS::KMS::Key", "SealingKey")]
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert key["Properties"].get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    # The front's two keys, and the stack's data key (secrets and logs, tests/infra/test_checkov.py).
    keys = sorted(synth.of_type("AWS::KMS::Key"))
    assert [k for k in keys if k.startswith("OAuthFront")] == sorted(
        synth.id_of("AWS::KMS::Key", name) for name in ("SealingKey", "SigningKey")
    )
    assert [k for k in keys if not k.startswith("OAuthFront")] == [synth.id_of("AWS::KMS::Key", "DataKey")]


# --- IAM -------------------------------------------------------------------------------------------


def test_front_role_holds_exactly_its_grants(synth: Synth) -> None:
    signing = "${" + synth.id_of("AWS::KMS::Key", "SigningKey") + ".Arn}"
    sealing = "${" + synth.id_of("AWS::KMS::Key", "SealingKey") + ".Arn}"
    table = "${" + synth.id_of("AWS::DynamoDB::Table", "OAuthFrontTable") + ".Arn}"
    secret = _ref(synth, "AWS::SecretsManager::Secret", "OAuthFrontClientSecret")
    audit = "${" + synth.id_of("AWS::Logs::LogGroup", "AuditLogGroup") + ".Arn}"
    granted = {
        (
            tuple(sorted(as_list(s["Action"]))),
            tuple(sorted(render(r) for r in as_list(s["Resource"]))),
        ): s.get("Condition")
        for s in _front_statements(synth)
    }
    parameters = tuple(
        sorted(
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/ServerlessMcp/" + name
            for name in ("mcp-url", "oauth-front-settings")
        )
    )
    assert granted == {
        (("logs:CreateLogStream", "logs:PutLogEvents"), (audit,)): None,
        (("ssm:GetParameter",), parameters): None,
        (("secretsmanager:GetSecretValue",), (secret,)): None,
        (("kms:Sign",), (signing,)): {"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}},
        (("kms:GetPublicKey",), (signing,)): None,
        (("kms:Decrypt", "kms:Encrypt"), (sealing,)): None,
        (
            (
                "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ),
            (table,),
        ): None,
    }


def test_no_role_gets_kms_or_dynamodb_on_a_wildcard_and_nobody_else_gets_them(synth: Synth) -> None:
    front_policy = synth.id_of("AWS::IAM::Policy", "OAuthFrontRole")
    seen = 0
    for owner, statement, actions in statements_about(synth, "kms:", "dynamodb:"):
        seen += 1
        assert owner == front_policy, owner
        for action in actions:
            assert "*" not in action
            assert action not in ("dynamodb:Scan", "dynamodb:Query")
        for resource in as_list(statement["Resource"]):
            assert "*" not in render(resource)
    assert seen == 4


# --- Cognito client and its secret -----------------------------------------------------------------


def test_cognito_front_client_is_confidential_code_only_with_the_front_callback(synth: Synth) -> None:
    client = _props(synth, "AWS::Cognito::UserPoolClient", "OAuthFrontClient")
    server_id = synth.one("AWS::Cognito::UserPoolResourceServer")[0]
    assert client["ClientName"] == "mcp-oauth-front"
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    scopes = {render(s).replace("${" + server_id + "}", "mcp") for s in client["AllowedOAuthScopes"]}
    assert scopes == {"openid", "email", "mcp/access", *synth.stack.declared.scopes}
    assert set(DECLARED) <= scopes  # the app's own tools' scopes among them
    (callback,) = client["CallbackURLs"]
    assert re.fullmatch(API_BASE + "/oauth/callback", render(callback))
    # The front's refresh tokens last as long as its own (30 days by default).
    assert (client["RefreshTokenValidity"], client["TokenValidityUnits"]["RefreshToken"]) == (
        43200,
        "minutes",
    )


def test_front_secret_value_comes_from_the_client_never_the_template(synth: Synth) -> None:
    client_id = synth.id_of("AWS::Cognito::UserPoolClient", "OAuthFrontClient")
    secret = _props(synth, "AWS::SecretsManager::Secret", "OAuthFrontClientSecret")
    assert "GenerateSecretString" not in secret
    assert secret["SecretString"] == {
        "Fn::Join": ["", ['{"client_secret":"', {"Fn::GetAtt": [client_id, "ClientSecret"]}, '"}']]
    }
    text = synth.template_path.read_text()
    # Only references to the secret: no custom resource reading it, no output or parameter holding it.
    assert text.count('"ClientSecret"') == 1
    assert "DescribeCognitoUserPoolClient" not in text
    assert not synth.of_type("Custom::DescribeCognitoUserPoolClient")
    for output in synth.outputs.values():
        assert "ClientSecret" not in json.dumps(output)


# --- settings parameter ----------------------------------------------------------------------------


def test_front_settings_parameter_is_the_documented_json(synth: Synth) -> None:
    settings = _settings(synth)
    pool = _ref(synth, "AWS::Cognito::UserPool", "UserPool")
    client = _ref(synth, "AWS::Cognito::UserPoolClient", "OAuthFrontClient")
    assert settings == {
        "upstream_issuer": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/" + pool,
        "upstream_client_id": client,
        "upstream_scopes": ["openid", "email", "mcp/access", *synth.stack.declared.scopes],
        "scopes": ["mcp/access", *synth.stack.declared.scopes],
        "base_scope": "mcp/access",
        "preregistered_clients": [],
        "pre_approved_clients": [],
        "access_token_ttl_seconds": 600,
        "refresh_token_ttl_seconds": 30 * 86400,
        "registration_enabled": True,
        "registration_max_clients": 1000,
        "registration_per_ip_per_hour": 10,
    }


def test_front_settings_parse_with_the_fronts_own_parser(synth: Synth) -> None:
    """What the stack writes is what app/oauth/settings.py accepts (skipped until it lands)."""
    settings_module = pytest.importorskip("app.oauth.settings")
    # As CloudFormation resolves it: pseudo parameters and resource references become real values.
    deployed = {
        "AWS::Region": "eu-west-1",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::AccountId": "123456789012",
    }
    text = re.sub(
        r"\$\{([^}]+)\}",
        lambda m: deployed.get(m.group(1), "eu-west-1_abc123"),
        render(_parameter_value(synth)),
    )
    values = json.loads(text)
    assert values["upstream_issuer"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc123"
    parsed = settings_module.parse_front_settings(
        values,
        mcp_url="https://abc.execute-api.eu-west-1.amazonaws.com/prod/mcp",
        client_secret="generated-at-test-time",
        table_name="t",
        signing_key_id="k1",
        sealing_key_id="k2",
    )
    assert (
        parsed.upstream.redirect_uri == "https://abc.execute-api.eu-west-1.amazonaws.com/prod/oauth/callback"
    )
    assert parsed.scopes[0] == "mcp/access"


# --- observability ---------------------------------------------------------------------------------


def test_refresh_reuse_is_counted_from_the_audit_log_and_alarms(synth: Synth) -> None:
    audit = synth.id_of("AWS::Logs::LogGroup", "AuditLogGroup")
    reuse = _props(synth, "AWS::Logs::MetricFilter", "RefreshReuseFilter")
    assert reuse["LogGroupName"] == {"Ref": audit}
    pattern = reuse["FilterPattern"]
    for clause in ('$.event_type = "audit"', '$.source = "oauth"', '$.reason = "refresh_reuse"'):
        assert clause in pattern
    alarm = _props(synth, "AWS::CloudWatch::Alarm", "RefreshTokenReuseAlarm")
    assert (alarm["MetricName"], alarm["Threshold"]) == ("RefreshTokenReuse", 1)


def test_front_5xx_counts_only_the_fronts_routes(synth: Synth) -> None:
    pattern = _props(synth, "AWS::Logs::MetricFilter", "OAuth5xxFilter")["FilterPattern"]
    assert "$.status >= 500" in pattern
    for path in ("/oauth/{proxy+}", *infra_api.FRONT_METADATA_PATHS):
        assert f'$.resourcePath = "{path}"' in pattern
    assert '"/mcp"' not in pattern


# --- outputs ----------------------------------------------------------------------------------------


def test_front_outputs(synth: Synth) -> None:
    outputs = {key: render(value["Value"]) for key, value in synth.outputs.items()}
    assert re.fullmatch(API_BASE + "/oauth", outputs["OAuthFrontIssuer"])
    assert re.fullmatch(API_BASE + "/oauth/callback", outputs["OAuthFrontCallbackUrl"])
    assert outputs["OAuthFrontSettingsParameterName"] == "/ServerlessMcp/oauth-front-settings"
    assert "OAuthTableName" in outputs
    assert "OAuthSigningKeyArn" in outputs
