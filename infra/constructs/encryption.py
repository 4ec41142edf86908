"""The stack's data key: one customer managed KMS key for the secrets and the two log groups.

Why a customer managed key (checkov CKV_AWS_149, CKV_AWS_158) and not the AWS managed keys:
- the upstream credential and the front's Cognito client secret are real credentials, and the
  audit log is the security record: with this key, reading them needs a grant on a key this
  stack owns (the functions get `kms:Decrypt` only through Secrets Manager, `kms:ViaService`),
  every use is in CloudTrail under this key, and disabling it cuts all of them off at once;
- it is one key for all of them: one monthly key fee, no per-event cost in the request path
  (Secrets Manager decrypts once per cache refresh of a secret, CloudWatch Logs caches its data
  keys).
The front's table keeps the AWS managed key on purpose (infra/constructs/oauth_front.py says why).

The key is RETAINED on `cdk destroy`, like the audit log group and the API key store it encrypts:
deleting the key would make both unreadable. Schedule its deletion by hand only once neither is
needed (README-deploy).

CloudWatch Logs needs the key policy's permission, not the writers' (the functions and API
Gateway write through the Logs service, which encrypts): AWS, "Encrypt log data in CloudWatch
Logs using AWS Key Management Service"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html), whose
policy statement this follows. Its encryption-context condition names this account's and
region's log groups by pattern: the exact log group ARNs would make the key depend on the groups
that depend on it (their names are generated).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# From the AWS document above (step 2, "Set permissions on the key").
LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
LOGS_CONTEXT_KEY = "kms:EncryptionContext:aws:logs:arn"


class DataKey(Construct):
    """A symmetric key, rotated yearly by KMS, that CloudWatch Logs may use for this account's groups."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{stack.stack_name}: encrypts the stack's secrets and its audit and access logs",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccountAndRegion",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "ArnLike": {
                        LOGS_CONTEXT_KEY: stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
