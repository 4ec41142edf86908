"""MULTI_TENANT=true in the template: the tenant table, the tenant-data role, and who may do what.

CDK assertions pin each statement; the offline evaluator (tests/iam_evaluation.py) then runs
the synthesized statements against the requests that matter, because moto, which the other tests
use, checks IAM actions but ignores conditions such as `dynamodb:LeadingKeys`.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.tenants import TENANT_PATTERN
from infra.config import ConfigError, StackConfig
from infra.tenant_policies import TAG_CONDITIONS, assume_statement, tenant_items_statement, trust_statement
from tests.iam_evaluation import Request, evaluate, resolve
from tests.infra.conftest import Synth, as_list, logical_id, statements, synthesize

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-tenants")]
# The configuration synthesized here (tests/infra/test_checkov.py runs checkov over it too).
MULTI_TENANT = {"MULTI_TENANT": "true", "DEFAULT_TENANT": "shared"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("multi-tenant"), {"MULTI_TENANT": "true", "DEFAULT_TENANT": "shared"}
    )


@pytest.fixture(scope="module")
def ids(synth: Synth) -> dict[str, str]:
    return {
        "table": synth.id_of("AWS::DynamoDB::Table", "TenantData"),
        "role": synth.id_of("AWS::IAM::Role", "TenantDataRole"),
        "mcp_role": synth.id_of("AWS::IAM::Role", "McpRole"),
    }


@pytest.fixture(scope="module")
def arns(synth: Synth, ids: dict[str, str]) -> dict[str, str]:
    return {name: resolve({"Fn::GetAtt": [logical, "Arn"]}, synth.resources) for name, logical in ids.items()}


def resolved_statements(synth: Synth, owner_fragment: str) -> list[dict[str, Any]]:
    """The statements of the policies attached to the role whose logical id has `owner_fragment`."""
    found = []
    for owner, statement in statements(synth):
        resource = synth.resources[owner]
        roles = [ref["Ref"] for ref in resource["Properties"].get("Roles", [])]
        if owner_fragment in owner or any(owner_fragment in role for role in roles):
            found.append(resolve(statement, synth.resources))
    return found


def trust(synth: Synth, logical: str) -> list[dict[str, Any]]:
    document = synth.resources[logical]["Properties"]["AssumeRolePolicyDocument"]
    return list(resolve(document["Statement"], synth.resources))


# --- the template ------------------------------------------------------------------------------


def test_the_table_is_keyed_by_tenant_recoverable_and_retained(synth: Synth, ids: dict[str, str]) -> None:
    table = synth.resources[ids["table"]]
    assert table["Properties"]["KeySchema"] == [
        {"AttributeName": "tenant", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_role_may_touch_only_its_own_tenants_items(
    synth: Synth, ids: dict[str, str], arns: dict[str, str]
) -> None:
    (statement,) = resolved_statements(synth, ids["role"])
    assert statement == {**tenant_items_statement(arns["table"]), "Effect": "Allow"}
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/tenant}"]},
        "Null": {"dynamodb:LeadingKeys": "false", "aws:PrincipalTag/tenant": "false"},
    }
    assert sorted(statement["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]


def test_only_the_mcp_role_may_assume_it_and_only_with_a_tenant_tag(
    synth: Synth, ids: dict[str, str], arns: dict[str, str]
) -> None:
    (statement,) = trust(synth, ids["role"])
    # With several MCP servers, every server's role alike (test_servers.py; CDK merges them).
    roles = [logical_id(synth, server.role) for server in synth.stack.functions.servers]
    role_arns = [resolve({"Fn::GetAtt": [role, "Arn"]}, synth.resources) for role in roles]
    assert role_arns[0] == arns["mcp_role"]
    principal = as_list(statement["Principal"]["AWS"])
    assert statement == trust_statement(principal if len(principal) > 1 else principal[0])
    assert sorted(principal) == sorted(role_arns)
    assert statement["Condition"] == TAG_CONDITIONS
    assert "sts:TagSession" in statement["Action"]


def test_the_mcp_role_may_assume_that_role_and_never_reads_the_table_itself(
    synth: Synth, ids: dict[str, str], arns: dict[str, str]
) -> None:
    mcp = resolved_statements(synth, ids["mcp_role"])
    sts = [s for s in mcp if any(a.startswith("sts:") for a in as_list(s["Action"]))]
    assert sts == [assume_statement(arns["role"])]
    # Nobody but the tenant-data role names the table in a policy.
    owners = {owner for owner, s in statements(synth) if arns["table"] in str(resolve(s, synth.resources))}
    (owner,) = owners
    assert synth.resources[owner]["Properties"]["Roles"] == [{"Ref": ids["role"]}]


def test_the_functions_are_told(synth: Synth, ids: dict[str, str]) -> None:
    env = {
        props["Description"].split(" (")[0]: props["Environment"]["Variables"]
        for props in (r["Properties"] for r in synth.of_type("AWS::Lambda::Function").values())
    }
    for function in ("serverless-mcp REQUEST authorizer", "serverless-mcp authorization front"):
        assert {k: v for k, v in env[function].items() if "TENANT" in k} == {
            "MULTI_TENANT": "true",
            "TENANT_CLAIM": "cognito:groups",  # Cognito's default: groups are in every plan's tokens
            "TENANT_GROUP_PREFIX": "tenant:",
            "DEFAULT_TENANT": "shared",
        }
    mcp = env["serverless-mcp MCP server"]
    assert mcp["TENANT_TABLE_NAME"] == {"Ref": ids["table"]}
    assert mcp["TENANT_DATA_ROLE_ARN"] == {"Fn::GetAtt": [ids["role"], "Arn"]}
    assert "MULTI_TENANT" not in mcp


def test_cdk_nag_passes(synth: Synth) -> None:
    report = synth.validation_report()
    assert all(plugin["conclusion"] == "success" for plugin in report["pluginReports"])


# --- what those statements allow, evaluated offline -------------------------------------------


def item(action: str, table: str, tenant_tag: str | None, *leading: str) -> Request:
    context: dict[str, Any] = {}
    if tenant_tag is not None:
        context["aws:PrincipalTag/tenant"] = tenant_tag
    if leading:
        context["dynamodb:LeadingKeys"] = list(leading)
    return Request(action, table, context)


def test_a_tenant_session_reaches_its_own_items_and_is_refused_anothers(
    synth: Synth, ids: dict[str, str], arns: dict[str, str]
) -> None:
    policy = resolved_statements(synth, ids["role"])
    table = arns["table"]
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"):
        assert evaluate(policy, item(action, table, "acme", "acme")) == "allow"
        # The bug IAM exists to catch: tenant acme's session asking for globex's key.
        assert evaluate(policy, item(action, table, "acme", "globex")) == "implicit_deny"
    assert evaluate(policy, item("dynamodb:BatchGetItem", table, "acme", "acme", "globex")) == "implicit_deny"
    # No partition key named (a Scan), or no tenant tag on the session: refused, not "for all of none".
    assert evaluate(policy, item("dynamodb:Query", table, "acme")) == "implicit_deny"
    assert evaluate(policy, item("dynamodb:Scan", table, "acme")) == "implicit_deny"
    assert evaluate(policy, item("dynamodb:GetItem", table, None, "acme")) == "implicit_deny"
    assert evaluate(policy, item("dynamodb:GetItem", table + "-other", "acme", "acme")) == "implicit_deny"


def assume(principal: str, role: str, tags: dict[str, str]) -> list[Request]:
    """AssumeRole with session tags is two authorizations: the AssumeRole and the TagSession."""
    context: dict[str, Any] = {f"aws:RequestTag/{key}": value for key, value in tags.items()}
    if tags:
        context["aws:TagKeys"] = list(tags)
    actions = ["sts:AssumeRole", *(["sts:TagSession"] if tags else [])]
    return [Request(action, role, context, principal=principal) for action in actions]


@pytest.mark.parametrize(
    ("who", "tags", "allowed"),
    [
        ("mcp_role", {"tenant": "acme"}, True),
        ("mcp_role", {}, False),  # no tenant tag: no session at all
        ("mcp_role", {"tenant": "acme", "team": "x"}, False),  # only the tenant tag may be set
        ("role", {"tenant": "acme"}, False),  # anyone else, even the role itself
    ],
)
def test_assuming_the_tenant_role(
    synth: Synth, ids: dict[str, str], arns: dict[str, str], who: str, tags: dict[str, str], allowed: bool
) -> None:
    caller_policy = resolved_statements(synth, ids["mcp_role"])
    trust_policy = trust(synth, ids["role"])
    decisions = [
        (evaluate(caller_policy, request) if who == "mcp_role" else "allow", evaluate(trust_policy, request))
        for request in assume(arns[who], arns["role"], tags)
    ]
    assert all(d == ("allow", "allow") for d in decisions) is allowed


# --- configuration ----------------------------------------------------------------------------


def test_off_by_default_nothing_is_deployed_or_passed() -> None:
    config = StackConfig.from_sources({}, {})
    assert not config.tenancy.multi_tenant
    assert config.tenancy.function_environment() == {}


def test_the_claim_defaults_follow_the_identity_provider() -> None:
    cognito = StackConfig.from_sources({"MULTI_TENANT": "true"}, {}).tenancy
    assert (cognito.tenant_claim, cognito.tenant_group_prefix) == ("cognito:groups", "tenant:")
    oidc = StackConfig.from_sources(
        {
            "MULTI_TENANT": "true",
            "IDENTITY_PROVIDER": "oidc",
            "OAUTH_ISSUER": "https://idp.example.com/",
            "OAUTH_FRONT": "false",
        },
        {},
    ).tenancy
    assert (oidc.tenant_claim, oidc.tenant_group_prefix) == ("tenant", "")
    custom = StackConfig.from_sources({"MULTI_TENANT": "true", "TENANT_CLAIM": "custom:tenant"}, {}).tenancy
    assert (custom.tenant_claim, custom.tenant_group_prefix) == ("custom:tenant", "")


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"DEFAULT_TENANT": "shared tenant"}, "DEFAULT_TENANT"),
        ({"TENANT_CLAIM": "my claim"}, "TENANT_CLAIM"),
        ({"TENANT_CLAIM": "groups", "TENANT_GROUP_PREFIX": "t" * 65}, "TENANT_GROUP_PREFIX"),
        ({"MULTI_TENANT": "perhaps"}, "MULTI_TENANT"),
    ],
)
def test_bad_values_name_the_setting(settings: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        StackConfig.from_sources(settings, {})


def test_the_stack_checks_tenant_ids_as_the_functions_do() -> None:
    """infra/ imports no token logic, so it keeps its own copy of the pattern: the same one."""
    from infra import config

    assert config._TENANT.pattern == f"^{TENANT_PATTERN}$"


def test_an_iam_refusal_of_tenant_data_raises_an_alarm(synth: Synth) -> None:
    (metric_filter,) = [
        f["Properties"]
        for f in synth.of_type("AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == "CrossTenantRefusals"
    ]
    # The line app/core/tenant_data.py logs when DynamoDB answers AccessDeniedException.
    assert metric_filter["FilterPattern"] == '"tenant data: IAM refused"'
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    assert any("another tenant" in a["AlarmDescription"] and a["Threshold"] == 1 for a in alarms)


def test_the_saved_queries_read_the_tenant(synth: Synth) -> None:
    queries = {
        q["Properties"]["Name"]: q["Properties"]["QueryString"]
        for q in synth.of_type("AWS::Logs::QueryDefinition").values()
    }
    assert "by principal, tenant," in queries["ServerlessMcp/who-called-which-tool"]
    assert "by tenant" in queries["ServerlessMcp/requests-by-tenant"]
    assert 'reason = "missing_tenant"' in queries["ServerlessMcp/tenant-refusals"]


def test_tenant_metrics_are_opt_in() -> None:
    assert "TENANT_METRICS" not in StackConfig.from_sources({}, {}).functions.mcp_extra
    on = StackConfig.from_sources({"TENANT_METRICS": "yes"}, {})
    assert on.functions.mcp_extra["TENANT_METRICS"] == "true"
