"""Per-tenant data isolated by IAM (MULTI_TENANT=true): the table and the tenant-data role.

- The TABLE: partition key `tenant`, sort key `sk` (app/core/tenant_data.py), on demand, AWS
  managed encryption, point-in-time recovery, retained on `cdk destroy` (it is the tenants' data).
- The TENANT-DATA ROLE: the only principal that may touch the table's items, and only where
  `ForAllValues:StringEquals dynamodb:LeadingKeys = ${aws:PrincipalTag/tenant}` ("Using IAM
  policy conditions for fine-grained access control", Amazon DynamoDB Developer Guide). Two
  `Null` guards go with it, because `ForAllValues` is also true when its key is absent ("IAM
  JSON policy elements: Condition operators"): the request must name partition keys (so an
  action without one, like a Scan, could never pass even if added later) and the session must
  carry a `tenant` tag. Actions: exactly the ones the tools use (GetItem, PutItem, Query).
- Its TRUST POLICY: only the MCP function's role, with `sts:AssumeRole` and `sts:TagSession`,
  and only with a `tenant` session tag, which must be the only tag ("Pass session tags in AWS
  STS", IAM User Guide: TagSession is required to pass tags).
- The MCP ROLE: may `sts:AssumeRole` + `sts:TagSession` on that role only, under the same tag
  conditions; it gets no DynamoDB permission on the table itself.

The statements themselves are plain JSON in `infra/tenant_policies.py` (the local stack creates its
moto role from the same documents); tests/infra/test_tenants.py pins the synthesized template to
them and evaluates it offline against cross-tenant requests (moto ignores IAM conditions).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.tenant_policies import (
    PARTITION_KEY,
    SORT_KEY,
    TAG_CONDITIONS,
    assume_statement,
    tenant_items_statement,
    trust_statement,
)


class TenantData(Construct):
    """The tenant table and the role whose sessions may reach only their own tenant's items."""

    def __init__(self, scope: Construct, construct_id: str, *, mcp_role: iam.Role) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            description=f"{stack.stack_name}: one tenant's items in the tenant table (session tag 'tenant')",
            assumed_by=iam.PrincipalWithConditions(
                iam.SessionTagsPrincipal(iam.ArnPrincipal(mcp_role.role_arn)), TAG_CONDITIONS
            ),
            max_session_duration=cdk.Duration.hours(1),
        )
        self.role.add_to_policy(iam.PolicyStatement.from_json(tenant_items_statement(self.table.table_arn)))
        mcp_role.add_to_policy(iam.PolicyStatement.from_json(assume_statement(self.role.role_arn)))

    def allow(self, mcp_role: iam.Role) -> None:
        """Another MCP server's role (several servers): trusted and allowed as the first one is."""
        assert self.role.assume_role_policy is not None
        self.role.assume_role_policy.add_statements(
            iam.PolicyStatement.from_json(trust_statement(mcp_role.role_arn))
        )
        mcp_role.add_to_policy(iam.PolicyStatement.from_json(assume_statement(self.role.role_arn)))

    def mcp_environment(self) -> dict[str, str]:
        """What the MCP function reads (app/core/tenant_data.py)."""
        return {"TENANT_TABLE_NAME": self.table.table_name, "TENANT_DATA_ROLE_ARN": self.role.role_arn}
