"""Optional AWS WAF web ACL on the API stage: AWS managed rule groups and a per-IP rate rule."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

# (rule name, managed rule group, rules switched to COUNT because MCP traffic trips them)
MANAGED_RULE_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # SizeRestrictions_BODY blocks bodies over 8 KB; MCP tool calls may be larger (MAX_BODY_BYTES).
    ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
    ("AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", ()),
    ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAmazonIpReputationList", ()),
)


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
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
            )
        ]
        for priority, (rule_name, group, count_only) in enumerate(MANAGED_RULE_GROUPS, start=1):
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=rule_name,
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
                    visibility_config=_visibility(rule_name),
                )
            )
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
