"""Logs, metric filters, alarms, Logs Insights saved queries and a dashboard.

Two log groups:
- the AUDIT log group: both functions write to it (Lambda's log group setting), so it holds
  the audit events the functions emit (one per JSON-RPC request, one per authorizer
  decision) next to their other structured Powertools logs. Retention: one year by default.
- the ACCESS log group: one JSON line per API Gateway request (see `api.access_log_format`),
  which the metric filters count (status codes are a contract this stack owns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StackConfig
from infra.constructs.api import FRONT_METADATA_PATHS, FRONT_PATH, MCP_PATH

FIVE_MINUTES = cdk.Duration.minutes(5)
TITLES = {"mcp": "MCP", "authorizer": "Authorizer", "oauth": "Authorization front"}

_R = logs.RetentionDays
RETENTION: dict[int, logs.RetentionDays] = {
    1: _R.ONE_DAY, 3: _R.THREE_DAYS, 5: _R.FIVE_DAYS, 7: _R.ONE_WEEK, 14: _R.TWO_WEEKS, 30: _R.ONE_MONTH,
    60: _R.TWO_MONTHS, 90: _R.THREE_MONTHS, 120: _R.FOUR_MONTHS, 150: _R.FIVE_MONTHS, 180: _R.SIX_MONTHS,
    365: _R.ONE_YEAR, 400: _R.THIRTEEN_MONTHS, 545: _R.EIGHTEEN_MONTHS, 731: _R.TWO_YEARS,
    1096: _R.THREE_YEARS, 1827: _R.FIVE_YEARS, 2192: _R.SIX_YEARS, 2557: _R.SEVEN_YEARS,
    2922: _R.EIGHT_YEARS, 3288: _R.NINE_YEARS, 3653: _R.TEN_YEARS,
}  # fmt: skip


@dataclass(frozen=True)
class SavedQuery:
    name: str
    target: str  # "audit" or "access"
    fields: tuple[str, ...]
    filters: tuple[str, ...]
    stats: str = ""
    sort: str = ""
    limit: int = 0

    def query_string(self) -> logs.QueryString:
        return logs.QueryString(
            fields=list(self.fields),
            filter_statements=list(self.filters),
            stats_statements=[self.stats] if self.stats else None,
            sort=self.sort or None,
            limit=self.limit or None,
        )

    @property
    def lines(self) -> list[str]:
        lines = [f"fields {', '.join(self.fields)}", *(f"filter {f}" for f in self.filters)]
        if self.stats:
            lines.append(f"stats {self.stats}")
        if self.sort:
            lines.append(f"sort {self.sort}")
        if self.limit:
            lines.append(f"limit {self.limit}")
        return lines


# Audit events (app/core/audit.py): JSON lines with event_type="audit", source (authorizer|mcp|oauth),
# action (JSON-RPC method or "authorize"), outcome (allowed|denied|ok|tool_error|error|server_error),
# principal, auth_method, client_id, key_id, tenant, target_kind, target (the tool), reason, status.
# Powertools adds level, message, service, timestamp; @logStream tells the function apart.
SAVED_QUERIES = (
    SavedQuery(
        name="who-called-which-tool",
        target="audit",
        fields=("@timestamp", "principal", "tenant", "client_id", "target", "outcome"),
        filters=('event_type = "audit" and action = "tools/call"',),
        stats=(
            "count(*) as calls, latest(@timestamp) as last_call "
            "by principal, tenant, client_id, target, outcome"
        ),
        sort="calls desc",
        limit=200,
    ),
    # Per tenant from the audit log, not from metrics: no custom metric per tenant to pay for
    # (docs/tenants.md, "Metrics and cardinality").
    SavedQuery(
        name="requests-by-tenant",
        target="audit",
        fields=("@timestamp", "tenant", "target", "outcome"),
        filters=('event_type = "audit" and source = "mcp" and ispresent(tenant)',),
        stats="count(*) as requests by tenant, target, outcome",
        sort="requests desc",
        limit=200,
    ),
    SavedQuery(
        name="tenant-refusals",
        target="audit",
        fields=("@timestamp", "principal", "auth_method", "client_id", "key_id", "reason"),
        filters=('event_type = "audit" and (reason = "missing_tenant" or reason = "invalid_tenant")',),
        stats=(
            "count(*) as refusals, latest(@timestamp) as last "
            "by principal, auth_method, client_id, key_id, reason"
        ),
        sort="refusals desc",
        limit=100,
    ),
    SavedQuery(
        name="denied-requests-by-reason",
        target="audit",
        fields=("@timestamp", "source", "reason", "auth_method", "principal", "client_id"),
        filters=('event_type = "audit" and outcome = "denied"',),
        stats="count(*) as denials by source, reason, auth_method",
        sort="denials desc",
    ),
    SavedQuery(
        name="gateway-denials-by-type",
        target="access",
        fields=("@timestamp", "status", "errorType", "ip", "resourcePath"),
        filters=("status = 401 or status = 403 or status = 429",),
        stats="count(*) as requests by status, errorType, ip",
        sort="requests desc",
        limit=100,
    ),
    SavedQuery(
        name="function-errors",
        target="audit",
        fields=("@timestamp", "service", "message", "@logStream"),
        filters=('level = "ERROR" or level = "CRITICAL" or outcome = "server_error"',),
        sort="@timestamp desc",
        limit=100,
    ),
)


def on_paths(paths: Sequence[str]) -> logs.JsonPattern:
    """Access-log lines of these resources (`$context.resourcePath`: `/mcp`, `/research/mcp`)."""
    patterns = [logs.FilterPattern.string_value("$.resourcePath", "=", path) for path in paths]
    return patterns[0] if len(patterns) == 1 else logs.FilterPattern.any(*patterns)


def authorizer_refusals(paths: Sequence[str] = (MCP_PATH,)) -> logs.IFilterPattern:
    """Access-log lines of the MCP route's authorizer refusing a request: 401 UNAUTHORIZED (no or
    bad credentials) and 403 ACCESS_DENIED (the authorizer's Deny, e.g. a tool's scope missing).

    Not by status alone: a scanner's request for an unknown path is a 403
    MISSING_AUTHENTICATION_TOKEN and a WAF block a 403 WAF_FILTERED, which would make the alarm
    page on internet noise. `errorType` is `$context.error.responseType`, the gateway response
    API Gateway chose (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    supported-gateway-response-types.html: ACCESS_DENIED is "access denied by a custom or Amazon
    Cognito authorizer"). The access log, not the audit log, because it also records the refusals
    the gateway makes before the function runs, and it does not depend on the function writing
    its audit line. The authorization front's own 400/401 answers (`/oauth/...`) are OAuth errors
    to clients, not refused API calls: not counted here (OAuth5xx watches the front). With several
    servers, every server's path."""
    resource = on_paths(paths)
    refusals = (
        logs.FilterPattern.all(
            logs.FilterPattern.number_value("$.status", "=", code),
            logs.FilterPattern.string_value("$.errorType", "=", kind),
        )
        for code, kind in ((401, "UNAUTHORIZED"), (403, "ACCESS_DENIED"))
    )
    return logs.FilterPattern.all(resource, logs.FilterPattern.any(*refusals))


def _title(key: str) -> str:
    """A dashboard title: "MCP", "Authorizer", or "MCP (research)" for another server's function."""
    return TITLES.get(key) or f"MCP ({key.removeprefix('mcp_')})"


class LogGroups(Construct):
    """The two log groups (created before the functions and the API that write to them)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, encryption_key: kms.IKey
    ) -> None:
        """`encryption_key`: the stack's data key (infra/constructs/encryption.py)."""
        super().__init__(scope, construct_id)
        self.audit = logs.LogGroup(
            self,
            "AuditLogGroup",
            retention=RETENTION[config.audit_log_retention_days],
            encryption_key=encryption_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.access = logs.LogGroup(
            self,
            "AccessLogGroup",
            retention=RETENTION[config.access_log_retention_days],
            encryption_key=encryption_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )


class Monitoring(Construct):
    """Metric filters, alarms (to an SNS topic), saved queries and the dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        log_groups: LogGroups,
        api: apigw.RestApi,
        mcp_function: lambda_.IFunction,
        authorizer_function: lambda_.IFunction,
        front_function: lambda_.IFunction | None = None,
        other_servers: Mapping[str, lambda_.IFunction] | None = None,
        mcp_paths: Sequence[str] = (MCP_PATH,),
    ) -> None:
        """`other_servers`: every MCP server's function but the primary's ({name: alias});
        `mcp_paths`: every server's path. All functions write to the one audit log group, so the
        audit filters and saved queries cover every server as they are (events carry `server`)."""
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        namespace = config.functions.metrics_namespace
        dims = {"ApiId": "$.apiId"}

        def counted(construct_id: str, metric_name: str, pattern: logs.IFilterPattern) -> cloudwatch.Metric:
            metric_filter = logs.MetricFilter(
                self,
                construct_id,
                log_group=log_groups.access,
                filter_pattern=pattern,
                metric_name=metric_name,
                metric_namespace=namespace,
                metric_value="1",
                dimensions=dims,
            )
            return metric_filter.metric(
                statistic="Sum", period=FIVE_MINUTES, dimensions_map={"ApiId": api.rest_api_id}
            )

        status = "$.status"
        self.auth_failures = counted(
            "AuthFailuresFilter", "AuthorizationFailures", authorizer_refusals(mcp_paths)
        )
        self.mcp_5xx = counted(
            "Mcp5xxFilter",
            "Mcp5xx",
            logs.FilterPattern.all(logs.FilterPattern.number_value(status, ">=", 500), on_paths(mcp_paths)),
        )
        self.throttled = counted(
            "ThrottledFilter", "ThrottledRequests", logs.FilterPattern.number_value(status, "=", 429)
        )

        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=f"{stack.stack_name} alarms", enforce_ssl=True
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        action = cw_actions.SnsAction(self.topic)

        functions = {"mcp": mcp_function, "authorizer": authorizer_function}
        for name, function in (other_servers or {}).items():
            # A math expression id: a lowercase letter, then letters, digits and underscores.
            functions[f"mcp_{name.replace('-', '_')}"] = function
        if front_function is not None:
            functions["oauth"] = front_function
        lambda_throttles = cloudwatch.MathExpression(
            expression=" + ".join(functions),
            using_metrics={
                name: function.metric_throttles(period=FIVE_MINUTES, statistic="Sum")
                for name, function in functions.items()
            },
            label="Lambda throttles",
            period=FIVE_MINUTES,
        )
        # Written by app/core/audit.py (EMF on stderr) for each audit event it could not write to stdout.
        audit_sources = ("authorizer", "mcp", *(("oauth",) if front_function is not None else ()))
        audit_write_failures = cloudwatch.MathExpression(
            expression=" + ".join(audit_sources),
            using_metrics={
                source: cloudwatch.Metric(
                    namespace=namespace,
                    metric_name="AuditWriteFailures",
                    dimensions_map={"source": source},
                    statistic="Sum",
                    period=FIVE_MINUTES,
                )
                for source in audit_sources
            },
            label="Audit write failures",
            period=FIVE_MINUTES,
        )
        specs: list[tuple[str, str, cloudwatch.IMetric, int]] = [
            (
                "AuthFailureSpikeAlarm",
                "Spike of authorizer refusals on /mcp (401 UNAUTHORIZED, 403 ACCESS_DENIED)",
                self.auth_failures,
                config.auth_failure_alarm_threshold,
            ),
            ("Mcp5xxAlarm", "MCP endpoint answered 5xx", self.mcp_5xx, config.server_error_alarm_threshold),
            (
                "ThrottlingAlarm",
                "API Gateway throttled requests (429)",
                self.throttled,
                config.throttle_alarm_threshold,
            ),
            ("LambdaThrottlesAlarm", "Lambda throttled one of the stack's functions", lambda_throttles, 1),
            (
                "AuthorizerErrorsAlarm",
                "The authorizer function failed (requests answered 500, fail closed)",
                authorizer_function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                1,
            ),
            (
                "AuditWriteFailuresAlarm",
                "An audit event could not be written (the audit trail has a gap; see stderr lines)",
                audit_write_failures,
                1,
            ),
        ]
        if front_function is not None:
            specs += self._front_alarm_specs(config, log_groups, front_function, counted)
        if config.tenancy.multi_tenant:
            specs.append(self._cross_tenant_alarm_spec(config, log_groups))
        self.alarms: list[cloudwatch.Alarm] = []
        for alarm_id, description, metric, threshold in specs:
            alarm = cloudwatch.Alarm(
                self,
                alarm_id,
                alarm_description=f"{stack.stack_name}: {description}",
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            self.alarms.append(alarm)

        groups = {"audit": log_groups.audit, "access": log_groups.access}
        self.queries = [
            logs.QueryDefinition(
                self,
                f"Query{index}",
                query_definition_name=f"{stack.stack_name}/{query.name}",
                query_string=query.query_string(),
                log_groups=[groups[query.target]],
            )
            for index, query in enumerate(SAVED_QUERIES)
        ]

        self.dashboard = self._dashboard(stack.stack_name, api, functions, log_groups)

    def _cross_tenant_alarm_spec(
        self, config: StackConfig, log_groups: LogGroups
    ) -> tuple[str, str, cloudwatch.IMetric, int]:
        """IAM refused a tenant-data request: code asked for another tenant's items. Isolation held,
        but it is a bug (or an injected argument) to look at at once. The MCP function logs it as
        "tenant data: IAM refused" (app/core/tenant_data.py); a text pattern, because the line is a
        function log line, not an audit event. No dimension: the tenant is in the line."""
        refusals = logs.MetricFilter(
            self,
            "CrossTenantRefusalsFilter",
            log_group=log_groups.audit,
            filter_pattern=logs.FilterPattern.literal('"tenant data: IAM refused"'),
            metric_name="CrossTenantRefusals",
            metric_namespace=config.functions.metrics_namespace,
            metric_value="1",
        )
        return (
            "CrossTenantRefusalsAlarm",
            "IAM refused a tenant-data request for another tenant's items (a bug; isolation held)",
            refusals.metric(statistic="Sum", period=FIVE_MINUTES),
            1,
        )

    def _front_alarm_specs(
        self,
        config: StackConfig,
        log_groups: LogGroups,
        front_function: lambda_.IFunction,
        counted: Callable[[str, str, logs.IFilterPattern], cloudwatch.Metric],
    ) -> list[tuple[str, str, cloudwatch.IMetric, int]]:
        """The authorization front: sign-in broken (5xx, function errors) or a stolen refresh token."""
        front_5xx = counted(
            "OAuth5xxFilter",
            "OAuth5xx",
            logs.FilterPattern.all(
                logs.FilterPattern.number_value("$.status", ">=", 500),
                logs.FilterPattern.any(
                    *(
                        logs.FilterPattern.string_value("$.resourcePath", "=", path)
                        for path in (*FRONT_METADATA_PATHS, f"{FRONT_PATH}/{{proxy+}}")
                    )
                ),
            ),
        )
        # A refresh token presented twice: one of the two holders is not the client it was issued
        # to (RFC 9700 §4.14.2); the front revokes the family and audits reason="refresh_reuse".
        reuse_filter = logs.MetricFilter(
            self,
            "RefreshReuseFilter",
            log_group=log_groups.audit,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.event_type", "=", "audit"),
                logs.FilterPattern.string_value("$.source", "=", "oauth"),
                logs.FilterPattern.string_value("$.reason", "=", "refresh_reuse"),
            ),
            metric_name="RefreshTokenReuse",
            metric_namespace=config.functions.metrics_namespace,
            metric_value="1",
        )
        return [
            (
                "OAuth5xxAlarm",
                "The authorization front answered 5xx (clients cannot sign in)",
                front_5xx,
                config.server_error_alarm_threshold,
            ),
            (
                "OAuthFrontErrorsAlarm",
                "The authorization front function failed",
                front_function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                1,
            ),
            (
                "RefreshTokenReuseAlarm",
                "A refresh token was used twice (a stolen token, or a client bug); its family was revoked",
                reuse_filter.metric(statistic="Sum", period=FIVE_MINUTES),
                1,
            ),
        ]

    def _dashboard(
        self,
        stack_name: str,
        api: apigw.RestApi,
        functions: dict[str, lambda_.IFunction],
        log_groups: LogGroups,
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{stack_name}-mcp")
        period = FIVE_MINUTES
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    api.metric_count(period=period, statistic="Sum"),
                    api.metric_client_error(period=period, statistic="Sum"),
                    api.metric_server_error(period=period, statistic="Sum"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Refused and throttled (access log)",
                left=[self.auth_failures, self.throttled, self.mcp_5xx],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (p50, p99)",
                left=[
                    api.metric_latency(period=period, statistic="p50"),
                    api.metric_latency(period=period, statistic="p99"),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"{name} function",
                    left=[
                        fn.metric_invocations(period=period, statistic="Sum"),
                        fn.metric_errors(period=period, statistic="Sum"),
                        fn.metric_throttles(period=period, statistic="Sum"),
                    ],
                    right=[fn.metric_duration(period=period, statistic="p99")],
                    width=24 // len(functions),
                )
                for name, fn in ((_title(key), fn) for key, fn in functions.items())
            )
        )
        dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Who called which tool",
                log_group_names=[log_groups.audit.log_group_name],
                query_lines=SAVED_QUERIES[0].lines,
                width=12,
            ),
            cloudwatch.LogQueryWidget(
                title="Denied requests by reason",
                log_group_names=[log_groups.audit.log_group_name],
                query_lines=SAVED_QUERIES[1].lines,
                width=12,
            ),
        )
        return dashboard
