"""Typed stack configuration, read from CDK context and the environment.

Every knob has ONE name, used both as a CDK context key (`npx cdk deploy -c NAME=value`, or in
`cdk.json`) and as an environment variable (`NAME=value npx cdk deploy`). Context wins over the
environment, the environment over the default. The names shared with the Lambda functions are
the ones in `.env.example`; the stack-only names are listed with their defaults in
`infra/README-deploy.md`.

A malformed value stops synthesis with a `ConfigError` that names the setting and says what
form it expects. No value read here is a secret: secrets live in Secrets Manager and the stack
only ever handles their ARNs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from infra.sso_settings import SsoSettingError, SsoSettings, parse_sso_settings

REPO_ROOT = Path(__file__).resolve().parent.parent

IdentityProvider = Literal["cognito", "oidc"]
MfaMode = Literal["required", "optional", "off"]
# API Gateway custom domain IP address types (EndpointConfiguration.IpAddressType).
DomainIpAddressType = Literal["ipv4", "dualstack"]

# Retention values CloudWatch Logs accepts (RetentionInDays), in days.
VALID_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Cognito: the resource server identifier is fixed, so scopes in tokens read `mcp/<name>`.
COGNITO_RESOURCE_SERVER_ID = "mcp"
COGNITO_BASE_SCOPE_NAME = "access"

DEFAULT_CALLBACK_URLS = (
    # MCP Inspector (npx @modelcontextprotocol/inspector), normal and debug flows.
    "http://localhost:6274/oauth/callback",
    "http://localhost:6274/oauth/callback/debug",
)

# Non-secret switches the functions read, passed through only when set at synth time
# (otherwise the function's own default from .env.example applies).
AUTHORIZER_PASSTHROUGH = (
    "OAUTH_ALGORITHMS",
    "JWT_LEEWAY_SECONDS",
    "JWKS_REFRESH_MIN_INTERVAL_SECONDS",
    "JWKS_FETCH_TIMEOUT_SECONDS",
)
MCP_PASSTHROUGH = (
    "MAX_BODY_BYTES",
    "AUDIT_LOG_ARGUMENTS",
    "UPSTREAM_URL",
    "UPSTREAM_TIMEOUT_SECONDS",
    "TENANT_METRICS",
)
_INT_PASSTHROUGH = frozenset(
    {
        "JWT_LEEWAY_SECONDS",
        "JWKS_REFRESH_MIN_INTERVAL_SECONDS",
        "JWKS_FETCH_TIMEOUT_SECONDS",
        "MAX_BODY_BYTES",
    }
)

_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_COGNITO_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A Cognito resource-server scope name (the part after `mcp/`).
COGNITO_SCOPE_NAME = re.compile(r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$")
_SCOPE = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")  # RFC 6749 scope-token, no quote/backslash
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# An origin as a browser serializes it (RFC 6454 §6.1): lowercase scheme and host, a port only
# when it is not the scheme's default. Anything else would never equal a request's Origin.
_ORIGIN = re.compile(r"^(https?)://(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([0-9]{1,5}))?$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A Secrets Manager secret name (https://docs.aws.amazon.com/secretsmanager/latest/apireference/
# API_CreateSecret.html: letters, digits and /_+=.@-, at most 512 characters).
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# Loopback hosts an installed client may listen on (RFC 8252 §7.3 / §8.3): plain http allowed.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PREREGISTERED_CLIENT_KEYS = frozenset({"client_id", "client_name", "redirect_uris"})
# A tenant id (app/auth/tenants.py TENANT_PATTERN, kept equal by tests/infra/test_tenants.py; infra
# imports no token logic) and a claim name or group prefix (printable ASCII, no space or quote).
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CLAIM = re.compile(r"^[\x21\x23-\x7e]{1,256}$")
# Where a tenant is named when TENANT_CLAIM is not set: Cognito puts group membership into access
# and ID tokens on every feature plan (docs/tenants.md); other issuers are told which claim to use.
DEFAULT_TENANT_CLAIMS = {"cognito": ("cognito:groups", "tenant:"), "oidc": ("tenant", "")}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it and says how to fix it."""


# Where Lambda offers SnapStart (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html,
# "Supported Regions", read 2026-12): "all commercial Regions except Asia Pacific (New Zealand)
# and Asia Pacific (Taipei)", for every SnapStart runtime including Python 3.12+. So: the `aws`
# partition minus these two; no other partition (China, GovCloud, ISO, European Sovereign Cloud)
# is on the list. A region AWS adds later to the `aws` partition is assumed supported, as the
# documentation's wording says.
SNAPSTART_UNSUPPORTED_COMMERCIAL_REGIONS = frozenset({"ap-southeast-6", "ap-east-2"})
_NON_COMMERCIAL_REGION_PREFIXES = ("cn-", "us-gov-", "us-iso", "eusc-")


def snapstart_offered_in(region: str) -> bool:
    """Whether AWS's documentation lists `region` for Lambda SnapStart (Python)."""
    return not (
        region in SNAPSTART_UNSUPPORTED_COMMERCIAL_REGIONS
        or region.startswith(_NON_COMMERCIAL_REGION_PREFIXES)
    )


def check_snapstart_region(config: StackConfig, region: str | None) -> None:
    """Stop synthesis when SnapStart is on and the stack's explicit region does not offer it:
    otherwise CloudFormation would fail half-way through the deploy, at the first function.

    `region` is None for an environment-agnostic stack (no region known at synth): nothing can be
    checked then, and a deploy to a region without SnapStart fails at the first function
    (CloudFormation rolls back); infra/README-deploy.md says so and names ENABLE_SNAPSTART."""
    if region is None or not config.enable_snapstart or snapstart_offered_in(region):
        return
    raise ConfigError(
        f"Lambda SnapStart is not offered in {region} (https://docs.aws.amazon.com/lambda/latest/dg/"
        "snapstart.html#snapstart-supported-regions): set ENABLE_SNAPSTART=false "
        "(e.g. `npx cdk deploy -c ENABLE_SNAPSTART=false`), or deploy to a region that offers it"
    )


def certificate_region(arn: str) -> str:
    """The region field of an ACM certificate ARN (`arn:<partition>:acm:<region>:<account>:...`)."""
    return arn.split(":")[3]


def check_certificate_region(config: StackConfig, region: str | None) -> None:
    """Stop synthesis when CERTIFICATE_ARN is in another region than the stack.

    The custom domain is REGIONAL, and a regional custom domain name needs an ACM certificate in
    the same region as the API (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    apigateway-regional-api-custom-domain-create.html, "Considerations"); CloudFormation would
    otherwise fail at the DomainName, half-way through the deploy. `region` is None for an
    environment-agnostic stack: nothing to compare then (infra/README-deploy.md says so)."""
    if region is None or not config.custom_domain_name or not config.certificate_arn:
        return
    found = certificate_region(config.certificate_arn)
    if found != region:
        raise ConfigError(
            f"CERTIFICATE_ARN is a certificate in {found}, but the stack deploys to {region}: a regional "
            "custom domain needs an ACM certificate in the API's own region (https://docs.aws.amazon.com/"
            "apigateway/latest/developerguide/apigateway-regional-api-custom-domain-create.html); "
            f"request or import one in {region}, or use HOSTED_ZONE_ID + HOSTED_ZONE_NAME instead"
        )


Lookup = Callable[[str], object]


@dataclass(frozen=True)
class FunctionSettings:
    """Environment values handed to the functions (never secrets: names, ARNs, switches)."""

    config_cache_seconds: int = 300
    api_keys_cache_seconds: int = 60
    service_name: str = "serverless-mcp"
    log_level: str = "INFO"
    metrics_namespace: str = "ServerlessMcp"
    authorizer_extra: Mapping[str, str] = field(default_factory=dict)
    mcp_extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreregisteredClient:
    """An MCP client the front knows without registration (`OAUTH_PREREGISTERED_CLIENTS`)."""

    client_id: str
    redirect_uris: tuple[str, ...]
    client_name: str = ""

    def as_dict(self) -> dict[str, object]:
        """The entry of the front settings' `preregistered_clients` list."""
        entry: dict[str, object] = {"client_id": self.client_id, "redirect_uris": list(self.redirect_uris)}
        if self.client_name:
            entry["client_name"] = self.client_name
        return entry


@dataclass(frozen=True)
class OAuthFrontSettings:
    """The authorization front (`app/oauth/`): on by default, with its limits and lifetimes."""

    enabled: bool = True
    pre_approved_clients: tuple[str, ...] = ()
    preregistered_clients: tuple[PreregisteredClient, ...] = ()
    access_token_ttl_seconds: int = 600
    refresh_token_ttl_days: int = 30
    registration: bool = True
    registration_max_clients: int = 1000
    registration_per_ip_per_hour: int = 10
    # IDENTITY_PROVIDER=oidc only: the front's own confidential client at the external issuer.
    upstream_client_id: str = ""
    upstream_client_secret_name: str = ""
    upstream_scopes: tuple[str, ...] = ("openid", "email")


# --- Usage plans (per-client quotas; docs/quotas.md) -----------------------------------------
# Read by the stack and by the local stack (devtools), so both meter the same way.
QuotaPeriod = Literal["DAY", "WEEK", "MONTH"]
_TIER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")  # as app/auth/api_keys.py TIER_NAME
_TIER_KEYS = frozenset({"rate", "burst", "quota", "period"})
USAGE_TIERS_EXAMPLE = (
    '{"standard": {"rate": 10, "burst": 20, "quota": 50000, "period": "DAY"}, '
    '"premium": {"rate": 50, "burst": 100}}'
)


@dataclass(frozen=True)
class UsageTier:
    """One tier: an API Gateway usage plan. Rate and burst are a token bucket per usage key
    (burst tokens, refilled at `rate` per second); `quota` requests per `period` (UTC calendar
    period), none when `quota` is None."""

    name: str
    rate: float
    burst: int
    quota: int | None = None
    period: QuotaPeriod = "DAY"


DEFAULT_USAGE_TIERS = (
    UsageTier("standard", rate=10, burst=20, quota=50_000),
    UsageTier("premium", rate=50, burst=100, quota=500_000),
)


@dataclass(frozen=True)
class UsagePlanSettings:
    """`USAGE_PLANS` and its tiers; which tier API keys and JWT callers are metered in."""

    enabled: bool = True
    tiers: tuple[UsageTier, ...] = DEFAULT_USAGE_TIERS
    default_tier: str = "standard"
    jwt_tier: str = "standard"
    client_tiers: Mapping[str, str] = field(default_factory=dict)

    def tier(self, name: str) -> UsageTier:
        return next(tier for tier in self.tiers if tier.name == name)


def _json_setting(name: str, raw: object, example: str) -> object:
    """A JSON setting: a value from cdk.json context as is, a string parsed; None when empty."""
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ConfigError(f"{name} must be JSON on one line, like {example}") from None
    return raw


def _positive(tier: str, key: str, value: object, *, whole: bool, high: float) -> float:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or (whole and not isinstance(number, int)) or not 0 < number <= high:
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"USAGE_TIERS: tier {tier!r}: {key!r} must be {kind} above 0 and at most {high:g}")
    return float(number)


def parse_usage_tiers(raw: object) -> tuple[UsageTier, ...]:
    """`USAGE_TIERS` (JSON text or an object from cdk.json): {name: {rate, burst[, quota, period]}}."""
    value = _json_setting("USAGE_TIERS", raw, USAGE_TIERS_EXAMPLE)
    if value is None:
        return DEFAULT_USAGE_TIERS
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"USAGE_TIERS must be a JSON object of tiers, like {USAGE_TIERS_EXAMPLE}")
    tiers: list[UsageTier] = []
    for name, spec in value.items():
        if not isinstance(name, str) or not _TIER_NAME.match(name):
            raise ConfigError(
                "USAGE_TIERS: tier names are 1-32 characters of a-z 0-9 -, starting with a letter"
            )
        if not isinstance(spec, dict) or not {"rate", "burst"} <= set(spec) <= _TIER_KEYS:
            raise ConfigError(
                f"USAGE_TIERS: tier {name!r} must be an object with rate and burst, and optionally "
                "quota and period"
            )
        # API Gateway's account-level default is 10,000 requests per second and a 5,000 burst:
        # a usage plan above them would never apply.
        rate = _positive(name, "rate", spec["rate"], whole=False, high=10_000)
        burst = int(_positive(name, "burst", spec["burst"], whole=True, high=5_000))
        quota = spec.get("quota")
        if quota is not None:
            quota = int(_positive(name, "quota", quota, whole=True, high=2_000_000_000))
        period = spec.get("period", "DAY")
        if period not in ("DAY", "WEEK", "MONTH") or ("period" in spec and quota is None):
            raise ConfigError(
                f"USAGE_TIERS: tier {name!r}: period is DAY, WEEK or MONTH, and only with a quota"
            )
        tiers.append(UsageTier(name, rate=rate, burst=burst, quota=quota, period=period))
    return tuple(tiers)


def parse_usage_plans(lookup: Callable[[str], object]) -> UsagePlanSettings:
    """Every usage plan setting; `lookup(name)` is the raw value (context first, then env) or None."""

    def text(name: str, default: str) -> str:
        value = lookup(name)
        return str(value).strip() if value is not None and str(value).strip() else default

    enabled = text("USAGE_PLANS", "true").lower()
    if enabled not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError("USAGE_PLANS must be true or false")
    tiers = parse_usage_tiers(lookup("USAGE_TIERS"))
    names = [tier.name for tier in tiers]
    default = text("USAGE_DEFAULT_TIER", names[0] if "standard" not in names else "standard")
    jwt = text("USAGE_JWT_TIER", default)
    clients = (
        _json_setting("USAGE_CLIENT_TIERS", lookup("USAGE_CLIENT_TIERS"), '{"my-agent": "premium"}') or {}
    )
    if not isinstance(clients, dict) or not all(
        isinstance(key, str) and key and isinstance(tier, str) for key, tier in clients.items()
    ):
        raise ConfigError(
            "USAGE_CLIENT_TIERS must be a JSON object of OAuth client ids to tiers, "
            'like {"my-agent": "premium"}'
        )
    for setting, named in (
        ("USAGE_DEFAULT_TIER", [default]),
        ("USAGE_JWT_TIER", [jwt]),
        ("USAGE_CLIENT_TIERS", list(clients.values())),
    ):
        unknown = sorted(set(named) - set(names))
        if unknown:
            raise ConfigError(
                f"{setting} names {', '.join(unknown)}, which USAGE_TIERS does not define "
                f"(tiers: {', '.join(names)})"
            )
    return UsagePlanSettings(
        enabled=enabled in ("1", "true", "yes", "on"),
        tiers=tiers,
        default_tier=default,
        jwt_tier=jwt,
        client_tiers=dict(clients),
    )


@dataclass(frozen=True)
class TenancyConfig:
    """Multi-tenancy (`MULTI_TENANT`, off by default) and where a tenant is named."""

    multi_tenant: bool = False
    tenant_claim: str = "cognito:groups"
    tenant_group_prefix: str = "tenant:"
    default_tenant: str = ""

    def function_environment(self) -> dict[str, str]:
        """What the authorizer and the front read (app/core/tenancy.py); empty when off."""
        if not self.multi_tenant:
            return {}
        env = {"MULTI_TENANT": "true", "TENANT_CLAIM": self.tenant_claim}
        if self.tenant_group_prefix:
            env["TENANT_GROUP_PREFIX"] = self.tenant_group_prefix
        if self.default_tenant:
            env["DEFAULT_TENANT"] = self.default_tenant
        return env


@dataclass(frozen=True)
class StackConfig:
    """Everything the stack can be told. Defaults give the documented production shape."""

    stack_name: str = "ServerlessMcp"
    stage_name: str = "prod"
    # Identity provider.
    identity_provider: IdentityProvider = "cognito"
    oauth_issuer: str = ""
    oauth_jwks_url: str = ""
    oauth_audiences: tuple[str, ...] = ()
    oauth_allowed_client_ids: tuple[str, ...] = ()
    oauth_base_scope: str = "mcp/access"
    allowed_origins: tuple[str, ...] = ()
    cognito_domain_prefix: str = ""
    cognito_callback_urls: tuple[str, ...] = DEFAULT_CALLBACK_URLS
    cognito_mfa: MfaMode = "required"
    # Federation of the Cognito pool with a corporate identity provider (SSO_*; None: off).
    sso: SsoSettings | None = None
    # API Gateway.
    # 0: the authorizer runs on every request and decides per tool (see app/authorizer/gatekeeper.py).
    authorizer_cache_ttl_seconds: int = 0
    throttle_rate_limit: int = 50
    throttle_burst_limit: int = 100
    enable_xray: bool = False
    enable_execution_logs: bool = False
    api_gateway_cloudwatch_role: bool = True
    # Options (off by default).
    custom_domain_name: str = ""
    certificate_arn: str = ""
    hosted_zone_id: str = ""
    hosted_zone_name: str = ""
    # IPv4 is API Gateway's default for a public custom domain; only a dualstack domain answers
    # over IPv6, so only then is an AAAA record made.
    custom_domain_ip_address_type: DomainIpAddressType = "ipv4"
    enable_waf: bool = False
    waf_rate_limit: int = 1000
    # The inspector at /inspector (infra/constructs/inspector.py); off: the routes do not exist.
    inspector: bool = False
    usage: UsagePlanSettings = field(default_factory=UsagePlanSettings)
    # Lambda.
    enable_snapstart: bool = True
    mcp_memory_mb: int = 1024
    authorizer_memory_mb: int = 512
    mcp_timeout_seconds: int = 29
    authorizer_timeout_seconds: int = 10
    mcp_reserved_concurrency: int | None = None
    authorizer_reserved_concurrency: int | None = None
    oauth_front_reserved_concurrency: int | None = None
    app_source_dir: Path = REPO_ROOT / "app"
    functions: FunctionSettings = field(default_factory=FunctionSettings)
    oauth_front: OAuthFrontSettings = field(default_factory=OAuthFrontSettings)
    tenancy: TenancyConfig = field(default_factory=TenancyConfig)
    # Observability.
    audit_log_retention_days: int = 365
    access_log_retention_days: int = 90
    alarm_email: str = ""
    auth_failure_alarm_threshold: int = 50
    server_error_alarm_threshold: int = 5
    throttle_alarm_threshold: int = 10

    # --- derived values -------------------------------------------------------------------
    @property
    def base_scope(self) -> str:
        """The scope every caller must hold, exactly as it appears in tokens."""
        if self.identity_provider == "cognito":
            return f"{COGNITO_RESOURCE_SERVER_ID}/{COGNITO_BASE_SCOPE_NAME}"
        return self.oauth_base_scope

    @property
    def mcp_url_parameter_name(self) -> str:
        return f"/{self.stack_name}/mcp-url"

    @property
    def auth_settings_parameter_name(self) -> str:
        return f"/{self.stack_name}/auth-settings"

    @property
    def oauth_front_settings_parameter_name(self) -> str:
        return f"/{self.stack_name}/oauth-front-settings"

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_sources(
        cls, context: Mapping[str, object] | Lookup | None = None, env: Mapping[str, str] | None = None
    ) -> StackConfig:
        """Read every setting: context (a mapping or `node.try_get_context`) before `env`."""
        env = {} if env is None else env
        if context is None:
            ctx_get: Lookup = lambda _name: None  # noqa: E731
        elif isinstance(context, Mapping):
            ctx_get = context.get
        else:
            ctx_get = context
        return _Reader(ctx_get, env).build()


class _Reader:
    def __init__(self, context: Lookup, env: Mapping[str, str]) -> None:
        self._context = context
        self._env = env

    # Raw access -------------------------------------------------------------------------
    def raw_object(self, name: str) -> object:
        """The value as given (a cdk.json context value may be a JSON object), context first."""
        value = self._context(name)
        return self._env.get(name) if value is None else value

    def raw(self, name: str) -> str | None:
        value = self._context(name)
        if value is None:
            value = self._env.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return ",".join(str(item) for item in value)
        text = str(value).strip()
        return text or None

    def text(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number between {low} and {high}") from None
        if not low <= number <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {number})")
        return number

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        if self.raw(name) is None:
            return None
        return self.integer(name, 0, low, high)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false (got {value!r})")

    def items(self, name: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return tuple(default)
        return tuple(item.strip() for item in value.split(",") if item.strip())

    def choice(self, name: str, default: str, allowed: Sequence[str]) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        return value

    def retention(self, name: str, default: int) -> int:
        days = self.integer(name, default, 1, 3653)
        if days not in VALID_RETENTION_DAYS:
            allowed = ", ".join(str(d) for d in VALID_RETENTION_DAYS)
            raise ConfigError(f"{name} must be one of the CloudWatch Logs retention values: {allowed}")
        return days

    # Whole configuration -----------------------------------------------------------------
    def build(self) -> StackConfig:
        stack_name = self.text("STACK_NAME", "ServerlessMcp")
        if not _STACK_NAME.match(stack_name):
            raise ConfigError("STACK_NAME must start with a letter and hold only letters, digits and '-'")
        stage_name = self.text("STAGE_NAME", "prod")
        if not _STAGE_NAME.match(stage_name):
            raise ConfigError("STAGE_NAME may hold only letters, digits, '-' and '_'")

        provider = self.choice("IDENTITY_PROVIDER", "cognito", ("cognito", "oidc"))
        issuer = self.text("OAUTH_ISSUER")
        jwks_url = self.text("OAUTH_JWKS_URL")
        base_scope = self.text("OAUTH_BASE_SCOPE", "mcp/access")
        if provider == "oidc":
            if not issuer.startswith("https://"):
                raise ConfigError(
                    "IDENTITY_PROVIDER=oidc needs OAUTH_ISSUER, the issuer's https URL exactly as in the "
                    "token's `iss` claim (e.g. https://example.eu.auth0.com/)"
                )
            if jwks_url and not jwks_url.startswith("https://"):
                raise ConfigError("OAUTH_JWKS_URL must be an https URL (or empty to use OIDC discovery)")
            if not _SCOPE.match(base_scope):
                raise ConfigError(
                    "OAUTH_BASE_SCOPE must be one scope token (no spaces, quotes or backslashes)"
                )
        origins = self.items("ALLOWED_ORIGINS")
        for origin in origins:
            form = _ORIGIN.match(origin)
            default_port = form is not None and form[3] == {"https": "443", "http": "80"}[form[1]]
            if form is None or default_port:
                raise ConfigError(
                    "ALLOWED_ORIGINS entries must be origins exactly as browsers send them: scheme://host"
                    "[:port], lowercase, no path, no default port (e.g. https://app.example.com); "
                    f"got {origin!r}"
                )

        prefix = self.text("COGNITO_DOMAIN_PREFIX").lower()
        if prefix and (not _COGNITO_PREFIX.match(prefix) or re.search("aws|amazon|cognito", prefix)):
            raise ConfigError(
                "COGNITO_DOMAIN_PREFIX must be lowercase letters, digits and '-', and must not contain "
                "'aws', 'amazon' or 'cognito'"
            )
        callbacks = self.items("COGNITO_CALLBACK_URLS", DEFAULT_CALLBACK_URLS)
        for url in callbacks:
            local = url.startswith(("http://localhost", "http://127.0.0.1"))
            if not (url.startswith("https://") or local):
                raise ConfigError(
                    "COGNITO_CALLBACK_URLS entries must be https URLs (http only for localhost)"
                )
        if self.text("COGNITO_TOOL_SCOPES"):
            raise ConfigError(
                "COGNITO_TOOL_SCOPES is no longer read: the Cognito resource-server scopes are derived from "
                "the scopes the tools declare (`scopes=[...]` in app/tools/); remove the setting"
            )
        mfa = self.choice("COGNITO_MFA", "required", ("required", "optional", "off"))

        domain = self.text("CUSTOM_DOMAIN_NAME").lower().rstrip(".")
        cert_arn = self.text("CERTIFICATE_ARN")
        zone_id = self.text("HOSTED_ZONE_ID")
        zone_name = self.text("HOSTED_ZONE_NAME").lower().rstrip(".")
        ip_type = self.choice("CUSTOM_DOMAIN_IP_ADDRESS_TYPE", "ipv4", ("ipv4", "dualstack"))
        if domain:
            if not _DOMAIN.match(domain):
                raise ConfigError("CUSTOM_DOMAIN_NAME must be a host name like mcp.example.com")
            if cert_arn and not _CERT_ARN.match(cert_arn):
                raise ConfigError("CERTIFICATE_ARN must be an ACM certificate ARN in the stack's region")
            if bool(zone_id) != bool(zone_name):
                raise ConfigError("HOSTED_ZONE_ID and HOSTED_ZONE_NAME go together (both or neither)")
            if zone_id and not _ZONE_ID.match(zone_id):
                raise ConfigError("HOSTED_ZONE_ID must be a Route 53 hosted zone id like Z0123456789ABC")
            if zone_name and not (domain == zone_name or domain.endswith("." + zone_name)):
                raise ConfigError("CUSTOM_DOMAIN_NAME must be inside HOSTED_ZONE_NAME")
            if not cert_arn and not zone_id:
                raise ConfigError(
                    "CUSTOM_DOMAIN_NAME needs either CERTIFICATE_ARN (an ACM certificate in this region) or "
                    "HOSTED_ZONE_ID + HOSTED_ZONE_NAME (the stack then creates a DNS-validated certificate)"
                )

        alarm_email = self.text("ALARM_EMAIL")
        if alarm_email and not _EMAIL.match(alarm_email):
            raise ConfigError("ALARM_EMAIL must be one e-mail address")

        source = Path(self.text("APP_SOURCE_DIR", str(REPO_ROOT / "app"))).expanduser()
        if not source.is_absolute():
            source = (REPO_ROOT / source).resolve()

        return StackConfig(
            stack_name=stack_name,
            stage_name=stage_name,
            identity_provider="oidc" if provider == "oidc" else "cognito",
            oauth_issuer=issuer,
            oauth_jwks_url=jwks_url,
            oauth_audiences=self.items("OAUTH_AUDIENCES"),
            oauth_allowed_client_ids=self.items("OAUTH_ALLOWED_CLIENT_IDS"),
            oauth_base_scope=base_scope,
            allowed_origins=origins,
            cognito_domain_prefix=prefix,
            cognito_callback_urls=callbacks,
            cognito_mfa="optional" if mfa == "optional" else "off" if mfa == "off" else "required",
            sso=self.sso(provider),
            authorizer_cache_ttl_seconds=self.integer("AUTHORIZER_CACHE_TTL_SECONDS", 0, 0, 3600),
            throttle_rate_limit=self.integer("THROTTLE_RATE_LIMIT", 50, 1, 10_000),
            throttle_burst_limit=self.integer("THROTTLE_BURST_LIMIT", 100, 1, 5_000),
            enable_xray=self.boolean("ENABLE_XRAY", False),
            enable_execution_logs=self.boolean("ENABLE_EXECUTION_LOGS", False),
            api_gateway_cloudwatch_role=self.boolean("API_GATEWAY_CLOUDWATCH_ROLE", True),
            custom_domain_name=domain,
            certificate_arn=cert_arn,
            hosted_zone_id=zone_id,
            hosted_zone_name=zone_name,
            custom_domain_ip_address_type="dualstack" if ip_type == "dualstack" else "ipv4",
            enable_waf=self.boolean("ENABLE_WAF", False),
            waf_rate_limit=self.integer("WAF_RATE_LIMIT", 1000, 10, 2_000_000_000),
            inspector=self.boolean("INSPECTOR", False),
            usage=parse_usage_plans(self.raw_object),
            enable_snapstart=self.boolean("ENABLE_SNAPSTART", True),
            mcp_memory_mb=self.integer("MCP_MEMORY_MB", 1024, 128, 10_240),
            authorizer_memory_mb=self.integer("AUTHORIZER_MEMORY_MB", 512, 128, 10_240),
            mcp_timeout_seconds=self.integer("MCP_TIMEOUT_SECONDS", 29, 1, 900),
            authorizer_timeout_seconds=self.integer("AUTHORIZER_TIMEOUT_SECONDS", 10, 1, 30),
            mcp_reserved_concurrency=self.optional_integer("MCP_RESERVED_CONCURRENCY", 0, 10_000),
            authorizer_reserved_concurrency=self.optional_integer(
                "AUTHORIZER_RESERVED_CONCURRENCY", 0, 10_000
            ),
            oauth_front_reserved_concurrency=self.optional_integer(
                "OAUTH_FRONT_RESERVED_CONCURRENCY", 0, 10_000
            ),
            app_source_dir=source,
            functions=self.function_settings(),
            oauth_front=self.oauth_front(provider),
            tenancy=self.tenancy(provider),
            audit_log_retention_days=self.retention("AUDIT_LOG_RETENTION_DAYS", 365),
            access_log_retention_days=self.retention("ACCESS_LOG_RETENTION_DAYS", 90),
            alarm_email=alarm_email,
            auth_failure_alarm_threshold=self.integer("AUTH_FAILURE_ALARM_THRESHOLD", 50, 1, 1_000_000),
            server_error_alarm_threshold=self.integer("SERVER_ERROR_ALARM_THRESHOLD", 5, 1, 1_000_000),
            throttle_alarm_threshold=self.integer("THROTTLE_ALARM_THRESHOLD", 10, 1, 1_000_000),
        )

    def sso(self, provider: str) -> SsoSettings | None:
        """SSO_* (infra/sso_settings.py): checked here so a mistake stops synth, naming the setting."""
        try:
            sso = parse_sso_settings(self.raw, base_dir=REPO_ROOT)
        except SsoSettingError as error:
            raise ConfigError(str(error)) from None
        if sso is not None and provider != "cognito":
            raise ConfigError(
                "SSO_PROVIDER federates the Cognito user pool the stack creates; with IDENTITY_PROVIDER=oidc "
                "users already sign in at OAUTH_ISSUER: point that at your company's provider instead, or "
                "unset SSO_PROVIDER"
            )
        return sso

    def oauth_front(self, provider: str) -> OAuthFrontSettings:
        enabled = self.boolean("OAUTH_FRONT", True)
        client_id = self.text("OAUTH_UPSTREAM_CLIENT_ID")
        secret_name = self.text("OAUTH_UPSTREAM_CLIENT_SECRET_NAME")
        upstream_scopes = self.items("OAUTH_UPSTREAM_SCOPES", ("openid", "email"))
        if enabled and provider == "oidc":
            # The front signs users in at the external issuer with its own confidential client;
            # the stack cannot create that client, so both halves must be named.
            if not client_id or not secret_name:
                raise ConfigError(
                    "IDENTITY_PROVIDER=oidc with OAUTH_FRONT on needs OAUTH_UPSTREAM_CLIENT_ID (the front's "
                    "confidential client at the issuer, redirect URI <MCP URL with /mcp -> /oauth>/callback) "
                    "and OAUTH_UPSTREAM_CLIENT_SECRET_NAME (an existing Secrets Manager secret holding "
                    '{"client_secret": "..."}); or set OAUTH_FRONT=false'
                )
            if not _SECRET_NAME.match(secret_name):
                raise ConfigError(
                    "OAUTH_UPSTREAM_CLIENT_SECRET_NAME must be a Secrets Manager secret NAME "
                    "(letters, digits and /_+=.@-), not an ARN or a value"
                )
            if any(not _SCOPE.match(scope) for scope in upstream_scopes) or "openid" not in upstream_scopes:
                raise ConfigError(
                    "OAUTH_UPSTREAM_SCOPES must be scope tokens separated by commas and include openid"
                )
        pre_approved = self.items("OAUTH_PRE_APPROVED_CLIENTS")
        for client in pre_approved:
            if not _SCOPE.match(client):
                raise ConfigError(
                    "OAUTH_PRE_APPROVED_CLIENTS must be client ids (registered ids or CIMD https URLs) "
                    "separated by commas"
                )
        return OAuthFrontSettings(
            enabled=enabled,
            pre_approved_clients=pre_approved,
            preregistered_clients=self.preregistered_clients(),
            access_token_ttl_seconds=self.integer("OAUTH_ACCESS_TOKEN_TTL_SECONDS", 600, 60, 3600),
            refresh_token_ttl_days=self.integer("OAUTH_REFRESH_TOKEN_TTL_DAYS", 30, 1, 90),
            registration=self.boolean("OAUTH_REGISTRATION", True),
            registration_max_clients=self.integer("OAUTH_REGISTRATION_MAX_CLIENTS", 1000, 0, 1_000_000),
            registration_per_ip_per_hour=self.integer("OAUTH_REGISTRATION_PER_IP_PER_HOUR", 10, 0, 10_000),
            upstream_client_id=client_id if provider == "oidc" else "",
            upstream_client_secret_name=secret_name if provider == "oidc" else "",
            upstream_scopes=upstream_scopes,
        )

    def tenancy(self, provider: str) -> TenancyConfig:
        multi_tenant = self.boolean("MULTI_TENANT", False)
        claim_default, prefix_default = DEFAULT_TENANT_CLAIMS[provider]
        claim = self.text("TENANT_CLAIM")
        # An explicit claim brings its own prefix (empty: a string claim); only the default pairs.
        prefix = self.text("TENANT_GROUP_PREFIX") if claim else prefix_default
        claim = claim or claim_default
        default_tenant = self.text("DEFAULT_TENANT")
        if not _CLAIM.match(claim):
            raise ConfigError("TENANT_CLAIM must be a claim name (printable ASCII, no spaces or quotes)")
        if prefix and (len(prefix) > 64 or not _CLAIM.match(prefix)):
            raise ConfigError("TENANT_GROUP_PREFIX must be 1-64 printable ASCII characters (e.g. tenant:)")
        if default_tenant and not _TENANT.match(default_tenant):
            raise ConfigError(
                "DEFAULT_TENANT must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or "
                "digit, or empty to refuse callers without a tenant"
            )
        return TenancyConfig(
            multi_tenant=multi_tenant,
            tenant_claim=claim,
            tenant_group_prefix=prefix,
            default_tenant=default_tenant,
        )

    def preregistered_clients(self) -> tuple[PreregisteredClient, ...]:
        name = "OAUTH_PREREGISTERED_CLIENTS"
        raw = self._context(name)
        if raw is None:
            raw = self._env.get(name)
        if isinstance(raw, str):
            if not raw.strip():
                return ()
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ConfigError(
                    f"{name} must be a JSON list like "
                    '[{"client_id": "my-agent", "client_name": "My agent", '
                    '"redirect_uris": ["https://agent.example.com/callback"]}]'
                ) from None
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise ConfigError(f"{name} must be a JSON list of client objects")
        clients: list[PreregisteredClient] = []
        for entry in raw:
            clients.append(_preregistered_client(name, entry))
        ids = [client.client_id for client in clients]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{name} names the same client_id twice")
        return tuple(clients)

    def function_settings(self) -> FunctionSettings:
        level = self.text("POWERTOOLS_LOG_LEVEL", "INFO").upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"POWERTOOLS_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")

        def extra(names: Sequence[str]) -> dict[str, str]:
            out: dict[str, str] = {}
            for name in names:
                value = self.raw(name)
                if value is None:
                    continue
                if name in _INT_PASSTHROUGH:
                    value = str(self.integer(name, 0, 0, 1_000_000_000))
                elif name in ("AUDIT_LOG_ARGUMENTS", "TENANT_METRICS"):
                    value = "true" if self.boolean(name, False) else "false"
                out[name] = value
            return out

        return FunctionSettings(
            config_cache_seconds=self.integer("CONFIG_CACHE_SECONDS", 300, 0, 86_400),
            api_keys_cache_seconds=self.integer("API_KEYS_CACHE_SECONDS", 60, 0, 86_400),
            service_name=self.text("POWERTOOLS_SERVICE_NAME", "serverless-mcp"),
            log_level=level,
            metrics_namespace=self.text("POWERTOOLS_METRICS_NAMESPACE", "ServerlessMcp"),
            authorizer_extra=extra(AUTHORIZER_PASSTHROUGH),
            mcp_extra=extra(MCP_PASSTHROUGH),
        )


def _preregistered_client(name: str, entry: Any) -> PreregisteredClient:
    """One `OAUTH_PREREGISTERED_CLIENTS` entry, checked as far as the stack can (the front checks
    the rest with its registration rules when it loads the settings)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{name} entries must be objects with client_id and redirect_uris")
    unknown = sorted(set(entry) - PREREGISTERED_CLIENT_KEYS)
    if unknown:
        raise ConfigError(
            f"{name}: unknown key(s) {', '.join(unknown)} (allowed: client_id, client_name, redirect_uris)"
        )
    client_id = entry.get("client_id")
    if not isinstance(client_id, str) or not _SCOPE.match(client_id):
        raise ConfigError(f"{name}: every entry needs a client_id (no spaces or quotes)")
    client_name = entry.get("client_name", "")
    if not isinstance(client_name, str) or len(client_name) > 200:
        raise ConfigError(
            f"{name}: client {client_id!r}: client_name must be a string of at most 200 characters"
        )
    uris = entry.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
        raise ConfigError(f"{name}: client {client_id!r} needs redirect_uris, a non-empty list of URLs")
    for uri in uris:
        if not _redirect_uri_ok(uri):
            raise ConfigError(
                f"{name}: client {client_id!r}: redirect URIs must be https (http only on 127.0.0.1, "
                "localhost or [::1]) and carry no fragment"
            )
    return PreregisteredClient(client_id=client_id, redirect_uris=tuple(uris), client_name=client_name)


def _redirect_uri_ok(uri: str) -> bool:
    """An absolute https URI, or http on a loopback host (RFC 8252 §7.3); no fragment (RFC 6749
    §3.1.2) and no userinfo, which could make the host a reader sees differ from the real one."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.fragment or "#" in uri or "@" in parts.netloc:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)
