"""checkov over every configuration the infra tests synthesize, and the hardening it led to (issue 13 §2).

One checkov process (`--framework cloudformation -o json`) reads every variant's template twice:
as synthesized, where no check may fail and every skip must carry its reason, and with checkov's
skips stripped, where exactly the skipped checks must fail. The second copy proves the skips are
real (a skip that suppresses nothing is a stale claim in the audit trail) and that this harness
sees failures at all. checkov lives in its own virtualenv (`make checkov`, run by `make test`): its
exact pins conflict with the dev extras. Skips: infra/constructs/checkov.py; fixes:
infra/constructs/encryption.py and OAUTH_FRONT_RESERVED_CONCURRENCY.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import (
    REPO_ROOT,
    Synth,
    as_list,
    logical_id,
    render,
    statements_about,
    synthesize,
)
from tests.infra.servers_fixture import TWO_SERVER_CONTEXT
from tests.infra.test_custom_domain import NO_DOMAIN, ZONE_ONLY
from tests.infra.test_deploy_traps import OTHER
from tests.infra.test_inspector import ON as INSPECTOR
from tests.infra.test_mcp_cors import ONE, SEVERAL
from tests.infra.test_mock_routes import OIDC_NO_FRONT
from tests.infra.test_sso import OIDC as SSO_OIDC
from tests.infra.test_stack_options import ALL_ON, CERTIFICATE_ONLY
from tests.infra.test_tenants import MULTI_TENANT
from tests.infra.test_usage_plans import CUSTOM as USAGE_TIERS
from tests.infra.test_usage_plans import OFF as USAGE_OFF
from tests.infra.test_waf_rules import WAF_ONLY

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-checkov")]

# Every configuration another infra test module synthesizes (test_bundling.py's is the default one).
VARIANTS: dict[str, Mapping[str, object]] = {
    "default": {},
    "options": ALL_ON,
    "certificate": CERTIFICATE_ONLY,
    "traps": OTHER,
    "domain-zone": ZONE_ONLY,
    "no-domain": NO_DOMAIN,
    "oidc-no-front": OIDC_NO_FRONT,
    "waf": WAF_ONLY,
    "cors-one-origin": {"ALLOWED_ORIGINS": ",".join(ONE)},
    "cors-several-origins": {"ALLOWED_ORIGINS": ",".join(SEVERAL)},
    "sso-oidc": SSO_OIDC,
    # test_sso.py's SAML variant reads a metadata file made at test time; by URL here.
    "sso-saml": {
        "SSO_PROVIDER": "saml:Okta",
        "SSO_METADATA": "https://example.okta.com/app/exk1/sso/saml/metadata",
        "SSO_ATTRIBUTES": "custom:tenant=tenant",
    },
    "multi-tenant": MULTI_TENANT,
    "usage-tiers": USAGE_TIERS,
    "usage-off": USAGE_OFF,
    "inspector": INSPECTOR,
    # Two MCP servers (test_servers.py's registry): a second function, role, alias and routes.
    "two-servers": TWO_SERVER_CONTEXT,
}
CHECKOV = Path(os.environ.get("CHECKOV", REPO_ROOT / ".venv-checkov" / "bin" / "checkov"))
STRIPPED = ".unskipped"
# What infra/constructs/checkov.py skips somewhere (README-deploy "Hardening" lists each with its reason).
SKIPPED_CHECKS = {
    "CKV_AWS_18",  # S3 access log: the inspector's files, read only by API Gateway (access log)
    "CKV_AWS_21",  # S3 versioning: the inspector's files, rebuilt on every deploy
    "CKV_AWS_115",  # reserved concurrency: a setting, unset by default
    "CKV_AWS_116",  # DLQ: synchronous invocations only
    "CKV_AWS_117",  # VPC: nothing private to reach
    "CKV_AWS_119",  # DynamoDB CMK: the front seals its secrets itself; tenant data: IAM isolates
    "CKV_AWS_120",  # API cache: per-caller answers
    "CKV_AWS_173",  # Lambda environment CMK: no secret in it
    "CKV_AWS_26",  # SNS CMK: alarm notifications only
    "CKV_AWS_59",  # open routes: public by specification, or MOCK
    "CKV_AWS_73",  # X-Ray: ENABLE_XRAY, off by default
}
FIXED_CHECKS = {"CKV_AWS_149", "CKV_AWS_158"}  # secrets and log groups under the data key

Finding = tuple[str, str]  # (logical id, check id)


@dataclass(frozen=True)
class CheckovRun:
    synths: dict[str, Synth]
    summary: dict[str, Any]
    # {template file name: {"passed"|"failed"|"skipped": [checkov's result records]}}
    results: dict[str, dict[str, list[dict[str, Any]]]]

    def findings(self, template: str, kind: str) -> set[Finding]:
        return {(_logical_id(r), r["check_id"]) for r in self.results.get(template, {}).get(kind, [])}


def _logical_id(record: Mapping[str, Any]) -> str:
    return str(record["resource"]).split(".", 1)[1]  # "AWS::Lambda::Function.<logical id>"


def _checkov_or_skip() -> Path:
    if CHECKOV.exists():
        return CHECKOV
    reason = f"checkov is not installed at {CHECKOV}: run `make checkov` (`make test` does)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _strip_skips(template: dict[str, Any]) -> dict[str, Any]:
    stripped: dict[str, Any] = json.loads(json.dumps(template))
    for resource in stripped["Resources"].values():
        resource.get("Metadata", {}).pop("checkov", None)
    return stripped


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CheckovRun:
    checkov = _checkov_or_skip()
    work = tmp_path_factory.mktemp("checkov")
    synths: dict[str, Synth] = {}
    files: list[str] = []
    for name, context in VARIANTS.items():
        synth = synthesize(work / f"cdk-{name}", context)
        synths[name] = synth
        template = json.loads(synth.template_path.read_text())
        (work / f"{name}.template.json").write_text(json.dumps(template))
        (work / f"{name}{STRIPPED}.template.json").write_text(json.dumps(_strip_skips(template)))
        files += [f"{name}.template.json", f"{name}{STRIPPED}.template.json"]
    completed = subprocess.run(
        [str(checkov), "--framework", "cloudformation", "--output", "json", "--compact", "--skip-download"]
        + [arg for file in files for arg in ("--file", file)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        # No call to the vendor's API for its check-ID mapping: the run is offline and repeatable.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    # checkov exits 1 when a check fails (the stripped copies make sure some do).
    assert completed.returncode in (0, 1), completed.stderr[-4000:]
    reports = json.loads(completed.stdout)
    (report,) = reports if isinstance(reports, list) else [reports]
    assert report["check_type"] == "cloudformation"
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind in ("passed", "failed", "skipped"):
        for record in report["results"][f"{kind}_checks"]:
            results.setdefault(Path(record["file_path"]).name, {}).setdefault(kind, []).append(record)
    return CheckovRun(synths=synths, summary=report["summary"], results=results)


# --- checkov -----------------------------------------------------------------------------------------


def test_checkov_read_every_variant(run: CheckovRun) -> None:
    assert run.summary["parsing_errors"] == 0, run.summary
    for name in VARIANTS:
        for template in (f"{name}.template.json", f"{name}{STRIPPED}.template.json"):
            assert len(run.findings(template, "passed")) > 50, template


def test_no_check_fails_unskipped(run: CheckovRun) -> None:
    failed = {
        name: sorted(
            f"{_logical_id(r)} {r['check_id']} {r['check_name']}"
            for r in run.results.get(f"{name}.template.json", {}).get("failed", [])
        )
        for name in VARIANTS
    }
    assert failed == {name: [] for name in VARIANTS}


def test_every_skip_has_a_specific_reason(run: CheckovRun) -> None:
    for name in VARIANTS:
        for record in run.results[f"{name}.template.json"]["skipped"]:
            comment = record["check_result"]["suppress_comment"]
            where = (name, _logical_id(record), record["check_id"])
            assert comment != "No comment provided", where  # checkov's text for a skip without one
            assert len(comment) >= 80, where


def test_every_skip_hides_a_real_failure_and_nothing_else(run: CheckovRun) -> None:
    """Per variant: every skip in the template is one checkov applied (no unknown or misspelt id),
    and what fails once the skips are stripped is exactly what was skipped."""
    for name, synth in run.synths.items():
        declared = {(resource, check) for resource in synth.resources for check in _skips(synth, resource)}
        skipped = run.findings(f"{name}.template.json", "skipped")
        fails_without_skips = run.findings(f"{name}{STRIPPED}.template.json", "failed")
        assert skipped, name
        assert declared == skipped, name
        assert skipped == fails_without_skips, name


def test_the_skipped_and_fixed_checks_are_the_documented_ones(run: CheckovRun) -> None:
    skipped = {check for name in VARIANTS for _, check in run.findings(f"{name}.template.json", "skipped")}
    assert skipped == SKIPPED_CHECKS
    for name in VARIANTS:
        passed = {check for _, check in run.findings(f"{name}.template.json", "passed")}
        assert passed >= FIXED_CHECKS, name
    docs = (REPO_ROOT / "infra" / "README-deploy.md").read_text()
    for check in SKIPPED_CHECKS | FIXED_CHECKS:
        assert f"`{check}`" in docs, check


# --- the fixes, as CDK assertions ---------------------------------------------------------------------


def _data_key(synth: Synth) -> str:
    return synth.id_of("AWS::KMS::Key", "DataKey")


@pytest.mark.parametrize("name", list(VARIANTS))
def test_secrets_and_log_groups_are_under_the_retained_rotated_data_key(run: CheckovRun, name: str) -> None:
    synth = run.synths[name]
    key_id = _data_key(synth)
    key = synth.resources[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    under_key = {"Fn::GetAtt": [key_id, "Arn"]}
    secrets = synth.of_type("AWS::SecretsManager::Secret")
    log_groups = synth.of_type("AWS::Logs::LogGroup")
    # The key store and the upstream credential; with Cognito and the front, the front's client secret.
    front_client = synth.stack.cognito is not None and synth.stack.oauth_front is not None
    assert len(secrets) == (3 if front_client else 2), sorted(secrets)
    # With the inspector, the log group of CDK's file-copy handler too.
    assert len(log_groups) == (3 if synth.stack.inspector is not None else 2), sorted(log_groups)
    for resource_id, resource in {**secrets, **log_groups}.items():
        assert resource["Properties"].get("KmsKeyId") == under_key, resource_id


VIA_SECRETS_MANAGER = {"kms:ViaService": "secretsmanager.${AWS::Region}.amazonaws.com"}
ACCOUNT_ROOT = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
LOG_GROUPS_HERE = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"


@pytest.mark.parametrize("name", ["default", "options"])
def test_data_key_policy_lets_logs_and_secrets_manager_use_it_and_nothing_else(
    run: CheckovRun, name: str
) -> None:
    """Who may use the data key, from its key policy (CDK writes the grants there, not in the roles):
    - CloudWatch Logs of this region, for this account's log groups (the statement of AWS's
      "Encrypt log data in CloudWatch Logs using AWS Key Management Service",
      https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html);
    - each role that reads one of the stack's secrets: `kms:Decrypt`, through Secrets Manager only
      (the authorizer: key store; MCP: upstream credential; the front: its Cognito client secret;
      with an external issuer the front reads the operator's own secret, under the operator's key);
    - the account's principals through Secrets Manager (CDK's statement for a secret under a key:
      what `mcp-lambda keys` writes with), and the account's administration of the key through IAM
      (CDK's default)."""
    synth = run.synths[name]
    policy = synth.resources[_data_key(synth)]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in policy if "Service" in s["Principal"]]
    assert render(logs["Principal"]["Service"]) == "logs.${AWS::Region}.${AWS::URLSuffix}"
    assert sorted(logs["Action"]) == [
        "kms:Decrypt*",
        "kms:Describe*",
        "kms:Encrypt*",
        "kms:GenerateDataKey*",
        "kms:ReEncrypt*",
    ]
    assert {k: render(v) for k, v in logs["Condition"]["ArnLike"].items()} == {
        "kms:EncryptionContext:aws:logs:arn": LOG_GROUPS_HERE
    }
    (admin,) = [s for s in policy if "Condition" not in s]
    assert (admin["Action"], render(admin["Principal"]["AWS"])) == ("kms:*", ACCOUNT_ROOT)
    via = [s for s in policy if s is not logs and s is not admin]
    for statement in via:
        assert {
            k: render(v) for k, v in statement["Condition"]["StringEquals"].items()
        } == VIA_SECRETS_MANAGER
    (roles,) = [s for s in via if render(s["Principal"]["AWS"]) != ACCOUNT_ROOT]
    assert roles["Action"] == "kms:Decrypt"
    readers = ("Authorizer", "Mcp", "OAuthFront") if name == "default" else ("Authorizer", "Mcp")
    # Every MCP server's role reads the upstream credential (test_servers.py).
    other_servers = [logical_id(synth, server.role) for server in synth.stack.functions.servers[1:]]
    assert sorted(render(p) for p in as_list(roles["Principal"]["AWS"])) == sorted(
        [
            *("${" + synth.id_of("AWS::IAM::Role", f"{reader}Role") + ".Arn}" for reader in readers),
            *("${" + role + ".Arn}" for role in other_servers),
        ]
    )
    assert len(via) == 2
    # And no role's own policy names the data key.
    for owner, statement, _ in statements_about(synth, "kms:"):
        assert _data_key(synth) not in json.dumps(statement["Resource"]), owner


@pytest.mark.parametrize("name", list(VARIANTS))
def test_functions_are_invoked_synchronously_by_api_gateway_only(run: CheckovRun, name: str) -> None:
    """Backs the DLQ skip (CKV_AWS_116): no asynchronous invoker exists. A DLQ or on-failure
    destination applies to asynchronous invocation only (Lambda Developer Guide, "Retaining records
    of asynchronous invocations":
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    synth = run.synths[name]
    assert not synth.of_type("AWS::Lambda::EventInvokeConfig")
    assert not synth.of_type("AWS::Lambda::EventSourceMapping")
    permissions = synth.of_type("AWS::Lambda::Permission").values()
    assert permissions
    assert {p["Properties"]["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}


def _skips(synth: Synth, logical_id: str) -> dict[str, str]:
    metadata = synth.resources[logical_id].get("Metadata", {})
    return {entry["id"]: entry["comment"] for entry in metadata.get("checkov", {}).get("skip", [])}


def test_reserved_concurrency_setting_replaces_the_skip(run: CheckovRun) -> None:
    """Unset (default): no reservation, and the skip names the setting. Set: the reservation is in
    the template for all three functions and the skip is gone."""
    default, options = run.synths["default"], run.synths["options"]
    settings = {
        "AuthorizerFunction": "AUTHORIZER_RESERVED_CONCURRENCY",
        "McpFunction": "MCP_RESERVED_CONCURRENCY",
        "OAuthFrontFunction": "OAUTH_FRONT_RESERVED_CONCURRENCY",
    }
    for fragment, setting in settings.items():
        unset = default.id_of("AWS::Lambda::Function", fragment)
        assert "ReservedConcurrentExecutions" not in default.resources[unset]["Properties"]
        assert setting in _skips(default, unset)["CKV_AWS_115"]
        reserved = options.id_of("AWS::Lambda::Function", fragment)
        assert options.resources[reserved]["Properties"]["ReservedConcurrentExecutions"] > 0
        assert "CKV_AWS_115" not in _skips(options, reserved)


def test_xray_skip_only_while_tracing_is_off(run: CheckovRun) -> None:
    for name, synth in run.synths.items():
        # Every stage: the MCP API's, and with the inspector its widget sandbox API's.
        stages = synth.of_type("AWS::ApiGateway::Stage")
        assert len(stages) == (2 if synth.stack.inspector is not None else 1), name
        for stage_id, stage in stages.items():
            traced = stage["Properties"].get("TracingEnabled", False)
            assert traced is (name == "options"), (name, stage_id)
            assert ("CKV_AWS_73" in _skips(synth, stage_id)) is not traced, (name, stage_id)
