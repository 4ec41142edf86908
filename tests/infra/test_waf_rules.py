"""The WAF option's managed rules against the example tools' real traffic shapes (issue 13 §2).

WAF cannot run locally (no emulator evaluates AWS managed rule groups, whose match patterns AWS does
not publish), so these tests assert on the synthesized web ACL: which Core rule set rules are switched
to COUNT, and which paths our label rules re-block them on. `verdict()` evaluates the synthesized rule
statements (label match, AND/OR/NOT, URI-path byte match) for a request that AWS's documented rule
description says would match; it reads only the template, so a change to the construct changes it.

Rule descriptions and labels: AWS WAF Developer Guide, "Baseline rule groups", Core rule set (CRS)
and Known bad inputs tables
(https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html):
SizeRestrictions_BODY "request bodies that are over 8 KB (8,192 bytes)"; CrossSiteScripting_BODY
"common cross-site scripting (XSS) patterns"; GenericLFI_BODY "Local File Inclusion (LFI)... path
traversal attempts using techniques like ../../"; GenericRFI_BODY / _QUERYARGUMENTS "Remote File
Inclusion (RFI)... embedding URLs that contain IPv4 addresses"; EC2MetaDataSSRF_BODY "attempts to
exfiltrate Amazon EC2 metadata"; Log4JRCE_BODY "the presence of the Log4j vulnerability". Body
inspection: API Gateway forwards the first 16 KB by default ("Managing body inspection size limits",
https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-setting-body-inspection-limit.html).
Label scoping pattern: a rule set to COUNT still adds its label, which later rules can match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from app.core.config import DEFAULT_MAX_BODY_BYTES
from infra.constructs.waf import CORE_LABEL_PREFIX, SCOPED_EXCLUSIONS
from tests.infra.conftest import Synth, synthesize

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra-waf-rules")]

STAGE = "v1"
MCP = f"/{STAGE}/mcp"  # the execute-api URL carries the stage
MCP_CUSTOM_DOMAIN = "/mcp"  # a custom domain's base path mapping does not
CORE = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD = "AWSManagedRulesKnownBadInputsRuleSet"
WAF_ONLY: dict[str, object] = {"STACK_NAME": "McpWafRules", "STAGE_NAME": STAGE, "ENABLE_WAF": "true"}
COUNTED = {"SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY",
           "GenericRFI_QUERYARGUMENTS"}  # fmt: skip


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-waf"), WAF_ONLY)


@pytest.fixture(scope="module")
def acl_rules(synth: Synth) -> list[dict[str, Any]]:
    _, acl = synth.one("AWS::WAFv2::WebACL")
    rules: list[dict[str, Any]] = sorted(acl["Properties"]["Rules"], key=lambda rule: rule["Priority"])
    return rules


def _tool_call(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    )


@dataclass(frozen=True)
class Shape:
    """A request an MCP client really sends, and the managed rule AWS's description says it meets."""

    what: str
    path: str
    body: str
    group: str | None  # None: no body rule's description matches it
    rule: str | None
    allowed: bool
    query: str = ""  # the query string, for the *_QUERYARGUMENTS rules


LOOPBACK = "http://127.0.0.1:33418/callback"  # RFC 8252 §7.3 loopback redirect of a native client
SHAPES: tuple[Shape, ...] = (
    Shape("tools/call add", MCP, _tool_call("add", {"a": 2, "b": 3}), None, None, True),
    Shape(
        "tools/call add, custom domain",
        MCP_CUSTOM_DOMAIN,
        _tool_call("add", {"a": 2, "b": 3}),
        None,
        None,
        True,
    ),
    Shape(
        "tools/call with a 20 KB argument",
        MCP,
        _tool_call("summarize", {"text": "lorem ipsum " * 1700}),
        CORE,
        "SizeRestrictions_BODY",
        True,
    ),
    Shape(
        "argument with <script> text",
        MCP,
        _tool_call("summarize", {"text": "<script>alert(1)</script>"}),
        CORE,
        "CrossSiteScripting_BODY",
        True,
    ),
    Shape(
        "argument with a ../ path",
        MCP,
        _tool_call("read_note", {"path": "../../notes/todo.md"}),
        CORE,
        "GenericLFI_BODY",
        True,
    ),
    Shape(
        "argument with an IPv4 URL",
        MCP,
        _tool_call("fetch", {"url": "http://10.0.0.5/status"}),
        CORE,
        "GenericRFI_BODY",
        True,
    ),
    Shape(
        "RFC 7591 registration, loopback redirect",
        "/v1/oauth/register",
        json.dumps({"client_name": "cli", "redirect_uris": [LOOPBACK]}),
        CORE,
        "GenericRFI_BODY",
        True,
    ),
    Shape(
        "authorize, loopback redirect_uri query",
        f"/{STAGE}/oauth/authorize",
        "",
        CORE,
        "GenericRFI_QUERYARGUMENTS",
        True,
        query=f"response_type=code&client_id=cli&redirect_uri={LOOPBACK}&code_challenge_method=S256",
    ),
    # Kept blocking: no example tool takes these, and they are the attacks the groups exist for.
    Shape(
        "argument with the EC2 metadata URL",
        MCP,
        _tool_call("fetch", {"url": "http://169.254.169.254/latest/meta-data/"}),
        CORE,
        "EC2MetaDataSSRF_BODY",
        False,
    ),
    Shape(
        "argument with a Log4j lookup",
        MCP,
        _tool_call("summarize", {"text": "${jndi:ldap://x/a}"}),
        KNOWN_BAD,
        "Log4JRCE_BODY",
        False,
    ),
    # The same shapes off their exempt paths stay blocked.
    Shape(
        "<script> in a token request",
        f"/{STAGE}/oauth/token",
        "code=<script>alert(1)</script>",
        CORE,
        "CrossSiteScripting_BODY",
        False,
    ),
    Shape(
        "20 KB body to registration",
        f"/{STAGE}/oauth/register",
        "x" * 20_000,
        CORE,
        "SizeRestrictions_BODY",
        False,
    ),
    Shape(
        "../ in a body to the health route",
        f"/{STAGE}/health",
        "../../etc/passwd",
        CORE,
        "GenericLFI_BODY",
        False,
    ),
    Shape(
        "loopback URL in a query to /mcp",
        MCP,
        "",
        CORE,
        "GenericRFI_QUERYARGUMENTS",
        False,
        query=f"u={LOOPBACK}",
    ),
    Shape(
        "a path that only starts like /mcp",
        f"/{STAGE}/mcp/../health",
        "<script>",
        CORE,
        "CrossSiteScripting_BODY",
        False,
    ),
)


def _byte_match(statement: dict[str, Any], path: str) -> bool:
    assert statement["FieldToMatch"] == {"UriPath": {}}
    assert statement["TextTransformations"] == [{"Priority": 0, "Type": "NONE"}]
    needle, where = statement["SearchString"], statement["PositionalConstraint"]
    needle = str(needle)
    checks: dict[str, bool] = {"ENDS_WITH": path.endswith(needle), "STARTS_WITH": path.startswith(needle),
                               "EXACTLY": path == needle, "CONTAINS": needle in path}  # fmt: skip
    return checks[where]


def _matches(statement: dict[str, Any], path: str, labels: set[str]) -> bool:
    ((kind, body),) = statement.items()
    if kind == "LabelMatchStatement":
        assert body["Scope"] == "LABEL"
        return body["Key"] in labels
    if kind == "ByteMatchStatement":
        return _byte_match(body, path)
    if kind == "AndStatement":
        return all(_matches(inner, path, labels) for inner in body["Statements"])
    if kind == "OrStatement":
        return any(_matches(inner, path, labels) for inner in body["Statements"])
    if kind == "NotStatement":
        return not _matches(body["Statement"], path, labels)
    raise AssertionError(f"statement kind the evaluator does not model: {kind}")


def _label(rule: str) -> str:
    return CORE_LABEL_PREFIX + {"_BODY": rule[: -len("_BODY")] + "_Body",
                                "_QUERYARGUMENTS": rule[: -len("_QUERYARGUMENTS")] + "_QueryArguments"}[
        rule[rule.rindex("_"):]]  # fmt: skip


def verdict(rules: list[dict[str, Any]], path: str, group: str | None, rule: str | None) -> bool:
    """True when the synthesized ACL lets through a request that matches `rule` of `group` (if any)."""
    labels: set[str] = set()
    for acl_rule in rules:
        statement = acl_rule["Statement"]
        managed = statement.get("ManagedRuleGroupStatement")
        if managed is not None:
            if managed["Name"] != group:
                continue
            overrides = {o["Name"]: o["ActionToUse"] for o in managed.get("RuleActionOverrides", [])}
            if overrides.get(rule) == {"Count": {}}:
                labels.add(_label(str(rule)))
                continue
            return False  # the group's own action for its rules is Block
        if "RateBasedStatement" in statement:
            continue
        if _matches(statement, path, labels):
            assert acl_rule["Action"] == {"Block": {}}
            return False
    return True


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.what for shape in SHAPES])
def test_tool_call_shapes_meet_the_documented_rule_verdicts(
    acl_rules: list[dict[str, Any]], shape: Shape
) -> None:
    assert verdict(acl_rules, shape.path, shape.group, shape.rule) is shape.allowed


def test_the_query_shapes_carry_a_query() -> None:
    """The *_QUERYARGUMENTS shapes are GET requests with a query; the *_BODY shapes carry a body."""
    for shape in SHAPES:
        if shape.rule and shape.rule.endswith("_QUERYARGUMENTS"):
            assert LOOPBACK in shape.query, shape.what
            assert not shape.body, shape.what
        elif shape.rule:
            assert shape.body, shape.what
            assert not shape.query, shape.what


def test_the_large_argument_is_over_the_body_rule_and_under_the_mcp_cap() -> None:
    """8 KB is the SizeRestrictions_BODY threshold; the function's own cap is MAX_BODY_BYTES (1 MiB)."""
    large = next(shape for shape in SHAPES if shape.rule == "SizeRestrictions_BODY" and shape.allowed)
    assert 8192 < len(large.body.encode()) < DEFAULT_MAX_BODY_BYTES


def test_only_the_scoped_rules_are_counted_and_the_groups_keep_blocking(
    acl_rules: list[dict[str, Any]],
) -> None:
    by_name = {rule["Name"]: rule for rule in acl_rules}
    core = by_name[CORE]["Statement"]["ManagedRuleGroupStatement"]
    assert {o["Name"] for o in core["RuleActionOverrides"]} == COUNTED
    assert all(o["ActionToUse"] == {"Count": {}} for o in core["RuleActionOverrides"])
    for group in (CORE, KNOWN_BAD, "AWSManagedRulesAmazonIpReputationList"):
        assert by_name[group]["OverrideAction"] == {"None": {}}, group  # never the whole group to COUNT
    for group in (KNOWN_BAD, "AWSManagedRulesAmazonIpReputationList"):
        assert "RuleActionOverrides" not in by_name[group]["Statement"]["ManagedRuleGroupStatement"]


def test_each_counted_rule_is_reblocked_after_the_group_with_its_documented_label(
    acl_rules: list[dict[str, Any]],
) -> None:
    """A label rule placed before the group that adds the label would never match (labels flow forward)."""
    priority = {rule["Name"]: rule["Priority"] for rule in acl_rules}
    labels = {rule["Name"]: rule["Statement"]["AndStatement"]["Statements"][0]["LabelMatchStatement"]["Key"]
              for rule in acl_rules if "AndStatement" in rule["Statement"]}  # fmt: skip
    assert set(labels.values()) == {_label(rule) for rule in COUNTED}
    assert {exclusion.label for exclusion in SCOPED_EXCLUSIONS} == set(labels.values())
    for name in labels:
        assert priority[CORE] < priority[name] < priority[KNOWN_BAD]
    assert len(set(priority.values())) == len(priority)


def test_exemptions_are_scoped_to_the_mcp_endpoint_and_the_front(acl_rules: list[dict[str, Any]]) -> None:
    exempt: dict[str, set[str]] = {}
    for rule in acl_rules:
        if "AndStatement" not in rule["Statement"]:
            continue
        label_match, not_match = rule["Statement"]["AndStatement"]["Statements"]
        inner = not_match["NotStatement"]["Statement"]
        paths = inner["OrStatement"]["Statements"] if "OrStatement" in inner else [inner]
        exempt[label_match["LabelMatchStatement"]["Key"]] = {
            f"{p['ByteMatchStatement']['PositionalConstraint']} {p['ByteMatchStatement']['SearchString']}"
            for p in paths
        }
    assert exempt == {
        _label("SizeRestrictions_BODY"): {"ENDS_WITH /mcp"},
        _label("CrossSiteScripting_BODY"): {"ENDS_WITH /mcp"},
        _label("GenericLFI_BODY"): {"ENDS_WITH /mcp"},
        _label("GenericRFI_BODY"): {"ENDS_WITH /mcp", "CONTAINS /oauth/"},
        _label("GenericRFI_QUERYARGUMENTS"): {"CONTAINS /oauth/"},
    }
