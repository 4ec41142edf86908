"""Per-client quotas: one API Gateway usage plan per tier, metered by the key the authorizer names.

The REST API's API key source is AUTHORIZER and every /mcp method requires an API key
(`McpApi`), so API Gateway meters each request against the usage plan of the API key the
authorizer returns as `usageIdentifierKey` ("Choose an API key source in API Gateway":
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html;
"Output from an API Gateway Lambda authorizer": https://docs.aws.amazon.com/apigateway/latest/
developerguide/api-gateway-lambda-authorizer-output.html). Per tier (USAGE_TIERS):

- a usage plan on this stage with the tier's rate, burst and quota;
- a shared API key in that plan, the key of JWT callers of the tier (and of API keys without a
  key of their own). CloudFormation generates its value: the template holds none. The authorizer
  gets the key IDS (`USAGE_KEY_IDS`) and may `apigateway:GET` exactly those keys to read their
  values; `mcp-lambda keys create --tier` adds a key per API key to the plan (the plan ids are the
  `UsagePlanIds` output).

Over its rate or burst a caller gets THROTTLED, over its quota QUOTA_EXCEEDED, both 429; a usage
key in no plan of this stage gets INVALID_API_KEY, 403 ("Gateway response types for API
Gateway": https://docs.aws.amazon.com/apigateway/latest/developerguide/
supported-gateway-response-types.html). Their bodies are declared here with API Gateway's own
default messages and, with ALLOWED_ORIGINS, the same CORS headers as every gateway response;
devtools/gateway.py answers with the same (tests keep them equal).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import UsagePlanSettings
from infra.constructs.mcp_cors import gateway_response_headers

# (gateway response type, status, body): API Gateway's defaults for these responses.
THROTTLED_BODY = json.dumps({"message": "Too Many Requests"})
QUOTA_EXCEEDED_BODY = json.dumps({"message": "Limit Exceeded"})
INVALID_API_KEY_BODY = json.dumps({"message": "Forbidden"})
USAGE_GATEWAY_RESPONSES = (
    (apigw.ResponseType.THROTTLED, "429", THROTTLED_BODY),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", QUOTA_EXCEEDED_BODY),
    (apigw.ResponseType.INVALID_API_KEY, "403", INVALID_API_KEY_BODY),
)
_PERIODS = {"DAY": apigw.Period.DAY, "WEEK": apigw.Period.WEEK, "MONTH": apigw.Period.MONTH}


class UsagePlans(Construct):
    """The tiers' usage plans and shared keys, the gateway responses, and the authorizer's access."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: UsagePlanSettings,
        api: apigw.RestApi,
        stage: apigw.Stage,
        authorizer: lambda_.Function,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.plans: dict[str, apigw.UsagePlan] = {}
        self.shared_keys: dict[str, apigw.ApiKey] = {}
        for tier in settings.tiers:
            quota = (
                apigw.QuotaSettings(limit=tier.quota, period=_PERIODS[tier.period])
                if tier.quota is not None
                else None
            )
            plan = apigw.UsagePlan(
                self,
                f"Plan-{tier.name}",
                name=f"{stack.stack_name}-{tier.name}",
                description=f"serverless-mcp usage tier {tier.name}",
                throttle=apigw.ThrottleSettings(rate_limit=tier.rate, burst_limit=tier.burst),
                quota=quota,
                api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=stage)],
            )
            # No `value`: CloudFormation generates it, so the template never holds one.
            key = apigw.ApiKey(
                self,
                f"SharedKey-{tier.name}",
                api_key_name=f"{stack.stack_name}-{tier.name}-shared",
                description=f"serverless-mcp: shared usage key of tier {tier.name} (JWT callers)",
                enabled=True,
            )
            plan.add_api_key(key)
            self.plans[tier.name] = plan
            self.shared_keys[tier.name] = key

        key_ids = {name: key.key_id for name, key in self.shared_keys.items()}
        authorizer.add_environment("USAGE_KEY_IDS", stack.to_json_string(key_ids))
        authorizer.add_environment("USAGE_DEFAULT_TIER", settings.default_tier)
        authorizer.add_environment("USAGE_JWT_TIER", settings.jwt_tier)
        if settings.client_tiers:
            authorizer.add_environment("USAGE_CLIENT_TIERS", json.dumps(dict(settings.client_tiers)))
        authorizer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["apigateway:GET"],
                resources=[key.key_arn for key in self.shared_keys.values()],
            )
        )
        # Readable by a browser client on an allowed origin, as every other gateway response
        # (infra/constructs/mcp_cors.py): a declared type no longer falls back to DEFAULT_4XX's headers.
        cors = gateway_response_headers(allowed_origins)
        for response_type, status, body in USAGE_GATEWAY_RESPONSES:
            api.add_gateway_response(
                f"Usage{response_type.response_type.title().replace('_', '')}",
                type=response_type,
                status_code=status,
                response_headers=cors or None,
                templates={"application/json": body},
            )

    def plan_ids(self) -> dict[str, str]:
        return {name: plan.usage_plan_id for name, plan in self.plans.items()}
