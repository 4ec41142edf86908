"""Optional AWS WAF web ACL on the API stage: AWS managed rule groups and a per-IP rate rule.

MCP traffic is JSON-RPC: a `tools/call` carries the model's arguments verbatim, so a legitimate body
can hold HTML (`<script>` in a page to summarize), relative paths (`../notes.md`), URLs with IPv4 hosts
or more than 8 KB of text. The Core rule set blocks exactly those shapes (`CrossSiteScripting_BODY`,
`GenericLFI_BODY`, `GenericRFI_BODY`, `SizeRestrictions_BODY`), and its `GenericRFI_*` rules also match
an OAuth loopback redirect URI (`http://127.0.0.1:port/callback`, RFC 8252 §7.3) that native MCP clients
send to `/oauth/authorize` and `/oauth/register`. Switching those rules off everywhere would drop the
protection on every other route, so each one is set to COUNT inside the group (it still labels the
request) and re-blocked by a rule of ours on every path except the ones that legitimately carry that
shape (AWS's documented pattern for scoping a managed rule: count, then match its label).
See infra/README-deploy.md "WAF" for the table of tool-call shapes and the rules they meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# (rule name, managed rule group) in evaluation order after the rate rule.
COMMON_RULE_SET: Final = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS: Final = "AWSManagedRulesKnownBadInputsRuleSet"
IP_REPUTATION: Final = "AWSManagedRulesAmazonIpReputationList"
CORE_LABEL_PREFIX: Final = "awswaf:managed:aws:core-rule-set:"

Positional = Literal["ENDS_WITH", "CONTAINS", "STARTS_WITH", "EXACTLY"]


@dataclass(frozen=True)
class PathScope:
    """A URI-path test. Paths are matched as the client sent them: on the execute-api host they carry
    the stage (`/prod/mcp`), behind a custom domain they don't (`/mcp`), so the tests are suffix/infix."""

    positional_constraint: Positional
    search_string: str


# The MCP endpoint: POST /mcp (the function itself caps bodies at MAX_BODY_BYTES, 1 MiB by default,
# validates JSON-RPC and each tool's input schema, and only runs behind the authorizer).
MCP_ENDPOINT: Final = PathScope("ENDS_WITH", "/mcp")
# The authorization front's routes (`/oauth/authorize`, `/oauth/register`, `/oauth/token`, ...).
OAUTH_ROUTES: Final = PathScope("CONTAINS", "/oauth/")


@dataclass(frozen=True)
class ScopedExclusion:
    """A Core rule set rule counted in the group and re-blocked outside `exempt` paths."""

    rule: str  # the managed rule's name (what RuleActionOverrides names)
    label: str  # the label AWS documents for it (note the casing: `_Body`, not `_BODY`)
    exempt: tuple[PathScope, ...]

    @property
    def block_rule_name(self) -> str:
        return f"Block{self.rule.replace('_', '')}OutsideExemptPaths"


SCOPED_EXCLUSIONS: Final[tuple[ScopedExclusion, ...]] = (
    # Bodies over 8 KB: long tool arguments. The MCP function answers 413 itself past MAX_BODY_BYTES.
    ScopedExclusion("SizeRestrictions_BODY", CORE_LABEL_PREFIX + "SizeRestrictions_Body", (MCP_ENDPOINT,)),
    # HTML/JS in arguments (a page to summarize); the server returns JSON and renders nothing.
    ScopedExclusion(
        "CrossSiteScripting_BODY", CORE_LABEL_PREFIX + "CrossSiteScripting_Body", (MCP_ENDPOINT,)
    ),
    # `../` in arguments (a relative path a tool resolves against its own root, or rejects).
    ScopedExclusion("GenericLFI_BODY", CORE_LABEL_PREFIX + "GenericLFI_Body", (MCP_ENDPOINT,)),
    # URLs with IPv4 hosts: tool arguments, and the loopback redirect URIs of RFC 7591 registration
    # and the token request's `redirect_uri` on the front.
    ScopedExclusion("GenericRFI_BODY", CORE_LABEL_PREFIX + "GenericRFI_Body", (MCP_ENDPOINT, OAUTH_ROUTES)),
    # The authorize request's `redirect_uri=http://127.0.0.1:<port>/callback` query parameter.
    ScopedExclusion(
        "GenericRFI_QUERYARGUMENTS", CORE_LABEL_PREFIX + "GenericRFI_QueryArguments", (OAUTH_ROUTES,)
    ),
)


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _path_matches(scope: PathScope) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint=scope.positional_constraint,
            search_string=scope.search_string,
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )


def _block_outside(exclusion: ScopedExclusion, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    """Block a request carrying the rule's label unless its path is one of the exempt ones."""
    paths = [_path_matches(scope) for scope in exclusion.exempt]
    exempt = (
        paths[0]
        if len(paths) == 1
        else wafv2.CfnWebACL.StatementProperty(
            or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=paths)
        )
    )
    return wafv2.CfnWebACL.RuleProperty(
        name=exclusion.block_rule_name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            and_statement=wafv2.CfnWebACL.AndStatementProperty(
                statements=[
                    wafv2.CfnWebACL.StatementProperty(
                        label_match_statement=wafv2.CfnWebACL.LabelMatchStatementProperty(
                            scope="LABEL", key=exclusion.label
                        )
                    ),
                    wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=exempt)
                    ),
                ]
            )
        ),
        visibility_config=_visibility(exclusion.block_rule_name),
    )


def _managed(group: str, priority: int, count_only: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=group,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in count_only
                ]
                or None,
            )
        ),
        visibility_config=_visibility(group),
    )


class McpWaf(Construct):
    """A REGIONAL web ACL associated with the API stage."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage, rate_limit: int) -> None:
        super().__init__(scope, construct_id)
        stack_name = cdk.Stack.of(self).stack_name
        rules: list[wafv2.CfnWebACL.RuleProperty] = [
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                    )
                ),
                visibility_config=_visibility("RateLimitPerIp"),
            ),
            _managed(COMMON_RULE_SET, 1, tuple(exclusion.rule for exclusion in SCOPED_EXCLUSIONS)),
        ]
        # Label-match rules must come after the group that adds the labels.
        rules += [_block_outside(exclusion, 2 + index) for index, exclusion in enumerate(SCOPED_EXCLUSIONS)]
        after = 2 + len(SCOPED_EXCLUSIONS)
        rules += [_managed(KNOWN_BAD_INPUTS, after), _managed(IP_REPUTATION, after + 1)]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description=f"{stack_name}: managed rules and a per-IP rate limit for the MCP API",
            rules=rules,
            visibility_config=_visibility(f"{stack_name}-mcp-waf"),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
