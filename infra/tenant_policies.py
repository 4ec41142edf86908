"""The IAM documents that keep tenants apart, as plain JSON: one source for the stack and `make dev`.

The CDK construct (`infra/constructs/tenant_data.py`) deploys exactly these statements, and the
local stack (`devtools/local_stack.py`) creates its moto role with the same documents; no CDK is
imported here, so the local stack does not pay for it. Why each condition is there is in the
construct's docstring; tests/infra/test_tenants.py pins the synthesized template to these
documents and evaluates them offline against cross-tenant requests.
"""

from __future__ import annotations

from typing import Any, Final

TENANT_TAG: Final = "tenant"
PARTITION_KEY: Final = "tenant"
SORT_KEY: Final = "sk"
TABLE_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")
ASSUME_ACTIONS: Final = ("sts:AssumeRole", "sts:TagSession")
# The session tag is present and is the only tag: checked by the trust policy and the caller's.
TAG_CONDITIONS: Final[dict[str, Any]] = {
    "Null": {f"aws:RequestTag/{TENANT_TAG}": "false"},
    "ForAllValues:StringEquals": {"aws:TagKeys": [TENANT_TAG]},
}
# Items only under the caller's own tenant. `ForAllValues` is also true when its key is absent,
# hence the `Null` guards: partition keys must be named, and the session must carry the tag.
LEADING_KEY_CONDITIONS: Final[dict[str, Any]] = {
    "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [f"${{aws:PrincipalTag/{TENANT_TAG}}}"]},
    "Null": {"dynamodb:LeadingKeys": "false", f"aws:PrincipalTag/{TENANT_TAG}": "false"},
}


def create_table_request(table_name: str) -> dict[str, Any]:
    """DynamoDB CreateTable arguments for the tenant table as the stack defines it (on-demand,
    partition key the tenant, sort key the item): what `make dev` and the moto tests create."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def tenant_items_statement(table_arn: Any) -> dict[str, Any]:
    """The tenant-data role's one permission: its own tenant's items in the table."""
    return {
        "Sid": "OwnTenantItemsOnly",
        "Effect": "Allow",
        "Action": list(TABLE_ACTIONS),
        "Resource": table_arn,
        "Condition": LEADING_KEY_CONDITIONS,
    }


def trust_statement(mcp_role_arn: Any) -> dict[str, Any]:
    """Who may assume the tenant-data role: the MCP function's role, with a tenant tag."""
    return {
        "Effect": "Allow",
        "Principal": {"AWS": mcp_role_arn},
        "Action": list(ASSUME_ACTIONS),
        "Condition": TAG_CONDITIONS,
    }


def assume_statement(tenant_role_arn: Any) -> dict[str, Any]:
    """What the MCP function's role may do about it: assume that role only, with a tenant tag."""
    return {
        "Sid": "AssumeTenantDataRoleWithTenantTag",
        "Effect": "Allow",
        "Action": list(ASSUME_ACTIONS),
        "Resource": tenant_role_arn,
        "Condition": TAG_CONDITIONS,
    }


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}
